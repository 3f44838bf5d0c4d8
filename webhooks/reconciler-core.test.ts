import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { Interner, watchedNames } from '../lib/string-pool.ts';
import { baselineHash, buildBaseline } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { isNewer, keepVersion, KeptObject, ReconcilerCore, versionText } from './reconciler-core.ts';
import type { LiveBaselineObject } from './reconciler-kube.ts';
import { addNamespace, memoryCluster, type MemoryCluster } from './reconciler-kube-memory.ts';
import type { WatchedObject } from './reconciler-watch.ts';

const config = defaultConfig();
const NS = 'shop-pr-9';

function setup(leader = true) {
  const registry = new Registry();
  const metrics = {
    reconcileSeconds: new Histogram({ name: 'rs', help: 'h', labelNames: ['outcome'], registers: [registry] }),
    repairs: new Counter({ name: 'repairs', help: 'h', labelNames: ['kind'], registers: [registry] }),
    leader: new Gauge({ name: 'leader', help: 'h', registers: [registry] }),
  };
  const cluster = memoryCluster();
  const core = new ReconcilerCore({ client: cluster, config, log: silentLogger(), metrics });
  core.setLeader(leader);
  return { cluster, core, metrics };
}

const nsObject = (cluster: MemoryCluster, name: string): WatchedObject => ({
  metadata: { name, labels: { ...cluster.namespaces.get(name)?.labels } },
});

/** Feeds the core every stored object, as the watches would after a list. */
function feedObjects(cluster: MemoryCluster, core: ReconcilerCore): void {
  for (const o of cluster.objects.values())
    core.onBaselineObject('ADDED', structuredClone(o) as unknown as WatchedObject);
}

/** A leading core whose namespace NS has its whole baseline, stamped, with the watches' view of both fed back in. */
async function withBaseline() {
  const ready = setup();
  addNamespace(ready.cluster, NS);
  ready.core.onNamespace('ADDED', nsObject(ready.cluster, NS));
  await ready.core.whenIdle();
  ready.core.onNamespace('MODIFIED', nsObject(ready.cluster, NS)); // the stamp, as the watch reports it
  feedObjects(ready.cluster, ready.core);
  await ready.core.whenIdle();
  return ready;
}

async function repairsOf(metrics: ReturnType<typeof setup>['metrics'], kind: string): Promise<number> {
  return (await metrics.repairs.get()).values.find((v) => v.labels['kind'] === kind)?.value ?? 0;
}

test('a managed namespace appears: the whole baseline is applied and the namespace stamped; others are ignored', async () => {
  const { cluster, core } = setup();
  addNamespace(cluster, NS);
  addNamespace(cluster, 'kube-system');
  core.onNamespace('ADDED', nsObject(cluster, NS));
  core.onNamespace('ADDED', nsObject(cluster, 'kube-system'));
  await core.whenIdle();
  const desired = buildBaseline(NS, [], config);
  assert.equal(cluster.objects.size, desired.length);
  assert.equal(cluster.namespaces.get(NS)?.labels[LABELS.baselineHash], baselineHash(desired));
  assert.equal(cluster.calls.filter((c) => c.includes('kube-system')).length, 0);
  assert.equal(core.managedCount(), 1);
});

test('a deleted object is re-created and counted as a repair; nothing is written when all is in place', async () => {
  const { cluster, core, metrics } = await withBaseline();
  cluster.calls.length = 0;
  const deny = cluster.objects.get(`${NS}/NetworkPolicy/${BASELINE_NAMES.defaultDeny}`);
  await cluster.remove('NetworkPolicy', NS, BASELINE_NAMES.defaultDeny);
  core.onBaselineObject('DELETED', {
    ...structuredClone(deny),
    metadata: { ...deny?.metadata, resourceVersion: '999' },
  } as unknown as WatchedObject);
  await core.whenIdle();
  assert.deepEqual(cluster.calls, [
    'delete NetworkPolicy/k8s-ee-default-deny',
    'create NetworkPolicy/k8s-ee-default-deny',
  ]);
  assert.equal(await repairsOf(metrics, 'NetworkPolicy'), 1);
  cluster.calls.length = 0;
  core.enqueueAll();
  await core.whenIdle();
  assert.deepEqual(cluster.calls, []);
});

