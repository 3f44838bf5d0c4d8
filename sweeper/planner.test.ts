import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, type Config } from '../policies/config.ts';
import { plan, planDetailed, describeAction, diskRatio } from './planner.ts';
import {
  SWEEPER_ANNOTATIONS as SA,
  type Action,
  type NamespaceInfo,
  type PruneJobInfo,
  type ReleaseRecord,
  type Snapshot,
  type VolumeInfo,
} from './types.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const MANAGED = { 'k8s-ee.io/managed': 'true' };

function ns(name: string, opts: Partial<NamespaceInfo> = {}): NamespaceInfo {
  return {
    name,
    uid: `uid-${name}`,
    labels: { ...MANAGED, ...opts.labels },
    annotations: { ...opts.annotations },
    phase: opts.phase ?? 'Active',
    creationTimestamp: opts.creationTimestamp ?? ago(3 * DAY),
    conditions: opts.conditions ?? [],
    finalizers: opts.finalizers ?? ['kubernetes'],
    ...(opts.deletionTimestamp ? { deletionTimestamp: opts.deletionTimestamp } : {}),
  };
}

const rel = (createdAgoMs: number, status = 'deployed', revision = 1, release = 'app'): ReleaseRecord => ({
  release,
  revision,
  status,
  createdAt: ago(createdAgoMs),
});

function snap(parts: Partial<Snapshot>): Snapshot {
  return { namespaces: [], releases: {}, prs: {}, volumes: undefined, nodes: undefined, ...parts };
}

const deployed = (since: number) => ({ [SA.releaseSeenAt]: ago(since) });
const kinds = (actions: Action[]): string[] => actions.map((a) => `${a.kind}:${a.target.name}:${a.reason}`);

function config(edit: (c: Config) => void = () => {}): Config {
  const c = defaultConfig();
  c.sweeper.releaseGrace = '1m'; // the cases below count in minutes; the default is 30s
  edit(c);
  return c;
}

