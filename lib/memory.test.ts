import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { reduceMemory } from './memory.ts';

test('without --expose-gc nothing is asked, and the caller is told so', () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test runs without --expose-gc');
  assert.equal(reduceMemory(), false);
});

test('with --expose-gc, a memory-reducing collection runs soon after and gives the heap back', () => {
  // A heap grown by 40 MB of objects that are garbage by the time of the request.
  const script = `
    import { getHeapStatistics } from 'node:v8';
    import { PerformanceObserver } from 'node:perf_hooks';
    import { reduceMemory } from ${JSON.stringify(join(import.meta.dirname, 'memory.ts'))};
    let grown = [];
    for (let i = 0; i < 400_000; i++) grown.push({ i, text: 'x'.repeat(20) + i });
    grown = undefined;
    const before = getHeapStatistics().total_heap_size;
    const kinds = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) kinds.push(e.detail.kind); }).observe({ entryTypes: ['gc'] });
    const asked = reduceMemory();
    setTimeout(() => {
      process.stdout.write(JSON.stringify({ asked, before, after: getHeapStatistics().total_heap_size, kinds }));
    }, 300);
  `;
  const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const { asked, before, after, kinds } = JSON.parse(run.stdout) as {
    asked: boolean;
    before: number;
    after: number;
    kinds: number[];
  };
  assert.equal(asked, true);
  assert.ok(kinds.length > 0, 'a collection ran after the request');
  assert.ok(after < before / 2, `heap ${String(before)} -> ${String(after)} bytes`);
});
