// What one managed namespace needs: pin bookkeeping, release bookkeeping, and whether (and why) it is an orphan.
// Pure: data and `now` in, actions and a verdict out.
//
// "Release gone since": the time the last release record disappeared is not recorded anywhere (helm uninstall
// deletes every record), so the sweeper persists the first time it SAW the namespace without a live release in
// the annotation k8s-ee.io/release-gone-since: the long-running sweeper's release watch stamps it as the record goes
// (plan-release-change.ts), a run stamps it when the watch missed it. The grace is counted from there, which never
// underestimates how long the release has been gone. The stamp is ignored when older than the namespace (a copied
// annotation), and removed as soon as a live release shows up again. Whether the namespace was ever deployed comes
// from k8s-ee.io/release-seen-at, stamped the first time a live release is seen; a namespace never seen deployed
// gets neverDeployedGrace counted from its creation (and at least releaseGrace from the first release-less
// sighting), so a slow first deploy is not hit.
import type { Config } from '../policies/config.ts';
import { ANNOTATIONS, LABELS } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { parseDuration, formatDuration } from '../lib/duration.ts';
import { liveReleases } from './helm.ts';
import {
  SWEEPER_ANNOTATIONS,
  type Action,
  type DeleteReason,
  type NamespaceInfo,
  type PrInfo,
  type ReleaseRecord,
} from './types.ts';

/** A future pinned-at stamp beyond this skew is not trusted (it would extend the pin). */
const CLOCK_SKEW_MS = 5 * 60_000;

export interface Durations {
  releaseGrace: number;
  neverDeployedGrace: number;
  ttl: number;
  stuckAfter: number;
  pinMax: number;
  pinWarn: number;
}

export function durationsOf(config: Config): Durations {
  const d = (text: string, fallback: number): number => parseDuration(text) ?? fallback;
  return {
    releaseGrace: d(config.sweeper.releaseGrace, 30_000),
    neverDeployedGrace: d(config.sweeper.neverDeployedGrace, 30 * 60_000),
    ttl: d(config.sweeper.ttl, 7 * 86_400_000),
    stuckAfter: d(config.sweeper.stuckAfter, 10 * 60_000),
    pinMax: d(config.pins.maxDuration, 48 * 3_600_000),
    pinWarn: d(config.pins.warnBefore, 3_600_000),
  };
}

