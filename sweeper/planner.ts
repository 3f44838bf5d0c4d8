// The sweeper's planner: (snapshot, config, now) -> actions, each with its target, reason and details.
// Pure: no client, no clock. The executor carries the actions out; tests compare plans whole.
import { byCodeUnits } from '../lib/order.ts';
import type { Config } from '../policies/config.ts';
import { matchNamespace } from '../policies/namespace.ts';
import {
  durationsOf,
  isManaged,
  isPinned,
  isTerminating,
  planPin,
  planRelease,
  planStuck,
  prReason,
  type Durations,
  type OrphanReason,
} from './plan-namespace.ts';
import type { Action, NamespaceInfo, OrphanInfo, Plan, PruneJobInfo, Snapshot, VolumeInfo, NodeDisk } from './types.ts';

/** Which orphan reason names a deletion when several hold: a definite PR answer first, TTL last. */
const REASON_ORDER = ['pr-merged', 'pr-closed', 'pr-not-found', 'release-gone', 'never-deployed', 'ttl-expired'];

interface Candidate {
  ns: NamespaceInfo;
  reasons: OrphanReason[];
  ageMs: number;
}

interface NamespaceOutcome {
  actions: Action[];
  candidate?: Candidate;
  pinnedAgeMs?: number;
  stuck?: boolean;
}

function planOneNamespace(
  ns: NamespaceInfo,
  snapshot: Snapshot,
  config: Config,
  d: Durations,
  now: Date,
): NamespaceOutcome {
  if (isTerminating(ns)) {
    const stuck = planStuck(ns, d, now);
    return stuck ? { actions: [stuck], stuck: true } : { actions: [] };
  }
  const actions: Action[] = [];
  let protectedByPin = false;
  let pinnedAgeMs: number | undefined;
  if (isPinned(ns, config)) {
    const pin = planPin(ns, config, d, now);
    actions.push(...pin.actions);
    protectedByPin = pin.protects;
    if (pin.protects) pinnedAgeMs = pin.ageMs;
  }
  const releases = snapshot.releases === undefined ? undefined : (snapshot.releases[ns.name] ?? []);
  const release = planRelease(ns, releases, d, now);
  actions.push(...release.actions);
  const pr = prReason(snapshot.prs[ns.name], now);
  const reasons = [...(pr ? [pr] : []), ...release.reasons].sort(
    (a, b) => REASON_ORDER.indexOf(a.reason) - REASON_ORDER.indexOf(b.reason),
  );
  const outcome: NamespaceOutcome = { actions, ...(pinnedAgeMs !== undefined ? { pinnedAgeMs } : {}) };
  if (reasons.length > 0 && !protectedByPin)
    outcome.candidate = { ns, reasons, ageMs: Math.max(...reasons.map((r) => r.ageMs)) };
  return outcome;
}

function deletionAction(c: Candidate, deferred: boolean, cap: number): Action {
  const [first] = c.reasons;
  const primary = first ?? { reason: 'release-gone', why: '' };
  const details: Action['details'] = {
    reasons: c.reasons.map((r) => r.reason),
    why: c.reasons.map((r) => r.why),
    orphanSeconds: Math.round(c.ageMs / 1000),
  };
  const target: Action['target'] = { kind: 'Namespace', name: c.ns.name, ...(c.ns.uid ? { uid: c.ns.uid } : {}) };
  if (!deferred)
    return {
      kind: 'delete-namespace',
      target,
      reason: primary.reason,
      message: `orphan environment: ${primary.why}`,
      details,
    };
  return {
    kind: 'defer-deletion',
    target,
    reason: 'deletion-cap',
    message: `orphan environment (${primary.why}) left for a later run: the cap of ${cap} deletions per run was reached`,
    details: { ...details, orphanReason: primary.reason, cap },
  };
}

/** Oldest orphans go first; the cap defers the rest (they are planned again next run). */
function capDeletions(candidates: Candidate[], cap: number): Action[] {
  const sorted = [...candidates].sort((a, b) => b.ageMs - a.ageMs || byCodeUnits(a.ns.name, b.ns.name));
  return sorted.map((c, i) => deletionAction(c, i >= cap, cap));
}

