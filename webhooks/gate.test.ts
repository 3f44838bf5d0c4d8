import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { baselineHash, buildBaseline } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { PENDING_DATABASES } from '../policies/environment-pending.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { createClusterServicesWith } from './cluster-services.ts';
import { createGate, isStampRefusal } from './gate.ts';
import { addNamespace, memoryCluster, type MemoryCluster } from './reconciler-kube-memory.ts';

const config = defaultConfig();
const NS = 'shop-pr-7';

function setup(
  options: {
    cacheMs?: number;
    quotaWaitMs?: number;
    now?: () => number;
    watchedEnvironment?: (namespace: string) => { environment: unknown } | undefined;
  } = {},
) {
  const cluster = memoryCluster();
  const registry = new Registry();
  const gate = createGate({ client: cluster, config, log: silentLogger(), registry, ...options });
  return { cluster, registry, gate };
}

/** The environment ConfigMap of NS as a watch would hold it, declaring `databases` (none: no ConfigMap). */
const watched = (databases?: string): { environment: unknown } => ({
  environment:
    databases === undefined
      ? undefined
      : { kind: 'ConfigMap', metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: NS }, data: { databases } },
});

const writes = (cluster: MemoryCluster): string[] =>
  cluster.calls.filter((c) => /^(create|apply|stamp|delete) /.test(c));

async function metric(registry: Registry, outcome: string): Promise<number> {
  const values = (await registry.getSingleMetric('k8s_ee_gate_waits_total')?.get())?.values ?? [];
  return values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
}

test('a fresh namespace: every object applied, the quota accounted for, then the namespace stamped', async () => {
  const { cluster, gate, registry } = setup();
  addNamespace(cluster, NS);
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  const desired = buildBaseline(NS, [], config);
  assert.deepEqual(writes(cluster), [...desired.map((o) => `create ${o.kind}/${o.metadata.name}`), `stamp ${NS}`]);
  assert.equal(cluster.namespaces.get(NS)?.labels[LABELS.baselineHash], baselineHash(desired));
  assert.equal(cluster.objects.size, desired.length);
  assert.equal(await metric(registry, 'ok'), 1);
});

test('idempotent and cached per namespace and hash: a second request reads only the declaration', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  await gate.ensure(NS, { dryRun: false });
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls, [`get environment ${NS}`]);
});

test("with the watch's view of the declaration, a namespace verified for it is admitted with no API call", async () => {
  let view: { environment: unknown } | undefined = watched();
  const { cluster, gate } = setup({ watchedEnvironment: () => view });
  addNamespace(cluster, NS);
  await gate.ensure(NS, { dryRun: false });
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls, []);
  // A watch that cannot tell (not synced): the declaration is read from the API server, as without a view.
  view = undefined;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls, [`get environment ${NS}`]);
});

