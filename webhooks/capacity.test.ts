// The capacity gate's cluster part: the caches of node allocatable and other pods' requests, the ledger that
// arbitrates grants (concurrent creations on two replicas never overshoot), and the gate through the handlers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { parseQuantity } from '../lib/quantity.ts';
import { quotaHard } from '../policies/baseline.ts';
import { requestsOfQuota, type EnvironmentUse } from '../policies/capacity.ts';
import { defaultConfig, type Config } from '../policies/config.ts';
import { ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import {
  CapacityCache,
  createCapacityGate,
  environmentUseOf,
  formatReservations,
  lastDeployOf,
  memoryLedger,
  nodeAllocatable,
  parseReservations,
  podRequests,
  reserveCapacity,
  withReservations,
  type CapacitySource,
} from './capacity.ts';
import { validateHandler } from './handlers.ts';
import type { WatchedObject } from './reconciler-watch.ts';
import { request } from './testing/review.ts';
import type { ClusterServices, HandlerContext } from './types.ts';

const q = (text: string): bigint => parseQuantity(text)!;
const amounts = (cpu: string, memory: string) => ({ cpu: q(cpu), memory: q(memory) });
const BASE = requestsOfQuota(quotaHard([], defaultConfig()));
const NOW = Date.parse('2026-12-01T12:00:00Z');

function configWith(capacity: Partial<Config['capacity']>): Config {
  const config = defaultConfig();
  return { ...config, capacity: { ...config.capacity, ...capacity } };
}

const env = (n: number, extra: Partial<EnvironmentUse> = {}): EnvironmentUse => ({
  namespace: `shop-pr-${n}`,
  requests: BASE,
  createdAt: new Date(NOW - n * 60_000).toISOString(),
  pinned: false,
  ...extra,
});

function source(environments: EnvironmentUse[], allocatable = amounts('4', '24Gi')) {
  return {
    list: environments,
    environments: () => [...environments],
    allocatable: () => allocatable,
    others: () => amounts('0', '0'),
  } satisfies CapacitySource & { list: EnvironmentUse[] };
}

const pod = (namespace: string, name: string, resources: unknown, phase = 'Running'): WatchedObject => ({
  metadata: { namespace, name },
  spec: { containers: [{ name: 'c', resources }] },
  status: { phase },
});

describe('capacity cache', () => {
  test('allocatable of schedulable nodes; other pods requests, PR namespaces and finished pods left out', () => {
    const cache = new CapacityCache(defaultConfig());
    assert.equal(cache.allocatable(), undefined, 'no node known: resources are not judged');
    cache.onNode('ADDED', { metadata: { name: 'a' }, status: { allocatable: { cpu: '4', memory: '24Gi' } } });
    cache.onNode('ADDED', {
      metadata: { name: 'b' },
      spec: { unschedulable: true },
      status: { allocatable: { cpu: '4', memory: '24Gi' } },
    });
    assert.deepEqual(cache.allocatable(), amounts('4', '24Gi'));
    cache.onPod('ADDED', pod('kube-system', 'dns', { requests: { cpu: '100m', memory: '70Mi' } }));
    cache.onPod('ADDED', pod('observability', 'prom', { requests: { cpu: '200m', memory: '1Gi' } }));
    cache.onPod('ADDED', pod('shop-pr-1', 'web', { requests: { cpu: '5', memory: '5Gi' } }));
    cache.onPod('ADDED', pod('default', 'job', { requests: { cpu: '1' } }, 'Succeeded'));
    assert.deepEqual(cache.others(), amounts('300m', '1094Mi'));
    cache.onPod('MODIFIED', pod('observability', 'prom', { requests: { cpu: '200m', memory: '1Gi' } }, 'Failed'));
    cache.onPod('DELETED', pod('kube-system', 'dns', {}));
    assert.deepEqual(cache.others(), amounts('0', '0'));
    cache.onNode('DELETED', { metadata: { name: 'a' } });
    assert.deepEqual(cache.allocatable(), amounts('0', '0'), 'only the cordoned node is left');
  });

  test('pod requests count init containers, sidecars and overhead as the scheduler does', () => {
    const spec = {
      initContainers: [
        { name: 'init', resources: { requests: { cpu: '2', memory: '64Mi' } } },
        { name: 'side', restartPolicy: 'Always', resources: { requests: { cpu: '100m', memory: '32Mi' } } },
      ],
      containers: [{ name: 'app', resources: { limits: { cpu: '500m', memory: '256Mi' } } }],
      overhead: { cpu: '10m', memory: '1Mi' },
    };
    assert.deepEqual(podRequests({ spec }), amounts('2010m', '289Mi'));
    assert.deepEqual(nodeAllocatable({ status: {} }), amounts('0', '0'));
  });
});

describe('the ledger', () => {
  test('reservations survive their text form; unreadable entries are dropped', () => {
    const list = [{ namespace: 'shop-pr-1', requests: amounts('300m', '512Mi'), at: NOW }];
    assert.deepEqual(parseReservations(formatReservations(list)), list);
    assert.deepEqual(parseReservations('not json'), []);
    assert.deepEqual(parseReservations('[{"namespace":1},{"namespace":"x","cpu":"1","memory":"1","at":"never"}]'), []);
  });

  test('a grant grows a known environment to the larger requests, or adds one not cached yet', () => {
    const grown = withReservations(
      [env(1), env(2)],
      [
        { namespace: 'shop-pr-2', requests: amounts('400m', '256Mi'), at: NOW },
        { namespace: 'shop-pr-3', requests: BASE, at: NOW },
      ],
    );
    assert.deepEqual(
      grown.map((e) => [e.namespace, e.requests]),
      [
        ['shop-pr-1', BASE],
        ['shop-pr-2', amounts('400m', '512Mi')],
        ['shop-pr-3', BASE],
      ],
    );
  });

  test('ten creations at once, maximum 3, two replicas sharing the ledger: exactly three granted', async () => {
    for (let round = 0; round < 5; round += 1) {
      const ledger = memoryLedger();
      const config = configWith({ maxEnvironments: 3 });
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          reserveCapacity(ledger, {
            request: { namespace: `shop-pr-${i + 1}`, requests: BASE },
            source: source([]),
            config,
            now: () => NOW,
            grantMs: 30_000,
            dryRun: false,
          }),
        ),
      );
      assert.equal(
        answers.filter((a) => a.ok).length,
        3,
        `round ${round}: ${answers.map((a) => (a.ok ? 'ok' : 'busy' in a ? 'busy' : 'full')).join(' ')}`,
      );
      assert.equal(ledger.ledger.reservations.length, 3);
    }
  });

  test('ten creations at once against memory: never more than fits (3Gi / 512Mi = 6)', async () => {
    const ledger = memoryLedger();
    const config = configWith({ overcommit: { cpu: 100, memory: 1 } });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        reserveCapacity(ledger, {
          request: { namespace: `shop-pr-${i + 1}`, requests: BASE },
          source: source([], amounts('4', '3Gi')),
          config,
          now: () => NOW,
          grantMs: 30_000,
          dryRun: false,
        }),
      ),
    );
    assert.equal(answers.filter((a) => a.ok).length, 6);
  });

  test('a grant counts for the grant window only; a dry run writes nothing', async () => {
    const ledger = memoryLedger();
    const clock = { now: NOW };
    const input = (namespace: string, dryRun = false) => ({
      request: { namespace, requests: BASE },
      source: source([]),
      config: configWith({ maxEnvironments: 1 }),
      now: () => clock.now,
      grantMs: 30_000,
      dryRun,
    });
    assert.deepEqual(await reserveCapacity(ledger, input('shop-pr-1', true)), { ok: true });
    assert.equal(ledger.writes, 0);
    assert.deepEqual(await reserveCapacity(ledger, input('shop-pr-1')), { ok: true });
    assert.equal((await reserveCapacity(ledger, input('shop-pr-2'))).ok, false);
    clock.now += 30_000; // shop-pr-1 never appeared (refused by another webhook, say): its grant lapses
    assert.deepEqual(await reserveCapacity(ledger, input('shop-pr-2')), { ok: true });
  });

  test('a grant stops counting once its namespace is seen going away, and for namespaces of another pattern', async () => {
    const ledger = memoryLedger();
    const departed = new Map<string, number>();
    const src = { ...source([]), departedAt: (ns: string) => departed.get(ns) };
    const input = (namespace: string, counts?: (ns: string) => boolean) => ({
      request: { namespace, requests: BASE },
      source: src,
      config: configWith({ maxEnvironments: 1 }),
      now: () => NOW,
      grantMs: 30_000,
      dryRun: false,
      ...(counts ? { counts } : {}),
    });
    assert.deepEqual(await reserveCapacity(ledger, input('shop-pr-1')), { ok: true });
    assert.equal((await reserveCapacity(ledger, input('shop-pr-2'))).ok, false);
    assert.deepEqual(
      await reserveCapacity(
        ledger,
        input('other-pr-1', (ns) => ns.startsWith('other-')),
      ),
      {
        ok: true,
      },
    );
    departed.set('shop-pr-1', NOW - 1); // seen going before the grant: a stale view, the grant still counts
    const stale = await reserveCapacity(
      ledger,
      input('shop-pr-2', (ns) => ns.startsWith('shop-')),
    );
    assert.equal(stale.ok, false);
    departed.set('shop-pr-1', NOW); // uninstalled and swept right after it was granted
    assert.deepEqual(
      await reserveCapacity(
        ledger,
        input('shop-pr-2', (ns) => ns.startsWith('shop-')),
      ),
      { ok: true },
    );
  });
});

