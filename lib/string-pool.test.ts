import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringPool } from './string-pool.ts';

// Two equal strings that are distinct heap objects, as two JSON.parse calls give.
const copy = (s: string): string => (JSON.parse(JSON.stringify({ s })) as { s: string }).s;

test('equal strings come back as the first one seen; a full pool starts over without losing values', () => {
  const pool = new StringPool(3);
  const first = copy('shop-pr-1');
  assert.equal(pool.get(first), first);
  assert.equal(pool.get(copy('shop-pr-1')), 'shop-pr-1');
  assert.equal(pool.size, 1);
  pool.get('a');
  pool.get('b');
  assert.equal(pool.size, 3);
  assert.equal(pool.get('c'), 'c', 'a full pool still answers');
  assert.equal(pool.size, 1, 'and starts over');
});

test('label maps get pooled values, in a new object; absent maps stay absent', () => {
  const pool = new StringPool(10);
  const labels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'k8s-ee.io/pr': '7' };
  const pooled = pool.values(labels);
  assert.deepEqual(pooled, labels);
  assert.notEqual(pooled, labels);
  assert.equal(pool.size, 2);
  assert.equal(pool.values(undefined), undefined);
});
