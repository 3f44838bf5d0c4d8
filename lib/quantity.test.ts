import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addQuantities, formatQuantity, parseQuantity } from './quantity.ts';

test('parses quantities into exact milli-units', () => {
  const cases: [string, bigint | undefined][] = [
    ['300m', 300n],
    ['1', 1000n],
    ['1.5', 1500n],
    ['0.1', 100n],
    ['512Mi', 512n * 1024n * 1024n * 1000n],
    ['1Gi', 1024n ** 3n * 1000n],
    ['2G', 2n * 10n ** 9n * 1000n],
    ['1k', 1_000_000n],
    ['abc', undefined],
    ['1.2.3', undefined],
    ['-1', undefined],
    ['1mi', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseQuantity(text), expected, text);
});

test('formats back to canonical quantities', () => {
  assert.equal(formatQuantity(300n, 'cpu'), '300m');
  assert.equal(formatQuantity(2000n, 'cpu'), '2');
  assert.equal(formatQuantity(768n * 1024n * 1024n * 1000n, 'memory'), '768Mi');
  assert.equal(formatQuantity(2n * 1024n ** 3n * 1000n, 'memory'), '2Gi');
  assert.equal(formatQuantity(1500n * 1000n, 'memory'), '1500');
});

test('adds quantities of mixed units', () => {
  assert.equal(addQuantities(['300m', '100m', '0.1'], 'cpu'), '500m');
  assert.equal(addQuantities(['512Mi', '256Mi', '256Mi'], 'memory'), '1Gi');
  assert.equal(addQuantities(['1', undefined, '1'], 'count'), '2');
});
