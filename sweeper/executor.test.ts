import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { defaultConfig } from '../policies/config.ts';
import { createRegistry } from '../lib/metrics.ts';
import { execute, type ExecuteOptions } from './executor.ts';
import { createSweeperMetrics, type SweeperMetrics } from './metrics.ts';
import { ApiError, MemoryCluster } from './memory-cluster.ts';
import type { Action, NamespaceInfo } from './types.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const nsInfo = (name: string, labels: Record<string, string> = {}): NamespaceInfo => ({
  name,
  uid: `uid-${name}`,
  labels: { 'k8s-ee.io/managed': 'true', ...labels },
  annotations: {},
  phase: 'Active',
  creationTimestamp: '2025-05-01T00:00:00Z',
  conditions: [],
  finalizers: ['kubernetes'],
});
const del = (name: string, reason = 'pr-closed'): Action => ({
  kind: 'delete-namespace',
  target: { kind: 'Namespace', name, uid: `uid-${name}` },
  reason,
  message: `orphan environment: ${name}`,
  details: {},
});

async function values(
  metrics: SweeperMetrics,
  key: Exclude<keyof SweeperMetrics, 'costs'>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics[key].get()).values) out[Object.values(v.labels).join('|')] = v.value;
  return out;
}

describe('executor', () => {
  let cluster: MemoryCluster;
  let metrics: SweeperMetrics;
  let logs: Record<string, unknown>[];
  let opts: ExecuteOptions;

  beforeEach(() => {
    cluster = new MemoryCluster();
    for (const n of ['shop-pr-1', 'shop-pr-2', 'shop-pr-3']) cluster.addNamespace(nsInfo(n));
    metrics = createSweeperMetrics(createRegistry());
    logs = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    opts = {
      api: cluster,
      config: defaultConfig(),
      log: pino({ level: 'info' }, sink),
      metrics,
      dryRun: false,
      now: NOW,
    };
  });

  it('dry-run writes nothing and reports every action as planned', async () => {
    const actions = [
      del('shop-pr-1'),
      { ...del('shop-pr-2'), kind: 'stamp-pin' as const, patch: { annotations: { a: 'b' } } },
    ];
    const results = await execute(actions, { ...opts, dryRun: true });
    assert.deepEqual(
      results.map((r) => r.result),
      ['planned', 'planned'],
    );
    assert.deepEqual(cluster.calls, []);
    assert.equal(cluster.namespaces.size, 3);
    assert.deepEqual(await values(metrics, 'actions'), {
      'delete-namespace|pr-closed|planned': 1,
      'stamp-pin|pr-closed|planned': 1,
    });
    assert.equal(logs.length, 2);
    assert.equal(logs[0]?.['dryRun'], true);
  });

  it('deletes after re-reading the namespace, with an Event, a metric and a log line', async () => {
    const results = await execute([del('shop-pr-1')], opts);
    assert.equal(results[0]?.result, 'done');
    assert.deepEqual(cluster.calls, ['readNamespace shop-pr-1', 'deleteNamespace shop-pr-1', 'recordEvent shop-pr-1']);
    assert.deepEqual(cluster.events, [
      {
        target: { kind: 'Namespace', name: 'shop-pr-1', uid: 'uid-shop-pr-1' },
        type: 'Normal',
        reason: 'EnvironmentDeleted',
        action: 'delete-namespace',
        message: 'orphan environment: shop-pr-1',
        time: NOW,
      },
    ]);
    assert.deepEqual(await values(metrics, 'actions'), { 'delete-namespace|pr-closed|done': 1 });
    assert.equal(logs[0]?.['msg'], 'orphan environment: shop-pr-1');
    assert.equal(logs[0]?.['namespace'], 'shop-pr-1');
  });

  it('NotFound counts as done; an error is collected and the run goes on', async () => {
    cluster.namespaces.delete('shop-pr-1');
    cluster.afterWrite = undefined;
    const failing = new MemoryCluster();
    failing.addNamespace(nsInfo('shop-pr-2'));
    failing.failures.set('deleteNamespace', new ApiError(500, 'etcd is sad'));
    const combined = { ...opts, api: cluster };
    const r1 = await execute([del('shop-pr-1'), del('shop-pr-2'), del('shop-pr-3')], combined);
    assert.deepEqual(
      r1.map((r) => r.result),
      ['not-found', 'done', 'done'],
    );
    const r2 = await execute(
      [del('shop-pr-2'), { ...del('shop-pr-2'), kind: 'stamp-pin', patch: { annotations: { x: 'y' } } }],
      { ...opts, api: failing },
    );
    assert.deepEqual(
      r2.map((r) => [r.result, r.note]),
      [
        ['error', 'etcd is sad'],
        ['done', undefined],
      ],
    );
    assert.deepEqual(await values(metrics, 'errors'), { action: 1 });
    assert.equal(failing.namespaces.get('shop-pr-2')?.annotations['x'], 'y');
  });

  it('a namespace pinned, re-created, unmanaged or re-deployed since the plan is left alone', async () => {
    cluster.addNamespace(nsInfo('shop-pr-1', { preserve: 'true' }));
    cluster.addNamespace({ ...nsInfo('shop-pr-2'), uid: 'another-uid' });
    cluster.addNamespace({ ...nsInfo('shop-pr-3'), labels: {} });
    cluster.addNamespace(nsInfo('shop-pr-4'));
    cluster.releases['shop-pr-4'] = [
      { release: 'app', revision: 1, status: 'pending-install', createdAt: NOW.toISOString() },
    ];
    const results = await execute(
      [del('shop-pr-1'), del('shop-pr-2'), del('shop-pr-3'), del('shop-pr-4', 'release-gone')],
      opts,
    );
    assert.deepEqual(
      results.map((r) => [r.result, r.note]),
      [
        ['skipped', 'the namespace is pinned (preserve=true)'],
        ['skipped', 'the namespace was re-created since the snapshot'],
        ['skipped', 'the namespace is no longer managed'],
        ['skipped', 'a Helm release is back in the namespace'],
      ],
    );
    assert.equal(cluster.namespaces.size, 4);
    assert.deepEqual(cluster.events, []);
  });

  it('a deferred deletion bites the cap: Event and capped metric, no API write', async () => {
    const defer: Action = { ...del('shop-pr-1'), kind: 'defer-deletion', reason: 'deletion-cap' };
    await execute([defer, { ...defer, target: { kind: 'Namespace', name: 'shop-pr-2' } }], opts);
    assert.deepEqual(await values(metrics, 'capped'), { '': 2 });
    assert.deepEqual(
      cluster.events.map((e) => `${e.type} ${e.reason} ${e.target.name}`),
      ['Warning DeletionCapReached shop-pr-1', 'Warning DeletionCapReached shop-pr-2'],
    );
    assert.equal(cluster.namespaces.size, 3);
  });

  it('volumes: deletion counts freed bytes; reclaim switches the policy', async () => {
    cluster.volumes.set('pv-a', { name: 'pv-a', phase: 'Released', reclaimPolicy: 'Retain', capacityBytes: 1024 });
    cluster.volumes.set('pv-b', {
      name: 'pv-b',
      phase: 'Released',
      reclaimPolicy: 'Retain',
      capacityBytes: 2048,
      provisionedBy: 'x',
    });
    const pv = (name: string, kind: Action['kind'], bytes: number): Action => ({
      kind,
      target: { kind: 'PersistentVolume', name },
      reason: 'released-orphan',
      message: name,
      details: { capacityBytes: bytes },
    });
    const results = await execute(
      [pv('pv-a', 'delete-volume', 1024), pv('pv-b', 'reclaim-volume', 2048), pv('pv-gone', 'delete-volume', 4096)],
      opts,
    );
    assert.deepEqual(
      results.map((r) => r.result),
      ['done', 'done', 'not-found'],
    );
    assert.deepEqual(await values(metrics, 'freedBytes'), { '': 3072 });
    assert.equal(cluster.volumes.get('pv-b')?.reclaimPolicy, 'Delete');
  });

  it('image prune: the Job starts with the sample it was planned on; a finished one is deleted and counted', async () => {
    const node = { kind: 'Node' as const, name: 'n1' };
    const prune: Action = {
      kind: 'prune-images',
      target: node,
      reason: 'disk-high',
      message: 'prune',
      details: { image: 'tools:1', imageFsUsedBytes: 5000 },
    };
    const [started, again] = await execute([prune, prune], opts);
    assert.equal(started?.result, 'done');
    assert.equal(again?.result, 'skipped');
    assert.deepEqual(cluster.pruneJobs, [
      { name: 'k8s-ee-image-prune-n1', uid: 'uid-prune-n1-1', node: 'n1', state: 'running', imageFsUsedBytes: 5000 },
    ]);
    const finish = (reason: string, details: Action['details']): Action => ({
      kind: 'finish-image-prune',
      target: node,
      reason,
      message: reason,
      details: { job: 'k8s-ee-image-prune-n1', jobUid: 'uid-prune-n1-1', ...details },
    });
    const results = await execute(
      [finish('pruned', { freedBytes: 3000 }), finish('pruned', { freedBytes: 3000 })],
      opts,
    );
    assert.deepEqual(
      results.map((r) => r.result),
      ['done', 'not-found'],
      'counted once: the second finds the Job gone',
    );
    assert.deepEqual(cluster.pruneJobs, []);
    assert.deepEqual(await values(metrics, 'imagePruneFreedBytes'), { n1: 3000 });
    await execute([prune], opts);
    const [stale] = await execute([finish('prune-failed', { failure: 'x' })], opts);
    assert.equal(stale?.result, 'error', 'the uid precondition keeps a newer Job of the same name');
    await execute([finish('prune-failed', { jobUid: 'uid-prune-n1-2', failure: 'BackoffLimitExceeded' })], opts);
    assert.deepEqual(cluster.pruneJobs, []);
    assert.deepEqual(await values(metrics, 'imagePruneFreedBytes'), { n1: 3000 }, 'a failure frees nothing');
    assert.deepEqual(
      cluster.events.map((e) => `${e.type} ${e.reason}`),
      ['Normal ImagePruneStarted', 'Normal ImagePruneFinished', 'Normal ImagePruneStarted', 'Warning ImagePruneFailed'],
    );
  });

  it('bookkeeping actions get no Event; an Event that fails does not fail the action', async () => {
    const seen: Action = {
      ...del('shop-pr-1'),
      kind: 'mark-release-seen',
      reason: 'release-seen',
      bookkeeping: true,
      patch: { annotations: { s: '1' } },
    };
    const gone: Action = {
      ...del('shop-pr-2'),
      kind: 'mark-release-gone',
      reason: 'release-gone',
      patch: { annotations: { g: '1' } },
    };
    await execute([seen], opts);
    assert.deepEqual(cluster.events, []);
    cluster.failures.set('recordEvent', new ApiError(403, 'events is forbidden'));
    const [r] = await execute([gone], opts);
    assert.equal(r?.result, 'done');
    assert.deepEqual(await values(metrics, 'errors'), { event: 1 });
  });

  it('stops between actions once asked to', async () => {
    let stop = false;
    cluster.afterWrite = () => (stop = true);
    const results = await execute([del('shop-pr-1'), del('shop-pr-2'), del('shop-pr-3')], {
      ...opts,
      shouldStop: () => stop,
    });
    assert.deepEqual(
      results.map((r) => r.result),
      ['done', 'skipped', 'skipped'],
    );
    assert.deepEqual([...cluster.namespaces.keys()], ['shop-pr-2', 'shop-pr-3']);
  });
});
