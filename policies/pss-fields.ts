// Total accessors for untyped pod specs. Admission bodies and rendered manifests are untrusted input: a field of
// the wrong type reads as unset (the API server would refuse to decode it anyway), and nothing here throws.
export type Fields = Record<string, unknown>;

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object at `value[key]`, or undefined when absent, null or not an object. */
export function field(value: unknown, key: string): Fields | undefined {
  if (!isFields(value)) return undefined;
  const inner = value[key];
  return isFields(inner) ? inner : undefined;
}

/** No entries: one shared, frozen list (most of the lists the checks read are absent from a pod). */
const EMPTY: readonly unknown[] = Object.freeze([]);

/** The array at `value[key]`, or an empty one when absent or not an array. Read-only: it may be the object's own. */
export function list(value: unknown, key: string): readonly unknown[] {
  if (!isFields(value)) return EMPTY;
  const inner = value[key];
  return Array.isArray(inner) ? (inner as unknown[]) : EMPTY;
}

export function text(value: unknown, key: string): string | undefined {
  if (!isFields(value)) return undefined;
  const inner = value[key];
  return typeof inner === 'string' ? inner : undefined;
}

export function flag(value: unknown, key: string): boolean | undefined {
  if (!isFields(value)) return undefined;
  const inner = value[key];
  return typeof inner === 'boolean' ? inner : undefined;
}

export function int(value: unknown, key: string): number | undefined {
  if (!isFields(value)) return undefined;
  const inner = value[key];
  return typeof inner === 'number' && Number.isFinite(inner) ? inner : undefined;
}

/** True when `value[key]` is present and not null (the Go notion of a non-nil pointer field). */
export function isSet(value: unknown, key: string): boolean {
  return isFields(value) && value[key] !== undefined && value[key] !== null;
}

/** String entries of `value[key]` with their indexes (non-strings are skipped, indexes kept for field paths). */
export function stringsAt(value: unknown, key: string): { index: number; value: string }[] {
  const out: { index: number; value: string }[] = [];
  list(value, key).forEach((entry, index) => {
    if (typeof entry === 'string') out.push({ index, value: entry });
  });
  return out;
}

/** The string-valued entries of a map such as `metadata.annotations`. */
export function stringMap(value: unknown, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(field(value, key) ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Kubernetes field path of a map key: `metadata.annotations[key]`. */
export function keyPath(base: string, key: string): string {
  return `${base}[${key}]`;
}

/** Joins a prefix and a relative field path, tolerating an empty prefix. */
export function join(prefix: string, rest: string): string {
  if (prefix === '') return rest;
  return rest.startsWith('[') ? `${prefix}${rest}` : `${prefix}.${rest}`;
}

/**
 * `parent[key]` made the caller's own to write into (copy-on-write): a shallow copy of the object there, put in its
 * place, or a new empty object when the key is absent or null; undefined (and nothing changed) when it holds
 * something else. Writing through the result never reaches the object `parent[key]` held before, which may be
 * shared with the request's original: the mutating webhook changes copies that share every untouched subtree with
 * the original, so its JSON Patch walks only what changed (policies/json-patch.ts).
 */
export function ownObject(parent: Fields, key: string): Fields | undefined {
  const existing = parent[key];
  if (existing !== undefined && existing !== null && !isFields(existing)) return undefined;
  const own: Fields = isFields(existing) ? { ...existing } : {};
  parent[key] = own;
  return own;
}
