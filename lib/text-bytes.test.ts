import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextBytes } from './text-bytes.ts';

test('TextBytes writes its pieces as UTF-8, JSON strings as JSON.stringify does, base64 as Buffer does', () => {
  const samples = [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    'é',
    '€',
    '😀',
    'quote " back \\ nl \n',
    'x'.repeat(301),
    '€ü😀'.repeat(97),
  ];
  for (const text of samples) {
    const bytes = new TextBytes().text('<').json(text).text(':').base64(text).text('>');
    const expected = `<${JSON.stringify(text)}:${Buffer.from(text).toString('base64')}>`;
    assert.equal(bytes.byteLength, Buffer.byteLength(expected), JSON.stringify(text.slice(0, 10)));
    assert.equal(bytes.toBuffer().toString(), expected);
    // At an offset, in a buffer with bytes on both sides that must stay as they are.
    const target = Buffer.alloc(bytes.byteLength + 9, 0xff);
    bytes.writeTo(target, 4);
    assert.equal(target.subarray(4, 4 + bytes.byteLength).toString(), expected);
    assert.deepEqual([...target.subarray(0, 4), ...target.subarray(4 + bytes.byteLength)], Array(9).fill(0xff));
  }
});

test('TextBytes refuses a buffer too short for it, writing nothing', () => {
  const bytes = new TextBytes().text('hello ').base64('world');
  const target = Buffer.alloc(bytes.byteLength + 2);
  assert.throws(() => bytes.writeTo(target, 3), /bytes do not fit at offset 3 of a buffer of/);
  assert.ok(target.every((b) => b === 0));
});
