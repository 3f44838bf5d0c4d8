// Turns Helm release record events (from the watch in release-watch.ts) into release bookkeeping at the moment a
// change is seen, and into a one-off namespaces sweep when a release grace ends, so a namespace starts deleting
// about releaseGrace after `helm uninstall` instead of one to two schedule periods later.
//
// - The index of release records per PR namespace is updated synchronously on each event; a namespace whose
//   "has a live release" state flips is noted with the time of the flip (the observation time: never later than
//   now). Until the watch's first list is complete nothing is noted (that list is the state, not a change).
// - One worker handles noted namespaces one at a time: it re-reads the namespace, plans with the pure
//   planReleaseChange and carries the plan out with the sweeper's executor (dry-run, metrics, Events, stop).
// - The follow-up is a timer per namespace that calls `sweep` (the scheduler's trigger: queued behind a run in
//   progress, never alongside, only on the leader). The sweep decides; the tracker never deletes anything.
import type { Config } from '../policies/config.ts';
import { matchNamespace } from '../policies/namespace.ts';
import type { Logger } from '../lib/log.ts';
import { execute, type SweeperApi } from './executor.ts';
import { liveReleases, releaseRecordOf, type SecretMeta } from './helm.ts';
import type { SweeperMetrics } from './metrics.ts';
import { planReleaseChange } from './plan-release-change.ts';
import type { ReleaseRecord } from './types.ts';

export type SecretEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** setTimeout/clearTimeout, injectable so tests move time themselves. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ReleaseTrackerOptions {
  api: SweeperApi;
  config: Config;
  log: Logger;
  metrics: SweeperMetrics;
  dryRun: boolean;
  /** Checked before each action (SIGTERM, Lease lost). */
  shouldStop?: () => boolean;
  /** The sweeper's clock (moved by --now). */
  clock: () => Date;
  /** Runs a namespaces sweep through the scheduler. */
  sweep: () => Promise<void>;
  timers?: Timers;
}

interface FollowUp {
  at: number;
  handle: unknown;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class ReleaseTracker {
  private readonly opts: ReleaseTrackerOptions;
  private readonly timers: Timers;
  /** PR namespace -> Secret name -> release record. */
  private readonly records = new Map<string, Map<string, ReleaseRecord>>();
  /** Namespaces whose live state flipped, with the time of the (last) flip. */
  private readonly noted = new Map<string, Date>();
  private readonly followUps = new Map<string, FollowUp>();
  private isSynced = false;
  private stopped = false;
  private worker: Promise<void> | undefined;

  constructor(opts: ReleaseTrackerOptions) {
    this.opts = opts;
    this.timers = opts.timers ?? realTimers;
  }

  /** A watch event about a Helm release record Secret (metadata is enough). */
  onSecret(type: SecretEventType, secret: SecretMeta): void {
    const namespace = secret.namespace;
    if (this.stopped || !namespace || !secret.name || matchNamespace(namespace, this.opts.config) === undefined) return;
    const before = this.hasLive(namespace);
    const records = this.records.get(namespace) ?? new Map<string, ReleaseRecord>();
    const record = releaseRecordOf(secret);
    if (type === 'DELETED' || !record) records.delete(secret.name);
    else records.set(secret.name, record);
    if (records.size > 0) this.records.set(namespace, records);
    else this.records.delete(namespace);
    if (!this.isSynced || before === this.hasLive(namespace)) return;
    this.noted.set(namespace, this.opts.clock());
    this.kick();
  }

  /** The watch's list is complete: from now on, changes are acted on. */
  markSynced(): void {
    this.isSynced = true;
  }

  /** Stops acting: pending follow-ups are cancelled, the current namespace is finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.noted.clear();
    for (const { handle } of this.followUps.values()) this.timers.clear(handle);
    this.followUps.clear();
    await this.worker;
  }

  /** Resolves when every noted change has been handled. */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Follow-up sweeps waiting, namespace -> RFC 3339 time. */
  scheduled(): Record<string, string> {
    return Object.fromEntries([...this.followUps].map(([ns, f]) => [ns, new Date(f.at).toISOString()]));
  }

  private hasLive(namespace: string): boolean {
    return liveReleases([...(this.records.get(namespace)?.values() ?? [])]).length > 0;
  }

  private kick(): void {
    if (this.worker || this.stopped) return;
    this.worker = this.drain().finally(() => {
      this.worker = undefined;
      if (this.noted.size > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (const [namespace, observedAt] of this.noted) {
      this.noted.delete(namespace);
      if (this.stopped) return;
      await this.handle(namespace, observedAt);
    }
  }

  private async handle(namespace: string, observedAt: Date): Promise<void> {
    const { api, config, log, metrics, dryRun, shouldStop } = this.opts;
    let ns;
    try {
      ns = await api.readNamespace(namespace);
    } catch (err) {
      metrics.errors.inc({ stage: 'watch' });
      log.warn({ namespace, err: errorText(err) }, 'release watch: cannot read the namespace; the next run sees to it');
      return;
    }
    const records = [...(this.records.get(namespace)?.values() ?? [])];
    const plan = planReleaseChange(ns, records, config, observedAt);
    if (!plan.sweepAt) this.cancel(namespace);
    const now = this.opts.clock();
    const results = await execute(plan.actions, {
      api,
      config,
      log,
      metrics,
      dryRun,
      now,
      ...(shouldStop ? { shouldStop } : {}),
    });
    if (!plan.sweepAt || dryRun || this.stopped || results.some((r) => r.result !== 'done')) return;
    this.schedule(namespace, plan.sweepAt.getTime());
  }

  private cancel(namespace: string): void {
    const followUp = this.followUps.get(namespace);
    if (!followUp) return;
    this.timers.clear(followUp.handle);
    this.followUps.delete(namespace);
  }

  private schedule(namespace: string, at: number): void {
    if (this.followUps.get(namespace)?.at === at) return;
    this.cancel(namespace);
    const delay = Math.max(0, at - this.opts.clock().getTime());
    const handle = this.timers.set(() => this.fire(namespace), delay);
    this.followUps.set(namespace, { at, handle });
    this.opts.log.info(
      { namespace, sweepAt: new Date(at).toISOString() },
      'release gone: a namespaces sweep is scheduled for the end of the grace',
    );
  }

  private fire(namespace: string): void {
    this.followUps.delete(namespace);
    if (this.stopped) return;
    this.opts.metrics.followUps.inc();
    this.opts.log.info({ namespace }, 'release grace over: namespaces sweep');
    this.opts
      .sweep()
      .catch((err: unknown) => this.opts.log.error({ namespace, err: errorText(err) }, 'follow-up sweep failed'));
  }
}
