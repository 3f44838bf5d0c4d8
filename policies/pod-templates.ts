// Where a Kubernetes object keeps its pods: a Pod's own spec, a workload's pod template, a CronJob's job template.
// Validation reads them (with field paths for messages); the mutating webhook and `k8s-ee check` change them on a
// copy that shares what they leave alone. Untrusted input: malformed objects yield no templates, nothing throws.
import { clone } from './objects.ts';
import { isFields, type Fields } from './pss-fields.ts';

/** Where the pod spec and pod metadata sit in one kind of object. */
export interface Location {
  groups: readonly string[];
  spec: readonly string[];
  metadata: readonly string[];
}

const TEMPLATE = { spec: ['spec', 'template', 'spec'], metadata: ['spec', 'template', 'metadata'] } as const;
const APPS = ['apps', 'extensions'] as const;

/** Where each kind that carries pods keeps its pod spec and pod metadata (paths from the object's root). */
export const POD_LOCATIONS: Readonly<Record<string, Location>> = {
  Pod: { groups: [''], spec: ['spec'], metadata: ['metadata'] },
  PodTemplate: { groups: [''], spec: ['template', 'spec'], metadata: ['template', 'metadata'] },
  ReplicationController: { groups: [''], ...TEMPLATE },
  Deployment: { groups: APPS, ...TEMPLATE },
  StatefulSet: { groups: APPS, ...TEMPLATE },
  DaemonSet: { groups: APPS, ...TEMPLATE },
  ReplicaSet: { groups: APPS, ...TEMPLATE },
  Job: { groups: ['batch'], ...TEMPLATE },
  CronJob: {
    groups: ['batch'],
    spec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
    metadata: ['spec', 'jobTemplate', 'spec', 'template', 'metadata'],
  },
};

/** The kinds whose pods k8s-ee checks and defaults. */
export const POD_KINDS: readonly string[] = Object.keys(POD_LOCATIONS);

/** One pod spec found in an object. */
export interface PodTemplate {
  /** Kind of the object that carries it (for a List, the item's kind). */
  kind: string;
  /** Field path of the pod spec, e.g. `spec.template.spec` (`items[2].spec` inside a List). */
  specPath: string;
  /** Field path of the pod metadata, e.g. `spec.template.metadata`. */
  metadataPath: string;
  /** The pod spec (always an object). */
  spec: Fields;
  /** The pod metadata, or undefined when the object has none there. */
  metadata: Fields | undefined;
}