test('the environment ConfigMap grows the quota by one increment per database, and shrinks it back', async () => {
  const { cluster, core, metrics } = setup();
  addNamespace(cluster, NS);
  core.onNamespace('ADDED', nsObject(cluster, NS));
  await core.whenIdle();
  core.onNamespace('MODIFIED', nsObject(cluster, NS));
  feedObjects(cluster, core);
  const env = (databases: string): WatchedObject => ({
    metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: NS },
    data: { databases },
  });
  core.onEnvironment('ADDED', env('postgresql,redis'));
  await core.whenIdle();
  const quota = (): unknown => cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`)?.spec;
  assert.deepEqual(quota(), buildBaseline(NS, ['postgresql', 'redis'], config)[0]?.spec);
  assert.equal(
    cluster.namespaces.get(NS)?.labels[LABELS.baselineHash],
    baselineHash(buildBaseline(NS, ['postgresql', 'redis'], config)),
  );
  core.onEnvironment('MODIFIED', env('postgresql'));
  await core.whenIdle();
  assert.deepEqual(quota(), buildBaseline(NS, ['postgresql'], config)[0]?.spec);
  assert.equal(await repairsOf(metrics, 'ResourceQuota'), 0, 'a declared change is an update, not a repair');
});

test('a replica that is not the leader keeps its caches but writes nothing until it leads', async () => {
  const { cluster, core } = setup(false);
  addNamespace(cluster, NS);
  core.onNamespace('ADDED', nsObject(cluster, NS));
  await core.whenIdle();
  assert.deepEqual(cluster.calls, []);
  core.setLeader(true);
  await core.whenIdle();
  assert.equal(cluster.objects.size, buildBaseline(NS, [], config).length);
});

test('failures are retried with backoff until they succeed', async () => {
  const { cluster, core } = setup();
  addNamespace(cluster, NS);
  cluster.failWrites = new Error('connection refused');
  core.onNamespace('ADDED', nsObject(cluster, NS));
  await core.whenIdle();
  assert.equal(cluster.objects.size, 0);
  cluster.failWrites = undefined;
  const deadline = Date.now() + 3000;
  while (!cluster.namespaces.get(NS)?.labels[LABELS.baselineHash] && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(cluster.objects.size, buildBaseline(NS, [], config).length);
  await core.stop();
});

test('isNewer compares resource versions as numbers', () => {
  assert.equal(isNewer('10', '9'), true);
  assert.equal(isNewer('9', '10'), false);
  assert.equal(isNewer('10', '10'), true);
  assert.equal(isNewer(undefined, '10'), true);
  assert.equal(isNewer('abc', '10'), true);
});

test('managed labels removed or downgraded by anyone are restored on the next event, and counted', async () => {
  const { cluster, core, metrics } = setup();
  addNamespace(cluster, NS); // as if created while the webhooks were away: only k8s-ee.io/managed
  core.onNamespace('ADDED', nsObject(cluster, NS));
  await core.whenIdle();
  const labels = cluster.namespaces.get(NS)?.labels ?? {};
  assert.equal(labels['k8s-ee.io/project'], 'shop');
  assert.equal(labels['k8s-ee.io/pr'], '9');
  assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
  cluster.calls.length = 0;
  // Someone allowed to skip the webhooks downgrades enforce and removes managed.
  labels['pod-security.kubernetes.io/enforce'] = 'privileged';
  delete labels['k8s-ee.io/managed'];
  core.onNamespace('MODIFIED', nsObject(cluster, NS));
  await core.whenIdle();
  assert.deepEqual(cluster.calls, ['label shop-pr-9 k8s-ee.io/managed,pod-security.kubernetes.io/enforce']);
  assert.equal(cluster.namespaces.get(NS)?.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(cluster.namespaces.get(NS)?.labels['k8s-ee.io/managed'], 'true');
  assert.equal(await repairsOf(metrics, 'Namespace'), 2, 'the labels it slipped in without, then these');
  cluster.calls.length = 0;
  core.onNamespace('MODIFIED', nsObject(cluster, NS));
  await core.whenIdle();
  assert.deepEqual(cluster.calls, [], 'nothing more to restore');
});

test('a resource version is kept as a number when it is the decimal text of one, and given back unchanged', () => {
  assert.equal(keepVersion('12345'), 12345);
  assert.equal(keepVersion('0'), 0);
  for (const opaque of ['007', '1e3', ' 12', 'abc', '', '9007199254740993', '123456789012345678'])
    assert.equal(keepVersion(opaque), opaque, opaque);
  assert.equal(keepVersion(undefined), undefined);
  for (const text of ['12345', '007', 'abc', '9007199254740993', ''])
    assert.equal(versionText(keepVersion(text)), text, text);
  assert.equal(versionText(undefined), undefined);
});

describe('KeptObject (what the reconciler keeps of a live object)', () => {
  const live = (ns: string, rv: string) =>
    JSON.parse(
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name: 'k8s-ee-default-deny',
          namespace: ns,
          uid: `uid-${ns}`,
          resourceVersion: rv,
          creationTimestamp: '2026-12-01T00:00:00Z',
          labels: { 'k8s-ee.io/baseline': 'true' },
          annotations: { 'k8s-ee.io/spec-hash': 'abc', 'kubectl.kubernetes.io/last-applied-configuration': '{...}' },
        },
        spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      }),
    ) as LiveBaselineObject;

  test('keeps what planning reads, drops the rest, and shares what repeats across namespaces', () => {
    const shared = new Interner();
    const a = new KeptObject(live('a-pr-1', '10'), shared);
    const b = new KeptObject(live('b-pr-2', '11'), shared);
    // One flat shape for every kept object (absent fields present as undefined): no nested metadata object.
    assert.deepEqual(Object.keys(a), ['apiVersion', 'kind', 'name', 'version', 'labels', 'annotations', 'spec']);
    // What planning reads: the object, in the namespace it is kept under.
    assert.deepEqual(a.live('a-pr-1'), {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: 'k8s-ee-default-deny',
        namespace: 'a-pr-1',
        resourceVersion: '10',
        labels: { 'k8s-ee.io/baseline': 'true' },
        annotations: { 'k8s-ee.io/spec-hash': 'abc' },
      },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    assert.equal(a.spec, b.spec);
    assert.equal(a.labels, b.labels);
    assert.equal(a.annotations, b.annotations);
    assert.equal(b.live('b-pr-2').metadata?.namespace, 'b-pr-2');
    assert.equal(b.resourceVersion, '11');
    assert.deepEqual(new KeptObject({ kind: 'LimitRange' }, shared).live('c-pr-3'), {
      kind: 'LimitRange',
      metadata: { namespace: 'c-pr-3' },
    });
  });

  test("a new version keeps the previous version's copies of what did not change, whatever the shared pool holds", () => {
    const shared = new Interner(1); // a pool of one: every other value shared starts it over
    const before = new KeptObject(live('a-pr-1', '10'), shared);
    shared.share({ unrelated: true });
    const after = new KeptObject(live('a-pr-1', '11'), shared, before);
    assert.equal(after.spec, before.spec);
    assert.equal(after.labels, before.labels);
    assert.equal(after.annotations, before.annotations, 'compared without the last-applied annotation');
    assert.equal(after.resourceVersion, '11');
    const changed = live('a-pr-1', '12');
    changed.spec = { podSelector: {}, policyTypes: ['Ingress'] };
    const next = new KeptObject(changed, shared, after);
    assert.notEqual(next.spec, after.spec);
    assert.deepEqual(next.spec, { podSelector: {}, policyTypes: ['Ingress'] });
    assert.equal(next.labels, after.labels);
    assert.equal(next.plansLike(after), false);
  });

  test('a status is not kept: planning never reads it, and the quota controller rewrites it after every pod', () => {
    const quota = {
      ...live('a-pr-1', '12'),
      kind: 'ResourceQuota',
      spec: { hard: { 'requests.cpu': '300m' } },
      status: { hard: { 'requests.cpu': '300m' }, used: { 'requests.cpu': '100m' } },
    } as LiveBaselineObject;
    const kept = new KeptObject(quota, new Interner());
    assert.equal(kept.live('a-pr-1').status, undefined);
    assert.ok(!('status' in kept));
  });

  test('plansLike: equal when what planning reads is equal (shared or not), different when any of it differs', () => {
    const quota = (
      rv: string,
      hard: Record<string, string>,
      used: string,
      labels: Record<string, string> = { 'k8s-ee.io/baseline': 'true' },
    ) =>
      ({
        kind: 'ResourceQuota',
        apiVersion: 'v1',
        metadata: { name: 'k8s-ee-quota', namespace: 'a-pr-1', resourceVersion: rv, labels },
        spec: { hard },
        status: { hard, used: { 'requests.cpu': used } },
      }) as LiveBaselineObject;
    const shared = new Interner();
    const first = new KeptObject(quota('1', { 'requests.cpu': '300m' }, '0'), shared);
    assert.ok(new KeptObject(quota('2', { 'requests.cpu': '300m' }, '250m'), shared).plansLike(first));
    // Not shared (another pool, or one that started over): compared by content, key order aside.
    const apart = new KeptObject(quota('3', { 'requests.cpu': '300m' }, '5m'), new Interner());
    assert.notEqual(apart.spec, first.spec);
    assert.ok(apart.plansLike(first));
    assert.ok(!new KeptObject(quota('4', { 'requests.cpu': '400m' }, '0'), shared).plansLike(first));
    assert.ok(!new KeptObject(quota('5', { 'requests.cpu': '300m' }, '0', { other: 'x' }), shared).plansLike(first));
    assert.ok(
      !new KeptObject({ ...quota('6', { 'requests.cpu': '300m' }, '0'), kind: 'LimitRange' }, shared).plansLike(first),
    );
  });

  test('its name is pooled, also when it comes from a write answer rather than the watch', () => {
    const name = `k8s-ee-test-${Math.random().toString(36).slice(2)}`;
    const before = watchedNames.size;
    const kept = new KeptObject(
      { kind: 'LimitRange', metadata: { name: JSON.parse(JSON.stringify(name)) as string } },
      new Interner(),
    );
    assert.equal(kept.name, name);
    assert.equal(watchedNames.size, before + 1, 'the new name went into the pool');
    new KeptObject({ kind: 'LimitRange', metadata: { name: `${name}` } }, new Interner());
    assert.equal(watchedNames.size, before + 1, 'and the next copy found it there');
  });

  test('different specs stay apart, and a full pool starts over without losing values', () => {
    const shared = new Interner(2);
    const specs = [1, 2, 3, 1].map((n) => new KeptObject({ kind: 'LimitRange', spec: { n } }, shared).spec);
    assert.deepEqual(specs, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 1 }]);
    assert.notEqual(specs[0], specs[1]);
  });
});

async function reconcilesOf(metrics: ReturnType<typeof setup>['metrics']): Promise<number> {
  return (await metrics.reconcileSeconds.get()).values
    .filter((v) => v.metricName === 'rs_count')
    .reduce((sum, v) => sum + v.value, 0);
}

test('a new version that changes nothing planning reads (a quota status) is kept without a reconcile; drift is not', async () => {
  const { cluster, core, metrics } = await withBaseline();
  const quota = structuredClone(cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`));
  assert.ok(quota?.metadata);
  const before = await reconcilesOf(metrics);
  cluster.calls.length = 0;
  const used = { ...quota, metadata: { ...quota.metadata, resourceVersion: '900' } };
  used.status = { hard: { ...(used.spec as { hard: Record<string, string> }).hard }, used: { pods: '3' } };
  core.onBaselineObject('MODIFIED', used as unknown as WatchedObject);
  await core.whenIdle();
  assert.equal(await reconcilesOf(metrics), before, 'no reconcile for a status change');
  assert.equal(core.baselineVersions('ResourceQuota').version(NS, BASELINE_NAMES.quota), '900', 'the version is kept');
  assert.deepEqual(cluster.calls, []);

  const edited = structuredClone(used);
  edited.metadata = { ...edited.metadata, resourceVersion: '901' };
  edited.spec = { hard: { 'requests.cpu': '64' } };
  core.onBaselineObject('MODIFIED', edited as unknown as WatchedObject);
  await core.whenIdle();
  assert.equal(await reconcilesOf(metrics), before + 1, 'a spec edit is planned');
  assert.deepEqual(cluster.calls, [`apply ResourceQuota/${BASELINE_NAMES.quota}`], 'and repaired');
});

