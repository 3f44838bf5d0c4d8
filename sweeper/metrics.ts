// The sweeper's Prometheus metrics (k8s_ee_sweeper_*), registered on a registry the command creates.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../lib/metrics.ts';
import { Interner, StringPool } from '../lib/string-pool.ts';

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
  /** k8s_ee_environment_cost_monthly, _accrued and _monthly_all. */
  costs: CostGauges;
}

const moreMetrics = (registers: Registry[]) => ({
  ...createWatchMetrics(registers),
  costs: new CostGauges(registers),
});

const C = `${METRIC_PREFIX}environment_cost_`;

/** What the cost metrics export of one environment (sweeper/inventory.ts environmentCosts). */
export interface EnvironmentCostSample {
  namespace: string;
  project: string;
  cost: { soFar: number; perMonth: number; perMonthByResource: Record<string, number> };
}

type CostLabel = 'namespace' | 'project' | 'resource' | 'currency';
type CostValue = Awaited<ReturnType<Gauge<CostLabel>['get']>>['values'][number];

/** A gauge whose series are computed when it is scraped. */
class ComputedGauge extends Gauge<CostLabel> {
  private readonly values: () => CostValue[];
  constructor(name: string, help: string, labelNames: CostLabel[], registers: Registry[], values: () => CostValue[]) {
    super({ name, help, labelNames, registers });
    this.values = values;
  }
  override async get(): ReturnType<Gauge<CostLabel>['get']> {
    return { ...(await super.get()), values: this.values() };
  }
}

interface CostRow {
  project: string;
  /** The resources of perMonth, in order (one array shared by the rows that have the same). */
  resources: readonly string[];
  perMonth: number[];
  soFar: number;
}

/**
 * The estimated cost of each environment, refreshed by every namespaces run: k8s_ee_environment_cost_monthly
 * (by resource), _accrued and _monthly_all. With thousands of environments, prom-client Gauges kept ~5 MiB for
 * these series (a label object and a key string for each of the 4 series of an environment), all dropped and made
 * again by every run; here an environment is one small record, and its series are written out when scraped.
 */
export class CostGauges {
  private currency = '';
  private all: number | undefined;
  private rows = new Map<string, CostRow>();

  constructor(registers: Registry[]) {
    new ComputedGauge(
      `${C}monthly`,
      "Estimated cost of a PR environment for a month (730 h) at its quota's requests and bound volume sizes, by resource (cpu, memory, storage), in the configured currency",
      ['namespace', 'project', 'resource', 'currency'],
      registers,
      () => {
        const values: CostValue[] = [];
        for (const [namespace, row] of this.rows)
          row.resources.forEach((resource, i) =>
            values.push({
              labels: { namespace, project: row.project, currency: this.currency, resource },
              value: row.perMonth[i] ?? 0,
            }),
          );
        return values;
      },
    );
    new ComputedGauge(
      `${C}accrued`,
      "Estimated cost of a PR environment since its namespace was created (today's reservation over its whole life)",
      ['namespace', 'project', 'currency'],
      registers,
      () =>
        [...this.rows].map(([namespace, row]) => ({
          labels: { namespace, project: row.project, currency: this.currency },
          value: row.soFar,
        })),
    );
    new ComputedGauge(
      `${C}monthly_all`,
      'Estimated monthly cost of all PR environments together',
      ['currency'],
      registers,
      () => (this.all === undefined ? [] : [{ labels: { currency: this.currency }, value: this.all }]),
    );
  }

  /** The environments' costs from now on: exactly these (an environment not given is no longer exported). */
  replace(currency: string, samples: Iterable<EnvironmentCostSample>): void {
    const rows = new Map<string, CostRow>();
    const projects = new StringPool(10_000);
    const shared = new Interner();
    let all = 0;
    for (const { namespace, project, cost } of samples) {
      const resources = Object.keys(cost.perMonthByResource);
      rows.set(namespace, {
        project: projects.get(project),
        resources: shared.share(resources),
        perMonth: Object.values(cost.perMonthByResource),
        soFar: cost.soFar,
      });
      all += cost.perMonth;
    }
    this.currency = currency;
    this.rows = rows;
    this.all = all;
  }

  /** How many environments are exported. */
  size(): number {
    return this.rows.size;
  }
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