function groupOf(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The kind an object is known to be from elsewhere (an admission request's `kind`), whatever its own fields say. */
export interface KindRef {
  group: string;
  kind: string;
}

function locationFor(kind: unknown, group: string | undefined): Location | undefined {
  if (typeof kind !== 'string' || !Object.hasOwn(POD_LOCATIONS, kind)) return undefined;
  const location = POD_LOCATIONS[kind];
  // Without an apiVersion the kind alone decides; with one, a CRD that reuses a built-in kind name is not ours.
  if (!location || (group !== undefined && !location.groups.includes(group))) return undefined;
  return location;
}

/** Where the pods of an object of this apiVersion and kind (or of the kind given) sit; undefined without pods. */
function locationOf(object: Fields, as?: KindRef): Location | undefined {
  return as ? locationFor(as.kind, as.group) : locationFor(object['kind'], groupOf(object['apiVersion']));
}

function at(object: unknown, path: readonly string[]): unknown {
  let current = object;
  for (const key of path) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = (current as unknown[])[Number(key)];
    else if (isFields(current)) current = current[key];
    else return undefined;
  }
  return current;
}

/** The dotted form of each location path, joined once (a request's template is found on every admission). */
const dotted = new Map<readonly string[], string>();

function joinPath(prefix: string, path: readonly string[]): string {
  let rest = dotted.get(path);
  if (rest === undefined) dotted.set(path, (rest = path.join('.')));
  return prefix === '' ? rest : `${prefix}.${rest}`;
}

/** Where in the object a template's parent object sits: keys and item indexes from the root. */
type Steps = readonly (string | number)[];

/** Where a found template sits, for withPodTemplates: its object (the List item, or the root) and its location. */
interface Place {
  base: Steps;
  location: Location;
}

/** Pushes the templates of `object` to `out`, and, with `track`, where each sits to `track.places` (same index). */
function collect(
  object: unknown,
  prefix: string,
  out: PodTemplate[],
  as?: KindRef,
  track?: { places: Place[]; base: Steps },
): void {
  if (!isFields(object)) return;
  if (!as && typeof object['kind'] === 'string' && object['kind'].endsWith('List')) {
    const items = object['items'];
    if (Array.isArray(items)) {
      items.forEach((item, i) =>
        collect(
          item,
          `${prefix}items[${i}]`,
          out,
          undefined,
          track && { places: track.places, base: [...track.base, 'items', i] },
        ),
      );
    }
    return;
  }
  const location = locationOf(object, as);
  if (!location) return;
  const spec = at(object, location.spec);
  if (!isFields(spec)) return;
  const metadata = at(object, location.metadata);
  out.push({
    kind: as?.kind ?? String(object['kind']),
    specPath: joinPath(prefix, location.spec),
    metadataPath: joinPath(prefix, location.metadata),
    spec,
    metadata: isFields(metadata) ? metadata : undefined,
  });
  track?.places.push({ base: track.base, location });
}

/**
 * The pod specs an object carries, with their field paths: a Pod (`spec`), the pod template of a Deployment,
 * StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or PodTemplate (`spec.template.spec`), a CronJob
 * (`spec.jobTemplate.spec.template.spec`), and those of the items of a List. The returned specs are the object's
 * own (not copies): read them, or use {@link withPodTemplates} to change a clone. With `as`, the object is taken
 * to be of that kind (an admission request's), whatever its own kind and apiVersion fields say or lack.
 */
export function podTemplatesOf(object: unknown, as?: KindRef): PodTemplate[] {
  const out: PodTemplate[] = [];
  collect(object, '', out, as);
  return out;
}

/** True when the object is of a kind that carries pods (whether or not its template is well formed). */
export function carriesPods(object: unknown): boolean {
  return isFields(object) && locationOf(object) !== undefined;
}

/**
 * A copy of `object` in which `change` has been applied to every pod spec and its metadata. The metadata object is
 * created when absent (so labels can be added); a pod spec that is missing or malformed is skipped. Each pod spec
 * and pod metadata `change` gets is a shallow copy, and so is every object and array on the way to them; everything
 * else is shared with the original, so a JSON Patch between the two (policies/json-patch.ts) walks only what
 * changed. `change` may set, replace and delete the keys of the spec and metadata it gets; below them it must copy
 * before it writes (pss-fields.ts ownObject), and then the original is never modified. Treat the result as
 * read-only. Returns the copy (equal to the original when `change` changed nothing).
 */
export function withPodTemplates<T>(
  object: T,
  change: (spec: Fields, metadata: Fields, where: PodTemplate) => void,
  as?: KindRef,
): T {
  if (!isFields(object)) return clone(object);
  const templates: PodTemplate[] = [];
  const places: Place[] = [];
  collect(object, '', templates, as, { places, base: [] });
  const root: Fields = { ...object };
  // Containers already copied for this result (a List's items array is copied once for all its items).
  const copied = new Set<object>([root]);
  for (let i = 0; i < templates.length; i++) {
    const template = templates[i] as PodTemplate;
    const { base, location } = places[i] as Place;
    const owner = ownPath(root, base, copied);
    const spec = owner && ownPath(owner, location.spec, copied);
    const metadataParent = owner && ownPath(owner, parentOf(location.metadata), copied);
    const last = location.metadata.at(-1);
    if (!spec || !metadataParent || last === undefined) continue;
    const existing = metadataParent[last];
    if (existing !== undefined && existing !== null && !isFields(existing)) continue; // malformed: left alone
    const metadata: Fields = isFields(existing) ? { ...existing } : {};
    metadataParent[last] = metadata;
    // The found template (ours, made by collect) now describes the copy.
    template.spec = spec;
    template.metadata = metadata;
    change(spec, metadata, template);
  }
  return root as T;
}

/** The path of a metadata path's parent (`spec.template` for `spec.template.metadata`), computed once per path. */
const parents = new Map<readonly string[], readonly string[]>();

function parentOf(path: readonly string[]): readonly string[] {
  let parent = parents.get(path);
  if (parent === undefined) parents.set(path, (parent = path.slice(0, -1)));
  return parent;
}

/**
 * Walks `steps` from `start`, replacing each object or array on the way with a shallow copy of it (unless it is
 * already one of ours), and returns the object at the end. Undefined when a step does not lead to an object.
 */
function ownPath(start: Fields, steps: Steps, copied: Set<object>): Fields | undefined {
  let parent: Fields | unknown[] = start;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as string | number;
    const current: unknown = Array.isArray(parent) ? parent[step as number] : parent[step as string];
    if (typeof current !== 'object' || current === null) return undefined;
    let own: object = current;
    if (!copied.has(current)) {
      own = Array.isArray(current) ? [...(current as unknown[])] : { ...current };
      copied.add(own);
    }
    if (Array.isArray(parent)) parent[step as number] = own;
    else parent[step as string] = own;
    parent = own as Fields | unknown[];
  }
  return isFields(parent) ? parent : undefined;
}