describe('planner: release rules', () => {
  const cases: { name: string; namespace: NamespaceInfo; records?: ReleaseRecord[]; expect: string[] }[] = [
    {
      name: 'live release, already seen: nothing',
      namespace: ns('shop-pr-1', { annotations: deployed(DAY) }),
      records: [rel(HOUR)],
      expect: [],
    },
    {
      name: 'live release, first sight: marked deployed',
      namespace: ns('shop-pr-1'),
      records: [rel(HOUR)],
      expect: ['mark-release-seen:shop-pr-1:release-seen'],
    },
    {
      name: 'release back after a gone mark: mark cleared',
      namespace: ns('shop-pr-1', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(MIN / 2) } }),
      records: [rel(MIN / 4, 'pending-install')],
      expect: ['clear-release-gone:shop-pr-1:release-returned'],
    },
    {
      name: 'deployed, release just gone: marked, not deleted',
      namespace: ns('shop-pr-1', { annotations: deployed(DAY) }),
      expect: ['mark-release-gone:shop-pr-1:release-gone'],
    },
    {
      name: 'deployed, gone for 30s of a 1m grace: nothing',
      namespace: ns('shop-pr-1', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(30_000) } }),
      expect: [],
    },
    {
      name: 'deployed, gone for exactly the grace: deleted',
      namespace: ns('shop-pr-1', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(MIN) } }),
      expect: ['delete-namespace:shop-pr-1:release-gone'],
    },
    {
      name: 'uninstall --keep-history: newest record uninstalled counts as gone',
      namespace: ns('shop-pr-1', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(2 * MIN) } }),
      records: [rel(2 * HOUR, 'superseded', 1), rel(HOUR, 'uninstalled', 2)],
      expect: ['delete-namespace:shop-pr-1:release-gone'],
    },
    {
      name: 'an older revision uninstalled-looking does not hide a live newer one',
      namespace: ns('shop-pr-1', { annotations: deployed(DAY) }),
      records: [rel(2 * HOUR, 'uninstalled', 1), rel(HOUR, 'deployed', 2)],
      expect: [],
    },
    {
      name: 'never deployed, 10m old, release-less for 5m: within neverDeployedGrace',
      namespace: ns('shop-pr-1', {
        creationTimestamp: ago(10 * MIN),
        annotations: { [SA.releaseGoneSince]: ago(5 * MIN) },
      }),
      expect: [],
    },
    {
      name: 'never deployed, 31m old, release-less for 2m: deleted',
      namespace: ns('shop-pr-1', {
        creationTimestamp: ago(31 * MIN),
        annotations: { [SA.releaseGoneSince]: ago(2 * MIN) },
      }),
      expect: ['delete-namespace:shop-pr-1:never-deployed'],
    },
    {
      name: 'never deployed, old namespace first seen release-less now: only marked (release grace)',
      namespace: ns('shop-pr-1', { creationTimestamp: ago(DAY) }),
      expect: ['mark-release-gone:shop-pr-1:never-deployed'],
    },
    {
      name: 'gone mark older than the namespace (copied): counted from creation',
      namespace: ns('shop-pr-1', {
        creationTimestamp: ago(30_000),
        annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(DAY) },
      }),
      expect: [],
    },
    {
      name: 'seen mark older than the namespace (copied): treated as never deployed',
      namespace: ns('shop-pr-1', {
        creationTimestamp: ago(5 * MIN),
        annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(2 * MIN) },
      }),
      expect: [],
    },
    {
      name: 'last deploy 8d ago: ttl expired',
      namespace: ns('shop-pr-1', { annotations: deployed(9 * DAY) }),
      records: [rel(8 * DAY)],
      expect: ['delete-namespace:shop-pr-1:ttl-expired'],
    },
    {
      name: 'newest revision 6d ago renews the ttl',
      namespace: ns('shop-pr-1', { annotations: deployed(9 * DAY) }),
      records: [rel(9 * DAY, 'superseded', 1), rel(6 * DAY, 'deployed', 2)],
      expect: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const actions = plan(
        snap({ namespaces: [c.namespace], releases: c.records ? { [c.namespace.name]: c.records } : {} }),
        config(),
        NOW,
      );
      assert.deepEqual(kinds(actions), c.expect);
    });
  }

  it('writes exactly the annotations it reads', () => {
    const [mark] = plan(snap({ namespaces: [ns('shop-pr-1', { annotations: deployed(DAY) })] }), config(), NOW);
    assert.deepEqual(mark, {
      kind: 'mark-release-gone',
      target: { kind: 'Namespace', name: 'shop-pr-1', uid: 'uid-shop-pr-1' },
      reason: 'release-gone',
      message: 'no live Helm release: deleted after 1m unless one returns',
      details: { since: NOW.toISOString(), deployed: true },
      patch: { annotations: { [SA.releaseGoneSince]: NOW.toISOString() } },
    });
    const [seen] = plan(snap({ namespaces: [ns('shop-pr-1')], releases: { 'shop-pr-1': [rel(HOUR)] } }), config(), NOW);
    assert.deepEqual(seen?.patch, { annotations: { [SA.releaseSeenAt]: NOW.toISOString() } });
    assert.equal(seen?.bookkeeping, true);
  });

  it('release records that could not be listed (API error) never lead to a deletion or a mark', () => {
    const gone = ns('shop-pr-1', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(DAY) } });
    assert.deepEqual(plan(snap({ namespaces: [gone], releases: undefined }), config(), NOW), []);
  });
});

