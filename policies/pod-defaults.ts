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
import { field, isFields, ownObject, text, type Fields } from './pss-fields.ts';
import type { ContainerField } from './pss-pod.ts';

// Written for the mutating webhook's hot path (every pod template it admits passes here): each field is read and
// written by its name, not through helpers that take the key as an argument. A helper's `object[key]` is one
// property access site for every key and object shape it meets, which V8 then handles as megamorphic (a global cache
// lookup, and a map walk when that misses): ~2 % of a saturated webhook's CPU in this file alone (perf, issue 10).
// The paths of what was set are only written out for a caller that asks (tests, tools); the webhook's JSON Patch
// says the same.

/** Where the paths of the fields set go: undefined when the caller does not ask for them. */
type Changes = string[] | undefined;

/** True when `value` is absent or null: the only values a default fills. */
const unset = (value: unknown): boolean => value === undefined || value === null;

/**
 * The object at `parent.securityContext` made the caller's own to write into (pss-fields.ts ownObject, by name): a
 * shallow copy put in its place, or a new object when absent or null; undefined when it holds something else.
 */
function ownSecurityContext(parent: Fields): Fields | undefined {
  const existing = parent['securityContext'];
  if (unset(existing)) return (parent['securityContext'] = {});
  if (!isFields(existing)) return undefined;
  return (parent['securityContext'] = { ...existing });
}

function isWindows(spec: Fields): boolean {
  return text(field(spec, 'os'), 'name') === 'windows';
}

interface ContainerRef {
  value: Fields;
  field: ContainerField;
  index: number;
}

/** `containers[1]`: the container's path relative to the pod spec (built only for a caller that records paths). */
const pathOf = (container: ContainerRef): string => `${container.field}[${container.index}]`;

/** Each container field's array made the caller's own, with a copy of each container in it: see ownObject. */
function ownContainers(spec: Fields, kind: ContainerRef['field'], out: ContainerRef[]): void {
  const entries = spec[kind];
  if (!Array.isArray(entries)) return;
  const own: unknown[] = entries.slice();
  spec[kind] = own;
  for (let i = 0; i < own.length; i++) {
    const value: unknown = own[i];
    if (!isFields(value)) continue;
    const copy: Fields = { ...value };
    own[i] = copy;
    out.push({ value: copy, field: kind, index: i });
  }
}

/** The containers of a pod spec (init, regular, ephemeral), each made the caller's own. */
function containersOf(spec: Fields): ContainerRef[] {
  const out: ContainerRef[] = [];
  ownContainers(spec, 'initContainers', out);
  ownContainers(spec, 'containers', out);
  ownContainers(spec, 'ephemeralContainers', out);
  return out;
}

function podSecurityDefaults(sc: Fields, windows: boolean, changed: Changes): void {
  if (unset(sc['runAsNonRoot'])) {
    sc['runAsNonRoot'] = true;
    changed?.push('securityContext.runAsNonRoot');
  }
  // The API forbids seccompProfile on Windows pods, and restricted does not ask for it there.
  if (!windows && unset(sc['seccompProfile'])) {
    sc['seccompProfile'] = { type: 'RuntimeDefault' };
    changed?.push('securityContext.seccompProfile');
  }
}

/** allowPrivilegeEscalation: false is invalid next to privileged: true or an added CAP_SYS_ADMIN. */
function escalationDefaultAllowed(sc: Fields): boolean {
  if (sc['privileged'] === true) return false;
  const capabilities = sc['capabilities'];
  const added = isFields(capabilities) ? capabilities['add'] : undefined;
  return !Array.isArray(added) || !added.includes('CAP_SYS_ADMIN');
}

function containerSecurityDefaults(container: ContainerRef, changed: Changes): void {
  const sc = ownSecurityContext(container.value);
  if (!sc) return;
  if (escalationDefaultAllowed(sc) && unset(sc['allowPrivilegeEscalation'])) {
    sc['allowPrivilegeEscalation'] = false;
    changed?.push(`${pathOf(container)}.securityContext.allowPrivilegeEscalation`);
  }
  // An explicit drop list stays (and a malformed capabilities is left to the API server); an `add` list
  // (NET_BIND_SERVICE, say) is kept as written next to the default.
  const existing = sc['capabilities'];
  if (isFields(existing) ? !unset(existing['drop']) : !unset(existing)) return;
  sc['capabilities'] = { ...(isFields(existing) ? existing : {}), drop: ['ALL'] };
  changed?.push(`${pathOf(container)}.securityContext.capabilities.drop`);
}

/** True when a map of quantities (`requests`, `limits`) has at least one key. */
function hasKeys(value: unknown): boolean {
  if (!isFields(value)) return false;
  for (const key in value) if (Object.hasOwn(value, key)) return true;
  return false;
}

function declaresResources(container: Fields): boolean {
  const resources = container['resources'];
  if (unset(resources)) return false;
  if (!isFields(resources)) return true; // malformed: left for the API server to refuse, never overwritten
  return hasKeys(resources['requests']) || hasKeys(resources['limits']);
}