test('a watch view the gate has not verified is checked against the API server: a new declaration grows the quota, a trailing one shrinks nothing', async () => {
  let view = watched();
  const { cluster, gate } = setup({ watchedEnvironment: () => view });
  const hardOf = (): unknown => cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`)?.spec;
  addNamespace(cluster, NS);
  await gate.ensure(NS, { dryRun: false });
  // The watch has seen a new declaration: the gate reads it and puts the grown quota in place.
  cluster.environments.set(NS, { databases: 'postgresql' });
  view = watched('postgresql');
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.ok(cluster.calls.includes(`get environment ${NS}`));
  assert.deepEqual(writes(cluster), [`apply ResourceQuota/${BASELINE_NAMES.quota}`, `stamp ${NS}`]);
  assert.deepEqual(hardOf(), buildBaseline(NS, ['postgresql'], config)[0]?.spec);
  // A watch that trails (it still shows no database): the API server's answer decides, and nothing shrinks.
  view = watched();
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls, [`get environment ${NS}`]);
  assert.deepEqual(hardOf(), buildBaseline(NS, ['postgresql'], config)[0]?.spec);
  // Once the watch catches up, no API call again.
  view = watched('postgresql');
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls, []);
});

test('after the cache expires the gate looks again (with or without a watch view), and writes nothing when all is in place', async () => {
  for (const watchedEnvironment of [undefined, () => watched()]) {
    let clock = 0;
    const { cluster, gate } = setup({
      cacheMs: 1000,
      now: () => clock,
      ...(watchedEnvironment ? { watchedEnvironment } : {}),
    });
    addNamespace(cluster, NS);
    await gate.ensure(NS, { dryRun: false });
    cluster.calls.length = 0;
    clock = 1000;
    assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
    assert.deepEqual(cluster.calls.sort(), [`get environment ${NS}`, `get namespace ${NS}`, `list ${NS}`]);
  }
});

test('a namespace whose baseline was created by the reconciler is admitted without writes', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const desired = buildBaseline(NS, [], config);
  for (const o of desired) await cluster.apply(o);
  await cluster.stampNamespace(NS, baselineHash(desired));
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(writes(cluster), []);
});

test('gate fast path: every object in place but the namespace not stamped (or stamped with another hash) is stamped', async () => {
  for (const label of [undefined, 'outdated-hash']) {
    const { cluster, gate } = setup();
    addNamespace(cluster, NS);
    const desired = buildBaseline(NS, [], config);
    for (const o of desired) await cluster.apply(o);
    if (label) await cluster.stampNamespace(NS, label);
    cluster.calls.length = 0;
    assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
    assert.deepEqual(writes(cluster), [`stamp ${NS}`], String(label));
    assert.equal(cluster.namespaces.get(NS)?.labels[LABELS.baselineHash], baselineHash(desired));
    // A dry run never stamps: it says the stamp is what is missing.
    const dry = setup();
    addNamespace(dry.cluster, NS);
    for (const o of desired) await dry.cluster.apply(o);
    const refused = await dry.gate.ensure(NS, { dryRun: true });
    assert.match(refused.ok ? '' : refused.reason, /missing or outdated: the quota accounting and the namespace stamp/);
  }
});

test('only missing objects are written (a deleted default-deny, created again), concurrent requests share one check', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  await gate.ensure(NS, { dryRun: false });
  gate.forget(NS);
  await cluster.remove('NetworkPolicy', NS, BASELINE_NAMES.defaultDeny);
  cluster.calls.length = 0;
  const results = await Promise.all(Array.from({ length: 20 }, () => gate.ensure(NS, { dryRun: false })));
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual(writes(cluster), [`create NetworkPolicy/${BASELINE_NAMES.defaultDeny}`]);
});

test('dry-run: no writes; incomplete baseline reported with why and that a retry works; complete is ok', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const result = await gate.ensure(NS, { dryRun: true });
  assert.equal(result.ok, false);
  assert.match(
    result.ok ? '' : result.reason,
    /not complete \(missing or outdated: ResourceQuota\/k8s-ee-quota, LimitRange\/k8s-ee-limits, .*dry-run request makes no changes; .*retry/,
  );
  assert.deepEqual(writes(cluster), []);
  await gate.ensure(NS, { dryRun: false });
  gate.forget(NS);
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: true }), { ok: true });
  assert.deepEqual(writes(cluster), []);
});

test('databases: the quota grows with the declaration before admission, and shrinks when one is removed', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const hardOf = (): unknown => cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`)?.spec;
  await gate.ensure(NS, { dryRun: false });
  cluster.environments.set(NS, { databases: 'postgresql,redis' });
  cluster.calls.length = 0;
  await gate.ensure(NS, { dryRun: false });
  assert.deepEqual(writes(cluster), [`apply ResourceQuota/${BASELINE_NAMES.quota}`, `stamp ${NS}`]);
  assert.deepEqual(hardOf(), buildBaseline(NS, ['postgresql', 'redis'], config)[0]?.spec);
  assert.equal(
    cluster.namespaces.get(NS)?.labels[LABELS.baselineHash],
    baselineHash(buildBaseline(NS, ['postgresql', 'redis'], config)),
  );
  cluster.environments.set(NS, { databases: 'postgresql' });
  await gate.ensure(NS, { dryRun: false });
  assert.deepEqual(hardOf(), buildBaseline(NS, ['postgresql'], config)[0]?.spec);
});

