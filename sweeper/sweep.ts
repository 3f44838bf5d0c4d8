// One sweeper run: snapshot -> plan -> execute -> metrics. Never throws: a failed run is a result with errors.
import type { Config } from '../policies/config.ts';
import type { Logger } from '../lib/log.ts';
import { planDetailed, diskRatio } from './planner.ts';
import { collectSnapshot, type ClusterReader, type SweepKind } from './snapshot.ts';
import { execute, type ActionResult, type SweeperApi } from './executor.ts';
import { orphanBucket, ORPHAN_AGE_BUCKETS, type SweeperMetrics } from './metrics.ts';
import type { GitHubClient } from './github.ts';
import type { Plan, Snapshot } from './types.ts';
import { environmentCosts, type CostInput } from './inventory.ts';

export interface SweepDeps {
  reader: ClusterReader;
  api: SweeperApi;
  github: GitHubClient | undefined;
  config: Config;
  metrics: SweeperMetrics;
  log: Logger;
  dryRun: boolean;
  shouldStop?: () => boolean;
  /**
   * What the cost metrics need (sweeper/inventory-kube.ts), given the namespaces and release records this pass
   * has already read (not listed twice); without it they are not exported.
   */
  inventory?: (read: Pick<Snapshot, 'namespaces' | 'releases'>) => Promise<CostInput>;
}

export interface SweepResult {
  kind: SweepKind;
  now: string;
  dryRun: boolean;
  results: ActionResult[];
  /** Problems of the run: lists or GitHub calls that failed (their part was "unknown") and failed actions. */
  errors: string[];
  /** False when the run could not happen at all (the namespaces could not be listed). */
  completed: boolean;
  /** Completed with every Kubernetes list answered (GitHub doubts and failed actions do not count against it). */
  success: boolean;
  durationSeconds: number;
}

function updateNamespaceGauges(plan: Plan, results: ActionResult[], metrics: SweeperMetrics): void {
  const deleted = new Set(
    results
      .filter((r) => r.action.kind === 'delete-namespace' && (r.result === 'done' || r.result === 'not-found'))
      .map((r) => r.action.target.name),
  );
  const counts = new Map<string, number>(ORPHAN_AGE_BUCKETS.map((b) => [b, 0]));
  for (const orphan of plan.orphans) {
    if (deleted.has(orphan.namespace)) continue;
    const bucket = orphanBucket(orphan.ageSeconds);
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
  }
  for (const [age, n] of counts) metrics.orphans.set({ age }, n);
  metrics.pinned.set(plan.pinned.length);
  metrics.pinAge.reset();
  for (const p of plan.pinned) metrics.pinAge.set({ namespace: p.namespace }, p.ageSeconds);
  metrics.stuck.set(plan.stuck.length);
}

function updateDiskGauges(snapshot: Snapshot, metrics: SweeperMetrics): void {
  metrics.diskRatio.reset();
  for (const node of snapshot.nodes ?? []) {
    const ratio = diskRatio(node);
    if (ratio !== undefined) metrics.diskRatio.set({ node: node.node }, ratio);
  }
}

/** The k8s_ee_environment_cost_* gauges from the inventory; a failed read leaves them as they were. */
export async function updateCostGauges(
  deps: SweepDeps,
  now: Date,
  read: Pick<Snapshot, 'namespaces' | 'releases'>,
): Promise<void> {
  if (!deps.inventory) return;
  try {
    const input = await deps.inventory(read);
    deps.metrics.costs.replace(deps.config.cost.currency, environmentCosts(input, deps.config, now));
  } catch (err) {
    deps.metrics.errors.inc({ stage: 'list' });
    deps.log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'cost metrics: could not read the environments',
    );
  }
}

async function planAndExecute(
  kind: SweepKind,
  now: Date,
  deps: SweepDeps,
  errors: string[],
): Promise<{ results: ActionResult[]; listErrors: number }> {
  const { snapshot, errors: collectErrors } = await collectSnapshot(kind, deps.reader, deps.config, deps.github);
  for (const e of collectErrors) {
    deps.metrics.errors.inc({ stage: e.stage });
    deps.log.warn({ stage: e.stage, sweep: kind }, `${e.message} (treated as unknown: no action taken on it)`);
    errors.push(e.message);
  }
  const plan = planDetailed(snapshot, deps.config, now);
  const results = await execute(plan.actions, { ...deps, now });
  for (const r of results)
    if (r.result === 'error')
      errors.push(`${r.action.kind} ${r.action.target.kind}/${r.action.target.name}: ${r.note ?? 'failed'}`);
  if (kind === 'namespaces') {
    updateNamespaceGauges(plan, results, deps.metrics);
    await updateCostGauges(deps, now, snapshot);
  } else updateDiskGauges(snapshot, deps.metrics);
  return { results, listErrors: collectErrors.filter((e) => e.stage === 'list').length };
}

/** Runs one sweep of the given kind at `now`. */
export async function sweep(kind: SweepKind, now: Date, deps: SweepDeps): Promise<SweepResult> {
  const started = performance.now();
  const errors: string[] = [];
  let results: ActionResult[] = [];
  let completed = true;
  let listErrors = 0;
  try {
    ({ results, listErrors } = await planAndExecute(kind, now, deps, errors));
  } catch (err) {
    completed = false;
    errors.push(`run failed: ${err instanceof Error ? err.message : String(err)}`);
    deps.metrics.errors.inc({ stage: 'run' });
    deps.log.error({ err: errors.at(-1), sweep: kind }, 'sweeper run failed');
  }
  const durationSeconds = (performance.now() - started) / 1000;
  deps.metrics.runDuration.observe({ kind }, durationSeconds);
  const success = completed && listErrors === 0;
  deps.metrics.runs.inc({ kind, result: success ? 'success' : 'error' });
  if (success) deps.metrics.lastSuccess.set({ kind }, Date.now() / 1000);
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.result] = (counts[r.result] ?? 0) + 1;
  deps.log.info(
    {
      sweep: kind,
      now: now.toISOString(),
      dryRun: deps.dryRun,
      durationSeconds,
      actions: counts,
      errors: errors.length,
    },
    'sweeper run finished',
  );
  return { kind, now: now.toISOString(), dryRun: deps.dryRun, results, errors, completed, success, durationSeconds };
}
