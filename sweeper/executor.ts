// Carries a plan out: dry-run honoured (nothing written, every action reported as planned), NotFound counted as
// done, errors collected while the run goes on, and for each action a metric, a log line and (when it did
// something) a Kubernetes Event on the object. Deletions re-read the namespace first, so a namespace pinned,
// re-created or re-deployed since the snapshot is left alone.
import type { Config } from '../policies/config.ts';
import { unredacted, type Logger } from '../lib/log.ts';
import { isManaged, isPinned, isTerminating } from './plan-namespace.ts';
import type { SweeperMetrics } from './metrics.ts';
import type { Action, ActionTarget, MetadataPatch, NamespaceInfo } from './types.ts';

export interface SweeperEvent {
  target: ActionTarget;
  type: 'Normal' | 'Warning';
  /** CamelCase reason (PinExpired, EnvironmentDeleted, …). */
  reason: string;
  /** The action kind (the Event's `action` field). */
  action: string;
  message: string;
  time: Date;
}

/** The narrow write API the executor needs; implementations throw errors with `.code` (404 = NotFound). */
export interface SweeperApi {
  readNamespace(name: string): Promise<NamespaceInfo | undefined>;
  /** Live Helm releases in the namespace (the newest record of each is not `uninstalled`). */
  liveReleaseCount(namespace: string): Promise<number>;
  patchNamespace(name: string, patch: MetadataPatch): Promise<void>;
  deleteNamespace(name: string, uid?: string): Promise<void>;
  deletePersistentVolume(name: string, uid?: string): Promise<void>;
  setVolumeReclaimPolicy(name: string, policy: 'Delete'): Promise<void>;
  /**
   * Starts the image-prune Job on the node, remembering the image filesystem's used bytes it started on;
   * resolves 'exists' when one is already there.
   */
  createImagePruneJob(node: string, image: string, imageFsUsedBytes?: number): Promise<'created' | 'exists'>;
  /** Deletes a finished image-prune Job (and its pod). */
  deleteImagePruneJob(name: string, uid?: string): Promise<void>;
  recordEvent(event: SweeperEvent): Promise<void>;
}

export type ActionResultKind = 'done' | 'not-found' | 'planned' | 'skipped' | 'error';

export interface ActionResult {
  action: Action;
  result: ActionResultKind;
  /** Why an action was skipped, or what went wrong. */
  note?: string;
}

export interface ExecuteOptions {
  api: SweeperApi;
  config: Config;
  log: Logger;
  metrics: SweeperMetrics;
  dryRun: boolean;
  now: Date;
  /** Checked before each action: once true, the remaining actions are skipped (graceful stop). */
  shouldStop?: () => boolean;
}

const EVENTS: Record<Action['kind'], { type: 'Normal' | 'Warning'; reason: string } | undefined> = {
  'stamp-pin': { type: 'Normal', reason: 'PinStamped' },
  'warn-pin': { type: 'Warning', reason: 'PinExpiring' },
  unpin: { type: 'Normal', reason: 'PinExpired' },
  'mark-release-seen': undefined,
  'mark-release-gone': { type: 'Normal', reason: 'ReleaseGone' },
  'clear-release-gone': undefined,
  'delete-namespace': { type: 'Normal', reason: 'EnvironmentDeleted' },
  'defer-deletion': { type: 'Warning', reason: 'DeletionCapReached' },
  'delete-volume': { type: 'Normal', reason: 'VolumeDeleted' },
  'reclaim-volume': { type: 'Normal', reason: 'VolumeReclaimed' },
  'report-stuck': { type: 'Warning', reason: 'NamespaceStuckTerminating' },
  'warn-disk': { type: 'Warning', reason: 'NodeDiskUsageHigh' },
  'prune-images': { type: 'Normal', reason: 'ImagePruneStarted' },
  'finish-image-prune': { type: 'Normal', reason: 'ImagePruneFinished' },
};

function eventSpec(action: Action): { type: 'Normal' | 'Warning'; reason: string } | undefined {
  if (action.kind === 'finish-image-prune' && action.reason === 'prune-failed')
    return { type: 'Warning', reason: 'ImagePruneFailed' };
  return EVENTS[action.kind];
}

export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const body = (err as { body?: unknown }).body;
  const detail = typeof body === 'string' ? body : (body as { message?: string } | undefined)?.message;
  const code = (err as { code?: unknown }).code;
  return detail ? `HTTP ${String(code)}: ${detail}` : err.message;
}

const RELEASE_REASONS = new Set(['release-gone', 'never-deployed']);

/** Re-reads the namespace just before deleting it; a reason to skip, or undefined to go ahead. */
async function deletionGuard(action: Action, opts: ExecuteOptions): Promise<ActionResult | undefined> {
  const fresh = await opts.api.readNamespace(action.target.name);
  if (!fresh) return { action, result: 'not-found' };
  if (action.target.uid && fresh.uid && fresh.uid !== action.target.uid)
    return { action, result: 'skipped', note: 'the namespace was re-created since the snapshot' };
  if (!isManaged(fresh, opts.config)) return { action, result: 'skipped', note: 'the namespace is no longer managed' };
  if (isTerminating(fresh)) return { action, result: 'not-found', note: 'already terminating' };
  if (isPinned(fresh, opts.config))
    return {
      action,
      result: 'skipped',
      note: `the namespace is pinned (${opts.config.pins.label}=${opts.config.pins.value})`,
    };
  if (RELEASE_REASONS.has(action.reason) && (await opts.api.liveReleaseCount(action.target.name)) > 0) {
    return { action, result: 'skipped', note: 'a Helm release is back in the namespace' };
  }
  return undefined;
}

