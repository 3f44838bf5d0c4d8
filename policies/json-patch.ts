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

/** A key or index on the way from the root to a value (unescaped: a JSON Pointer's tokens before RFC 6901). */
export type PathStep = string | number;

/**
 * Where a diff's operations go, each with its path as the steps from the root: an array the walk reuses (read it
 * during the call, do not keep it). `value` is `after`'s own (absent for a remove).
 */
export type PatchSink = (op: PatchOperation['op'], path: readonly PathStep[], value?: unknown) => void;

function walkObject(before: Json, after: Json, path: PathStep[], sink: PatchSink): void {
  for (const key in before) {
    if (!Object.hasOwn(before, key)) continue;
    const was = before[key];
    const now = after[key];
    // The same value (an untouched subtree, shared): nothing to walk.
    if (was === now && (was === undefined || Object.hasOwn(after, key))) continue;
    path.push(key);
    if (!Object.hasOwn(after, key) || now === undefined) {
      if (was !== undefined) sink('remove', path);
    } else walk(was, now, path, sink);
    path.pop();
  }
  for (const key in after) {
    if (!Object.hasOwn(after, key) || after[key] === undefined) continue;
    if (!Object.hasOwn(before, key) || before[key] === undefined) {
      path.push(key);
      sink('add', path, after[key]);
      path.pop();
    }
  }
}

function walkArray(before: unknown[], after: unknown[], path: PathStep[], sink: PatchSink): void {
  const common = Math.min(before.length, after.length);
  for (let i = 0; i < common; i++) {
    path.push(i);
    walk(before[i], after[i], path, sink);
    path.pop();
  }
  // Removed from the end backwards, so each index is still valid when its operation applies.
  for (let i = before.length - 1; i >= common; i--) {
    path.push(i);
    sink('remove', path);
    path.pop();
  }
  for (let i = common; i < after.length; i++) {
    path.push(i);
    sink('add', path, after[i]);
    path.pop();
  }
}

function walk(before: unknown, after: unknown, path: PathStep[], sink: PatchSink): void {
  if (before === after) return;
  if (isRecord(before) && isRecord(after)) return walkObject(before, after, path, sink);
  if (Array.isArray(before) && Array.isArray(after)) return walkArray(before, after, path, sink);
  if (!same(before, after)) sink('replace', path, after);
}

/** The path's JSON Pointer (RFC 6901): `/spec/template/metadata/labels/k8s-ee.io~1pr`. */
export function pointerOf(path: readonly PathStep[]): string {
  let pointer = '';
  for (const step of path) pointer += `/${typeof step === 'number' ? step : escapeToken(step)}`;
  return pointer;
}

/**
 * Walks the differences between `before` and `after` (both JSON: objects, arrays, strings, finite numbers,
 * booleans, null; an `undefined` property counts as absent, as JSON.stringify treats it), handing `sink` each
 * operation of the patch that turns one into the other, in order: what {@link diff} collects, without building it
 * (the webhook writes them straight into its answer's bytes).
 */
export function walkDiff(before: unknown, after: unknown, sink: PatchSink): void {
  walk(before, after, [], sink);
}

/**
 * The operations that turn `before` into `after` (see {@link walkDiff}). Empty when they are equal. The values in the
 * operations are `after`'s own (not copies).
 */
export function diff(before: unknown, after: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  walkDiff(before, after, (op, path, value) => {
    ops.push(op === 'remove' ? { op, path: pointerOf(path) } : { op, path: pointerOf(path), value });
  });
  return ops;
}