describe('planner: PR states', () => {
  const live = ns('shop-pr-7', { annotations: deployed(DAY) });
  const records = { 'shop-pr-7': [rel(HOUR)] };
  const cases: { state: Snapshot['prs'][string]; expect: string[] }[] = [
    {
      state: { state: 'closed', ref: 'acme/shop#7', closedAt: ago(2 * HOUR) },
      expect: ['delete-namespace:shop-pr-7:pr-closed'],
    },
    {
      state: { state: 'merged', ref: 'acme/shop#7', closedAt: ago(HOUR) },
      expect: ['delete-namespace:shop-pr-7:pr-merged'],
    },
    { state: { state: 'gone', ref: 'acme/shop#7' }, expect: ['delete-namespace:shop-pr-7:pr-not-found'] },
    { state: { state: 'open', ref: 'acme/shop#7' }, expect: [] },
    { state: { state: 'unknown', ref: 'acme/shop#7', detail: 'HTTP 500' }, expect: [] },
  ];
  for (const c of cases) {
    it(`${c.state.state}${c.state.detail ? ` (${c.state.detail})` : ''}`, () => {
      const actions = plan(
        snap({ namespaces: [live], releases: records, prs: { 'shop-pr-7': c.state } }),
        config(),
        NOW,
      );
      assert.deepEqual(kinds(actions), c.expect);
    });
  }

  it('a deletion names every reason that holds, the PR first', () => {
    const old = ns('shop-pr-7', { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(3 * HOUR) } });
    const result = planDetailed(
      snap({ namespaces: [old], prs: { 'shop-pr-7': { state: 'merged', ref: 'acme/shop#7', closedAt: ago(HOUR) } } }),
      config(),
      NOW,
    );
    assert.deepEqual(result.actions, [
      {
        kind: 'delete-namespace',
        target: { kind: 'Namespace', name: 'shop-pr-7', uid: 'uid-shop-pr-7' },
        reason: 'pr-merged',
        message: `orphan environment: acme/shop#7 was merged at ${ago(HOUR)}`,
        details: {
          reasons: ['pr-merged', 'release-gone'],
          why: [`acme/shop#7 was merged at ${ago(HOUR)}`, 'no live Helm release for 3h (grace 1m)'],
          orphanSeconds: 3 * 3600,
        },
      },
    ]);
    assert.deepEqual(result.orphans, [{ namespace: 'shop-pr-7', reason: 'pr-merged', ageSeconds: 3 * 3600 }]);
  });
});

describe('planner: only managed namespaces', () => {
  const orphanAnnotations = { ...deployed(DAY), [SA.releaseGoneSince]: ago(DAY) };
  const closed = { state: 'closed' as const, closedAt: ago(DAY) };
  const cases: { name: string; namespace: NamespaceInfo }[] = [
    {
      name: 'non-matching name with the managed label',
      namespace: ns('shop-staging', { annotations: orphanAnnotations, labels: { preserve: 'true' } }),
    },
    {
      name: 'matching name without the managed label',
      namespace: { ...ns('shop-pr-8', { annotations: orphanAnnotations }), labels: { 'k8s-ee.io/project': 'shop' } },
    },
    {
      name: 'matching name with managed=false',
      namespace: ns('shop-pr-9', { annotations: orphanAnnotations, labels: { 'k8s-ee.io/managed': 'false' } }),
    },
    {
      name: 'kube-system',
      namespace: ns('kube-system', {
        annotations: orphanAnnotations,
        deletionTimestamp: ago(DAY),
        phase: 'Terminating',
      }),
    },
  ];
  for (const c of cases) {
    it(`${c.name}: never touched`, () => {
      const s = snap({ namespaces: [c.namespace], prs: { [c.namespace.name]: closed } });
      assert.deepEqual(plan(s, config(), NOW), []);
    });
  }
});

