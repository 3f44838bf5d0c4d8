// The platform chart's memory limits against what `npm run bench` measured (bench/results.json): a container whose
// measured peak does not fit under its limit would be OOM-killed, so the limit (or the code) must change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseQuantity } from '../lib/quantity.ts';
import type { Row } from '../bench/_lib.ts';

const root = join(import.meta.dirname, '..');
const values = parse(readFileSync(join(root, 'charts/k8s-ee/values.yaml'), 'utf8')) as Record<
  string,
  { resources?: { limits?: { memory?: string } } }
>;
const resultsFile = join(root, 'bench/results.json');

function limitMiB(container: string): number {
  const memory = values[container]?.resources?.limits?.memory;
  assert.ok(memory, `charts/k8s-ee/values.yaml sets no ${container}.resources.limits.memory`);
  const milli = parseQuantity(memory);
  assert.ok(milli !== undefined, `${container}.resources.limits.memory "${memory}" is not a quantity`);
  return Number(milli / 1000n) / 2 ** 20;
}

test('every measured peak fits under the chart memory limit of its container', (t) => {
  if (!existsSync(resultsFile)) return t.skip('no bench/results.json yet: run npm run bench');
  const { rows } = JSON.parse(readFileSync(resultsFile, 'utf8')) as { rows: Row[] };
  const peaks = rows.filter((r) => r.peakOf !== undefined);
  assert.ok(peaks.length > 0, 'bench/results.json has no peak rows (webhook, sweeper)');
  for (const row of peaks) {
    const container = row.peakOf ?? '';
    const limit = limitMiB(container);
    t.diagnostic(`${row.row}: ${row.figure.toFixed(1)} MiB, limit ${limit} MiB`);
    assert.ok(
      row.figure <= limit,
      `${row.row}: measured ${row.figure.toFixed(1)} MiB, above the ${container} container's limit of ${limit} MiB ` +
        `(charts/k8s-ee/values.yaml ${container}.resources.limits.memory): raise the limit or cut the peak`,
    );
  }
});

test('the limit check reads quantities as the chart writes them', () => {
  assert.equal(Number((parseQuantity('192Mi') ?? 0n) / 1000n) / 2 ** 20, 192);
  assert.equal(Number((parseQuantity('1Gi') ?? 0n) / 1000n) / 2 ** 20, 1024);
});
