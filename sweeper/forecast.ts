// When (and why) the sweeper will delete a managed namespace, if nothing changes: the same rules as the planner
// (plan-namespace.ts), solved for the time instead of checked at one. Pure: data and `now` in, a forecast out.
// `k8s-ee envs` shows it; planner tests check that the planner deletes exactly from that time on.
import type { Config } from '../policies/config.ts';
import { formatDuration } from '../lib/duration.ts';
import { liveReleases } from './helm.ts';
import { durationsOf, isPinned, planPin, prReason, timeOf, type Durations } from './plan-namespace.ts';
import {
  SWEEPER_ANNOTATIONS,
  type DeleteReason,
  type NamespaceInfo,
  type PrInfo,
  type ReleaseRecord,
} from './types.ts';

export type ExpiryReason = DeleteReason | 'pin-expiry';

export interface Forecast {
  /** RFC 3339: from then on the sweeper deletes the namespace (at its next run); absent when unknown. */
  expiresAt?: string;
  reason?: ExpiryReason;
  why: string;
  /** RFC 3339 end of the pin, while pinned. */
  pinnedUntil?: string;
}

interface Candidate {
  at: number;
  reason: DeleteReason;
  why: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function releaseCandidate(ns: NamespaceInfo, records: ReleaseRecord[], d: Durations, nowMs: number): Candidate {
  const live = liveReleases(records);
  if (live.length > 0) {
    const newest = live.reduce((a, b) => ((timeOf(b.createdAt) ?? 0) > (timeOf(a.createdAt) ?? 0) ? b : a));
    const deployedAt = timeOf(newest.createdAt) ?? nowMs;
    return {
      at: deployedAt + d.ttl,
      reason: 'ttl-expired',
      why: `ttl ${formatDuration(d.ttl)} after the last deploy (${newest.release} v${newest.revision} at ${newest.createdAt})`,
    };
  }
  const created = timeOf(ns.creationTimestamp) ?? nowMs;
  const goneSince = Math.max(timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseGoneSince]) ?? nowMs, created);
  const seenAt = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseSeenAt]);
  if (seenAt !== undefined && seenAt >= created)
    return {
      at: goneSince + d.releaseGrace,
      reason: 'release-gone',
      why: `no live Helm release since ${iso(goneSince)} (grace ${formatDuration(d.releaseGrace)})`,
    };
  return {
    at: Math.max(goneSince + d.releaseGrace, created + d.neverDeployedGrace),
    reason: 'never-deployed',
    why: `never deployed (grace ${formatDuration(d.neverDeployedGrace)} from creation)`,
  };
}

const ORDER: DeleteReason[] = [
  'pr-merged',
  'pr-closed',
  'pr-not-found',
  'release-gone',
  'never-deployed',
  'ttl-expired',
];

/**
 * The earliest time a deletion rule holds (a definite PR answer, the release gone, never deployed, the TTL), pushed
 * to the end of the pin while a pin protects the namespace. Without release records (they could not be listed)
 * and no PR answer, the time is unknown.
 */
export function forecastExpiry(
  ns: NamespaceInfo,
  records: ReleaseRecord[] | undefined,
  pr: PrInfo | undefined,
  config: Config,
  now: Date,
): Forecast {
  const d = durationsOf(config);
  const nowMs = now.getTime();
  const candidates: Candidate[] = [];
  const byPr = prReason(pr, now);
  if (byPr) candidates.push({ at: nowMs - byPr.ageMs, reason: byPr.reason, why: byPr.why });
  if (records !== undefined) candidates.push(releaseCandidate(ns, records, d, nowMs));
  candidates.sort((a, b) => a.at - b.at || ORDER.indexOf(a.reason) - ORDER.indexOf(b.reason));
  const first = candidates[0];
  let pinnedUntil: number | undefined;
  if (isPinned(ns, config)) {
    const pin = planPin(ns, config, d, now);
    if (pin.protects) pinnedUntil = nowMs - pin.ageMs + d.pinMax;
  }
  const pin = pinnedUntil === undefined ? {} : { pinnedUntil: iso(pinnedUntil) };
  if (!first) return { why: 'unknown: the Helm release records could not be read', ...pin };
  if (pinnedUntil !== undefined && first.at < pinnedUntil)
    return {
      expiresAt: iso(pinnedUntil),
      reason: 'pin-expiry',
      why: `pinned until ${iso(pinnedUntil)}; then: ${first.why}`,
      ...pin,
    };
  return { expiresAt: iso(first.at), reason: first.reason, why: first.why, ...pin };
}