describe('planner: pins', () => {
  const pinned = (annotations: Record<string, string>) =>
    ns('shop-pr-3', { labels: { preserve: 'true' }, annotations: { ...deployed(3 * DAY), ...annotations } });
  const orphanGone = { [SA.releaseGoneSince]: ago(DAY) };
  const cases: { name: string; namespace: NamespaceInfo; expect: string[] }[] = [
    {
      name: 'no stamp: stamped now, protected',
      namespace: pinned(orphanGone),
      expect: ['stamp-pin:shop-pr-3:pin-unstamped'],
    },
    {
      name: 'stamp in the future: restamped',
      namespace: pinned({ 'k8s-ee.io/pinned-at': '2030-01-01T00:00:00Z' }),
      expect: ['stamp-pin:shop-pr-3:pin-stamp-invalid', 'mark-release-gone:shop-pr-3:release-gone'],
    },
    {
      name: 'garbage stamp: restamped',
      namespace: pinned({ 'k8s-ee.io/pinned-at': 'yesterday', ...orphanGone }),
      expect: ['stamp-pin:shop-pr-3:pin-stamp-invalid'],
    },
    {
      name: 'pinned 2h, orphan: protected',
      namespace: pinned({ 'k8s-ee.io/pinned-at': ago(2 * HOUR), ...orphanGone }),
      expect: [],
    },
    {
      name: 'pinned 47h30m: warned once',
      namespace: pinned({ 'k8s-ee.io/pinned-at': ago(47.5 * HOUR), ...orphanGone }),
      expect: ['warn-pin:shop-pr-3:pin-expiring'],
    },
    {
      name: 'pinned 47h30m, already warned for this pin: nothing',
      namespace: pinned({ 'k8s-ee.io/pinned-at': ago(47.5 * HOUR), [SA.pinWarnedAt]: ago(10 * MIN), ...orphanGone }),
      expect: [],
    },
    {
      name: 'warned for an earlier pin: warned again',
      namespace: pinned({ 'k8s-ee.io/pinned-at': ago(47.5 * HOUR), [SA.pinWarnedAt]: ago(3 * DAY), ...orphanGone }),
      expect: ['warn-pin:shop-pr-3:pin-expiring'],
    },
    {
      name: 'pinned 49h, orphan: unpinned, then deleted',
      namespace: pinned({ 'k8s-ee.io/pinned-at': ago(49 * HOUR), ...orphanGone }),
      expect: ['unpin:shop-pr-3:pin-expired', 'delete-namespace:shop-pr-3:release-gone'],
    },
    {
      name: 'preserve=false is no pin',
      namespace: ns('shop-pr-3', { labels: { preserve: 'false' }, annotations: { ...deployed(DAY), ...orphanGone } }),
      expect: ['delete-namespace:shop-pr-3:release-gone'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(kinds(plan(snap({ namespaces: [c.namespace] }), config(), NOW)), c.expect);
    });
  }

  it('unpin removes the label and the stamps; pins are reported with their age', () => {
    const result = planDetailed(
      snap({
        namespaces: [
          pinned({ 'k8s-ee.io/pinned-at': ago(49 * HOUR) }),
          ns('shop-pr-4', { labels: { preserve: 'true' }, annotations: { 'k8s-ee.io/pinned-at': ago(HOUR) } }),
        ],
      }),
      config(),
      NOW,
    );
    assert.deepEqual(result.actions[0]?.patch, {
      labels: { preserve: null },
      annotations: { 'k8s-ee.io/pinned-at': null, [SA.pinWarnedAt]: null },
    });
    assert.deepEqual(result.pinned, [{ namespace: 'shop-pr-4', ageSeconds: 3600 }]);
  });

  it('honours a configured pin label and duration', () => {
    const c = config((x) => {
      x.pins.label = 'k8s-ee.io/keep';
      x.pins.maxDuration = '2h';
    });
    const n = ns('shop-pr-3', {
      labels: { 'k8s-ee.io/keep': 'true' },
      annotations: { 'k8s-ee.io/pinned-at': ago(3 * HOUR) },
    });
    assert.deepEqual(kinds(plan(snap({ namespaces: [n], releases: undefined }), c, NOW)), [
      'unpin:shop-pr-3:pin-expired',
    ]);
  });
});