describe('the gate through the validating webhook', () => {
  const config = configWith({ maxEnvironments: 3 });
  const namespace = (name: string) => {
    const ns = { name, project: 'shop', number: Number(name.split('-').pop()) };
    return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: requiredNamespaceLabels(ns, config) } };
  };
  const running = [
    env(1, { createdAt: '2026-12-01T09:00:00Z' }),
    env(2, { createdAt: '2026-11-30T12:00:00Z', pinned: true, pinnedUntil: '2026-12-02T12:00:00.000Z' }),
    env(3, { createdAt: '2026-12-01T11:00:00Z' }),
  ];
  function contextOf(src: CapacitySource, registry = new Registry()): HandlerContext {
    const reserveCapacity = createCapacityGate({
      source: src,
      ledger: memoryLedger(),
      config,
      log: silentLogger(),
      registry,
      now: () => NOW,
      lastDeploys: () => Promise.resolve({ 'shop-pr-2': { release: 'shop', revision: 7, at: '2026-12-01T10:00:00Z' } }),
    });
    const cluster = { reserveCapacity } as unknown as ClusterServices;
    return { config, log: silentLogger(), now: () => new Date(NOW), cluster };
  }

  test('the fourth namespace is refused, naming the three oldest first and how to free one', async () => {
    const registry = new Registry();
    const decision = await validateHandler(
      request(namespace('shop-pr-4'), 'Namespace'),
      contextOf(source(running), registry),
    );
    assert.equal(decision.allowed, false);
    const v = decision.allowed ? undefined : decision.violations?.[0];
    assert.equal(v?.rule, 'capacity');
    assert.deepEqual(v?.message.split('\n').slice(2), [
      'PR environments now, oldest first:',
      '  1. shop-pr-2 (age 1d, last deploy shop v7 2h ago, pinned until 2026-12-02T12:00:00.000Z, reserves 300m CPU, 512Mi)',
      '  2. shop-pr-1 (age 3h, no Helm release, not pinned, reserves 300m CPU, 512Mi)',
      '  3. shop-pr-3 (age 1h, no Helm release, not pinned, reserves 300m CPU, 512Mi)',
    ]);
    assert.match(v?.fix ?? '', /^free one: helm uninstall shop -n shop-pr-2 /);
    const metrics = await registry.getMetricsAsJSON();
    const refusals = metrics.find((m) => m.name === 'k8s_ee_capacity_refusals_total');
    assert.deepEqual(
      refusals?.values.filter((x) => x.value > 0).map((x) => x.labels),
      [{ reason: 'count' }],
    );
  });

  test('a platform identity may go past it; an update of an existing namespace is not judged', async () => {
    const ctx = contextOf(source(running));
    const platform = {
      ...ctx,
      config: { ...config, platformIdentities: { users: ['admin@example.com'], groups: [] } },
    };
    const asAdmin = request(namespace('shop-pr-4'), 'Namespace', { username: 'admin@example.com' });
    assert.equal((await validateHandler(asAdmin, platform)).allowed, true);
    const update = request(namespace('shop-pr-1'), 'Namespace', {
      operation: 'UPDATE',
      oldObject: namespace('shop-pr-1'),
    });
    assert.equal((await validateHandler(update, ctx)).allowed, true);
  });

  test('an environment that declares a database later is judged on its grown quota', async () => {
    const tight = source([env(1), env(2)], amounts('4', '1536Mi')); // 1Gi used, 512Mi free
    const ctx = { ...contextOf(tight), config: configWith({ overcommit: { cpu: 100, memory: 1 } }) };
    const gate = createCapacityGate({
      source: tight,
      ledger: memoryLedger(),
      config: ctx.config,
      log: silentLogger(),
      now: () => NOW,
    });
    const withGate = { ...ctx, cluster: { reserveCapacity: gate } as unknown as ClusterServices };
    const configMap = (databases: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: 'shop-pr-2' },
      data: { databases },
    });
    const fits = await validateHandler(request(configMap('postgresql'), 'ConfigMap'), withGate); // +256Mi
    assert.equal(fits.allowed, true);
    const tooBig = await validateHandler(request(configMap('postgresql,mongodb'), 'ConfigMap'), withGate); // +640Mi
    assert.equal(tooBig.allowed, false);
    const v = tooBig.allowed ? undefined : tooBig.violations?.[0];
    assert.match(
      v?.message ?? '',
      /^shop-pr-2 cannot grow its quota for the databases it declares:\n {2}- its quota reserves 1152Mi of requests\.memory/,
    );
  });
});

