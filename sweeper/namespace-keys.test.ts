// A pass keeps only the labels and annotations its rules read of each namespace it lists (namespaceKeys, withOnly):
// every rule must decide exactly as it does on the whole namespace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, type Config } from '../policies/config.ts';
import { forecastExpiry } from './forecast.ts';
import { buildInventory } from './inventory.ts';
import { namespaceReducer } from './kube.ts';
import { namespaceKeys, withOnly } from './plan-namespace.ts';
import { planReleaseChange } from './plan-release-change.ts';
import { planDetailed } from './planner.ts';
import { SWEEPER_ANNOTATIONS as SA, type NamespaceInfo, type ReleaseRecord, type Snapshot } from './types.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const HOUR = 3_600_000;
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();

/** What the webhook and the API server put on every PR namespace, which no rule reads. */
const NOISE = {
  labels: {
    'kubernetes.io/metadata.name': 'x',
    'k8s-ee.io/project': 'shop',
    'k8s-ee.io/pr': '1',
    'k8s-ee.io/baseline-hash': 'f3a9c2d1e0b4a5c6',
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
    team: 'payments',
  },
  annotations: {
    'k8s-ee.io/created-at': ago(50 * HOUR),
    'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Namespace"}',
  },
};

function ns(name: string, parts: Partial<NamespaceInfo> = {}): NamespaceInfo {
  return {
    name,
    uid: `uid-${name}`,
    labels: { ...NOISE.labels, 'k8s-ee.io/managed': 'true', ...parts.labels },
    annotations: { ...NOISE.annotations, ...parts.annotations },
    phase: parts.phase ?? 'Active',
    creationTimestamp: parts.creationTimestamp ?? ago(50 * HOUR),
    conditions: parts.conditions ?? [],
    finalizers: parts.finalizers ?? ['kubernetes'],
    ...(parts.deletionTimestamp ? { deletionTimestamp: parts.deletionTimestamp } : {}),
  };
}