function volumeAction(pv: VolumeInfo): Action {
  const target: Action['target'] = { kind: 'PersistentVolume', name: pv.name, ...(pv.uid ? { uid: pv.uid } : {}) };
  const claim = `${pv.claimNamespace ?? ''}/${pv.claimName ?? ''}`;
  const details: Action['details'] = { claim, capacityBytes: pv.capacityBytes, reclaimPolicy: pv.reclaimPolicy };
  if (pv.provisionedBy && pv.reclaimPolicy === 'Retain') {
    return {
      kind: 'reclaim-volume',
      target,
      reason: 'released-orphan',
      message: `Released volume of deleted namespace ${pv.claimNamespace ?? ''} (claim ${claim}): reclaim policy set to Delete so ${pv.provisionedBy} frees its storage`,
      details: { ...details, provisionedBy: pv.provisionedBy },
    };
  }
  return {
    kind: 'delete-volume',
    target,
    reason: 'released-orphan',
    message: `Released volume of deleted namespace ${pv.claimNamespace ?? ''} (claim ${claim}) deleted`,
    details,
  };
}

/**
 * Released PersistentVolumes whose claim lived in a PR namespace that no longer exists. A dynamically provisioned
 * volume with reclaim policy Delete is its provisioner's business (it is deleting it); Retain ones are handed to
 * the provisioner by switching the policy; static ones are deleted.
 */
export function planVolumes(snapshot: Snapshot, config: Config): Action[] {
  if (!config.sweeper.deleteReleasedVolumes || !snapshot.volumes) return [];
  const existing = new Set(snapshot.namespaces.map((n) => n.name));
  return snapshot.volumes
    .filter((pv) => pv.phase === 'Released' && pv.claimNamespace !== undefined)
    .filter((pv) => matchNamespace(pv.claimNamespace, config) !== undefined && !existing.has(pv.claimNamespace ?? ''))
    .filter((pv) => !(pv.provisionedBy && pv.reclaimPolicy === 'Delete'))
    .sort((a, b) => byCodeUnits(a.name, b.name))
    .map(volumeAction);
}

/**
 * How full a node's filesystem is, as the kubelet counts it for image GC and eviction: 1 - available/capacity
 * (reserved blocks count as full). Without availableBytes: used/capacity.
 */
export function diskRatio(node: NodeDisk): number | undefined {
  if (!node.capacityBytes) return undefined;
  if (node.availableBytes !== undefined) return (node.capacityBytes - node.availableBytes) / node.capacityBytes;
  if (node.usedBytes === undefined) return undefined;
  return node.usedBytes / node.capacityBytes;
}

const MIB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

/**
 * A finished prune Job of the node: reported once, then deleted. A succeeded one waits for the first image
 * filesystem sample taken after it finished (containerd refreshes it every 10 s), so that the drop it reports
 * (sample when the Job started minus that one) is the Job's.
 */
function finishAction(job: PruneJobInfo, node: NodeDisk | undefined): Action | undefined {
  const target: Action['target'] = { kind: 'Node', name: job.node };
  const jobRef = { job: job.name, ...(job.uid ? { jobUid: job.uid } : {}) };
  if (job.state === 'failed') {
    return {
      kind: 'finish-image-prune',
      target,
      reason: 'prune-failed',
      message: `image-prune Job ${job.name} failed: ${job.failure ?? 'no reason given'}`,
      details: { ...jobRef, failure: job.failure ?? '' },
    };
  }
  if (job.state !== 'succeeded' || !node?.imageFs) return undefined;
  const finished = Date.parse(job.finishedAt ?? '');
  if (!(Date.parse(node.imageFs.time) > finished)) return undefined;
  const after = node.imageFs.usedBytes;
  const before = job.imageFsUsedBytes;
  const freed = before === undefined ? 0 : Math.max(0, before - after);
  return {
    kind: 'finish-image-prune',
    target,
    reason: 'pruned',
    message:
      before === undefined
        ? `unused images pruned by Job ${job.name}: image filesystem now ${mib(after)} (no sample from before it)`
        : `unused images pruned by Job ${job.name}: image filesystem ${mib(before)} -> ${mib(after)} (${mib(freed)} freed)`,
    details: {
      ...jobRef,
      ...(before === undefined ? {} : { imageFsBeforeBytes: before }),
      imageFsAfterBytes: after,
      freedBytes: freed,
    },
  };
}

