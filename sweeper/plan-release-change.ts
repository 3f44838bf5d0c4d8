// What the sweeper does the moment its watch sees a managed namespace's Helm releases change: the same release
// bookkeeping the planner would do on its next run (planRelease), but dated with the time the change was observed
// instead of the time of the next run, plus when a sweep should run to delete the namespace if nothing changes.
// Pure: data and times in, actions and a time out. Deletion itself stays with the sweep (planner + executor).
import type { Config } from '../policies/config.ts';
import { liveReleases } from './helm.ts';
import { durationsOf, isManaged, isPinned, isTerminating, planRelease, timeOf } from './plan-namespace.ts';
import { SWEEPER_ANNOTATIONS, type Action, type NamespaceInfo, type ReleaseRecord } from './types.ts';

/** The follow-up sweep runs this long after the grace has passed, so the sweep's `now` is surely past it. */
export const FOLLOW_UP_MARGIN_MS = 1000;

export interface ReleaseChangePlan {
  /** mark-release-gone, mark-release-seen, clear-release-gone: at most what planRelease would do. */
  actions: Action[];
  /** When a namespaces sweep would find the namespace an orphan (release-gone), if nothing changes meanwhile. */
  sweepAt?: Date;
}

/**
 * The release bookkeeping for `ns` whose Helm release records are now `records`, observed at `observedAt` (the
 * time the watch saw the change: never later than now). The release-gone stamp is written only when none exists
 * (an existing one is older and keeps counting), and a follow-up sweep is asked for at stamp + releaseGrace for a
 * deployed, unpinned namespace without a live release. Unmanaged, Terminating or missing namespaces get nothing.
 */
export function planReleaseChange(
  ns: NamespaceInfo | undefined,
  records: ReleaseRecord[],
  config: Config,
  observedAt: Date,
): ReleaseChangePlan {
  if (!ns || !isManaged(ns, config) || isTerminating(ns)) return { actions: [] };
  const d = durationsOf(config);
  const { actions } = planRelease(ns, records, d, observedAt);
  if (liveReleases(records).length > 0 || isPinned(ns, config)) return { actions };
  const created = timeOf(ns.creationTimestamp) ?? observedAt.getTime();
  const seenAt = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseSeenAt]);
  // A namespace never seen deployed falls under neverDeployedGrace (tens of minutes): the cron runs see to it.
  if (seenAt === undefined || seenAt < created) return { actions };
  const stamped = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseGoneSince]) ?? observedAt.getTime();
  const goneSince = Math.max(stamped, created);
  return { actions, sweepAt: new Date(goneSince + d.releaseGrace + FOLLOW_UP_MARGIN_MS) };
}