test('the gate waits for the quota controller to account for the quota, within a bound', async () => {
  const { cluster, gate } = setup({ quotaWaitMs: 2000 });
  addNamespace(cluster, NS);
  cluster.quotaStatusDelayMs = 150;
  const started = Date.now();
  await gate.ensure(NS, { dryRun: false });
  assert.ok(Date.now() - started >= 140, 'returned before the quota status was filled in');
  const quota = cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`);
  assert.deepEqual(quota?.status?.hard, (quota?.spec as { hard: unknown }).hard);

  const slow = setup({ quotaWaitMs: 100 });
  addNamespace(slow.cluster, NS);
  slow.cluster.quotaStatusDelayMs = Infinity; // no quota controller at all
  assert.deepEqual(await slow.gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.ok(slow.cluster.namespaces.get(NS)?.labels[LABELS.baselineHash]);
});

test('failures deny with the cause and the promise that a retry works; nothing is cached', async () => {
  const { cluster, gate, registry } = setup();
  addNamespace(cluster, NS);
  cluster.failWrites = Object.assign(new Error('Internal error'), {
    code: 500,
    body: { message: 'etcdserver: request timed out' },
  });
  const failed = await gate.ensure(NS, { dryRun: false });
  assert.deepEqual(failed, {
    ok: false,
    reason:
      'k8s-ee could not ensure the baseline of shop-pr-7 (HTTP 500: etcdserver: request timed out); this is temporary: retry in a few seconds and it will go through',
  });
  assert.equal(await metric(registry, 'failed'), 1);
  cluster.failWrites = undefined;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
});

test('absent or terminating namespaces are refused with a reason', async () => {
  const { cluster, gate } = setup();
  const absent = await gate.ensure('shop-pr-404', { dryRun: false });
  assert.match(absent.ok ? '' : absent.reason, /namespace shop-pr-404 does not exist/);
  addNamespace(cluster, NS, {}, true);
  const terminating = await gate.ensure(NS, { dryRun: false });
  assert.match(terminating.ok ? '' : terminating.reason, /is being deleted/);
  assert.deepEqual(writes(cluster), []);
});

/** Cluster services on the in-memory cluster with a test clock the caller moves. */
function servicesAt(extra: { pinsCacheMs?: number; pinGrantMs?: number }) {
  const cluster = memoryCluster();
  const clock = { now: 0 };
  const services = createClusterServicesWith(cluster, {
    config,
    log: silentLogger(),
    registry: new Registry(),
    now: () => clock.now,
    ...extra,
  });
  return { cluster, clock, services };
}

test('pinnedNamespaces: managed pinned namespaces, read at most once per cache period', async () => {
  const { cluster, clock, services } = servicesAt({ pinsCacheMs: 1500 });
  addNamespace(cluster, 'shop-pr-1', { preserve: 'true' });
  addNamespace(cluster, 'shop-pr-2');
  addNamespace(cluster, 'not-a-pr', { preserve: 'true' });
  addNamespace(cluster, 'shop-pr-3', { preserve: 'true' }, true);
  assert.deepEqual(await services.pinnedNamespaces(), ['shop-pr-1']);
  addNamespace(cluster, 'shop-pr-4', { preserve: 'true' });
  clock.now = 1000;
  assert.deepEqual(await services.pinnedNamespaces(), ['shop-pr-1']);
  clock.now = 1500;
  assert.deepEqual((await services.pinnedNamespaces()).sort(), ['shop-pr-1', 'shop-pr-4']);
  assert.equal(cluster.calls.filter((c) => c.startsWith('list namespaces')).length, 2);
  assert.deepEqual(cluster.calls[0], 'list namespaces preserve=true,k8s-ee.io/managed=true');
});

test('reservePin: concurrent pins cannot pass the limit together; dry-run reserves nothing; grants expire', async () => {
  const { cluster, clock, services } = servicesAt({ pinGrantMs: 10_000 });
  addNamespace(cluster, 'shop-pr-1', { preserve: 'true' });
  const dry = await services.reservePin('shop-pr-9', 3, { dryRun: true });
  assert.deepEqual(dry, { ok: true });
  const burst = await Promise.all(
    ['shop-pr-2', 'shop-pr-3', 'shop-pr-4'].map((n) => services.reservePin(n, 3, { dryRun: false })),
  );
  assert.deepEqual(
    burst.map((r) => r.ok),
    [true, true, false],
    'one listed pin + two granted = the limit',
  );
  const refused = burst[2];
  // Only namespaces really pinned are named; the grants in flight are counted.
  assert.deepEqual(refused?.ok === false ? [refused.pinned, refused.pending] : [], [['shop-pr-1'], 2]);
  assert.deepEqual(
    await services.reservePin('shop-pr-2', 3, { dryRun: false }),
    { ok: true },
    'its own grant does not count against it',
  );
  clock.now = 10_000; // the grants lapse; the API server shows none of them, so they were never stored
  assert.deepEqual(await services.reservePin('shop-pr-4', 3, { dryRun: false }), { ok: true });
});

test('once per namespace and hash, the gate waits until the API server admission no longer refuses the stamp', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const refusal =
    "pods is forbidden: ValidatingAdmissionPolicy 'k8s-ee-baseline-required' denied request: no k8s-ee.io/baseline-hash label";
  const answers = [refusal, refusal, undefined];
  cluster.probeAnswer = () => answers.shift();
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.equal(cluster.calls.filter((c) => c === `probe ${NS}`).length, 3);
  gate.forget(NS);
  cluster.calls.length = 0;
  cluster.probeAnswer = 'exceeded quota: k8s-ee-quota'; // refused for another reason: the policy passed
  await gate.ensure(NS, { dryRun: false });
  assert.equal(cluster.calls.filter((c) => c === `probe ${NS}`).length, 1);
  cluster.calls.length = 0;
  await gate.ensure(NS, { dryRun: true });
  gate.forget(NS);
  await gate.ensure(NS, { dryRun: true });
  assert.equal(cluster.calls.filter((c) => c.startsWith('probe')).length, 0, 'dry-run requests never probe');
});

test('an environment ConfigMap: the quota it implies is in place (and accounted for) before it is admitted', async () => {
  const { cluster, gate } = setup({ quotaWaitMs: 2000 });
  addNamespace(cluster, NS);
  cluster.quotaStatusDelayMs = 50;
  const incoming = {
    kind: 'ConfigMap',
    metadata: { name: 'k8s-ee-environment' },
    data: { databases: 'postgresql,mariadb,mongodb,redis,minio' },
  };
  assert.deepEqual(await gate.ensureEnvironment(NS, incoming, { dryRun: true }), { ok: true });
  assert.deepEqual(writes(cluster), [], 'a dry run writes nothing');
  assert.deepEqual(await gate.ensureEnvironment(NS, incoming, { dryRun: false }), { ok: true });
  const all = ['postgresql', 'mariadb', 'mongodb', 'redis', 'minio'] as const;
  const quota = cluster.objects.get(`${NS}/ResourceQuota/${BASELINE_NAMES.quota}`);
  assert.deepEqual(quota?.status?.hard, buildBaseline(NS, [...all], config)[0]?.spec['hard']);
  assert.equal(quota?.metadata?.annotations?.[PENDING_DATABASES], all.join(','));
  assert.equal(
    cluster.namespaces.get(NS)?.labels[LABELS.baselineHash],
    baselineHash(buildBaseline(NS, [...all], config)),
  );
  // A pod admitted before the reconciler has seen the stored ConfigMap does not shrink the quota back.
  gate.forget(NS);
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(writes(cluster), []);
  // Nothing new declared: nothing to wait for.
  cluster.environments.set(NS, { databases: all.join(',') });
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensureEnvironment(NS, incoming, { dryRun: false }), { ok: true });
  assert.deepEqual(writes(cluster), []);
});

test('an environment ConfigMap whose quota cannot be written is refused with a retry hint', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  cluster.failWrites = new Error('etcd is sad');
  const incoming = { kind: 'ConfigMap', metadata: { name: 'k8s-ee-environment' }, data: { databases: 'redis' } };
  const result = await gate.ensureEnvironment(NS, incoming, { dryRun: false });
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /could not put the quota of shop-pr-7 in place .*etcd is sad.*retry/);
});

const STAMP_REFUSAL =
  "pods is forbidden: ValidatingAdmissionPolicy 'k8s-ee-baseline-required' denied request: no k8s-ee.io/baseline-hash label";

/** A client over the memory cluster that counts readQuota calls and can move a test clock on each call. */
function counting(cluster: MemoryCluster, onRead: () => void = () => undefined) {
  const reads = { quota: 0 };
  const client = {
    ...cluster,
    readQuota: (namespace: string, name: string) => {
      reads.quota += 1;
      onRead();
      return cluster.readQuota(namespace, name);
    },
  };
  return { client, reads };
}

test('isStampRefusal: only a ValidatingAdmissionPolicy refusal that names the stamp label', () => {
  assert.equal(isStampRefusal(STAMP_REFUSAL), true);
  assert.equal(isStampRefusal('ValidatingAdmissionPolicy denied request: replicas too high'), false);
  assert.equal(isStampRefusal('webhook denied: the k8s-ee.io/baseline-hash label is managed by k8s-ee'), false);
});

test('gate metrics: one counter per registry, shared by every gate; no registry registers nothing', async () => {
  const registry = new Registry();
  const cluster = memoryCluster();
  addNamespace(cluster, NS);
  addNamespace(cluster, 'shop-pr-8');
  const a = createGate({ client: cluster, config, log: silentLogger(), registry });
  const b = createGate({ client: cluster, config, log: silentLogger(), registry });
  await a.ensure(NS, { dryRun: false });
  await b.ensure('shop-pr-8', { dryRun: false });
  assert.equal(await metric(registry, 'ok'), 2);
  const alone = createGate({ client: cluster, config, log: silentLogger() });
  cluster.failWrites = new Error('etcd is sad');
  await alone.ensureEnvironment(
    'shop-pr-8',
    { metadata: { name: 'k8s-ee-environment' }, data: { databases: 'redis' } },
    { dryRun: false },
  );
  assert.equal(await metric(registry, 'failed'), 0, 'a gate without registry counts in none');
  await a.ensureEnvironment(
    'shop-pr-8',
    { metadata: { name: 'k8s-ee-environment' }, data: { databases: 'redis' } },
    { dryRun: false },
  );
  assert.equal(await metric(registry, 'failed'), 1, 'a failed environment growth counts as failed');
});

test('gate in-flight sharing: a dry-run and a real request for one namespace never share one check', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const [dry, real] = await Promise.all([gate.ensure(NS, { dryRun: true }), gate.ensure(NS, { dryRun: false })]);
  assert.equal(dry.ok, false, 'the dry run saw an incomplete baseline');
  assert.deepEqual(real, { ok: true });
  const [real2, dry2] = await Promise.all([
    gate.ensure('shop-pr-404', { dryRun: false }),
    gate.ensure(NS, { dryRun: true }),
  ]);
  assert.equal(real2.ok, false);
  assert.deepEqual(dry2, { ok: true });
});

test('environment growth: an absent or terminating namespace is left to the API server; the quota is applied once', async () => {
  const { cluster, gate } = setup();
  const incoming = { kind: 'ConfigMap', metadata: { name: 'k8s-ee-environment' }, data: { databases: 'redis' } };
  assert.deepEqual(await gate.ensureEnvironment('shop-pr-404', incoming, { dryRun: false }), { ok: true });
  addNamespace(cluster, 'shop-pr-9', {}, true);
  assert.deepEqual(await gate.ensureEnvironment('shop-pr-9', incoming, { dryRun: false }), { ok: true });
  assert.deepEqual(writes(cluster), []);
  addNamespace(cluster, NS);
  assert.deepEqual(await gate.ensureEnvironment(NS, incoming, { dryRun: false }), { ok: true });
  const desired = buildBaseline(NS, ['redis'], config);
  assert.deepEqual(writes(cluster), [...desired.map((o) => `create ${o.kind}/${o.metadata.name}`), `stamp ${NS}`]);
});

test('gate fast path: our quota is found by kind and name among other objects, and a quota without status is waited for', async () => {
  const { cluster, gate } = setup();
  addNamespace(cluster, NS);
  const desired = buildBaseline(NS, [], config);
  // A team's own quota, and the LimitRange, listed before ours.
  await cluster.apply({ ...desired[0]!, metadata: { ...desired[0]!.metadata, name: 'team-quota' } });
  for (const o of [...desired].reverse()) await cluster.apply(o);
  const teamQuota = cluster.objects.get(`${NS}/ResourceQuota/team-quota`)!;
  teamQuota.status = { hard: {} };
  await cluster.stampNamespace(NS, baselineHash(desired));
  cluster.calls.length = 0;
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.deepEqual(cluster.calls.sort(), [`get environment ${NS}`, `get namespace ${NS}`, `list ${NS}`, `probe ${NS}`]);

  // The same, but the quota controller has not filled in our quota's status yet: waited for, then admitted.
  const slow = setup({ quotaWaitMs: 50 });
  addNamespace(slow.cluster, NS);
  slow.cluster.quotaStatusDelayMs = Infinity;
  for (const o of desired) await slow.cluster.apply(o);
  await slow.cluster.stampNamespace(NS, baselineHash(desired));
  assert.deepEqual(await slow.gate.ensure(NS, { dryRun: false }), { ok: true });
});

test('gate quota wait: a quota accounted for at once is not read again; the wait ends at its deadline exactly', async () => {
  const cluster = memoryCluster();
  addNamespace(cluster, NS);
  const fresh = counting(cluster);
  const gate = createGate({ client: fresh.client, config, log: silentLogger() });
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.equal(fresh.reads.quota, 0, 'the applied quota already carried its status');

  let clock = 0;
  const never = memoryCluster();
  addNamespace(never, NS);
  never.quotaStatusDelayMs = Infinity;
  const stepping = counting(never, () => (clock += 50));
  const bounded = createGate({
    client: stepping.client,
    config,
    log: silentLogger(),
    quotaWaitMs: 100,
    now: () => clock,
  });
  assert.deepEqual(await bounded.ensure(NS, { dryRun: false }), { ok: true });
  assert.equal(stepping.reads.quota, 2, 'read at 50 and 100 ms; at 100 ms the deadline is reached');
});

test('gate stamp wait: bounded by its deadline exactly; given up, it probes again on the next request', async () => {
  let clock = 0;
  const cluster = memoryCluster();
  addNamespace(cluster, NS);
  const gateWithWait = createGate({
    client: cluster,
    config,
    log: silentLogger(),
    stampWaitMs: 100,
    now: () => clock,
  });
  cluster.probeAnswer = () => {
    clock += 50;
    return STAMP_REFUSAL;
  };
  const probes = (): number => cluster.calls.filter((c) => c === `probe ${NS}`).length;
  assert.deepEqual(await gateWithWait.ensure(NS, { dryRun: false }), { ok: true });
  assert.equal(probes(), 2, 'probed at 50 and 100 ms; at 100 ms the deadline is reached');
  await gateWithWait.ensure(NS, { dryRun: false });
  assert.equal(probes(), 4, 'not marked as seen: the next request waits again');
});

test('gate defaults: without quotaWaitMs and stampWaitMs the waits still end (3 s and 2 s)', async () => {
  let clock = 0;
  const cluster = memoryCluster();
  addNamespace(cluster, NS);
  cluster.quotaStatusDelayMs = Infinity;
  cluster.probeAnswer = () => {
    clock += 1000;
    return STAMP_REFUSAL;
  };
  const stepping = counting(cluster, () => (clock += 1000));
  const gate = createGate({ client: stepping.client, config, log: silentLogger(), now: () => clock });
  assert.deepEqual(await gate.ensure(NS, { dryRun: false }), { ok: true });
  assert.equal(stepping.reads.quota, 3);
  assert.equal(cluster.calls.filter((c) => c === `probe ${NS}`).length, 2);
});
