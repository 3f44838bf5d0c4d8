// The JSON Patch (RFC 6902) that turns one JSON document into another, for admission responses. Written for the
// hot path: the mutated object shares every untouched subtree with the original (policies/pod-templates.ts copies
// only what it changes), so a subtree that is the same reference is skipped without a walk, and values are put in
// the patch as they are (not copied: the patch is serialized at once). fast-json-patch's compare walked and
// deep-copied the whole object on every request, a third of the admission pipeline's time (bench/results.md);
// it stays the oracle the tests apply these patches with.

export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Escaped tokens of recent keys with a `/` or `~` (label and annotation keys: `k8s-ee.io/pr`), at most 256. */
const escaped = new Map<string, string>();

/** A JSON Pointer reference token (RFC 6901): `~` as `~0`, `/` as `~1`. */
export function escapeToken(key: string): string {
  if (!key.includes('/') && !key.includes('~')) return key;
  let token = escaped.get(key);
  if (token === undefined) {
    token = key.replaceAll('~', '~0').replaceAll('/', '~1');
    if (escaped.size >= 256) escaped.clear();
    escaped.set(key, token);
  }
  return token;
}

/** Deep equality of JSON values (objects compared by their own keys, arrays by position). Allocates nothing. */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && sameItems(a, b);
  return sameFields(a as Json, b as Json);
}

function sameItems(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
  return true;
}

function sameFields(a: Json, b: Json): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (!Object.hasOwn(b, key) || !same(a[key], b[key])) return false;
  return true;
}

function walkObject(before: Json, after: Json, path: string, ops: PatchOperation[]): void {
  for (const key in before) {
    if (!Object.hasOwn(before, key)) continue;
    const was = before[key];
    const now = after[key];
    // The same value (an untouched subtree, shared): nothing to walk, so no path to build.
    if (was === now && (was === undefined || Object.hasOwn(after, key))) continue;
    const where = `${path}/${escapeToken(key)}`;
    if (!Object.hasOwn(after, key) || now === undefined) {
      if (was !== undefined) ops.push({ op: 'remove', path: where });
    } else walk(was, now, where, ops);
  }
  for (const key in after) {
    if (!Object.hasOwn(after, key) || after[key] === undefined) continue;
    if (!Object.hasOwn(before, key) || before[key] === undefined) {
      ops.push({ op: 'add', path: `${path}/${escapeToken(key)}`, value: after[key] });
    }
  }
}

function walkArray(before: unknown[], after: unknown[], path: string, ops: PatchOperation[]): void {
  const common = Math.min(before.length, after.length);
  for (let i = 0; i < common; i++) walk(before[i], after[i], `${path}/${i}`, ops);
  // Removed from the end backwards, so each index is still valid when its operation applies.
  for (let i = before.length - 1; i >= common; i--) ops.push({ op: 'remove', path: `${path}/${i}` });
  for (let i = common; i < after.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: after[i] });
}

function walk(before: unknown, after: unknown, path: string, ops: PatchOperation[]): void {
  if (before === after) return;
  if (isRecord(before) && isRecord(after)) return walkObject(before, after, path, ops);
  if (Array.isArray(before) && Array.isArray(after)) return walkArray(before, after, path, ops);
  if (!same(before, after)) ops.push({ op: 'replace', path, value: after });
}

/**
 * The operations that turn `before` into `after` (both JSON: objects, arrays, strings, finite numbers, booleans,
 * null; an `undefined` property counts as absent, as JSON.stringify treats it). Empty when they are equal. The
 * values in the operations are `after`'s own (not copies).
 */
export function diff(before: unknown, after: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  walk(before, after, '', ops);
  return ops;
}