test('the versions the watches compare a relist with are what the core keeps, and only that', () => {
  const { cluster, core } = setup(false);
  addNamespace(cluster, NS);
  for (const o of buildBaseline(NS, [], config)) cluster.objects.set(`${NS}/${o.kind}/${o.metadata.name}`, o);
  const withVersion = (o: WatchedObject, rv: string): WatchedObject => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: rv },
  });
  core.onNamespace('ADDED', withVersion(nsObject(cluster, NS), '10'));
  core.onNamespace('ADDED', withVersion({ metadata: { name: 'kube-system' } }, '11'));
  const quota = buildBaseline(NS, [], config).find((o) => o.kind === 'ResourceQuota');
  assert.ok(quota);
  core.onBaselineObject('ADDED', withVersion(structuredClone(quota) as unknown as WatchedObject, '12'));
  const declaration = { metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: NS, resourceVersion: '13' } };
  core.onEnvironment('ADDED', declaration);

  const namespaces = core.namespaceVersions();
  assert.equal(namespaces.version('', NS), '10');
  assert.equal(namespaces.version('', 'kube-system'), undefined, 'not a PR namespace: not kept');
  assert.deepEqual([...namespaces.entries()], [['', NS, '10']]);
  const quotas = core.baselineVersions('ResourceQuota');
  assert.equal(quotas.version(NS, BASELINE_NAMES.quota), '12');
  assert.equal(quotas.version(NS, 'other'), undefined);
  assert.deepEqual([...quotas.entries()], [[NS, BASELINE_NAMES.quota, '12']]);
  assert.deepEqual([...core.baselineVersions('LimitRange').entries()], [], 'no LimitRange was announced');
  const environments = core.environmentVersions();
  assert.equal(environments.version(NS, ENVIRONMENT_CONFIGMAP), '13');
  assert.equal(environments.version(NS, 'something-else'), undefined);
  assert.deepEqual([...environments.entries()], [[NS, ENVIRONMENT_CONFIGMAP, '13']]);

  // A newer version replaces the kept one; a stale event does not.
  core.onBaselineObject('MODIFIED', withVersion(structuredClone(quota) as unknown as WatchedObject, '20'));
  core.onBaselineObject('MODIFIED', withVersion(structuredClone(quota) as unknown as WatchedObject, '15'));
  assert.equal(quotas.version(NS, BASELINE_NAMES.quota), '20');

  // The namespace goes: nothing of it is kept, so a relist announces none of it as deleted again.
  core.onNamespace('DELETED', withVersion(nsObject(cluster, NS), '30'));
  assert.deepEqual([...namespaces.entries()], []);
  assert.deepEqual([...quotas.entries()], []);
  assert.deepEqual([...environments.entries()], []);
});