async function perform(action: Action, opts: ExecuteOptions): Promise<ActionResult> {
  const { api } = opts;
  const name = action.target.name;
  switch (action.kind) {
    case 'delete-namespace': {
      const skip = await deletionGuard(action, opts);
      if (skip) return skip;
      await api.deleteNamespace(name, action.target.uid);
      return { action, result: 'done' };
    }
    case 'delete-volume':
      await api.deletePersistentVolume(name, action.target.uid);
      return { action, result: 'done' };
    case 'reclaim-volume':
      await api.setVolumeReclaimPolicy(name, 'Delete');
      return { action, result: 'done' };
    case 'prune-images': {
      const before = action.details['imageFsUsedBytes'];
      const created = await api.createImagePruneJob(
        name,
        String(action.details['image'] ?? opts.config.sweeper.imagePrune.image),
        typeof before === 'number' ? before : undefined,
      );
      return created === 'exists'
        ? { action, result: 'skipped', note: 'a prune Job is already running on the node' }
        : { action, result: 'done' };
    }
    case 'finish-image-prune': {
      const uid = action.details['jobUid'];
      await api.deleteImagePruneJob(String(action.details['job']), typeof uid === 'string' ? uid : undefined);
      return { action, result: 'done' };
    }
    default:
      if (action.patch) await api.patchNamespace(name, action.patch);
      return { action, result: 'done' };
  }
}

async function emitEvent(action: Action, opts: ExecuteOptions): Promise<void> {
  const spec = eventSpec(action);
  if (!spec || action.bookkeeping) return;
  try {
    await opts.api.recordEvent({
      target: action.target,
      type: spec.type,
      reason: spec.reason,
      action: action.kind,
      message: action.message,
      time: opts.now,
    });
  } catch (err) {
    opts.metrics.errors.inc({ stage: 'event' });
    opts.log.warn({ err: errorText(err), target: action.target }, 'could not record the Event');
  }
}

/** Freed bytes: the capacity of volumes deleted or reclaimed; the image filesystem drop of a finished prune. */
function countFreed(r: ActionResult, metrics: SweeperMetrics): void {
  const { action } = r;
  if (r.result !== 'done') return;
  if (action.kind === 'delete-volume' || action.kind === 'reclaim-volume') {
    const bytes = Number(action.details['capacityBytes'] ?? 0);
    if (bytes > 0) metrics.freedBytes.inc(bytes);
  }
  if (action.kind === 'finish-image-prune' && action.reason === 'pruned')
    metrics.imagePruneFreedBytes.inc({ node: action.target.name }, Number(action.details['freedBytes'] ?? 0));
}

/** Counts and logs one result; `log` writes the line (unredacted: its fields are the planner's own). */
function account(r: ActionResult, opts: ExecuteOptions, log: Logger): void {
  const { action } = r;
  opts.metrics.actions.inc({ kind: action.kind, reason: action.reason, result: r.result });
  if (r.result === 'error') opts.metrics.errors.inc({ stage: 'action' });
  if (action.kind === 'defer-deletion' && r.result !== 'error') opts.metrics.capped.inc();
  countFreed(r, opts.metrics);
  const entry = {
    action: action.kind,
    kind: action.target.kind,
    name: action.target.name,
    ...(action.target.kind === 'Namespace' ? { namespace: action.target.name } : {}),
    reason: action.reason,
    result: r.result,
    dryRun: opts.dryRun,
    details: action.details,
    ...(r.note ? { note: r.note } : {}),
  };
  if (r.result === 'error') log.error(entry, action.message);
  else log.info(entry, action.message);
}

async function executeOne(action: Action, opts: ExecuteOptions): Promise<ActionResult> {
  if (opts.dryRun) return { action, result: 'planned' };
  let r: ActionResult;
  try {
    r = await perform(action, opts);
  } catch (err) {
    r = isNotFound(err) ? { action, result: 'not-found' } : { action, result: 'error', note: errorText(err) };
  }
  if (r.result === 'done') await emitEvent(action, opts);
  return r;
}

/** Executes the actions in order; never throws. */
export async function execute(actions: Action[], opts: ExecuteOptions): Promise<ActionResult[]> {
  const results: ActionResult[] = [];
  // One line per action, thousands in a pass over many namespaces; each field is the planner's (names, reasons,
  // timestamps, the note of a failed call), nothing to redact (lib/log.ts unredacted).
  const log = unredacted(opts.log);
  for (const action of actions) {
    if (opts.shouldStop?.()) {
      results.push({ action, result: 'skipped', note: 'the sweeper is stopping' });
      continue;
    }
    const r = await executeOne(action, opts);
    account(r, opts, log);
    results.push(r);
  }
  return results;
}
