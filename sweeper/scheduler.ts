// Runs sweeps on node-cron schedules: one run at a time (a tick that comes while a run is going is queued once
// per kind, never run alongside), only while this replica holds the Lease, and a stop that lets the current run
// finish (the executor stops between actions once stopping() is true).
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../lib/log.ts';
import type { SweepKind } from './snapshot.ts';

export interface SchedulerOptions {
  schedules: { kind: SweepKind; cron: string }[];
  run(kind: SweepKind): Promise<unknown>;
  isLeader(): boolean;
  log: Logger;
  /**
   * Called when the queue has drained after at least one run: the sidecar is idle until the next tick, the moment
   * to give back the memory a pass grew (lib/memory.ts).
   */
  drained?: () => void;
}

export interface Scheduler {
  start(): void;
  /** Queues a run of `kind` (what a cron tick does); resolves when the queue is drained. */
  trigger(kind: SweepKind): Promise<void>;
  /** Stops the schedules, drops queued runs and waits for the current one. */
  stop(): Promise<void>;
  stopping(): boolean;
  busy(): boolean;
}

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const pending = new Set<SweepKind>();
  const tasks: ScheduledTask[] = [];
  let current: Promise<void> | undefined;
  let stopped = false;

  async function drain(): Promise<void> {
    let ran = 0;
    while (pending.size > 0 && !stopped) {
      const [kind] = pending;
      if (kind === undefined) break;
      pending.delete(kind);
      if (!opts.isLeader()) {
        opts.log.debug({ sweep: kind }, 'not the leader: run skipped');
        continue;
      }
      ran += 1;
      try {
        await opts.run(kind);
      } catch (err) {
        opts.log.error({ err: (err as Error).message, sweep: kind }, 'sweeper run threw');
      }
    }
    if (ran > 0) opts.drained?.();
  }

  function trigger(kind: SweepKind): Promise<void> {
    if (stopped) return Promise.resolve();
    if (current) opts.log.debug({ sweep: kind }, 'a run is in progress: this one is queued');
    pending.add(kind);
    current ??= drain().finally(() => {
      current = undefined;
    });
    return current;
  }

  return {
    start() {
      for (const { kind, cron: expression } of opts.schedules) {
        tasks.push(cron.schedule(expression, () => void trigger(kind), { name: `sweeper-${kind}`, noOverlap: true }));
      }
    },
    trigger,
    async stop() {
      stopped = true;
      pending.clear();
      for (const task of tasks) await Promise.resolve(task.destroy());
      await current;
    },
    stopping: () => stopped,
    busy: () => current !== undefined,
  };
}
