// Small, total accessors for untyped Kubernetes objects (admission bodies and manifests are untrusted input).
export type Obj = Record<string, unknown>;

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function obj(value: unknown): Obj {
  return isObj(value) ? value : {};
}

export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** How a message names the JSON type of a value: `a string`, `a list`, `null`. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'undefined') return 'nothing';
  return typeof value === 'number' ? 'a number' : `a ${typeof value}`;
}

export function metadataOf(object: unknown): Obj {
  return obj(obj(object)['metadata']);
}

export function labelsOf(object: unknown): Record<string, string> {
  return stringMap(metadataOf(object)['labels']);
}

export function annotationsOf(object: unknown): Record<string, string> {
  return stringMap(metadataOf(object)['annotations']);
}

/** One label's value, when it is a string: what `labelsOf(object)[key]` reads, without copying every label. */
export function labelOf(object: unknown, key: string): string | undefined {
  return stringIn(metadataOf(object)['labels'], key);
}

/** One annotation's value, when it is a string: what `annotationsOf(object)[key]` reads, without copying them all. */
export function annotationOf(object: unknown, key: string): string | undefined {
  return stringIn(metadataOf(object)['annotations'], key);
}

function stringIn(map: unknown, key: string): string | undefined {
  if (!isObj(map) || !Object.hasOwn(map, key)) return undefined;
  const value = map[key];
  return typeof value === 'string' ? value : undefined;
}

export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === 'string') out[k] = v;
  return out;
}

export function nameOf(object: unknown): string | undefined {
  return str(metadataOf(object)['name']);
}

/**
 * A deep copy of JSON data (objects, arrays, strings, numbers, booleans, null; an undefined property is left out, as
 * JSON.stringify does). A plain recursive copy: ~6x faster than a JSON round trip and ~10x faster than
 * structuredClone on a pod spec (measured on the admission hot path, issue 10). A `__proto__` key (JSON.parse makes
 * it an own property) is copied as a property, never as the copy's prototype.
 */
export function clone<T>(value: T): T {
  return copyJson(value) as T;
}

function copyJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyJson(value[i]);
    return out;
  }
  const out: Obj = {};
  for (const key of Object.keys(value)) {
    const item = (value as Obj)[key];
    if (item === undefined) continue;
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: copyJson(item), enumerable: true, writable: true, configurable: true });
    else out[key] = copyJson(item);
  }
  return out;
}

/** Ensures `target[key]` is an object and returns it (for building mutations on a clone). */
export function child(target: Obj, key: string): Obj {
  const existing = target[key];
  if (isObj(existing)) return existing;
  const created: Obj = {};
  target[key] = created;
  return created;
}