describe('planner: stuck namespaces', () => {
  const terminating = (age: number) =>
    ns('shop-pr-5', {
      phase: 'Terminating',
      deletionTimestamp: ago(age),
      finalizers: ['kubernetes'],
      conditions: [
        {
          type: 'NamespaceContentRemaining',
          status: 'True',
          reason: 'SomeResourcesRemain',
          message: 'Some resources are remaining: widgets.example.com has 1 resource instances',
        },
        { type: 'NamespaceDeletionDiscoveryFailure', status: 'False' },
      ],
    });
  it('terminating 15m: reported with finalizers and blocking conditions, nothing else', () => {
    const s = snap({ namespaces: [terminating(15 * MIN)], prs: { 'shop-pr-5': { state: 'closed' } } });
    const result = planDetailed(s, config(), NOW);
    assert.deepEqual(result.actions, [
      {
        kind: 'report-stuck',
        target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'uid-shop-pr-5' },
        reason: 'stuck-terminating',
        message:
          'Terminating for 15m (limit 10m); finalizers: kubernetes; NamespaceContentRemaining: Some resources are remaining: widgets.example.com has 1 resource instances; finalizers are not removed by k8s-ee',
        details: {
          terminatingSeconds: 900,
          finalizers: ['kubernetes'],
          conditions: [
            'NamespaceContentRemaining: Some resources are remaining: widgets.example.com has 1 resource instances',
          ],
        },
      },
    ]);
    assert.deepEqual(result.stuck, ['shop-pr-5']);
  });
  it('terminating 5m: nothing', () => {
    assert.deepEqual(plan(snap({ namespaces: [terminating(5 * MIN)] }), config(), NOW), []);
  });
});

describe('planner: deletion cap', () => {
  it('30 orphans, cap 10: the 10 oldest deleted, 20 deferred', () => {
    const namespaces = Array.from({ length: 30 }, (_, i) =>
      ns(`shop-pr-${i + 1}`, { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago((i + 2) * MIN) } }),
    );
    const result = planDetailed(snap({ namespaces }), config(), NOW);
    const deleted = result.actions.filter((a) => a.kind === 'delete-namespace').map((a) => a.target.name);
    const deferred = result.actions.filter((a) => a.kind === 'defer-deletion');
    assert.deepEqual(
      deleted,
      Array.from({ length: 10 }, (_, i) => `shop-pr-${30 - i}`),
    );
    assert.equal(deferred.length, 20);
    assert.ok(
      deferred.every(
        (a) => a.reason === 'deletion-cap' && a.details['orphanReason'] === 'release-gone' && a.details['cap'] === 10,
      ),
    );
    assert.equal(result.orphans.length, 30);
  });
  it('honours a configured cap', () => {
    const namespaces = Array.from({ length: 4 }, (_, i) =>
      ns(`shop-pr-${i + 1}`, { annotations: { ...deployed(DAY), [SA.releaseGoneSince]: ago(DAY) } }),
    );
    const actions = plan(
      snap({ namespaces }),
      config((c) => (c.sweeper.maxDeletionsPerRun = 3)),
      NOW,
    );
    assert.deepEqual(
      actions.map((a) => a.kind),
      ['delete-namespace', 'delete-namespace', 'delete-namespace', 'defer-deletion'],
    );
  });
});