test('the resync plans again only namespaces an event touched or whose last plan found work; a new leader plans all', async () => {
  const { cluster, core, metrics } = await withBaseline();
  const noops = async (): Promise<number> =>
    (await metrics.reconcileSeconds.get()).values.find(
      (v) => v.metricName === 'rs_count' && v.labels['outcome'] === 'noop',
    )?.value ?? 0;
  assert.equal(core.settledCount(), 1, 'its last plan found nothing to do');
  const before = await noops();
  core.resync();
  await core.whenIdle();
  assert.equal(await noops(), before, 'a settled namespace is not planned again by the resync');
  const stored = nsObject(cluster, NS);
  core.onNamespace('MODIFIED', { metadata: { ...stored.metadata, resourceVersion: '76', annotations: { a: 'b' } } });
  assert.equal(core.settledCount(), 1, 'an event that changes nothing planning reads leaves it settled');
  core.onNamespace('MODIFIED', {
    metadata: { ...stored.metadata, resourceVersion: '77', labels: { ...stored.metadata?.labels, team: 'web' } },
  });
  assert.equal(core.settledCount(), 0, 'an event that changes its labels unsettles it');
  await core.whenIdle();
  assert.equal(await noops(), before + 1);
  assert.equal(core.settledCount(), 1);
  core.setLeader(false);
  core.setLeader(true);
  await core.whenIdle();
  assert.equal(await noops(), before + 2, 'a new leader plans every namespace once');
});