function resourceDefaults(
  container: ContainerRef,
  defaults: Config['mutation']['defaultResources'],
  changed: Changes,
): void {
  // Ephemeral containers may not declare resources at all.
  if (container.field === 'ephemeralContainers' || declaresResources(container.value)) return;
  const existing = container.value['resources'];
  container.value['resources'] = {
    ...(isFields(existing) ? existing : {}),
    requests: { ...defaults.requests },
    limits: { ...defaults.limits },
  };
  changed?.push(`${pathOf(container)}.resources`);
}

/**
 * True when the pod says, without relying on its image, which user every container runs as: `runAsUser` at the
 * pod level, or in every container. Anything else (runAsNonRoot alone, a USER in the Dockerfile) depends on the
 * image, and the kubelet refuses `runAsNonRoot: true` with an image whose USER is root or a name.
 */
function userIsExplicit(podSc: Fields | undefined, containers: ContainerRef[]): boolean {
  if (podSc && !unset(podSc['runAsUser'])) return true;
  if (containers.length === 0) return false;
  for (const container of containers) {
    const sc = container.value['securityContext'];
    if (!isFields(sc) || unset(sc['runAsUser'])) return false;
  }
  return true;
}

/**
 * A numeric non-root user (and group, fsGroup) from the config for pods that do not name their user: so images whose
 * USER is root or a name start under `restricted`. A value of 0 in the config turns that key off. An explicit
 * `runAsUser` (pod or every container) keeps the pod as written, group and fsGroup included.
 */
function userDefaults(sc: Fields, containers: ContainerRef[], mutation: Config['mutation'], changed: Changes): void {
  if (!(mutation.runAsUser > 0) || userIsExplicit(sc, containers)) return;
  sc['runAsUser'] = mutation.runAsUser;
  changed?.push('securityContext.runAsUser');
  if (mutation.runAsGroup > 0 && unset(sc['runAsGroup'])) {
    sc['runAsGroup'] = mutation.runAsGroup;
    changed?.push('securityContext.runAsGroup');
  }
  if (mutation.fsGroup > 0 && unset(sc['fsGroup'])) {
    sc['fsGroup'] = mutation.fsGroup;
    changed?.push('securityContext.fsGroup');
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

/** The defaults of one pod spec; the paths set go to `changed` when given. */
function podSpecDefaults(
  podSpec: unknown,
  mutation: Config['mutation'],
  keepImageUser: boolean,
  changed: Changes,
): void {
  if (!isFields(podSpec)) return;
  const windows = isWindows(podSpec);
  const containers = containersOf(podSpec);
  const podSc = ownSecurityContext(podSpec);
  if (podSc) podSecurityDefaults(podSc, windows, changed);
  // The API forbids these container fields on Windows pods, and restricted does not ask for them there.
  if (!windows) for (const container of containers) containerSecurityDefaults(container, changed);
  // With pod-level resources (spec.resources) the containers share the pod's budget: leave them as written.
  if (unset(podSpec['resources']))
    for (const container of containers) resourceDefaults(container, mutation.defaultResources, changed);
  // Windows pods name their user with windowsOptions.runAsUserName; the API forbids runAsUser there.
  if (!windows && !keepImageUser && podSc) userDefaults(podSc, containers, mutation, changed);
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
  podSpecDefaults(podSpec, mutation, options.keepImageUser === true, changed);
  return changed;
}

function prLabels(metadata: unknown, ns: Pick<ManagedNamespace, 'project' | 'number'>, changed: Changes): void {
  if (!isFields(metadata)) return;
  const labels = ownObject(metadata, 'labels');
  if (!labels) return;
  setLabel(labels, LABELS.project, ns.project, changed);
  setLabel(labels, LABELS.pr, String(ns.number), changed);
}

function setLabel(labels: Fields, key: string, value: string, changed: Changes): void {
  if (labels[key] === value) return;
  labels[key] = value;
  changed?.push(`metadata.labels[${key}]`);
}

/**
 * Labels the pod (or pod template) metadata with its PR, IN PLACE (its labels are replaced by a copy, never written
 * into), so logs and metrics can be filtered by PR:
 * `k8s-ee.io/project` and `k8s-ee.io/pr` always carry the namespace's values. Returns the paths it set.
 */
export function applyPrLabels(metadata: unknown, ns: Pick<ManagedNamespace, 'project' | 'number'>): string[] {
  const changed: string[] = [];
  prLabels(metadata, ns, changed);
  return changed;
}

/**
 * Everything the mutating webhook does to one pod spec and its metadata, IN PLACE at their top level and
 * copy-on-write below (see {@link applyPodSpecDefaults}): security and resource defaults, and PR labels when the
 * namespace is a managed one. The paths it set go to `changed` when given (metadata paths start `metadata.`); the
 * webhook gives none (its JSON Patch says what changed).
 */
export function applyPodDefaults(
  podSpec: unknown,
  metadata: unknown,
  ns: ManagedNamespace | undefined,
  config: Config,
  changed?: string[],
): void {
  podSpecDefaults(podSpec, config.mutation, keepsImageUser(metadata), changed);
  if (ns) prLabels(metadata, ns, changed);
}
