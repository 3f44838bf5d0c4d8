import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { defaultConfig, type Config } from '../policies/config.ts';
import { createRegistry } from '../lib/metrics.ts';
import { silentLogger } from '../lib/log.ts';
import { createSweeperMetrics, type SweeperMetrics } from './metrics.ts';
import { ApiError, MemoryCluster } from './memory-cluster.ts';
import { ReleaseTracker, type SecretEventType, type Timers } from './release-tracker.ts';
import { createScheduler } from './scheduler.ts';
import { sweep } from './sweep.ts';
import type { SecretMeta } from './helm.ts';
import { SWEEPER_ANNOTATIONS as SA } from './types.ts';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

/** A clock and timers that only move when the test says so. */
class FakeTime implements Timers {
  now = T0;
  private timers: { fn: () => void; at: number; id: number }[] = [];
  private next = 0;
  clock = (): Date => new Date(this.now);
  set(fn: () => void, ms: number): unknown {
    const id = ++this.next;
    this.timers.push({ fn, at: this.now + ms, id });
    return id;
  }
  clear(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  pending(): number {
    return this.timers.length;
  }
  /** Moves the clock, firing the timers that come due on the way. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = Math.max(this.now, due.at);
      due.fn();
    }
    this.now = until;
  }
}

function secret(namespace: string, revision: number, status = 'deployed', release = 'app'): SecretMeta {
  return {
    name: `sh.helm.release.v1.${release}.v${revision}`,
    namespace,
    labels: { owner: 'helm', name: release, version: String(revision), status },
    creationTimestamp: iso(T0 - 3_600_000),
    type: 'helm.sh/release.v1',
  };
}

function managed(name: string, annotations: Record<string, string> = {}) {
  return {
    name,
    uid: `uid-${name}`,
    labels: { 'k8s-ee.io/managed': 'true' },
    annotations,
    phase: 'Active',
    creationTimestamp: '2025-05-01T00:00:00Z',
    conditions: [],
    finalizers: ['kubernetes'],
  };
}

describe('ReleaseTracker: stamps an uninstall when the watch sees it and sweeps when the grace ends', () => {
  let cluster: MemoryCluster;
  let time: FakeTime;
  let config: Config;
  let registry: Registry;
  let metrics: SweeperMetrics;
  let sweeps: number;
  let dryRun: boolean;
  let tracker: ReleaseTracker;

  const make = (): ReleaseTracker =>
    new ReleaseTracker({
      api: cluster,
      config,
      log: silentLogger(),
      metrics,
      dryRun,
      clock: time.clock,
      timers: time,
      sweep: () => {
        sweeps += 1;
        return Promise.resolve();
      },
    });
  const event = async (type: SecretEventType, s: SecretMeta): Promise<void> => {
    tracker.onSecret(type, s);
    await tracker.idle();
  };
  const annotations = (name: string) => cluster.namespaces.get(name)?.annotations ?? {};

  beforeEach(() => {
    cluster = new MemoryCluster();
    cluster.addNamespace(managed('shop-pr-1', { [SA.releaseSeenAt]: iso(T0 - 3_600_000) }));
    time = new FakeTime();
    config = defaultConfig();
    config.sweeper.releaseGrace = '5s';
    registry = createRegistry();
    metrics = createSweeperMetrics(registry);
    sweeps = 0;
    dryRun = false;
    tracker = make();
    // The watch's first list: the state as it is, not a change.
    tracker.onSecret('ADDED', secret('shop-pr-1', 1, 'superseded'));
    tracker.onSecret('ADDED', secret('shop-pr-1', 2));
    tracker.markSynced();
  });

  it('the first list is not acted on; changes after it are', async () => {
    const fresh = make();
    fresh.onSecret('ADDED', secret('shop-pr-1', 1));
    fresh.onSecret('DELETED', secret('shop-pr-1', 1));
    await fresh.idle();
    assert.deepEqual(cluster.calls, [], 'nothing read or written before the list is complete');
  });

  it('helm uninstall: stamped with the time the last record went, one sweep at stamp + grace + 1 s', async () => {
    await event('DELETED', secret('shop-pr-1', 2));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], undefined, 'a superseded record is still live');
    time.advance(300);
    const goneAt = time.now;
    // The namespace read is slow: the stamp is still the observation time, not the time of the write.
    const read = cluster.readNamespace.bind(cluster);
    cluster.readNamespace = (name) => {
      time.advance(2000);
      return read(name);
    };
    await event('DELETED', secret('shop-pr-1', 1, 'superseded'));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], iso(goneAt));
    assert.deepEqual(tracker.scheduled(), { 'shop-pr-1': iso(goneAt + 6000) });
    assert.equal(cluster.events.map((e) => e.reason).join(), 'ReleaseGone');
    time.advance(goneAt + 5999 - time.now);
    assert.equal(sweeps, 0, 'not before the grace has passed');
    time.advance(1);
    assert.equal(sweeps, 1);
    assert.deepEqual(tracker.scheduled(), {});
    assert.match(await registry.metrics(), /k8s_ee_sweeper_follow_up_runs_total 1/);
    assert.match(
      await registry.metrics(),
      /k8s_ee_sweeper_actions_total\{kind="mark-release-gone",reason="release-gone",result="done"\} 1/,
    );
  });

  it('an existing stamp is kept and the sweep comes at its own grace end', async () => {
    cluster.namespaces.get('shop-pr-1')!.annotations[SA.releaseGoneSince] = iso(T0 - 4000);
    await event('DELETED', secret('shop-pr-1', 2));
    await event('DELETED', secret('shop-pr-1', 1));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], iso(T0 - 4000));
    assert.deepEqual(tracker.scheduled(), { 'shop-pr-1': iso(T0 + 2000) });
    assert.ok(!cluster.calls.some((c) => c.startsWith('patchNamespace')), 'no write');
  });

  it('helm uninstall --keep-history (newest record turns uninstalled) counts as gone', async () => {
    await event('MODIFIED', secret('shop-pr-1', 2, 'uninstalled'));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], iso(T0));
    assert.deepEqual(Object.keys(tracker.scheduled()), ['shop-pr-1']);
  });

  it('a release back before the grace ends: the stamp is removed and the sweep cancelled', async () => {
    await event('DELETED', secret('shop-pr-1', 2));
    await event('DELETED', secret('shop-pr-1', 1));
    assert.equal(time.pending(), 1);
    time.advance(3000);
    await event('ADDED', secret('shop-pr-1', 1, 'pending-install'));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], undefined);
    assert.equal(time.pending(), 0);
    time.advance(60_000);
    assert.equal(sweeps, 0);
  });

  it('a first install is marked deployed at once, so an uninstall right after is release-gone, not never-deployed', async () => {
    cluster.addNamespace(managed('shop-pr-2'));
    await event('ADDED', secret('shop-pr-2', 1, 'pending-install'));
    assert.equal(annotations('shop-pr-2')[SA.releaseSeenAt], iso(T0));
    time.advance(1000);
    await event('DELETED', secret('shop-pr-2', 1, 'pending-install'));
    assert.equal(annotations('shop-pr-2')[SA.releaseGoneSince], iso(T0 + 1000));
    assert.deepEqual(tracker.scheduled(), { 'shop-pr-2': iso(T0 + 7000) });
  });

  it('dry-run writes nothing and schedules nothing', async () => {
    dryRun = true;
    tracker = make();
    tracker.onSecret('ADDED', secret('shop-pr-1', 1));
    tracker.markSynced();
    await event('DELETED', secret('shop-pr-1', 1));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], undefined);
    assert.equal(time.pending(), 0);
    assert.match(
      await registry.metrics(),
      /k8s_ee_sweeper_actions_total\{kind="mark-release-gone",reason="release-gone",result="planned"\} 1/,
    );
  });

  it('an API error means no stamp and no sweep (the cron runs fall back), counted as a watch error', async () => {
    cluster.failures.set('readNamespace', new ApiError(500, 'etcd timeout'));
    await event('DELETED', secret('shop-pr-1', 2));
    await event('DELETED', secret('shop-pr-1', 1));
    assert.equal(time.pending(), 0);
    assert.match(await registry.metrics(), /k8s_ee_sweeper_errors_total\{stage="watch"\} 1/);
    cluster.failures.delete('readNamespace');
    cluster.failures.set('patchNamespace', new ApiError(403, 'forbidden'));
    await event('ADDED', secret('shop-pr-1', 3));
    await event('DELETED', secret('shop-pr-1', 3));
    assert.equal(time.pending(), 0, 'the stamp could not be written: no sweep');
  });

  it('namespaces outside the pattern, unmanaged or Terminating ones are left to themselves', async () => {
    cluster.addNamespace({ ...managed('shop-pr-3'), labels: {} });
    cluster.addNamespace({ ...managed('shop-pr-4', { [SA.releaseSeenAt]: iso(T0) }), deletionTimestamp: iso(T0) });
    for (const namespace of ['kube-system', 'shop-pr-3', 'shop-pr-4']) {
      await event('ADDED', secret(namespace, 1));
      await event('DELETED', secret(namespace, 1));
    }
    assert.ok(!cluster.calls.includes('readNamespace kube-system'), 'a non-PR namespace is not even read');
    assert.ok(!cluster.calls.some((c) => c.startsWith('patchNamespace')));
    assert.equal(time.pending(), 0);
  });

  it('other records of a live release, or another live release, keep the namespace deployed', async () => {
    await event('ADDED', secret('shop-pr-1', 1, 'deployed', 'db'));
    await event('DELETED', secret('shop-pr-1', 2));
    await event('DELETED', secret('shop-pr-1', 1));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], undefined, 'release db is still live');
    await event('DELETED', secret('shop-pr-1', 1, 'deployed', 'db'));
    assert.equal(annotations('shop-pr-1')[SA.releaseGoneSince], iso(T0));
  });

  it('stop cancels the sweeps waiting and ignores later events', async () => {
    await event('DELETED', secret('shop-pr-1', 2));
    await event('DELETED', secret('shop-pr-1', 1));
    await tracker.stop();
    assert.equal(time.pending(), 0);
    cluster.calls.length = 0;
    tracker.onSecret('ADDED', secret('shop-pr-1', 5));
    await tracker.idle();
    assert.deepEqual(cluster.calls, []);
  });

  it('with the real scheduler and sweep: the follow-up waits for a run in progress, then deletes the namespace', async () => {
    const runs: string[] = [];
    let hold: (() => void) | undefined;
    const scheduler = createScheduler({
      schedules: [],
      isLeader: () => true,
      log: silentLogger(),
      run: async (kind) => {
        const now = time.clock(); // as the command does: the run's clock is read when it starts
        runs.push(`start ${now.toISOString()}`);
        if (hold === undefined) await new Promise<void>((resolve) => (hold = resolve));
        const deps = { reader: cluster, api: cluster, github: undefined, config, metrics, log: silentLogger() };
        await sweep(kind, now, { ...deps, dryRun: false });
        runs.push('end');
      },
    });
    tracker = new ReleaseTracker({
      api: cluster,
      config,
      log: silentLogger(),
      metrics,
      dryRun: false,
      clock: time.clock,
      timers: time,
      sweep: () => scheduler.trigger('namespaces'),
    });
    cluster.releases['shop-pr-1'] = [{ release: 'app', revision: 1, status: 'deployed', createdAt: iso(T0) }];
    tracker.onSecret('ADDED', secret('shop-pr-1', 1));
    tracker.markSynced();
    delete cluster.releases['shop-pr-1'];
    await event('DELETED', secret('shop-pr-1', 1));
    time.advance(3000);
    const cronRun = scheduler.trigger('namespaces'); // a cron tick: its run is held
    time.advance(3000); // the follow-up comes due while that run is in progress
    assert.deepEqual(runs, [`start ${iso(T0 + 3000)}`], 'no second run alongside the first');
    hold?.();
    await cronRun;
    assert.deepEqual(runs, [`start ${iso(T0 + 3000)}`, 'end', `start ${iso(T0 + 6000)}`, 'end']);
    assert.equal(cluster.namespaces.has('shop-pr-1'), false, 'deleted by the follow-up run');
    assert.match(
      await registry.metrics(),
      /k8s_ee_sweeper_actions_total\{kind="delete-namespace",reason="release-gone",result="done"\} 1/,
    );
  });
});
