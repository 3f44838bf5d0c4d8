// The defaults that let a typical app pass the `restricted` profile without its developers thinking about it:
// run as non-root with the runtime's seccomp profile, no privilege escalation, no capabilities, resource requests
// and limits for containers that declare none, and labels that tie the pod to its PR.
//
// Rule: a default only fills a field that is absent (or null). An explicit value always stays, even a forbidden
// one such as `privileged: true`: validation then refuses it with a message naming the field, which is clearer
// than a silent rewrite. Fields the API forbids in the situation at hand are left alone too (Windows pods;
// allowPrivilegeEscalation next to privileged or CAP_SYS_ADMIN), so a default never turns a clear PodSecurity
// denial into a confusing validation error.
import type { Config } from './config.ts';
import { LABELS } from './names.ts';
import type { ManagedNamespace } from './namespace.ts';
import { ensureObject, field, flag, isFields, isSet, list, stringsAt, text, type Fields } from './pss-fields.ts';

/** Sets `target[key]` when it is absent or null; records the path. Returns true when it set it. */
function fill(target: Fields, key: string, value: unknown, path: string, changed: string[]): boolean {
  if (isSet(target, key)) return false;
  target[key] = value;
  changed.push(path);
  return true;
}

function isWindows(spec: Fields): boolean {
  return text(field(spec, 'os'), 'name') === 'windows';
}

interface ContainerRef {
  value: Fields;
  path: string;
  ephemeral: boolean;
}

function containersOf(spec: Fields): ContainerRef[] {
  return (['initContainers', 'containers', 'ephemeralContainers'] as const).flatMap((kind) =>
    list(spec, kind).flatMap((value, i) =>
      isFields(value) ? [{ value, path: `${kind}[${i}]`, ephemeral: kind === 'ephemeralContainers' }] : [],
    ),
  );
}

function podSecurityDefaults(spec: Fields, windows: boolean, changed: string[]): void {
  const sc = ensureObject(spec, 'securityContext');
  if (!sc) return;
  fill(sc, 'runAsNonRoot', true, 'securityContext.runAsNonRoot', changed);
  // The API forbids seccompProfile on Windows pods, and restricted does not ask for it there.
  if (!windows) fill(sc, 'seccompProfile', { type: 'RuntimeDefault' }, 'securityContext.seccompProfile', changed);
}

/** allowPrivilegeEscalation: false is invalid next to privileged: true or an added CAP_SYS_ADMIN. */
function escalationDefaultAllowed(sc: Fields): boolean {
  if (flag(sc, 'privileged') === true) return false;
  return !stringsAt(field(sc, 'capabilities'), 'add').some((cap) => cap.value === 'CAP_SYS_ADMIN');
}

function containerSecurityDefaults(container: ContainerRef, changed: string[]): void {
  const sc = ensureObject(container.value, 'securityContext');
  if (!sc) return;
  const path = `${container.path}.securityContext`;
  if (escalationDefaultAllowed(sc))
    fill(sc, 'allowPrivilegeEscalation', false, `${path}.allowPrivilegeEscalation`, changed);
  const capabilities = ensureObject(sc, 'capabilities');
  // An `add` list (NET_BIND_SERVICE, say) is kept as written.
  if (capabilities) fill(capabilities, 'drop', ['ALL'], `${path}.capabilities.drop`, changed);
}

function declaresResources(container: Fields): boolean {
  const resources = field(container, 'resources');
  const declared = (key: string): boolean => Object.keys(field(resources, key) ?? {}).length > 0;
  return (
    declared('requests') || declared('limits') || (isSet(container, 'resources') && !isFields(container['resources']))
  );
}

function resourceDefaults(
  container: ContainerRef,
  defaults: Config['mutation']['defaultResources'],
  changed: string[],
): void {
  // Ephemeral containers may not declare resources at all.
  if (container.ephemeral || declaresResources(container.value)) return;
  const resources = ensureObject(container.value, 'resources');
  if (!resources) return;
  resources['requests'] = { ...defaults.requests };
  resources['limits'] = { ...defaults.limits };
  changed.push(`${container.path}.resources`);
}

/** runAsUser/runAsGroup from the config (when > 0) for pods where neither the pod nor any container sets one. */
function userDefaults(spec: Fields, containers: ContainerRef[], mutation: Config['mutation'], changed: string[]): void {
  for (const key of ['runAsUser', 'runAsGroup'] as const) {
    const value = mutation[key];
    if (!(value > 0)) continue;
    const setAnywhere =
      isSet(field(spec, 'securityContext'), key) ||
      containers.some((c) => isSet(field(c.value, 'securityContext'), key));
    if (setAnywhere) continue;
    const sc = ensureObject(spec, 'securityContext');
    if (sc) fill(sc, key, value, `securityContext.${key}`, changed);
  }
}

/**
 * Fills the security and resource defaults into a pod spec, IN PLACE (pass the spec of a clone, as
 * {@link withPodTemplates} provides). Returns the paths it set, relative to the pod spec, in the order set.
 * A spec that is not an object is left alone.
 */
export function applyPodSpecDefaults(podSpec: unknown, mutation: Config['mutation']): string[] {
  const changed: string[] = [];
  if (!isFields(podSpec)) return changed;
  const windows = isWindows(podSpec);
  const containers = containersOf(podSpec);
  podSecurityDefaults(podSpec, windows, changed);
  // The API forbids these container fields on Windows pods, and restricted does not ask for them there.
  if (!windows) for (const container of containers) containerSecurityDefaults(container, changed);
  // With pod-level resources (spec.resources) the containers share the pod's budget: leave them as written.
  if (!isSet(podSpec, 'resources'))
    for (const container of containers) resourceDefaults(container, mutation.defaultResources, changed);
  if (!windows) userDefaults(podSpec, containers, mutation, changed);
  return changed;
}

/**
 * Labels the pod (or pod template) metadata with its PR, IN PLACE, so logs and metrics can be filtered by PR:
 * `k8s-ee.io/project` and `k8s-ee.io/pr` always carry the namespace's values. Returns the paths it set.
 */
export function applyPrLabels(metadata: unknown, ns: Pick<ManagedNamespace, 'project' | 'number'>): string[] {
  if (!isFields(metadata)) return [];
  const labels = ensureObject(metadata, 'labels');
  if (!labels) return [];
  const wanted: Record<string, string> = { [LABELS.project]: ns.project, [LABELS.pr]: String(ns.number) };
  return Object.entries(wanted).flatMap(([key, value]) => {
    if (labels[key] === value) return [];
    labels[key] = value;
    return [`metadata.labels[${key}]`];
  });
}

/**
 * Everything the mutating webhook does to one pod spec and its metadata, IN PLACE: security and resource defaults,
 * and PR labels when the namespace is a managed one. Returns the paths it set (metadata paths start `metadata.`).
 */
export function applyPodDefaults(
  podSpec: unknown,
  metadata: unknown,
  ns: ManagedNamespace | undefined,
  config: Config,
): string[] {
  return [...applyPodSpecDefaults(podSpec, config.mutation), ...(ns ? applyPrLabels(metadata, ns) : [])];
}