/** A node's warning and prune, by its ratio; `busy` when a prune Job of the node exists. */
function nodeDiskActions(node: NodeDisk, config: Config, busy: boolean): Action[] {
  const ratio = diskRatio(node);
  if (ratio === undefined) return [];
  const { diskWarnRatio, imagePrune } = config.sweeper;
  const actions: Action[] = [];
  const target: Action['target'] = { kind: 'Node', name: node.node };
  const details: Action['details'] = {
    usedBytes: node.usedBytes ?? 0,
    capacityBytes: node.capacityBytes ?? 0,
    ...(node.availableBytes === undefined ? {} : { availableBytes: node.availableBytes }),
    ratio: Math.round(ratio * 1000) / 1000,
  };
  const pct = `${(ratio * 100).toFixed(1)}%`;
  if (ratio >= diskWarnRatio) {
    actions.push({
      kind: 'warn-disk',
      target,
      reason: 'disk-high',
      message: `node filesystem ${pct} full (warn at ${diskWarnRatio * 100}%)`,
      details,
    });
  }
  if (imagePrune.enabled && ratio >= imagePrune.thresholdRatio && !busy) {
    actions.push({
      kind: 'prune-images',
      target,
      reason: 'disk-high',
      message: `node filesystem ${pct} full (prune at ${imagePrune.thresholdRatio * 100}%): unused images pruned by a Job on the node`,
      details: {
        ...details,
        image: imagePrune.image,
        ...(node.imageFs ? { imageFsUsedBytes: node.imageFs.usedBytes } : {}),
      },
    });
  }
  return actions;
}

/**
 * Node disk: an Event over diskWarnRatio; an image-prune Job over imagePrune.thresholdRatio when enabled and the
 * node has no prune Job yet (a finished one is reported and deleted first; the next run may start another).
 */
export function planDisk(snapshot: Snapshot, config: Config): Action[] {
  const nodes = snapshot.nodes ?? [];
  const jobs = snapshot.pruneJobs ?? [];
  const finished = jobs.flatMap(
    (job) =>
      finishAction(
        job,
        nodes.find((n) => n.node === job.node),
      ) ?? [],
  );
  const busy = new Set(jobs.map((j) => j.node));
  return [...finished, ...nodes.flatMap((node) => nodeDiskActions(node, config, busy.has(node.node)))];
}

/** The whole plan, with what the metrics need (orphans by age, pins, stuck namespaces). */
export function planDetailed(snapshot: Snapshot, config: Config, now: Date): Plan {
  const d = durationsOf(config);
  const actions: Action[] = [];
  const candidates: Candidate[] = [];
  const pinned: Plan['pinned'] = [];
  const stuck: string[] = [];
  const managed = snapshot.namespaces.filter((ns) => isManaged(ns, config)).sort((a, b) => byCodeUnits(a.name, b.name));
  for (const ns of managed) {
    const outcome = planOneNamespace(ns, snapshot, config, d, now);
    actions.push(...outcome.actions);
    if (outcome.candidate) candidates.push(outcome.candidate);
    if (outcome.pinnedAgeMs !== undefined) pinned.push({ namespace: ns.name, ageSeconds: outcome.pinnedAgeMs / 1000 });
    if (outcome.stuck) stuck.push(ns.name);
  }
  actions.push(...capDeletions(candidates, config.sweeper.maxDeletionsPerRun));
  actions.push(...planVolumes(snapshot, config), ...planDisk(snapshot, config));
  const orphans: OrphanInfo[] = candidates.map((c) => ({
    namespace: c.ns.name,
    reason: c.reasons[0]?.reason ?? 'release-gone',
    ageSeconds: c.ageMs / 1000,
  }));
  return { actions, orphans, pinned, stuck };
}

/** plan(snapshot, config, now) -> actions. */
export function plan(snapshot: Snapshot, config: Config, now: Date): Action[] {
  return planDetailed(snapshot, config, now).actions;
}

/** One line per action, for `--once` and logs: "delete-namespace Namespace/shop-pr-3 release-gone: …". */
export function describeAction(action: Action): string {
  return `${action.kind} ${action.target.kind}/${action.target.name} ${action.reason}: ${action.message}`;
}
