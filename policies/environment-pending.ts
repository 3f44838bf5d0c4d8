// The first install never races the quota. When an environment ConfigMap is admitted, the quota it implies is put in
// place first (webhooks/gate.ts, ensureEnvironment), so the Services, volumes and pods helm creates right after it
// are judged against the grown quota. Until the ConfigMap is stored, the reconciler and the pod gate only know the
// old declaration and would shrink the quota back ("drift"): so the grown quota carries the declaration it was
// grown for, with a short deadline, and everyone builds the baseline from the union of the stored declaration and
// that pending one while it lasts. After the deadline the stored ConfigMap alone decides again (a ConfigMap that was
// refused after all never grows the quota for longer). Pure: data and `now` in, data out.
import { DATABASES, type Config, type Database } from './config.ts';
import { buildBaselineWithHash, declaredDatabases, type BaselineObject } from './baseline.ts';
import { BASELINE_NAMES } from './names.ts';

/** On the quota: the databases a just-admitted environment ConfigMap declares (comma-separated). */
export const PENDING_DATABASES = 'k8s-ee.io/pending-databases';
/** On the quota: until when (RFC 3339) the pending declaration counts. */
export const PENDING_UNTIL = 'k8s-ee.io/pending-until';
/** How long a pending declaration counts: ample for the API server to store the ConfigMap after admission. */
export const PENDING_MS = 30_000;

export interface PendingDeclaration {
  databases: Database[];
  /** Epoch milliseconds. */
  until: number;
}

interface QuotaLike {
  kind?: string;
  metadata?: { name?: string; annotations?: Record<string, string> };
}

const isDatabase = (name: string): name is Database => (DATABASES as readonly string[]).includes(name);

/** Databases in the fixed order of DATABASES, without duplicates. */
export function unionOf(...lists: readonly (readonly Database[])[]): Database[] {
  const all = new Set(lists.flat());
  return DATABASES.filter((db) => all.has(db));
}

/**
 * The pending declaration the live quota carries, if it still counts at `now`. A deadline further ahead than twice
 * PENDING_MS (a clock far off, or a hand-made annotation) does not count.
 */
export function pendingOf(live: readonly QuotaLike[], now: number): PendingDeclaration | undefined {
  const quota = live.find((o) => o.kind === 'ResourceQuota' && o.metadata?.name === BASELINE_NAMES.quota);
  const annotations = quota?.metadata?.annotations ?? {};
  const until = Date.parse(annotations[PENDING_UNTIL] ?? '');
  if (!Number.isFinite(until) || until <= now || until > now + 2 * PENDING_MS) return undefined;
  const databases = (annotations[PENDING_DATABASES] ?? '').split(',').filter(isDatabase);
  return { databases: unionOf(databases), until };
}

export interface DesiredBaseline {
  objects: BaselineObject[];
  hash: string;
  /** The databases the quota is built for: the stored declaration, plus a pending one while it counts. */
  databases: Database[];
  /** Unknown names in the stored declaration (ignored). */
  unknown: string[];
  /** When the pending declaration stops counting, if one adds databases now: look again then. */
  recheckAt?: number;
}

/** Writes a pending declaration onto the quota of a baseline (in place). */
function carryPending(objects: BaselineObject[], pending: PendingDeclaration): void {
  // Stryker disable next-line ConditionalExpression: buildBaseline always has the quota, and first
  const quota = objects.find((o) => o.kind === 'ResourceQuota');
  // Stryker disable next-line ConditionalExpression: (the same)
  if (!quota) return;
  quota.metadata.annotations[PENDING_DATABASES] = pending.databases.join(',');
  quota.metadata.annotations[PENDING_UNTIL] = new Date(pending.until).toISOString();
}

/**
 * The baseline a namespace should have: built from the stored environment ConfigMap and, while it counts, the
 * pending declaration of the live quota (which the desired quota then carries on, so applying it keeps it).
 */
export function desiredBaseline(
  namespace: string,
  environment: unknown,
  live: readonly QuotaLike[],
  config: Config,
  now: number,
): DesiredBaseline {
  const declared = declaredDatabases(environment);
  const pending = pendingOf(live, now);
  const adds = pending?.databases.some((db) => !declared.databases.includes(db)) === true;
  // Stryker disable next-line LogicalOperator: a pending declaration that adds nothing unions to the declaration
  const databases = adds && pending ? unionOf(declared.databases, pending.databases) : declared.databases;
  const { objects, hash } = buildBaselineWithHash(namespace, databases, config);
  if (adds && pending) carryPending(objects, pending);
  return {
    objects,
    hash,
    databases,
    unknown: declared.unknown,
    ...(adds && pending ? { recheckAt: pending.until } : {}),
  };
}

/**
 * The baseline to put in place before an environment ConfigMap is admitted: the union of what is stored, what is
 * pending and what the new ConfigMap declares, with the new declaration pending until `now` + PENDING_MS.
 * Undefined when the new ConfigMap adds no database to what the namespace has already (nothing to wait for).
 */
export function baselineForNewEnvironment(
  request: { namespace: string; stored: unknown; incoming: unknown; live: readonly QuotaLike[] },
  config: Config,
  now: number,
): DesiredBaseline | undefined {
  const { namespace, live } = request;
  const current = desiredBaseline(namespace, request.stored, live, config, now);
  const declared = declaredDatabases(request.incoming).databases;
  if (declared.every((db) => current.databases.includes(db))) return undefined;
  const still = pendingOf(live, now);
  // Stryker disable next-line ArrayDeclaration: unknown names union to nothing
  const pending = { databases: unionOf(declared, still?.databases ?? []), until: now + PENDING_MS };
  const databases = unionOf(current.databases, declared);
  const { objects, hash } = buildBaselineWithHash(namespace, databases, config);
  carryPending(objects, pending);
  return { objects, hash, databases, unknown: [], recheckAt: pending.until };
}
