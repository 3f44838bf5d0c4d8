import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonString } from './json-string.ts';

test('jsonString writes what JSON.stringify writes, short or long, remembered or not', () => {
  const long = (tail: string) => `${'k8s-ee denied "x"\n\\ é \u0001 \ud800 '.repeat(20)}${tail}`;
  const texts = [
    '',
    'a',
    'quote " and \\ and \n',
    '\u2028\u0000',
    long('a'),
    long('b'),
    long('a'),
    'short again',
    long('b'),
  ];
  for (const text of texts) assert.equal(jsonString(text), JSON.stringify(text), JSON.stringify(text).slice(0, 40));
  // The same long text twice in a row (the answer, then the log line), and an equal copy of it built anew.
  const message = long('same');
  assert.equal(jsonString(message), JSON.stringify(message), 'first: escaped');
  assert.equal(jsonString(message), JSON.stringify(message), 'again: remembered');
  assert.equal(jsonString([...message].join('')), JSON.stringify(message));
  assert.equal(
    jsonString(long('other')),
    JSON.stringify(long('other')),
    'another long text is not answered from memory',
  );
});

test('jsonString quotes a short string directly only when JSON.stringify would write it unchanged', () => {
  // Every character of the Basic Multilingual Plane's first block, alone and inside a name, and lone surrogates.
  for (let code = 0; code < 0x2100; code++) {
    const c = String.fromCharCode(code);
    for (const text of [c, `web-${c}-1`])
      assert.equal(jsonString(text), JSON.stringify(text), `U+${code.toString(16)}`);
  }
  for (const text of ['\ud800', 'a\udfffb', '\ud83d\ude00', 'system:serviceaccount:kube-system:replicaset-controller'])
    assert.equal(jsonString(text), JSON.stringify(text));
});
