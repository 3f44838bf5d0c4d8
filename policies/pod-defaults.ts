// The defaults that let a typical app pass the `restricted` profile without its developers thinking about it:
// run as non-root with the runtime's seccomp profile, no privilege escalation, no capabilities, a numeric non-root
// user for pods that name none, resource requests and limits for containers that declare none, and labels that tie
// the pod to its PR.
//
// Rule: a default only fills a field that is absent (or null). An explicit value always stays, even a forbidden
// one such as `privileged: true`: validation then refuses it with a message naming the field, which is clearer
// than a silent rewrite. Fields the API forbids in the situation at hand are left alone too (Windows pods;
// allowPrivilegeEscalation next to privileged or CAP_SYS_ADMIN), so a default never turns a clear PodSecurity
// denial into a confusing validation error.
import type { Config } from './config.ts';
import { LABELS } from './names.ts';
import type { ManagedNamespace } from './namespace.ts';
import { field, flag, isFields, isSet, ownObject, stringsAt, text, type Fields } from './pss-fields.ts';

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

const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/** The containers of a pod spec, each made the caller's own (with the arrays that hold them): see ownObject. */
function containersOf(spec: Fields): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const kind of CONTAINER_FIELDS) {
    const entries = spec[kind];
    if (!Array.isArray(entries)) continue;
    const own: unknown[] = entries.slice();
    spec[kind] = own;
    for (let i = 0; i < own.length; i++) {
      const value: unknown = own[i];
      if (!isFields(value)) continue;
      const copy: Fields = { ...value };
      own[i] = copy;
      out.push({ value: copy, path: `${kind}[${i}]`, ephemeral: kind === 'ephemeralContainers' });
    }
  }
  return out;
}

function podSecurityDefaults(spec: Fields, windows: boolean, changed: string[]): void {
  const sc = ownObject(spec, 'securityContext');
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
  const sc = ownObject(container.value, 'securityContext');
  if (!sc) return;
  const path = `${container.path}.securityContext`;
  if (escalationDefaultAllowed(sc))
    fill(sc, 'allowPrivilegeEscalation', false, `${path}.allowPrivilegeEscalation`, changed);
  const capabilities = ownObject(sc, 'capabilities');
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
  const resources = ownObject(container.value, 'resources');
  if (!resources) return;
  resources['requests'] = { ...defaults.requests };
  resources['limits'] = { ...defaults.limits };
  changed.push(`${container.path}.resources`);
}

/** The identity keys the user defaults fill at the pod level, each only when absent there. */
const USER_KEYS = ['runAsUser', 'runAsGroup', 'fsGroup'] as const;

/**
 * True when the pod says, without relying on its image, which user every container runs as: `runAsUser` at the
 * pod level, or in every container. Anything else (runAsNonRoot alone, a USER in the Dockerfile) depends on the
 * image, and the kubelet refuses `runAsNonRoot: true` with an image whose USER is root or a name.
 */
function userIsExplicit(spec: Fields, containers: ContainerRef[]): boolean {
  if (isSet(field(spec, 'securityContext'), 'runAsUser')) return true;
  return containers.length > 0 && containers.every((c) => isSet(field(c.value, 'securityContext'), 'runAsUser'));
}

/**
 * A numeric non-root user (and group, fsGroup) from the config for pods that do not name their user: so images whose
 * USER is root or a name start under `restricted`. A value of 0 in the config turns that key off. An explicit
 * `runAsUser` (pod or every container) keeps the pod as written, group and fsGroup included.
 */
function userDefaults(spec: Fields, containers: ContainerRef[], mutation: Config['mutation'], changed: string[]): void {
  if (!(mutation.runAsUser > 0) || userIsExplicit(spec, containers)) return;
  const sc = ownObject(spec, 'securityContext');
  if (!sc) return;
  for (const key of USER_KEYS) {
    const value = mutation[key];
    if (value > 0) fill(sc, key, value, `securityContext.${key}`, changed);
  }
}

/** Options of {@link applyPodSpecDefaults}. */
export interface PodSpecDefaultsOptions {
  /** Leave runAsUser, runAsGroup and fsGroup to the image (the workload opted out with {@link KEEP_IMAGE_USER}). */
  keepImageUser?: boolean;
}

/**
 * The per-workload opt-out of the user defaults: this annotation with the value "true" on a Pod or a pod template
 * keeps the image's own user. `runAsNonRoot: true` still applies, so the image's USER must then be numeric and
 * non-zero.
 */
export const KEEP_IMAGE_USER = 'k8s-ee.io/keep-image-user';

function keepsImageUser(metadata: unknown): boolean {
  return field(metadata, 'annotations')?.[KEEP_IMAGE_USER] === 'true';
}

/**
 * Fills the security and resource defaults into a pod spec: IN PLACE at its top level (pass a copy, as
 * {@link withPodTemplates} provides), copy-on-write below it (an object or array it changes is replaced by a copy,
 * never written into, so the spec may share them with the original). Returns the paths it set, relative to the pod
 * spec, in the order set. A spec that is not an object is left alone.
 */
export function applyPodSpecDefaults(
  podSpec: unknown,
  mutation: Config['mutation'],
  options: PodSpecDefaultsOptions = {},
): string[] {
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
  // Windows pods name their user with windowsOptions.runAsUserName; the API forbids runAsUser there.
  if (!windows && !options.keepImageUser) userDefaults(podSpec, containers, mutation, changed);
  return changed;
}

/**
 * Labels the pod (or pod template) metadata with its PR, IN PLACE (its labels are replaced by a copy, never written
 * into), so logs and metrics can be filtered by PR:
 * `k8s-ee.io/project` and `k8s-ee.io/pr` always carry the namespace's values. Returns the paths it set.
 */
export function applyPrLabels(metadata: unknown, ns: Pick<ManagedNamespace, 'project' | 'number'>): string[] {
  if (!isFields(metadata)) return [];
  const labels = ownObject(metadata, 'labels');
  if (!labels) return [];
  const changed: string[] = [];
  setLabel(labels, LABELS.project, ns.project, changed);
  setLabel(labels, LABELS.pr, String(ns.number), changed);
  return changed;
}

function setLabel(labels: Fields, key: string, value: string, changed: string[]): void {
  if (labels[key] === value) return;
  labels[key] = value;
  changed.push(`metadata.labels[${key}]`);
}

/**
 * Everything the mutating webhook does to one pod spec and its metadata, IN PLACE at their top level and
 * copy-on-write below (see {@link applyPodSpecDefaults}): security and resource defaults,
 * and PR labels when the namespace is a managed one. Returns the paths it set (metadata paths start `metadata.`).
 */
export function applyPodDefaults(
  podSpec: unknown,
  metadata: unknown,
  ns: ManagedNamespace | undefined,
  config: Config,
): string[] {
  const changed = applyPodSpecDefaults(podSpec, config.mutation, { keepImageUser: keepsImageUser(metadata) });
  if (ns) for (const path of applyPrLabels(metadata, ns)) changed.push(path);
  return changed;
}
