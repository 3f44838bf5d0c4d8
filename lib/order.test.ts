import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byCodeUnits } from './order.ts';

test('orders names by code units: hyphens and dots before digits before letters, prefixes first', () => {
  const names = ['shop-pr-10', 'shop-pr-9', 'shop.pr', 'shop-pr-1', 'shop', 'a1', 'a-1', 'shop-pr-1', 'b'];
  assert.deepEqual([...names].sort(byCodeUnits), [
    'a-1',
    'a1',
    'b',
    'shop',
    'shop-pr-1',
    'shop-pr-1',
    'shop-pr-10',
    'shop-pr-9',
    'shop.pr',
  ]);
  assert.equal(byCodeUnits('x', 'x'), 0);
  assert.equal(byCodeUnits('x', 'y'), -1);
  assert.equal(byCodeUnits('y', 'x'), 1);
});

test('for Kubernetes names it agrees with the root collation, which it replaces', () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-.';
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const names = Array.from({ length: 2000 }, () =>
    Array.from({ length: 1 + Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(
      '',
    ),
  );
  const collator = new Intl.Collator('und');
  assert.deepEqual(
    [...names].sort(byCodeUnits),
    [...names].sort((a, b) => collator.compare(a, b)),
  );
});
