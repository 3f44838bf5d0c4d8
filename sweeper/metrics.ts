// The sweeper's Prometheus metrics (k8s_ee_sweeper_*), registered on a registry the command creates.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../lib/metrics.ts';

const P = `${METRIC_PREFIX}sweeper_`;

/** Age buckets of the orphans gauge; the alert fires on gt_24h. */
export const ORPHAN_AGE_BUCKETS = ['lt_1h', '1h_24h', 'gt_24h'] as const;

export function orphanBucket(ageSeconds: number): (typeof ORPHAN_AGE_BUCKETS)[number] {
  if (ageSeconds < 3600) return 'lt_1h';
  return ageSeconds < 86_400 ? '1h_24h' : 'gt_24h';
}

export interface SweeperMetrics {
  runs: Counter<'kind' | 'result'>;
  runDuration: Histogram<'kind'>;
  lastSuccess: Gauge<'kind'>;
  actions: Counter<'kind' | 'reason' | 'result'>;
  errors: Counter<'stage'>;
  orphans: Gauge<'age'>;
  pinned: Gauge;
  pinAge: Gauge<'namespace'>;
  stuck: Gauge;
  diskRatio: Gauge<'node'>;
  capped: Counter;
  freedBytes: Counter;
  imagePruneFreedBytes: Counter<'node'>;
  leader: Gauge;
  releaseWatchRestarts: Counter<'reason'>;
  followUps: Counter;
  costMonthly: Gauge<'namespace' | 'project' | 'resource' | 'currency'>;
  costAccrued: Gauge<'namespace' | 'project' | 'currency'>;
  costMonthlyAll: Gauge<'currency'>;
}

const moreMetrics = (registers: Registry[]) => ({ ...createWatchMetrics(registers), ...createCostMetrics(registers) });

const C = `${METRIC_PREFIX}environment_cost_`;

/** Estimated cost of each environment (sweeper/inventory.ts), refreshed by every namespaces run. */
function createCostMetrics(
  registers: Registry[],
): Pick<SweeperMetrics, 'costMonthly' | 'costAccrued' | 'costMonthlyAll'> {
  return {
    costMonthly: new Gauge({
      name: `${C}monthly`,
      help: "Estimated cost of a PR environment for a month (730 h) at its quota's requests and bound volume sizes, by resource (cpu, memory, storage), in the configured currency",
      labelNames: ['namespace', 'project', 'resource', 'currency'],
      registers,
    }),
    costAccrued: new Gauge({
      name: `${C}accrued`,
      help: "Estimated cost of a PR environment since its namespace was created (today's reservation over its whole life)",
      labelNames: ['namespace', 'project', 'currency'],
      registers,
    }),
    costMonthlyAll: new Gauge({
      name: `${C}monthly_all`,
      help: 'Estimated monthly cost of all PR environments together',
      labelNames: ['currency'],
      registers,
    }),
  };
}

/** The release watch's metrics (see release-watch.ts). */
function createWatchMetrics(registers: Registry[]): Pick<SweeperMetrics, 'releaseWatchRestarts' | 'followUps'> {
  return {
    releaseWatchRestarts: new Counter({
      name: `${P}release_watch_restarts_total`,
      help: 'Restarts of the watch on Helm release records, by reason (idle, error, ended, expired)',
      labelNames: ['reason'],
      registers,
    }),
    followUps: new Counter({
      name: `${P}follow_up_runs_total`,
      help: 'Namespaces sweeps asked for by the release watch when a release grace ends (outside the schedule)',
      registers,
    }),
  };
}

export function createSweeperMetrics(registry: Registry): SweeperMetrics {
  const registers = [registry];
  const metrics: SweeperMetrics = {
    runs: new Counter({
      name: `${P}runs_total`,
      help: 'Sweeper runs by kind (namespaces, disk) and result (success, error)',
      labelNames: ['kind', 'result'],
      registers,
    }),
    runDuration: new Histogram({
      name: `${P}run_duration_seconds`,
      help: 'Duration of a sweeper run',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    lastSuccess: new Gauge({
      name: `${P}last_success_timestamp_seconds`,
      help: 'Unix time of the last successful run, by kind',
      labelNames: ['kind'],
      registers,
    }),
    actions: new Counter({
      name: `${P}actions_total`,
      help: 'Actions by kind, reason and result (done, not-found, planned in dry-run, skipped, error)',
      labelNames: ['kind', 'reason', 'result'],
      registers,
    }),
    errors: new Counter({
      name: `${P}errors_total`,
      help: 'Errors by stage (list, github, action, event, run, watch)',
      labelNames: ['stage'],
      registers,
    }),
    orphans: new Gauge({
      name: `${P}orphans`,
      help: 'Orphan environments left after the last run, by age bucket',
      labelNames: ['age'],
      registers,
    }),
    pinned: new Gauge({ name: `${P}pinned_namespaces`, help: 'Pinned managed namespaces', registers }),
    pinAge: new Gauge({
      name: `${P}pin_age_seconds`,
      help: 'Age of each pin (since k8s-ee.io/pinned-at)',
      labelNames: ['namespace'],
      registers,
    }),
    stuck: new Gauge({
      name: `${P}stuck_namespaces`,
      help: 'Managed namespaces Terminating longer than stuckAfter',
      registers,
    }),
    diskRatio: new Gauge({
      name: `${P}node_disk_usage_ratio`,
      help: 'Node filesystem used/capacity from the kubelet summary API',
      labelNames: ['node'],
      registers,
    }),
    capped: new Counter({
      name: `${P}capped_deletions_total`,
      help: 'Deletions deferred because maxDeletionsPerRun was reached',
      registers,
    }),
    freedBytes: new Counter({
      name: `${P}freed_bytes_total`,
      help: 'Capacity of the PersistentVolumes deleted or reclaimed',
      registers,
    }),
    imagePruneFreedBytes: new Counter({
      name: `${P}image_prune_freed_bytes_total`,
      help: 'Drop of the image filesystem usage (kubelet summary) across each finished image-prune Job, by node',
      labelNames: ['node'],
      registers,
    }),
    leader: new Gauge({ name: `${P}leader`, help: '1 while this replica holds the sweeper Lease', registers }),
    ...moreMetrics(registers),
  };
  for (const age of ORPHAN_AGE_BUCKETS) metrics.orphans.set({ age }, 0);
  return metrics;
}
