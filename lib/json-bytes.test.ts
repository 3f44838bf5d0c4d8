import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonBytes } from './json-bytes.ts';

/** A small deterministic generator (mulberry32), so a failing value can be found again. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  '"',
  '\\',
  '\n',
  '\t',
  '\u0001',
  '\u007f',
  'é',
  '€',
  '😀',
  '\ud800',
  '/',
  '~',
  '\u2028',
];
const NUMBERS = [0, -0, 1, -1, 42, 65532, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 53, 1.5, -0.25, 1e21, 1e-7, NaN, Infinity];

function value(next: () => number, depth: number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const text = (): string =>
    Array.from({ length: Math.floor(next() * (next() < 0.1 ? 80 : 12)) }, () => pick(PIECES)).join('');
  const kind = Math.floor(next() * (depth > 3 ? 5 : 8));
  if (kind === 0) return text();
  if (kind === 1) return pick(NUMBERS);
  if (kind === 2) return next() < 0.5;
  if (kind === 3) return null;
  if (kind === 4) return pick([undefined, () => 1, Symbol('s'), new Date(0), text()]);
  if (kind === 5) return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 5); i > 0; i--) object[text()] = value(next, depth + 1);
  return object;
}

test('JsonBytes writes what JSON.stringify writes, for every kind of JSON value and what JSON leaves out', () => {
  const writer = new JsonBytes();
  const next = random(7);
  for (let i = 0; i < 3000; i++) {
    const v = value(next, 0);
    const expected = JSON.stringify(v) ?? 'null';
    assert.equal(writer.start().value(v).finish().toString(), expected, expected.slice(0, 80));
  }
  // Past the scratch buffer's first size, and back.
  const large = { items: Array.from({ length: 3000 }, (_, i) => ({ name: `item-${i}`, note: 'é"'.repeat(i % 7) })) };
  assert.equal(writer.start().value(large).finish().toString(), JSON.stringify(large));
  assert.equal(writer.start().value({ a: 1 }).finish().toString(), '{"a":1}');
});

test('JsonBytes escapes each ASCII character as JSON.stringify does, and starts again at one beyond ASCII', () => {
  const writer = new JsonBytes();
  const ascii = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));
  for (const c of ascii) {
    for (const text of [c, `a${c}b`, `${c}${'x'.repeat(60)}${c}`]) {
      assert.equal(writer.start().string(text).finish().toString(), JSON.stringify(text), JSON.stringify(text));
    }
  }
  // A denial's message: a heading and lines, with quotes; then the same with non-ASCII after the first escapes.
  const message = `k8s-ee denied CREATE Pod/evil: 2 problems:\n(1) spec "a" \\ b\t[pss:x]\n(2) ${'y'.repeat(500)}`;
  for (const text of [message, `${message} é`, `${message}\u2028😀\ud800`]) {
    assert.equal(writer.start().string(text).finish().toString(), JSON.stringify(text));
  }
  assert.equal(
    writer
      .start()
      .value({ all: ascii.join('') })
      .finish()
      .toString(),
    JSON.stringify({ all: ascii.join('') }),
  );
});

test('JsonBytes writes a JSON Pointer of keys and indexes as a JSON string, escaped for RFC 6901 and for JSON', () => {
  const writer = new JsonBytes();
  const cases: [(string | number)[], string][] = [
    [[], ''],
    [['spec', 'containers', 0, 'securityContext'], '/spec/containers/0/securityContext'],
    [['metadata', 'labels', 'k8s-ee.io/pr'], '/metadata/labels/k8s-ee.io~1pr'],
    [['a~b', 'c/~d', 12], '/a~0b/c~1~0d/12'],
    [['quote"', 'é', 'back\\slash/'], '/quote"/é/back\\slash~1'],
  ];
  for (const [path, pointer] of cases) {
    assert.equal(writer.start().pointer(path).finish().toString(), JSON.stringify(pointer));
  }
});

test('JsonBytes turns what it wrote since a mark into its base64, in place, for every padding', () => {
  const writer = new JsonBytes();
  for (const text of ['', 'a', 'ab', 'abc', 'abcd', 'é', '€😀', 'x'.repeat(20_000)]) {
    writer.start().text('<');
    const mark = writer.length;
    writer.value(text);
    const bytes = writer.base64Since(mark).text('>').finish().toString();
    assert.equal(bytes, `<${Buffer.from(JSON.stringify(text)).toString('base64')}>`, text.slice(0, 8));
  }
});

test('JsonBytes forgets what it wrote past a mark, and refuses a mark it never reached', () => {
  const writer = new JsonBytes().start().text('{"a":1');
  const mark = writer.length;
  writer.text(',"b":2');
  assert.equal(writer.truncate(mark).text('}').finish().toString(), '{"a":1}');
  writer.start().text('ab');
  assert.throws(() => writer.truncate(3), /cannot truncate 2 bytes to 3/);
});
