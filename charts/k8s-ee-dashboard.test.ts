// The dashboard's "Capacity and cost" row, checked against the series k8s-ee really exports: the sweeper's cost
// gauges (sweeper/sweep.ts) and the webhook's capacity metrics (webhooks/capacity.ts) are produced by the real code,
// scraped as two replicas would be, and every query of the row is evaluated by promtool (promql_expr_test) with the
// answer the inventory implies.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { silentLogger } from '../lib/log.ts';
import { parseQuantity } from '../lib/quantity.ts';
import { defaultConfig } from '../policies/config.ts';
import { ensurePromtool } from '../local/tools/promtool.ts';
import { createSweeperMetrics } from '../sweeper/metrics.ts';
import { updateCostGauges, type SweepDeps } from '../sweeper/sweep.ts';
import type { InventoryInput } from '../sweeper/inventory.ts';
import { createCapacityGate, memoryLedger } from '../webhooks/capacity.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const config = { ...defaultConfig(), capacity: { maxEnvironments: 2, overcommit: { cpu: 4, memory: 1 } } };
const q = (t: string) => parseQuantity(t)!;

const namespace = (name: string) => ({
  name,
  labels: { 'k8s-ee.io/managed': 'true' },
  annotations: {},
  phase: 'Active',
  creationTimestamp: new Date(NOW.getTime() - 3_600_000).toISOString(),
  conditions: [],
  finalizers: [],
});
const inventory: InventoryInput = {
  namespaces: [namespace('shop-pr-1'), namespace('shop-pr-2')],
  releases: {},
  prs: {},
  quotas: {
    'shop-pr-1': { hard: { 'requests.cpu': '300m', 'requests.memory': '512Mi' }, used: {} },
    'shop-pr-2': { hard: { 'requests.cpu': '400m', 'requests.memory': '768Mi' }, used: {} },
  },
  claimBytes: { 'shop-pr-2': 2 * 1024 ** 3 },
  databases: {},
  urls: {},
};

/** "name{labels} value" lines of a registry, with the labels a scrape of `pod` adds. */
async function scraped(
  registry: Registry,
  pod: string,
): Promise<{ series: string; value: number; counter: boolean }[]> {
  const text = await registry.metrics();
  const counters = new Set(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE ') && l.endsWith(' counter'))
      .map((l) => l.split(' ')[2]),
  );
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const cut = line.lastIndexOf(' ');
      const [name = '', labels = ''] = line.slice(0, cut).replace(/}$/, '').split('{');
      const extra = `job="k8s-ee", namespace_="k8s-ee-system", pod="${pod}"`;
      return {
        series: `${name}{${labels ? `${labels}, ` : ''}${extra}}`,
        value: Number(line.slice(cut + 1)),
        counter: counters.has(name.replace(/_total$/, '')) || counters.has(name),
      };
    });
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

describe('the dashboard row "Capacity and cost" on the exported series', { timeout: 1_800_000 }, () => {
  let promtool: string | undefined;
  let skip: string | undefined;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-dashboard-'));
    const found = await ensurePromtool((line) => console.log(`charts/dashboard: ${line}`));
    if ('skip' in found) skip = found.skip;
    else promtool = found.path;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('every query of the row answers what the environments imply', async (t) => {
    if (!promtool) {
      t.skip(skip ?? 'no promtool');
      return;
    }
    // The sweeper (one replica: the leader) and the webhook (two replicas, the same view).
    const sweeper = new Registry();
    const deps = {
      config,
      metrics: createSweeperMetrics(sweeper),
      log: silentLogger(),
      inventory: () => Promise.resolve(inventory),
    };
    await updateCostGauges(deps as unknown as SweepDeps, NOW, inventory);
    const webhook = async (pod: string) => {
      const registry = new Registry();
      const envs = ['shop-pr-1', 'shop-pr-2'].map((n, i) => ({
        namespace: n,
        requests: { cpu: q(i ? '400m' : '300m'), memory: q(i ? '768Mi' : '512Mi') },
        pinned: false,
      }));
      const gate = createCapacityGate({
        source: {
          environments: () => envs,
          allocatable: () => ({ cpu: q('4'), memory: q('24Gi') }),
          others: () => ({ cpu: q('500m'), memory: q('2Gi') }),
        },
        ledger: memoryLedger(),
        config,
        log: silentLogger(),
        registry,
        now: () => NOW.getTime(),
      });
      const refused = await gate('shop-pr-3', undefined, { dryRun: false }); // a third: refused by the count
      assert.equal(refused.ok, false);
      return scraped(registry, pod);
    };
    const series = [
      ...(await scraped(sweeper, 'k8s-ee-a')),
      ...(await webhook('k8s-ee-a')),
      ...(await webhook('k8s-ee-b')),
    ];
    const input_series = series.map((s) => ({
      series: s.series,
      // Counters start at 0 a while before the refusal; gauges are constant.
      values: s.counter ? `0x10 ${s.value}x60` : `${s.value}x70`,
    }));
    const dashboard = JSON.parse(
      await readFile(join(import.meta.dirname, 'k8s-ee', 'dashboards', 'k8s-ee.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const expr = (title: string, i = 0): string => {
      const panel = dashboard.panels.find((p) => p.title === title);
      assert.ok(panel?.targets?.[i], `the dashboard has a panel "${title}"`);
      return panel.targets[i].expr;
    };
    const expected = [
      {
        expr: expr('Estimated monthly cost by environment'),
        // 0.3 × 15 + 0.5 × 2.5; 0.4 × 15 + 0.75 × 2.5 + 2 GiB × 0.10.
        exp_samples: [
          { labels: '{namespace="shop-pr-1"}', value: 5.75 },
          { labels: '{namespace="shop-pr-2"}', value: 8.075 },
        ],
      },
      { expr: expr('All PR environments, a month'), exp_samples: [{ labels: '{}', value: 13.825 }] },
      {
        expr: expr('PR environments (and the maximum)'),
        exp_samples: [
          { labels: '{limit="count"}', value: 2 },
          { labels: '{limit="max"}', value: 2 },
        ],
      },
      {
        expr: expr('Cluster capacity reserved by PR environments'),
        // 700m of 4 cores; 1280Mi of 24Gi.
        exp_samples: [
          { labels: '{resource="cpu"}', value: 0.175 },
          { labels: '{resource="memory"}', value: 1280 / (24 * 1024) },
        ],
      },
      {
        expr: expr('Cluster capacity reserved by PR environments', 1),
        // overcommit × (allocatable − other pods): 4 × 3.5 cores of 4; 22Gi of 24Gi.
        exp_samples: [
          { labels: '{resource="cpu"}', value: 3.5 },
          { labels: '{resource="memory"}', value: 22 / 24 },
        ],
      },
      {
        expr: expr('Environments refused for capacity'),
        // One refusal on each replica within the hour, by the count; none for cpu, memory or busy.
        exp_samples: ['busy', 'count', 'cpu', 'memory'].map((reason) => ({
          labels: `{reason="${reason}"}`,
          value: reason === 'count' ? 2 : 0,
        })),
      },
    ].map((e) => ({ ...e, eval_time: '65m' }));
    const rules = join(dir, 'rules.yaml');
    const tests = join(dir, 'tests.yaml');
    await writeFile(rules, stringify({ groups: [] }));
    await writeFile(
      tests,
      stringify({
        rule_files: [rules],
        evaluation_interval: '1m',
        tests: [{ interval: '1m', input_series, promql_expr_test: expected }],
      }),
    );
    const result = await run(promtool, ['test', 'rules', tests]);
    assert.equal(result.code, 0, `promtool test rules:\n${result.output}`);
  });
});