test('a new namespace is planned once: its own writes and stamp coming back through the watches plan nothing again', async () => {
  const { cluster, core, metrics } = setup();
  const outcomes = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await metrics.reconcileSeconds.get()).values
        .filter((v) => v.metricName === 'rs_count')
        .map((v) => [String(v.labels['outcome']), v.value]),
    );
  const names = Array.from({ length: 20 }, (_, i) => `shop-pr-${i + 1}`);
  for (const name of names) addNamespace(cluster, name);
  for (const name of names) core.onNamespace('ADDED', nsObject(cluster, name));
  await core.whenIdle();
  assert.deepEqual(await outcomes(), { changed: 20 }, 'one plan each, that wrote the baseline');
  assert.equal(core.settledCount(), 20, 'what it wrote is what it planned: settled, the resync skips them');
  for (const name of names) core.onNamespace('MODIFIED', nsObject(cluster, name)); // the stamps, as watched
  feedObjects(cluster, core); // the objects, as watched
  await core.whenIdle();
  assert.deepEqual(await outcomes(), { changed: 20 }, 'nothing planned again');
  // A change of what planning reads still plans: an object deleted behind k8s-ee's back is put back.
  const key = `shop-pr-3/LimitRange/${BASELINE_NAMES.limitRange}`;
  const gone = cluster.objects.get(key);
  assert.ok(gone, 'the memory cluster keeps the LimitRange of shop-pr-3');
  cluster.objects.delete(key);
  const deleted = { ...structuredClone(gone), metadata: { ...gone.metadata, resourceVersion: '999999' } };
  core.onBaselineObject('DELETED', deleted as unknown as WatchedObject);
  await core.whenIdle();
  assert.deepEqual(await outcomes(), { changed: 21 });
  assert.ok(cluster.objects.has(key), 'the LimitRange is back');
});