export function timeOf(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** Managed = the name matches the pattern AND the namespace carries k8s-ee.io/managed=true. Both, always. */
export function isManaged(ns: Pick<NamespaceInfo, 'name' | 'labels'>, config: Config): boolean {
  return ns.labels[LABELS.managed] === 'true' && matchNamespace(ns.name, config) !== undefined;
}

export function isPinned(ns: Pick<NamespaceInfo, 'labels'>, config: Config): boolean {
  return ns.labels[config.pins.label] === config.pins.value;
}

export function isTerminating(ns: Pick<NamespaceInfo, 'phase' | 'deletionTimestamp'>): boolean {
  return ns.deletionTimestamp !== undefined || ns.phase === 'Terminating';
}

/** The labels and annotations of a namespace that a pass keeps when it lists them (the rest is dropped). */
export interface NamespaceKeys {
  labels: readonly string[];
  annotations: readonly string[];
}

/**
 * Every label and annotation of a namespace that the rules read (this file, forecast.ts, inventory.ts and
 * plan-release-change.ts): managed, the pin, and the time stamps of pins and releases. A pass keeps only these of
 * each namespace it lists (withOnly); the executor re-reads a namespace whole before it deletes it.
 */
export function namespaceKeys(config: Config): NamespaceKeys {
  return {
    labels: [LABELS.managed, config.pins.label],
    annotations: [ANNOTATIONS.pinnedAt, ANNOTATIONS.firstPinnedAt, ...Object.values(SWEEPER_ANNOTATIONS)],
  };
}

const picked = (from: Record<string, string>, keys: readonly string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
};

/**
 * The namespace with only the given labels and annotations; its conditions and finalizers only while it is
 * terminating (the stuck report is the only rule that reads them, and only then).
 */
export function withOnly(ns: NamespaceInfo, keys: NamespaceKeys): NamespaceInfo {
  const terminating = isTerminating(ns);
  return {
    ...ns,
    labels: picked(ns.labels, keys.labels),
    annotations: picked(ns.annotations, keys.annotations),
    conditions: terminating ? ns.conditions : [],
    finalizers: terminating ? ns.finalizers : [],
  };
}

const target = (ns: NamespaceInfo): Action['target'] => ({
  kind: 'Namespace',
  name: ns.name,
  ...(ns.uid ? { uid: ns.uid } : {}),
});

export interface PinVerdict {
  actions: Action[];
  /** True while the pin protects the namespace from deletion (an expired pin does not). */
  protects: boolean;
  ageMs: number;
}

/** A stamp that is readable and not in the future (beyond the clock skew): trusted. */
function trusted(stamp: string | undefined, nowMs: number): number | undefined {
  const ms = timeOf(stamp);
  return ms !== undefined && ms <= nowMs + CLOCK_SKEW_MS ? ms : undefined;
}

/**
 * Pins: stamp a missing (or untrustworthy) pinned-at, warn before expiry, remove the pin after maxDuration. The
 * clock runs from the first pin of the namespace's life (k8s-ee.io/first-pinned-at, kept when a pin goes), so
 * unpinning and pinning again does not restart it; pinned-at counts when it is earlier (or the first is unknown).
 */
export function planPin(ns: NamespaceInfo, config: Config, d: Durations, now: Date): PinVerdict {
  const nowMs = now.getTime();
  const stamp = ns.annotations[ANNOTATIONS.pinnedAt];
  const first = trusted(ns.annotations[ANNOTATIONS.firstPinnedAt], nowMs);
  const latest = trusted(stamp, nowMs);
  if (latest === undefined && first === undefined) {
    const why = stamp === undefined ? 'no pinned-at stamp' : `untrustworthy pinned-at stamp "${stamp}"`;
    const action: Action = {
      kind: 'stamp-pin',
      target: target(ns),
      reason: stamp === undefined ? 'pin-unstamped' : 'pin-stamp-invalid',
      message: `pinned with ${why}: treated as pinned now, expires in ${formatDuration(d.pinMax)}`,
      details: { pinnedAt: now.toISOString(), expiresAt: new Date(nowMs + d.pinMax).toISOString() },
      patch: {
        annotations: { [ANNOTATIONS.pinnedAt]: now.toISOString(), [ANNOTATIONS.firstPinnedAt]: now.toISOString() },
      },
    };
    return { actions: [action], protects: true, ageMs: 0 };
  }
  const pinnedAt = Math.min(first ?? Infinity, latest ?? Infinity);
  const ageMs = nowMs - pinnedAt;
  const expiresAt = new Date(pinnedAt + d.pinMax).toISOString();
  if (ageMs >= d.pinMax) {
    const action: Action = {
      kind: 'unpin',
      target: target(ns),
      reason: 'pin-expired',
      message: `pin ${config.pins.label}=${config.pins.value} expired (pinned ${formatDuration(ageMs)} ago, limit ${formatDuration(d.pinMax)}): removed`,
      details: { pinnedAt: new Date(pinnedAt).toISOString(), expiresAt, label: config.pins.label },
      patch: {
        labels: { [config.pins.label]: null },
        annotations: { [ANNOTATIONS.pinnedAt]: null, [SWEEPER_ANNOTATIONS.pinWarnedAt]: null },
      },
    };
    return { actions: [action], protects: false, ageMs };
  }
  const warnedAt = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.pinWarnedAt]);
  if (ageMs >= d.pinMax - d.pinWarn && (warnedAt === undefined || warnedAt < pinnedAt)) {
    const action: Action = {
      kind: 'warn-pin',
      target: target(ns),
      reason: 'pin-expiring',
      message: `pin ${config.pins.label}=${config.pins.value} expires in ${formatDuration(pinnedAt + d.pinMax - nowMs)} (at ${expiresAt})`,
      details: { pinnedAt: new Date(pinnedAt).toISOString(), expiresAt },
      patch: { annotations: { [SWEEPER_ANNOTATIONS.pinWarnedAt]: now.toISOString() } },
    };
    return { actions: [action], protects: true, ageMs };
  }
  return { actions: [], protects: true, ageMs };
}

export interface OrphanReason {
  reason: DeleteReason;
  /** How long the namespace has been an orphan for this reason. */
  ageMs: number;
  why: string;
}

interface ReleaseVerdict {
  actions: Action[];
  reasons: OrphanReason[];
}

function planLiveRelease(ns: NamespaceInfo, live: ReleaseRecord[], d: Durations, now: Date): ReleaseVerdict {
  const actions: Action[] = [];
  const nowMs = now.getTime();
  const newest = live.reduce((a, b) => ((timeOf(b.createdAt) ?? 0) > (timeOf(a.createdAt) ?? 0) ? b : a));
  const names = live.map((r) => `${r.release}@v${r.revision}(${r.status})`);
  if (ns.annotations[SWEEPER_ANNOTATIONS.releaseSeenAt] === undefined) {
    actions.push({
      kind: 'mark-release-seen',
      target: target(ns),
      reason: 'release-seen',
      message: `live Helm release ${names.join(', ')}: namespace marked as deployed`,
      details: { releases: names },
      patch: { annotations: { [SWEEPER_ANNOTATIONS.releaseSeenAt]: now.toISOString() } },
      bookkeeping: true,
    });
  }
  if (ns.annotations[SWEEPER_ANNOTATIONS.releaseGoneSince] !== undefined) {
    actions.push({
      kind: 'clear-release-gone',
      target: target(ns),
      reason: 'release-returned',
      message: `live Helm release ${names.join(', ')} is back: release-gone mark removed`,
      details: { releases: names },
      patch: { annotations: { [SWEEPER_ANNOTATIONS.releaseGoneSince]: null } },
      bookkeeping: true,
    });
  }
  const deployedAt = timeOf(newest.createdAt) ?? nowMs;
  const ttlAge = nowMs - deployedAt - d.ttl;
  const reasons: OrphanReason[] =
    ttlAge >= 0
      ? [
          {
            reason: 'ttl-expired',
            ageMs: ttlAge,
            why: `last deploy ${newest.release}@v${newest.revision} was ${formatDuration(nowMs - deployedAt)} ago (ttl ${formatDuration(d.ttl)})`,
          },
        ]
      : [];
  return { actions, reasons };
}