describe('planner: volumes', () => {
  const pv = (name: string, v: Partial<VolumeInfo>): VolumeInfo => ({
    name,
    phase: 'Released',
    reclaimPolicy: 'Retain',
    capacityBytes: 1 << 30,
    claimNamespace: 'shop-pr-40',
    claimName: 'data',
    ...v,
  });
  const existing = [ns('shop-pr-41'), { ...ns('default'), labels: {} }];
  const volumes = [
    pv('pv-gone-static', {}),
    pv('pv-existing-ns', { claimNamespace: 'shop-pr-41' }),
    pv('pv-not-pr', { claimNamespace: 'payments' }),
    pv('pv-bound', { phase: 'Bound' }),
    pv('pv-dynamic-retain', { provisionedBy: 'rancher.io/local-path' }),
    pv('pv-dynamic-delete', { provisionedBy: 'rancher.io/local-path', reclaimPolicy: 'Delete' }),
    pv('pv-no-claim', { claimNamespace: undefined }),
  ];
  it('only Released volumes of deleted PR namespaces', () => {
    const actions = plan(snap({ namespaces: existing, volumes, releases: undefined }), config(), NOW);
    assert.deepEqual(kinds(actions), [
      'reclaim-volume:pv-dynamic-retain:released-orphan',
      'delete-volume:pv-gone-static:released-orphan',
    ]);
    assert.deepEqual(actions[1], {
      kind: 'delete-volume',
      target: { kind: 'PersistentVolume', name: 'pv-gone-static' },
      reason: 'released-orphan',
      message: 'Released volume of deleted namespace shop-pr-40 (claim shop-pr-40/data) deleted',
      details: { claim: 'shop-pr-40/data', capacityBytes: 1 << 30, reclaimPolicy: 'Retain' },
    });
  });
  it('deleteReleasedVolumes=false: none', () => {
    assert.deepEqual(
      plan(
        snap({ namespaces: existing, volumes, releases: undefined }),
        config((c) => (c.sweeper.deleteReleasedVolumes = false)),
        NOW,
      ),
      [],
    );
  });
});