test('afterBurst: called once the queue drains after a burst of reconciles, not after a few', async () => {
  const { cluster, metrics } = setup(false);
  let bursts = 0;
  const core = new ReconcilerCore({
    client: cluster,
    config,
    log: silentLogger(),
    metrics,
    burst: 5,
    afterBurst: () => (bursts += 1),
  });
  core.setLeader(true);
  const add = async (from: number, count: number): Promise<void> => {
    for (let i = from; i < from + count; i++) addNamespace(cluster, `shop-pr-${i}`);
    for (let i = from; i < from + count; i++) core.onNamespace('ADDED', nsObject(cluster, `shop-pr-${i}`));
    await core.whenIdle();
  };
  await add(1, 3);
  assert.equal(bursts, 0, 'three reconciles are no burst');
  await add(4, 3);
  assert.equal(bursts, 1, 'six reconciles in all: the burst is over when the queue drains');
  await add(7, 2);
  assert.equal(bursts, 1, 'counted again from the last call');
  core.enqueueAll(); // a new leader plans every namespace: 8 reconciles
  await core.whenIdle();
  assert.equal(bursts, 2);
  // A queue that never drains: every 10 reconciles (twice the burst) all the same.
  await add(9, 24);
  assert.equal(bursts, 4, '24 reconciles queued at once: after the 10th and the 20th, not at the drain (4 since)');
  await add(33, 1);
  assert.equal(bursts, 5, 'the 5th since: drained after a burst');
});

test('reconciles queued by the hundred leave the event loop free between them', async () => {
  const { cluster, core, metrics } = setup();
  const names = Array.from({ length: 200 }, (_, i) => `shop-pr-${i + 1}`);
  for (const name of names) addNamespace(cluster, name);
  for (const name of names) core.onNamespace('ADDED', nsObject(cluster, name));
  await core.whenIdle();
  for (const name of names) core.onNamespace('MODIFIED', nsObject(cluster, name));
  feedObjects(cluster, core);
  await core.whenIdle();
  const done = async (): Promise<number> =>
    (await metrics.reconcileSeconds.get()).values.find(
      (v) => v.metricName === 'rs_count' && v.labels['outcome'] === 'noop',
    )?.value ?? 0;
  const start = await done();
  core.enqueueAll(); // 200 plans that find nothing to do: none of them awaits anything
  const midway = new Promise<number>((resolve) => setTimeout(() => void done().then(resolve), 0));
  await core.whenIdle();
  const seenMidway = (await midway) - start;
  assert.equal((await done()) - start, 200);
  assert.ok(seenMidway < 200, `a timer ran while ${seenMidway} of 200 plans were done, not only after all of them`);
});
