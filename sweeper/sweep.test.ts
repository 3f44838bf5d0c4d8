import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, type Config } from '../policies/config.ts';
import { createRegistry } from '../lib/metrics.ts';
import { silentLogger } from '../lib/log.ts';
import { startFakeGitHub, type FakeGitHub } from '../e2e/fakes/github.ts';
import { createGitHubClient } from './github.ts';
import { createSweeperMetrics, type SweeperMetrics } from './metrics.ts';
import { ApiError, MemoryCluster } from './memory-cluster.ts';
import { sweep, type SweepDeps } from './sweep.ts';
import { createScheduler, type SchedulerOptions } from './scheduler.ts';
import { formatOnce } from './output.ts';
import type { Registry } from 'prom-client';

const T0 = new Date('2025-06-01T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const TOKEN = 'ghp_sweep';

function managed(name: string, created = '2025-05-01T00:00:00Z') {
  return {
    name,
    uid: `uid-${name}`,
    labels: { 'k8s-ee.io/managed': 'true' },
    annotations: {},
    phase: 'Active',
    creationTimestamp: created,
    conditions: [],
    finalizers: ['kubernetes'],
  };
}

describe('sweep: whole runs over an in-memory cluster and the fake GitHub', () => {
  let gh: FakeGitHub;
  let cluster: MemoryCluster;
  let registry: Registry;
  let metrics: SweeperMetrics;
  let config: Config;
  let deps: SweepDeps;

  before(async () => {
    gh = await startFakeGitHub({ token: TOKEN });
  });
  after(() => gh.close());

  beforeEach(() => {
    gh.fail(undefined);
    gh.rateLimit(undefined);
    cluster = new MemoryCluster();
    for (let i = 1; i <= 5; i++) {
      cluster.addNamespace(managed(`shop-pr-${i}`));
      cluster.releases[`shop-pr-${i}`] = [
        { release: 'app', revision: 1, status: 'deployed', createdAt: '2025-06-01T11:00:00Z' },
      ];
      gh.setPull('acme/shop', i, 'open');
    }
    cluster.addNamespace({ ...managed('staging'), labels: { 'k8s-ee.io/managed': 'true' } });
    registry = createRegistry();
    metrics = createSweeperMetrics(registry);
    config = defaultConfig();
    config.sweeper.releaseGrace = '1m'; // the runs below are minutes apart; the default is 30s
    config.sweeper.github = { apiUrl: gh.url, tokenEnv: 'GITHUB_TOKEN', repositories: { shop: 'acme/shop' } };
    deps = {
      reader: cluster,
      api: cluster,
      github: createGitHubClient({ apiUrl: gh.url, token: TOKEN }),
      config,
      metrics,
      log: silentLogger(),
      dryRun: false,
    };
  });

  it('helm uninstall of 2: marked on the next run, deleted on the first run after the grace', async () => {
    const r1 = await sweep('namespaces', at(0), deps);
    assert.deepEqual(
      r1.results.map((r) => `${r.action.kind} ${r.action.target.name} ${r.result}`),
      [1, 2, 3, 4, 5].map((i) => `mark-release-seen shop-pr-${i} done`),
    );
    delete cluster.releases['shop-pr-2'];
    delete cluster.releases['shop-pr-4'];
    const r2 = await sweep('namespaces', at(10), deps);
    assert.deepEqual(
      r2.results.map((r) => `${r.action.kind} ${r.action.target.name}`),
      ['mark-release-gone shop-pr-2', 'mark-release-gone shop-pr-4'],
    );
    const r3 = await sweep('namespaces', at(40), deps);
    assert.deepEqual(r3.results, []);
    const r4 = await sweep('namespaces', at(71), deps);
    assert.deepEqual(
      r4.results.map((r) => `${r.action.kind} ${r.action.target.name} ${r.action.reason} ${r.result}`),
      ['delete-namespace shop-pr-2 release-gone done', 'delete-namespace shop-pr-4 release-gone done'],
    );
    assert.deepEqual([...cluster.namespaces.keys()].sort(), ['shop-pr-1', 'shop-pr-3', 'shop-pr-5', 'staging']);
    assert.ok(r4.success);
    const text = await registry.metrics();
    assert.match(text, /k8s_ee_sweeper_actions_total\{kind="delete-namespace",reason="release-gone",result="done"\} 2/);
    assert.match(text, /k8s_ee_sweeper_runs_total\{kind="namespaces",result="success"\} 4/);
    assert.match(text, /k8s_ee_sweeper_orphans\{age="lt_1h"\} 0/);
    assert.match(text, /k8s_ee_sweeper_last_success_timestamp_seconds\{kind="namespaces"\} \d+/);
  });

  it('a PR closed on GitHub goes at once; GitHub 500 or a rate limit deletes nothing', async () => {
    gh.setPull('acme/shop', 3, 'closed');
    gh.fail(500);
    const failed = await sweep('namespaces', at(0), deps);
    assert.ok(failed.results.every((r) => r.action.kind === 'mark-release-seen'));
    assert.equal(failed.errors.length, 5);
    assert.ok(failed.success, 'GitHub trouble is not a failed run, only an unknown');
    gh.fail(undefined);
    gh.rateLimit('primary');
    deps.github = createGitHubClient({ apiUrl: gh.url, token: TOKEN });
    const limited = await sweep('namespaces', at(10), deps);
    assert.deepEqual(limited.results, []);
    assert.match(limited.errors[0] ?? '', /rate limited/);
    gh.rateLimit(undefined);
    deps.github = createGitHubClient({ apiUrl: gh.url, token: TOKEN });
    const ok = await sweep('namespaces', at(20), deps);
    assert.deepEqual(
      ok.results.map((r) => `${r.action.kind} ${r.action.target.name} ${r.action.reason} ${r.result}`),
      ['delete-namespace shop-pr-3 pr-closed done'],
    );
    assert.match(await registry.metrics(), /k8s_ee_sweeper_errors_total\{stage="github"\} 10/);
  });

  it('release records that cannot be listed: nothing release-based happens, and the run is not a success', async () => {
    for (const ns of cluster.namespaces.values()) ns.annotations['k8s-ee.io/release-seen-at'] = '2025-05-02T00:00:00Z';
    cluster.releases = {};
    cluster.failures.set('listReleaseRecords', new ApiError(500, 'boom'));
    const r = await sweep('namespaces', at(3600), deps);
    assert.deepEqual(r.results, []);
    assert.equal(r.success, false);
    assert.equal(r.completed, true);
    assert.match(r.errors[0] ?? '', /listing Helm release records: boom/);
    assert.equal(cluster.namespaces.size, 6);
  });

  it('namespaces that cannot be listed: no run', async () => {
    cluster.failures.set('listNamespaces', new ApiError(503, 'unavailable'));
    const r = await sweep('namespaces', at(0), deps);
    assert.equal(r.completed, false);
    assert.match(await registry.metrics(), /k8s_ee_sweeper_runs_total\{kind="namespaces",result="error"\} 1/);
  });

  it('dry-run reports everything, deletes nothing, and the orphans stay in the gauge', async () => {
    for (const ns of cluster.namespaces.values())
      ns.annotations = {
        'k8s-ee.io/release-seen-at': '2025-05-02T00:00:00Z',
        'k8s-ee.io/release-gone-since': '2025-05-30T00:00:00Z',
      };
    cluster.releases = {};
    deps.dryRun = true;
    const r = await sweep('namespaces', at(0), deps);
    assert.equal(r.results.length, 5);
    assert.ok(r.results.every((x) => x.result === 'planned' && x.action.kind === 'delete-namespace'));
    assert.equal(cluster.namespaces.size, 6);
    assert.match(await registry.metrics(), /k8s_ee_sweeper_orphans\{age="gt_24h"\} 5/);
    const json = JSON.parse(formatOnce([r], 'json').stdout) as {
      dryRun: boolean;
      runs: { actions: { result: string }[] }[];
    };
    assert.equal(json.dryRun, true);
    assert.equal(json.runs[0]?.actions.length, 5);
    const text = formatOnce([r], 'text', 7);
    assert.equal(text.stdout.trim().split('\n').length, 5);
    assert.match(text.stderr, /5 actions planned \(dry run\) at .*, 7 API requests\n$/);
    assert.equal((JSON.parse(formatOnce([r], 'json', 7).stdout) as { apiRequests: number }).apiRequests, 7);
    assert.match(
      text.stdout,
      /^planned {3}delete-namespace Namespace\/shop-pr-1 release-gone: orphan environment: no live Helm release for 2d12h/m,
    );
  });

  it('disk runs export the ratio per node and warn over the threshold', async () => {
    cluster.nodes = [
      { node: 'n1', usedBytes: 85, capacityBytes: 100 },
      { node: 'n2', usedBytes: 10, capacityBytes: 100 },
      { node: 'n3', error: 'x' },
    ];
    const r = await sweep('disk', at(0), deps);
    assert.deepEqual(
      r.results.map((x) => `${x.action.kind} ${x.action.target.name}`),
      ['warn-disk n1'],
    );
    const text = await registry.metrics();
    assert.match(text, /k8s_ee_sweeper_node_disk_usage_ratio\{node="n1"\} 0.85/);
    assert.match(text, /k8s_ee_sweeper_node_disk_usage_ratio\{node="n2"\} 0.1/);
    assert.doesNotMatch(text, /node="n3"/);
    assert.match(r.errors[0] ?? '', /kubelet stats of node n3/);
  });
});

/** What a disk run needs: the in-memory cluster as reader and API, no GitHub, not a dry run. */
function diskDeps(cluster: MemoryCluster, config: Config, metrics: SweeperMetrics): SweepDeps {
  return { reader: cluster, api: cluster, github: undefined, config, metrics, log: silentLogger(), dryRun: false };
}

describe('sweep: image pruning across disk runs', () => {
  it('starts a Job, waits for a sample taken after it finished, counts the drop once, then may prune again', async () => {
    const cluster = new MemoryCluster();
    const registry = createRegistry();
    const metrics = createSweeperMetrics(registry);
    const config = defaultConfig();
    config.sweeper.imagePrune = { enabled: true, image: 'tools:1', thresholdRatio: 0.5 };
    const deps = diskDeps(cluster, config, metrics);
    const MiB = 1024 * 1024;
    const sample = (seconds: number, usedMiB: number) => {
      cluster.nodes = [
        {
          node: 'n1',
          usedBytes: 10,
          capacityBytes: 100,
          availableBytes: 30,
          imageFs: { usedBytes: usedMiB * MiB, time: at(seconds).toISOString() },
        },
      ];
    };
    const summary = (r: Awaited<ReturnType<typeof sweep>>) =>
      r.results.map((x) => `${x.action.kind} ${x.action.reason} ${x.result}`);
    sample(0, 100);
    assert.deepEqual(summary(await sweep('disk', at(1), deps)), ['prune-images disk-high done']);
    assert.equal(cluster.pruneJobs[0]?.imageFsUsedBytes, 100 * MiB);
    assert.deepEqual(summary(await sweep('disk', at(2), deps)), [], 'running: no second Job');
    Object.assign(cluster.pruneJobs[0], { state: 'succeeded', finishedAt: at(5).toISOString() });
    sample(0, 100);
    assert.deepEqual(summary(await sweep('disk', at(6), deps)), [], 'the sample predates the end of the Job');
    sample(10, 60);
    assert.deepEqual(summary(await sweep('disk', at(11), deps)), ['finish-image-prune pruned done']);
    assert.deepEqual(cluster.pruneJobs, []);
    assert.deepEqual(summary(await sweep('disk', at(12), deps)), ['prune-images disk-high done']);
    const text = await registry.metrics();
    assert.match(text, /k8s_ee_sweeper_image_prune_freed_bytes_total\{node="n1"\} 41943040/);
    assert.match(text, /k8s_ee_sweeper_node_disk_usage_ratio\{node="n1"\} 0.7/);
    assert.deepEqual(
      cluster.events.map((e) => e.reason),
      ['ImagePruneStarted', 'ImagePruneFinished', 'ImagePruneStarted'],
    );
  });

  it('a failed list of Jobs is a list error; the prune still starts (an existing Job answers "exists")', async () => {
    const cluster = new MemoryCluster();
    const metrics = createSweeperMetrics(createRegistry());
    const config = defaultConfig();
    config.sweeper.imagePrune.enabled = true;
    cluster.nodes = [{ node: 'n1', usedBytes: 90, capacityBytes: 100 }];
    cluster.failures.set('listImagePruneJobs', new ApiError(403, 'jobs.batch is forbidden'));
    const deps = diskDeps(cluster, config, metrics);
    const r = await sweep('disk', at(0), deps);
    assert.match(r.errors[0] ?? '', /listing image-prune Jobs: jobs.batch is forbidden/);
    assert.deepEqual(
      r.results.map((x) => x.action.kind),
      ['warn-disk', 'prune-images'],
    );
    assert.equal(r.success, false);
  });
});

describe('scheduler', () => {
  /** A scheduler with no cron schedules, leading while `leading()` says so. */
  const schedulerOf = (leading: () => boolean, rest: Pick<SchedulerOptions, 'run' | 'drained'>) =>
    createScheduler({ schedules: [], isLeader: leading, log: silentLogger(), ...rest });

  it('calls drained once the queue is empty after runs (the moment to give memory back), not per run, not when nothing ran', async () => {
    const log: string[] = [];
    let leader = true;
    const scheduler = schedulerOf(() => leader, {
      run: async (kind) => {
        log.push(`run ${kind}`);
        await new Promise((r) => setImmediate(r));
        if (kind === 'disk') throw new Error('disk run failed');
      },
      drained: () => log.push('drained'),
    });
    const first = scheduler.trigger('namespaces');
    void scheduler.trigger('disk');
    await first;
    assert.deepEqual(log, ['run namespaces', 'run disk', 'drained'], 'one call after both runs, a failed one included');
    await scheduler.trigger('namespaces');
    assert.deepEqual(log.slice(3), ['run namespaces', 'drained']);
    leader = false;
    await scheduler.trigger('namespaces');
    assert.equal(log.length, 5, 'a skipped run (not the leader) grew nothing: no call');
  });

  it('never overlaps runs, queues one per kind, skips when not the leader, and stops after the current run', async () => {
    const log: string[] = [];
    let release: (() => void) | undefined;
    let leader = true;
    const scheduler = schedulerOf(() => leader, {
      run: async (kind) => {
        log.push(`start ${kind}`);
        await new Promise<void>((resolve) => (release = resolve));
        log.push(`end ${kind}`);
      },
    });
    const first = scheduler.trigger('namespaces');
    void scheduler.trigger('namespaces');
    void scheduler.trigger('disk');
    void scheduler.trigger('namespaces');
    assert.deepEqual(log, ['start namespaces']);
    release?.();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['start namespaces', 'end namespaces', 'start namespaces']);
    release?.();
    await new Promise((r) => setImmediate(r));
    release?.();
    await first;
    assert.deepEqual(log, [
      'start namespaces',
      'end namespaces',
      'start namespaces',
      'end namespaces',
      'start disk',
      'end disk',
    ]);
    leader = false;
    await scheduler.trigger('namespaces');
    assert.equal(log.length, 6);
    leader = true;
    const running = scheduler.trigger('namespaces');
    void scheduler.trigger('disk');
    const stopped = scheduler.stop();
    release?.();
    await Promise.all([running, stopped]);
    assert.deepEqual(log.slice(6), ['start namespaces', 'end namespaces']);
    assert.equal(scheduler.busy(), false);
  });
});
