// Issue 11, class 5: the API server arbitrates pins, so webhook replicas cannot grant more than maxPinned together.
// Two independent webhook instances (each its own ClusterServices, queue and memory) share one API: the in-memory
// cluster for namespaces and the in-memory Lease store with the API server's 409 semantics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import { createClusterServicesWith } from './cluster-services.ts';
import { validateHandler } from './handlers.ts';
import { decidePin, memoryPinSlots, reservePinSlot, type PinSlot } from './pin-slots.ts';
import { addNamespace, memoryCluster } from './reconciler-kube-memory.ts';
import { request } from './testing/review.ts';
import type { ClusterServices, HandlerContext } from './types.ts';

const config = defaultConfig();

function api() {
  const cluster = memoryCluster();
  const slots = memoryPinSlots();
  const clock = { now: 1_000_000 };
  const replica = (): ClusterServices =>
    createClusterServicesWith(cluster, {
      config,
      log: silentLogger(),
      registry: new Registry(),
      now: () => clock.now,
      pinSlots: slots,
    });
  return { cluster, slots, clock, replicas: [replica(), replica()] };
}

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `shop-pr-${i + 1}`);

const namespaceOf = (name: string, pinned: boolean) => {
  const ns = { name, project: 'shop', number: Number(name.split('-').pop()) };
  const labels = { ...requiredNamespaceLabels(ns, config), ...(pinned ? { preserve: 'true' } : {}) };
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
};

test('five pins at once on two replicas, none pinned before: exactly three admitted', async () => {
  for (let round = 0; round < 20; round += 1) {
    const { cluster, replicas } = api();
    for (const name of names(5)) addNamespace(cluster, name);
    const answers = await Promise.all(
      names(5).map((name, i) => replicas[(i + round) % 2]!.reservePin(name, 3, { dryRun: false })),
    );
    assert.equal(answers.filter((a) => a.ok).length, 3, `round ${round}: ${JSON.stringify(answers)}`);
    for (const refused of answers.filter((a) => !a.ok)) {
      // Nothing is pinned yet (the three are in admission): none is named, the three are counted.
      assert.deepEqual(refused, { ok: false, pinned: [], pending: 3 });
    }
  }
});

test('through the validating webhook on two replicas: three pins admitted, the refusals name only real pins', async () => {
  const { cluster, replicas } = api();
  for (const name of names(5)) addNamespace(cluster, name);
  addNamespace(cluster, 'shop-pr-9', { preserve: 'true' }); // pinned before
  const contexts: HandlerContext[] = replicas.map((cluster) => ({
    config,
    log: silentLogger(),
    now: () => new Date('2026-12-01T00:00:00Z'),
    cluster,
  }));
  const decisions = await Promise.all(
    names(5).map(async (name, i) =>
      validateHandler(
        request(namespaceOf(name, true), 'Namespace', { operation: 'UPDATE', oldObject: namespaceOf(name, false) }),
        contexts[i % 2]!,
      ),
    ),
  );
  assert.equal(decisions.filter((d) => d.allowed).length, 2, 'one pinned before + two = three');
  for (const d of decisions.filter((x) => !x.allowed)) {
    const message = d.allowed ? '' : (d.violations?.[0]?.message ?? '');
    assert.match(
      message,
      /^at most 3 PR environments may be pinned at once; pinned now: shop-pr-9 \(and 2 being pinned at this moment\)$/,
    );
  }
});

test('a slot is released when its holder is unpinned or gone, once the grant window has passed', async () => {
  const { cluster, clock, replicas } = api();
  const [a, b] = replicas;
  for (const name of names(4)) addNamespace(cluster, name);
  for (const name of names(3)) assert.deepEqual(await a!.reservePin(name, 3, { dryRun: false }), { ok: true });
  for (const name of names(3)) cluster.namespaces.get(name)!.labels['preserve'] = 'true'; // the API stored them
  const full = await b!.reservePin('shop-pr-4', 3, { dryRun: false });
  assert.deepEqual(full, { ok: false, pinned: ['shop-pr-1', 'shop-pr-2', 'shop-pr-3'], pending: 0 });
  // shop-pr-2 is unpinned and shop-pr-3 deleted: still counted while in the grant window, then released.
  delete cluster.namespaces.get('shop-pr-2')!.labels['preserve'];
  cluster.namespaces.delete('shop-pr-3');
  clock.now += 10_000;
  assert.deepEqual(await b!.reservePin('shop-pr-4', 3, { dryRun: false }), { ok: true });
  // A namespace asking again while it holds a slot keeps it (a retried request).
  assert.deepEqual(await a!.reservePin('shop-pr-4', 3, { dryRun: false }), { ok: true });
});