describe('the gate when the API server fails', () => {
  test('an API error refuses with a retry hint (never a crash); a missing ledger namespace counts per replica', async () => {
    const failing = (code: number) => ({
      read: () => Promise.reject(Object.assign(new Error('boom'), { code })),
      write: () => Promise.resolve(true),
    });
    const gate = (code: number) =>
      createCapacityGate({
        source: source([env(1)]),
        ledger: failing(code),
        config: configWith({ maxEnvironments: 1 }),
        log: silentLogger(),
        now: () => NOW,
      });
    const refused = await gate(500)('shop-pr-2', undefined, { dryRun: false });
    assert.deepEqual(refused, {
      ok: false,
      violation: {
        rule: 'capacity',
        path: 'metadata.name',
        message: 'k8s-ee could not check whether shop-pr-2 fits the cluster (HTTP 500: boom)',
        fix: 'this is temporary: run this deploy again in a few seconds',
      },
    });
    const alone = gate(404);
    const answer = await alone('shop-pr-2', undefined, { dryRun: false });
    assert.equal(answer.ok, false, 'still judged, by this replica alone');
    assert.match(answer.ok ? '' : answer.violation.message, /at most 1 PR environments may exist at once/);
  });
});

describe('environments as the gate counts them', () => {
  const config = defaultConfig();
  test('the quota when it exists, else the quota its declaration implies; pins until first pin + 48h', () => {
    const cached = {
      name: 'shop-pr-1',
      labels: { preserve: 'true' },
      annotations: {
        'k8s-ee.io/first-pinned-at': '2026-12-01T00:00:00Z',
        'k8s-ee.io/pinned-at': '2026-12-01T05:00:00Z',
      },
      createdAt: '2026-11-30T00:00:00Z',
      environment: { metadata: { name: ENVIRONMENT_CONFIGMAP }, data: { databases: 'postgresql' } },
    };
    assert.deepEqual(environmentUseOf(cached, config), {
      namespace: 'shop-pr-1',
      requests: amounts('400m', '768Mi'),
      createdAt: '2026-11-30T00:00:00Z',
      pinned: true,
      pinnedUntil: '2026-12-03T00:00:00.000Z',
    });
    const withQuota = { ...cached, labels: {}, quotaHard: { 'requests.cpu': '1', 'requests.memory': '1Gi' } };
    assert.deepEqual(environmentUseOf(withQuota, config).requests, amounts('1', '1Gi'));
    assert.equal(environmentUseOf(withQuota, config).pinned, false);
  });

  test('last deploy: the newest live release of each namespace', () => {
    const records = {
      'shop-pr-1': [
        { release: 'shop', revision: 1, status: 'superseded', createdAt: '2026-12-01T00:00:00Z' },
        { release: 'shop', revision: 2, status: 'deployed', createdAt: '2026-12-01T01:00:00Z' },
      ],
      'shop-pr-2': [{ release: 'shop', revision: 3, status: 'uninstalled', createdAt: '2026-12-01T00:00:00Z' }],
    };
    assert.deepEqual(lastDeployOf(records), {
      'shop-pr-1': { release: 'shop', revision: 2, at: '2026-12-01T01:00:00Z' },
    });
  });
});