describe('planner: disk', () => {
  const nodes = [
    { node: 'n1', usedBytes: 90, capacityBytes: 100 },
    { node: 'n2', usedBytes: 50, capacityBytes: 100 },
    { node: 'n3', error: 'proxy failed' },
  ];
  it('warns over diskWarnRatio; prune off by default', () => {
    assert.deepEqual(kinds(plan(snap({ nodes }), config(), NOW)), ['warn-disk:n1:disk-high']);
  });
  it('prunes over the threshold when enabled', () => {
    const actions = plan(
      snap({ nodes }),
      config((c) => (c.sweeper.imagePrune.enabled = true)),
      NOW,
    );
    assert.deepEqual(kinds(actions), ['warn-disk:n1:disk-high', 'prune-images:n1:disk-high']);
    assert.equal(
      describeAction(actions[1]!),
      'prune-images Node/n1 disk-high: node filesystem 90.0% full (prune at 85%): unused images pruned by a Job on the node',
    );
  });
  it('counts reserved space as full, like the kubelet: 1 - available/capacity when the summary has it', () => {
    assert.equal(diskRatio({ node: 'n', usedBytes: 10, capacityBytes: 100, availableBytes: 60 }), 0.4);
    assert.equal(diskRatio({ node: 'n', usedBytes: 10, capacityBytes: 100 }), 0.1);
    assert.equal(diskRatio({ node: 'n', usedBytes: 10, capacityBytes: 0 }), undefined);
    assert.equal(diskRatio({ node: 'n', error: 'x' }), undefined);
    const [warn] = plan(
      snap({ nodes: [{ node: 'n1', usedBytes: 10, capacityBytes: 100, availableBytes: 15 }] }),
      config(),
      NOW,
    );
    assert.equal(warn?.message, 'node filesystem 85.0% full (warn at 80%)');
    assert.deepEqual(warn?.details, { usedBytes: 10, capacityBytes: 100, availableBytes: 15, ratio: 0.85 });
  });

  describe('image-prune Jobs', () => {
    const prune = config((c) => {
      c.sweeper.imagePrune.enabled = true;
      c.sweeper.imagePrune.image = 'tools:1';
    });
    const FINISHED = '2025-06-01T11:59:00.000Z';
    const sampled = (time: string, usedBytes: number) => ({
      node: 'n1',
      usedBytes: 90,
      capacityBytes: 100,
      imageFs: { usedBytes, time },
    });
    const job = (parts: Partial<PruneJobInfo>): PruneJobInfo => ({
      name: 'k8s-ee-image-prune-1',
      uid: 'j1',
      node: 'n1',
      state: 'succeeded',
      finishedAt: FINISHED,
      imageFsUsedBytes: 50 * 1024 * 1024,
      ...parts,
    });

    it('a prune starts on the image filesystem sample it will be compared with', () => {
      const actions = plan(snap({ nodes: [sampled(FINISHED, 7)], pruneJobs: [] }), prune, NOW);
      assert.deepEqual(kinds(actions), ['warn-disk:n1:disk-high', 'prune-images:n1:disk-high']);
      assert.equal(actions[1]?.details['imageFsUsedBytes'], 7);
      assert.equal(actions[1]?.details['image'], 'tools:1');
    });
    it('no second Job while one exists, finished or not', () => {
      for (const state of ['running', 'succeeded', 'failed'] as const) {
        const actions = plan(
          snap({ nodes: [sampled(FINISHED, 7)], pruneJobs: [job({ state, failure: 'x' })] }),
          prune,
          NOW,
        );
        assert.ok(!kinds(actions).includes('prune-images:n1:disk-high'), state);
      }
    });
    it('a succeeded Job waits for a sample taken after it finished, then reports the drop', () => {
      const stale = plan(snap({ nodes: [sampled(FINISHED, 20 * 1024 * 1024)], pruneJobs: [job({})] }), prune, NOW);
      assert.deepEqual(kinds(stale), ['warn-disk:n1:disk-high'], 'a sample of the same second may predate the prune');
      const fresh = plan(
        snap({ nodes: [sampled('2025-06-01T11:59:01Z', 20 * 1024 * 1024)], pruneJobs: [job({})] }),
        prune,
        NOW,
      );
      assert.deepEqual(kinds(fresh), ['finish-image-prune:n1:pruned', 'warn-disk:n1:disk-high']);
      assert.equal(
        describeAction(fresh[0]!),
        'finish-image-prune Node/n1 pruned: unused images pruned by Job k8s-ee-image-prune-1: image filesystem 50.0 MiB -> 20.0 MiB (30.0 MiB freed)',
      );
      assert.deepEqual(fresh[0]?.details, {
        job: 'k8s-ee-image-prune-1',
        jobUid: 'j1',
        imageFsBeforeBytes: 50 * 1024 * 1024,
        imageFsAfterBytes: 20 * 1024 * 1024,
        freedBytes: 30 * 1024 * 1024,
      });
    });
    it('growth is not a negative freeing; a Job without its sample frees 0; a running one waits', () => {
      const grown = plan(
        snap({ nodes: [sampled('2025-06-01T11:59:30Z', 60 * 1024 * 1024)], pruneJobs: [job({})] }),
        prune,
        NOW,
      );
      assert.equal(grown[0]?.details['freedBytes'], 0);
      const unknown = plan(
        snap({ nodes: [sampled('2025-06-01T11:59:30Z', 1)], pruneJobs: [job({ imageFsUsedBytes: undefined })] }),
        prune,
        NOW,
      );
      assert.equal(unknown[0]?.details['freedBytes'], 0);
      assert.match(unknown[0]?.message ?? '', /no sample from before it/);
      const running = plan(
        snap({
          nodes: [sampled('2025-06-01T11:59:30Z', 1)],
          pruneJobs: [job({ state: 'running', finishedAt: undefined })],
        }),
        prune,
        NOW,
      );
      assert.deepEqual(kinds(running), ['warn-disk:n1:disk-high']);
    });
    it('a failed Job is reported with its reason; a Job of a node without stats is left to its TTL', () => {
      const actions = plan(
        snap({
          nodes: [sampled(FINISHED, 1)],
          pruneJobs: [
            job({ state: 'failed', failure: 'DeadlineExceeded: Job was active longer than specified deadline' }),
            job({ name: 'k8s-ee-image-prune-2', node: 'gone' }),
          ],
        }),
        prune,
        NOW,
      );
      assert.deepEqual(kinds(actions), ['finish-image-prune:n1:prune-failed', 'warn-disk:n1:disk-high']);
      assert.equal(
        actions[0]?.message,
        'image-prune Job k8s-ee-image-prune-1 failed: DeadlineExceeded: Job was active longer than specified deadline',
      );
    });
  });
});
