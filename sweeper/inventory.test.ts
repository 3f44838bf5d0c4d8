import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { createSweeperMetrics } from './metrics.ts';
import { updateCostGauges, type SweepDeps } from './sweep.ts';
import { formatTable } from './envs-command.ts';
import { buildInventory, environmentCosts, type InventoryInput } from './inventory.ts';
import { SWEEPER_ANNOTATIONS as SA, type NamespaceInfo } from './types.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const HOUR = 3_600_000;
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const config = defaultConfig();

const ns = (name: string, created: number, extra: Partial<NamespaceInfo> = {}): NamespaceInfo => ({
  name,
  labels: { 'k8s-ee.io/managed': 'true', ...extra.labels },
  annotations: { ...extra.annotations },
  phase: extra.phase ?? 'Active',
  creationTimestamp: ago(created),
  conditions: [],
  finalizers: [],
  ...(extra.deletionTimestamp ? { deletionTimestamp: extra.deletionTimestamp } : {}),
});

const input: InventoryInput = {
  namespaces: [
    ns('shop-pr-2', 2 * HOUR, { annotations: { [SA.releaseSeenAt]: ago(HOUR) } }),
    ns('shop-pr-1', 24 * HOUR, { labels: { preserve: 'true' }, annotations: { 'k8s-ee.io/pinned-at': ago(HOUR) } }),
    ns('kube-system', 100 * HOUR),
    ns('shop-pr-3', HOUR, { labels: { 'k8s-ee.io/managed': 'false' } }),
    ns('shop-pr-4', 3 * HOUR, { phase: 'Terminating', deletionTimestamp: ago(1000) }),
  ],
  releases: {
    // As the API server writes it (no fraction); the row shows it as toISOString, like every other time.
    'shop-pr-2': [{ release: 'shop', revision: 2, status: 'deployed', createdAt: ago(HOUR).replace('.000Z', 'Z') }],
  },
  prs: {},
  quotas: {
    'shop-pr-2': {
      hard: { 'requests.cpu': '400m', 'requests.memory': '768Mi' },
      used: { 'requests.cpu': '100m', 'requests.memory': '128Mi' },
    },
    'shop-pr-1': { hard: { 'requests.cpu': '300m', 'requests.memory': '512Mi' }, used: {} },
  },
  claimBytes: { 'shop-pr-2': 2 * 1024 ** 3 },
  databases: { 'shop-pr-2': ['postgresql'] },
  urls: { 'shop-pr-2': 'http://shop-pr-2.preview.example.com' },
};

describe('inventory', () => {
  const rows = buildInventory(input, config, NOW);

  test('every managed environment, oldest first (unmanaged and other namespaces left out)', () => {
    assert.deepEqual(
      rows.map((r) => [r.namespace, r.status, r.ageSeconds]),
      [
        ['shop-pr-1', 'not-deployed', 24 * 3600],
        ['shop-pr-4', 'terminating', 3 * 3600],
        ['shop-pr-2', 'deployed', 2 * 3600],
      ],
    );
  });

  test('a deployed environment: last deploy, TTL expiry, quota, databases, URL and costs', () => {
    const row = rows.find((r) => r.namespace === 'shop-pr-2')!;
    assert.deepEqual(row.lastDeploy, { release: 'shop', revision: 2, status: 'deployed', at: ago(HOUR) });
    assert.equal(row.expiresAt, new Date(NOW.getTime() - HOUR + 7 * 24 * HOUR).toISOString());
    assert.equal(row.expiresReason, 'ttl-expired');
    assert.deepEqual(
      [row.project, row.pr, row.databases, row.url],
      ['shop', 2, ['postgresql'], 'http://shop-pr-2.preview.example.com'],
    );
    // 0.4 vCPU × 15 + 0.75 GiB × 2.5 + 2 GiB × 0.10 a month; so far: 2 hours of it.
    assert.ok(Math.abs(row.cost.perMonth - (6 + 1.875 + 0.2)) < 1e-9);
    assert.ok(Math.abs(row.cost.soFar - (8.075 * 2) / 730) < 1e-9);
    assert.equal(row.storageBytes, 2 * 1024 ** 3);
  });

  test('a pinned, never deployed one: the pin end is its expiry; a terminating one has none', () => {
    const pinned = rows.find((r) => r.namespace === 'shop-pr-1')!;
    assert.equal(pinned.pinnedUntil, new Date(NOW.getTime() + 47 * HOUR).toISOString());
    assert.equal(pinned.expiresReason, 'pin-expiry');
    assert.equal(pinned.expiresAt, pinned.pinnedUntil);
    const going = rows.find((r) => r.namespace === 'shop-pr-4')!;
    assert.deepEqual(
      [going.expiresAt, going.expiresWhy, going.quota, going.cost.perMonth],
      [null, 'being deleted', null, 0],
    );
  });

  test("environmentCosts: the rows' costs, of the environments not being deleted, without the rest of the rows", () => {
    const costs = [
      ...environmentCosts(
        { namespaces: input.namespaces, quotas: input.quotas, claimBytes: input.claimBytes },
        config,
        NOW,
      ),
    ];
    assert.deepEqual(
      costs.map((c) => c.namespace),
      ['shop-pr-2', 'shop-pr-1'],
      'in the order of the namespaces; shop-pr-4 is terminating, shop-pr-3 and kube-system are not managed',
    );
    for (const c of costs) {
      const row = rows.find((r) => r.namespace === c.namespace)!;
      assert.deepEqual(c, { namespace: row.namespace, project: row.project, cost: row.cost });
    }
  });

  test('unknown parts stay unknown: no release records, no quotas, no claims', () => {
    const blind = buildInventory(
      { ...input, releases: undefined, quotas: undefined, claimBytes: undefined },
      config,
      NOW,
    );
    const row = blind.find((r) => r.namespace === 'shop-pr-2')!;
    assert.deepEqual([row.status, row.expiresAt, row.quota, row.storageBytes], ['unknown', null, null, null]);
  });

  test('the table: one line per environment and the monthly total', () => {
    const text = formatTable(rows, config, NOW, false);
    const lines = text.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^NAMESPACE +STATUS +AGE +LAST DEPLOY +PINNED UNTIL +EXPIRES +CPU REQ +MEMORY REQ +COST\/MONTH$/,
    );
    assert.match(
      lines[3]!,
      /^shop-pr-2 +deployed +2h +shop v2, 1h ago +- +in 6d23h \(ttl-expired\) +100m\/400m +128Mi\/768Mi +8\.07 USD$/,
    );
    assert.match(lines[4]!, /^3 environments; estimated 13\.82 USD a month, 0\.21 USD so far/);
    assert.match(formatTable(rows, config, NOW, true).split('\n')[0]!, /COST SO FAR +WHY$/);
    assert.equal(formatTable([], config, NOW, false), 'no managed preview environments\n');
  });
});