test('dry-run reserves nothing; pinned namespaces without a slot (pinned while the webhook was away) count', async () => {
  const { cluster, slots, replicas } = api();
  addNamespace(cluster, 'shop-pr-7', { preserve: 'true' });
  addNamespace(cluster, 'shop-pr-8', { preserve: 'true' });
  assert.deepEqual(await replicas[0]!.reservePin('shop-pr-1', 3, { dryRun: true }), { ok: true });
  assert.equal(slots.writes, 0);
  const answers = await Promise.all(names(3).map((name, i) => replicas[i % 2]!.reservePin(name, 3, { dryRun: false })));
  assert.equal(answers.filter((a) => a.ok).length, 1, JSON.stringify(answers));
  assert.deepEqual([...slots.slots.keys()], [0], 'only the slots the unslotted pins leave may be taken');
});

test('decidePin: two takers of one released slot: the resourceVersion precondition lets one win', async () => {
  const slots = memoryPinSlots();
  await slots.create(0, 'old-pr-1', 0);
  const state = { limit: 1, pinned: [], now: 100_000, grantMs: 10_000 };
  const stale = (await slots.list())[0] as PinSlot;
  assert.deepEqual(decidePin({ ...state, namespace: 'shop-pr-1', slots: [stale] }), {
    kind: 'acquire',
    candidates: [{ index: 0, slot: stale }],
  });
  assert.equal(await slots.takeOver(stale, 'shop-pr-1', 100_000), true);
  assert.equal(await slots.takeOver(stale, 'shop-pr-2', 100_000), false);
  const second = await reservePinSlot(slots, { ...state, namespace: 'shop-pr-2', now: () => 100_000, dryRun: false });
  assert.deepEqual(second, { ok: false, pinned: [], pending: 1 });
});

test('without the slots namespace (404), a replica falls back to counting its own grants, still at most three', async () => {
  const cluster = memoryCluster();
  const missing = Object.assign(new Error('namespaces "k8s-ee-system" not found'), { code: 404 });
  const services = createClusterServicesWith(cluster, {
    config,
    log: silentLogger(),
    registry: new Registry(),
    pinSlots: {
      list: () => Promise.resolve([]),
      create: () => Promise.reject(missing),
      takeOver: () => Promise.reject(missing),
    },
  });
  const answers = await Promise.all(names(5).map((name) => services.reservePin(name, 3, { dryRun: false })));
  assert.equal(answers.filter((a) => a.ok).length, 3);
  const forbidden = Object.assign(new Error('leases is forbidden'), { code: 403 });
  const broken = createClusterServicesWith(cluster, {
    config,
    log: silentLogger(),
    registry: new Registry(),
    pinSlots: {
      list: () => Promise.reject(forbidden),
      create: () => Promise.reject(forbidden),
      takeOver: () => Promise.reject(forbidden),
    },
  });
  await assert.rejects(
    broken.reservePin('shop-pr-1', 3, { dryRun: false }),
    /forbidden/,
    'any other error is not a grant',
  );
});

test('an admitted unpin frees its slot at once, on any replica', async () => {
  const { cluster, slots, replicas } = api();
  const contexts: HandlerContext[] = replicas.map((services) => ({
    config,
    log: silentLogger(),
    now: () => new Date('2026-12-01T00:00:00Z'),
    cluster: services,
  }));
  const update = (name: string, pinned: boolean, context: HandlerContext) =>
    validateHandler(
      request(namespaceOf(name, pinned), 'Namespace', { operation: 'UPDATE', oldObject: namespaceOf(name, !pinned) }),
      context,
    );
  for (const name of names(4)) addNamespace(cluster, name);
  for (const name of names(3)) {
    assert.deepEqual(await update(name, true, contexts[0]!), { allowed: true });
    cluster.namespaces.get(name)!.labels['preserve'] = 'true';
  }
  assert.equal((await update('shop-pr-4', true, contexts[1]!)).allowed, false);
  assert.deepEqual(await update('shop-pr-2', false, contexts[1]!), { allowed: true });
  delete cluster.namespaces.get('shop-pr-2')!.labels['preserve'];
  assert.ok(!(await slots.list()).some((s) => s.holder === 'shop-pr-2'), 'the slot is free');
  assert.deepEqual(await update('shop-pr-4', true, contexts[0]!), { allowed: true }, 'no wait for the grant window');
  const dryRun = request(namespaceOf('shop-pr-3', false), 'Namespace', {
    operation: 'UPDATE',
    oldObject: namespaceOf('shop-pr-3', true),
    dryRun: true,
  });
  await validateHandler(dryRun, contexts[0]!);
  assert.ok(
    (await slots.list()).some((s) => s.holder === 'shop-pr-3'),
    'a dry-run unpin frees nothing',
  );
});