function planGoneRelease(ns: NamespaceInfo, records: ReleaseRecord[], d: Durations, now: Date): ReleaseVerdict {
  const nowMs = now.getTime();
  const created = timeOf(ns.creationTimestamp) ?? nowMs;
  const stamped = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseGoneSince]);
  const actions: Action[] = [];
  const seenAt = timeOf(ns.annotations[SWEEPER_ANNOTATIONS.releaseSeenAt]);
  const deployed = seenAt !== undefined && seenAt >= created;
  if (stamped === undefined) {
    const uninstalled = [...new Set(records.map((r) => r.release))];
    actions.push({
      kind: 'mark-release-gone',
      target: target(ns),
      reason: deployed ? 'release-gone' : 'never-deployed',
      message: deployed
        ? `no live Helm release${uninstalled.length ? ` (${uninstalled.join(', ')} uninstalled, history kept)` : ''}: deleted after ${formatDuration(d.releaseGrace)} unless one returns`
        : `no Helm release yet: deleted if none appears within ${formatDuration(d.neverDeployedGrace)} of creation`,
      details: { since: now.toISOString(), deployed, ...(uninstalled.length ? { uninstalled } : {}) },
      patch: { annotations: { [SWEEPER_ANNOTATIONS.releaseGoneSince]: now.toISOString() } },
    });
  }
  const goneSince = Math.max(stamped ?? nowMs, created);
  const goneMs = nowMs - goneSince;
  if (goneMs < d.releaseGrace) return { actions, reasons: [] };
  if (deployed) {
    return {
      actions,
      reasons: [
        {
          reason: 'release-gone',
          ageMs: goneMs,
          why: `no live Helm release for ${formatDuration(goneMs)} (grace ${formatDuration(d.releaseGrace)})`,
        },
      ],
    };
  }
  const ageMs = nowMs - created;
  if (ageMs < d.neverDeployedGrace) return { actions, reasons: [] };
  return {
    actions,
    reasons: [
      {
        reason: 'never-deployed',
        ageMs,
        why: `never deployed, created ${formatDuration(ageMs)} ago (grace ${formatDuration(d.neverDeployedGrace)})`,
      },
    ],
  };
}

/** Release bookkeeping and the release-based orphan reasons; nothing when the records could not be listed. */
export function planRelease(
  ns: NamespaceInfo,
  records: ReleaseRecord[] | undefined,
  d: Durations,
  now: Date,
): ReleaseVerdict {
  if (records === undefined) return { actions: [], reasons: [] };
  const live = liveReleases(records);
  return live.length > 0 ? planLiveRelease(ns, live, d, now) : planGoneRelease(ns, records, d, now);
}

/** The PR-based orphan reason: only a definite answer from GitHub counts; unknown never does. */
export function prReason(pr: PrInfo | undefined, now: Date): OrphanReason | undefined {
  if (!pr) return undefined;
  const closed = timeOf(pr.closedAt);
  const ageMs = closed === undefined ? 0 : Math.max(0, now.getTime() - closed);
  const ref = pr.ref ?? 'the PR';
  switch (pr.state) {
    case 'merged':
      return { reason: 'pr-merged', ageMs, why: `${ref} was merged${pr.closedAt ? ` at ${pr.closedAt}` : ''}` };
    case 'closed':
      return { reason: 'pr-closed', ageMs, why: `${ref} was closed${pr.closedAt ? ` at ${pr.closedAt}` : ''}` };
    case 'gone':
      return { reason: 'pr-not-found', ageMs, why: `${ref} does not exist (404) while its repository answers` };
    default:
      return undefined;
  }
}

/** A namespace Terminating longer than stuckAfter: reported with its finalizers and blocking conditions. */
export function planStuck(ns: NamespaceInfo, d: Durations, now: Date): Action | undefined {
  const since = timeOf(ns.deletionTimestamp);
  if (since === undefined) return undefined;
  const ageMs = now.getTime() - since;
  if (ageMs < d.stuckAfter) return undefined;
  const blocking = ns.conditions
    .filter((c) => c.status === 'True')
    .map((c) => `${c.type}: ${c.message ?? c.reason ?? ''}`.trim());
  const finalizers = ns.finalizers.length ? ns.finalizers.join(', ') : 'none';
  return {
    kind: 'report-stuck',
    target: target(ns),
    reason: 'stuck-terminating',
    message: `Terminating for ${formatDuration(ageMs)} (limit ${formatDuration(d.stuckAfter)}); finalizers: ${finalizers}${blocking.length ? `; ${blocking.join('; ')}` : ''}; finalizers are not removed by k8s-ee`,
    details: { terminatingSeconds: Math.round(ageMs / 1000), finalizers: ns.finalizers, conditions: blocking },
  };
}
