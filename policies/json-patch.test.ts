import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { diff, escapeToken } from './json-patch.ts';

const { applyPatch } = fastJsonPatch;

/** Applies the patch to a deep copy with fast-json-patch (the independent oracle) and returns the result. */
function applied(before: unknown, after: unknown): unknown {
  const copy = JSON.parse(JSON.stringify({ root: before })) as { root: unknown };
  const ops = diff(before, after).map((op) => ({ ...op, path: `/root${op.path}` }));
  applyPatch(copy, ops as Parameters<typeof applyPatch>[1], true);
  return copy.root;
}

/** A small deterministic pseudo-random generator (mulberry32), so a failing case can be replayed by its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ['a', 'b', 'c', 'spec', 'x/y', 'm~n', '~1', '', '0', 'labels'];

function value(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) {
    const leaves = [null, true, false, 0, 1.5, -3, '', 'text', 'nginx'];
    return leaves[Math.floor(rand() * leaves.length)];
  }
  if (r < 0.65) {
    const out: Record<string, unknown> = {};
    const n = Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) out[KEYS[Math.floor(rand() * KEYS.length)] ?? 'a'] = value(rand, depth + 1);
    return out;
  }
  return Array.from({ length: Math.floor(rand() * 4) }, () => value(rand, depth + 1));
}

/** A changed version of `v`: sharing untouched subtrees with it, as the webhook's copies do. */
function edit(rand: () => number, v: unknown, depth: number): unknown {
  const r = rand();
  if (r < 0.35) return v; // shared, untouched
  if (r < 0.5 || typeof v !== 'object' || v === null) return value(rand, depth);
  if (Array.isArray(v)) {
    const out = v.map((item) => edit(rand, item, depth + 1));
    if (rand() < 0.3) out.push(value(rand, depth + 1));
    if (rand() < 0.3) out.splice(0, Math.floor(rand() * (out.length + 1)));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, item] of Object.entries(v)) if (rand() > 0.2) out[k] = edit(rand, item, depth + 1);
  if (rand() < 0.4) out[KEYS[Math.floor(rand() * KEYS.length)] ?? 'a'] = value(rand, depth + 1);
  return out;
}

describe('diff (JSON Patch between two documents)', () => {
  test('equal documents, shared or separately built, give no operations', () => {
    const doc = { a: [1, { b: null }], c: 'x' };
    assert.deepEqual(diff(doc, doc), []);
    assert.deepEqual(diff(doc, JSON.parse(JSON.stringify(doc))), []);
  });

  test('the operations a pod default adds, with escaped label keys', () => {
    const before = { spec: { containers: [{ name: 'web' }] }, metadata: { labels: { app: 'web' } } };
    const after = {
      spec: { containers: [{ name: 'web', securityContext: { runAsNonRoot: true } }] },
      metadata: { labels: { app: 'web', 'k8s-ee.io/pr': '42' } },
    };
    assert.deepEqual(diff(before, after), [
      { op: 'add', path: '/spec/containers/0/securityContext', value: { runAsNonRoot: true } },
      { op: 'add', path: '/metadata/labels/k8s-ee.io~1pr', value: '42' },
    ]);
  });

  test('removals, type changes, shrinking and growing arrays, a replaced root', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1, b: 2 }, { a: 1 }],
      [{ a: { b: 1 } }, { a: [1] }],
      [{ a: [1, 2, 3, 4] }, { a: [1] }],
      [{ a: [] }, { a: [1, { b: 2 }] }],
      [{ a: null }, { a: {} }],
      [[1, 2], { a: 1 }],
      ['x', 'y'],
      [
        { a: 1, gone: undefined },
        { a: 1, b: undefined },
      ],
    ];
    for (const [before, after] of cases) assert.deepEqual(applied(before, after), JSON.parse(JSON.stringify(after)));
    assert.deepEqual(diff({ a: 1, gone: undefined }, { a: 1, b: undefined }), []);
  });

  test('for any pair of documents, applying the patch to the first gives the second (2,000 seeded cases)', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const rand = random(seed);
      const before = value(rand, 0);
      const after = edit(rand, before, 0);
      const frozen = JSON.stringify(before);
      assert.deepEqual(applied(before, after), after, `seed ${seed}`);
      assert.equal(JSON.stringify(before), frozen, `seed ${seed}: diff changed its input`);
    }
  });

  test('escapes JSON Pointer tokens as RFC 6901 says', () => {
    assert.equal(escapeToken('k8s-ee.io/pr'), 'k8s-ee.io~1pr');
    assert.equal(escapeToken('a~b/c'), 'a~0b~1c');
    assert.equal(escapeToken('~1'), '~01');
    assert.equal(escapeToken('plain'), 'plain');
  });
});