/** Namespaces that every rule has something to say about, for a pin label `pin=value`. */
function namespaces(pin: string, value: string): NamespaceInfo[] {
  return [
    ns('shop-pr-1'),
    ns('shop-pr-2', { annotations: { [SA.releaseSeenAt]: ago(40 * HOUR) } }),
    ns('shop-pr-3', { annotations: { [SA.releaseSeenAt]: ago(40 * HOUR), [SA.releaseGoneSince]: ago(HOUR) } }),
    ns('shop-pr-4', { labels: { [pin]: value } }),
    ns('shop-pr-5', { labels: { [pin]: value }, annotations: { 'k8s-ee.io/pinned-at': ago(47.5 * HOUR) } }),
    ns('shop-pr-6', {
      labels: { [pin]: value },
      annotations: {
        'k8s-ee.io/pinned-at': ago(HOUR),
        'k8s-ee.io/first-pinned-at': ago(49 * HOUR),
        [SA.pinWarnedAt]: ago(2 * HOUR),
      },
    }),
    ns('shop-pr-7', {
      phase: 'Terminating',
      deletionTimestamp: ago(HOUR),
      conditions: [{ type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain' }],
      finalizers: ['example.com/cleanup'],
    }),
    ns('shop-pr-8', { labels: { 'k8s-ee.io/managed': 'false' } }),
    ns('shop-pr-9', { creationTimestamp: ago(10 * 24 * HOUR), annotations: { [SA.releaseSeenAt]: ago(HOUR) } }),
    ns('kube-system'),
  ];
}

const releases: Record<string, ReleaseRecord[]> = {
  'shop-pr-2': [{ release: 'shop', revision: 3, status: 'deployed', createdAt: ago(2 * HOUR) }],
  'shop-pr-9': [{ release: 'shop', revision: 1, status: 'deployed', createdAt: ago(9 * 24 * HOUR) }],
  'shop-pr-6': [{ release: 'shop', revision: 1, status: 'uninstalled', createdAt: ago(3 * HOUR) }],
};

describe('namespaceKeys: what a pass keeps of a namespace', () => {
  const configs: [string, Config][] = [
    ['default pins', defaultConfig()],
    [
      'another pin label',
      (() => {
        const c = defaultConfig();
        c.pins.label = 'example.com/keep';
        c.pins.value = 'yes';
        return c;
      })(),
    ],
  ];
  for (const [what, config] of configs) {
    it(`every rule decides the same on the kept keys as on the whole namespace (${what})`, () => {
      const whole = namespaces(config.pins.label, config.pins.value);
      const kept = whole.map((n) => withOnly(n, namespaceKeys(config)));
      assert.ok(kept.every((n) => !('team' in n.labels) && !('k8s-ee.io/created-at' in n.annotations)));
      const prs: Snapshot['prs'] = { 'shop-pr-1': { state: 'closed', closedAt: ago(HOUR) } };
      const snapshot = (list: NamespaceInfo[]): Snapshot => ({
        namespaces: list,
        releases,
        prs,
        volumes: [],
        nodes: undefined,
      });
      for (const at of [NOW, new Date(NOW.getTime() + 30 * 60_000), new Date(NOW.getTime() + 8 * 24 * HOUR)]) {
        const expected = planDetailed(snapshot(whole), config, at);
        assert.ok(expected.actions.length >= 6, 'the namespaces give the rules work');
        assert.deepEqual(planDetailed(snapshot(kept), config, at), expected);
        const inventory = (list: NamespaceInfo[]) =>
          buildInventory(
            { namespaces: list, releases, prs, quotas: {}, claimBytes: {}, databases: {}, urls: {} },
            config,
            at,
          );
        assert.deepEqual(inventory(kept), inventory(whole));
        whole.forEach((n, i) => {
          const k = kept[i]!;
          const records = releases[n.name] ?? [];
          assert.deepEqual(
            forecastExpiry(k, records, prs[n.name], config, at),
            forecastExpiry(n, records, prs[n.name], config, at),
          );
          assert.deepEqual(planReleaseChange(k, [], config, at), planReleaseChange(n, [], config, at));
        });
      }
    });
  }

  it('the list reducer keeps only those keys, shares equal sets, and keeps a terminating one its finalizers', () => {
    const reduce = namespaceReducer(namespaceKeys(defaultConfig()));
    const api = (name: string, extra: { labels?: Record<string, string>; deleting?: boolean } = {}) => ({
      metadata: {
        name,
        uid: `uid-${name}`,
        labels: { ...NOISE.labels, 'kubernetes.io/metadata.name': name, 'k8s-ee.io/managed': 'true', ...extra.labels },
        annotations: { ...NOISE.annotations },
        creationTimestamp: new Date(ago(HOUR)),
        ...(extra.deleting ? { deletionTimestamp: new Date(ago(60_000)) } : {}),
      },
      spec: { finalizers: ['kubernetes'] },
      status: {
        phase: extra.deleting ? 'Terminating' : 'Active',
        conditions: [{ type: 'NamespaceDeletionDiscoveryFailure', status: 'False' }],
      },
    });
    const [a, b, pinned, going] = [
      reduce(api('shop-pr-1')),
      reduce(api('shop-pr-2')),
      reduce(api('shop-pr-3', { labels: { preserve: 'true' } })),
      reduce(api('shop-pr-4', { deleting: true })),
    ];
    assert.deepEqual(a, {
      name: 'shop-pr-1',
      uid: 'uid-shop-pr-1',
      labels: { 'k8s-ee.io/managed': 'true' },
      annotations: {},
      phase: 'Active',
      creationTimestamp: ago(HOUR),
      conditions: [],
      finalizers: [],
    });
    assert.equal(a?.labels, b?.labels, 'one object for equal label sets');
    assert.deepEqual(pinned?.labels, { 'k8s-ee.io/managed': 'true', preserve: 'true' });
    assert.deepEqual(going?.finalizers, ['kubernetes']);
    assert.deepEqual(going?.conditions, [{ type: 'NamespaceDeletionDiscoveryFailure', status: 'False' }]);
  });
});