describe('cost metrics', () => {
  test('k8s_ee_environment_cost_* per environment and resource, and in total; terminating ones left out', async () => {
    const registry = new Registry();
    const metrics = createSweeperMetrics(registry);
    const deps = {
      config,
      metrics,
      log: silentLogger(),
      inventory: () => Promise.resolve(input),
    } as unknown as SweepDeps;
    await updateCostGauges(deps, NOW, input);
    const text = await registry.metrics();
    // The line of a series: its name and every label given, in any order.
    const line = (series: string) => {
      const [name = '', labels = ''] = series.replace('}', '').split('{');
      const wanted = labels.split(',').filter(Boolean);
      return text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w))) ?? '';
    };
    const value = (series: string) => Number(line(series).split(' ').pop());
    assert.ok(
      Math.abs(value('k8s_ee_environment_cost_monthly{namespace="shop-pr-2",project="shop",resource="cpu"}') - 6) <
        1e-9,
    );
    assert.ok(
      Math.abs(
        value('k8s_ee_environment_cost_monthly{namespace="shop-pr-2",project="shop",resource="storage"}') - 0.2,
      ) < 1e-9,
    );
    assert.ok(Math.abs(value('k8s_ee_environment_cost_monthly_all{currency="USD"}') - 13.825) < 1e-9);
    assert.ok(Math.abs(value('k8s_ee_environment_cost_accrued{namespace="shop-pr-1"}') - (5.75 * 24) / 730) < 1e-9);
    assert.equal(line('k8s_ee_environment_cost_monthly{namespace="shop-pr-4"}'), '');
    assert.equal(
      text.split('\n').filter((l) => l.startsWith('k8s_ee_environment_cost_monthly{')).length,
      6,
      'cpu, memory and storage of shop-pr-1 and shop-pr-2',
    );
  });

  test('the next run replaces the series: an environment gone is no longer exported, the total follows', async () => {
    const registry = new Registry();
    const metrics = createSweeperMetrics(registry);
    const deps = { config, metrics, log: silentLogger() } as unknown as SweepDeps;
    const scrape = async (): Promise<string[]> =>
      (await registry.metrics()).split('\n').filter((l) => l.startsWith('k8s_ee_environment_cost_'));
    assert.deepEqual(await scrape(), [], 'nothing before the first run');
    await updateCostGauges({ ...deps, inventory: () => Promise.resolve(input) }, NOW, input);
    assert.equal((await scrape()).length, 6 + 2 + 1);
    const fewer = { ...input, namespaces: input.namespaces.filter((n) => n.name !== 'shop-pr-2') };
    await updateCostGauges({ ...deps, inventory: () => Promise.resolve(fewer) }, NOW, fewer);
    const lines = await scrape();
    assert.deepEqual(
      lines.filter((l) => l.includes('shop-pr-2')),
      [],
      'the environment gone has no series left',
    );
    assert.deepEqual(
      lines.filter((l) => l.includes('shop-pr-1')).map((l) => l.replace(/ [^ ]+$/, '')),
      [
        'k8s_ee_environment_cost_monthly{namespace="shop-pr-1",project="shop",currency="USD",resource="cpu"}',
        'k8s_ee_environment_cost_monthly{namespace="shop-pr-1",project="shop",currency="USD",resource="memory"}',
        'k8s_ee_environment_cost_monthly{namespace="shop-pr-1",project="shop",currency="USD",resource="storage"}',
        'k8s_ee_environment_cost_accrued{namespace="shop-pr-1",project="shop",currency="USD"}',
      ],
    );
    // 0.3 vCPU × 15 + 0.5 GiB × 2.5, no storage: shop-pr-1 alone.
    const all = lines.find((l) => l.startsWith('k8s_ee_environment_cost_monthly_all{currency="USD"} '));
    assert.ok(Math.abs(Number(all?.split(' ').pop()) - 5.75) < 1e-9, all);
    // A failed read leaves the series as they were.
    await updateCostGauges({ ...deps, inventory: () => Promise.reject(new Error('HTTP 503')) }, NOW, fewer);
    assert.deepEqual(await scrape(), lines);
  });
});
