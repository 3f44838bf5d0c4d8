// Capacity-aware admission, the pure part: would one more PR environment (or a bigger one) fit? Two limits:
// - a count: at most capacity.maxEnvironments PR environments at once (pinned ones count);
// - resources: the requests the PR quotas reserve may not exceed overcommit × (the nodes' allocatable capacity minus
//   the requests of every pod outside PR namespaces), per resource (CPU, memory).
// A refusal lists the running environments oldest first and how to free one, so a failed CI log says what to do.
// Data and `now` in, data out: the webhook gathers the cluster state (webhooks/capacity.ts).
import { formatDuration } from '../lib/duration.ts';
import { byCodeUnits } from '../lib/order.ts';
import { formatQuantity, parseQuantity } from '../lib/quantity.ts';
import type { Config } from './config.ts';
import type { Violation } from './violation.ts';

export const CAPACITY_RESOURCES = ['cpu', 'memory'] as const;
export type CapacityResource = (typeof CAPACITY_RESOURCES)[number];

/** Amounts in milli-units (lib/quantity.ts): 300m CPU is 300n, 1Mi is 1048576000n. */
export type Amounts = Record<CapacityResource, bigint>;

export const ZERO: Amounts = { cpu: 0n, memory: 0n };

export interface LastDeploy {
  release: string;
  revision: number;
  /** RFC 3339. */
  at: string;
}

/** One PR environment as the gate counts it. */
export interface EnvironmentUse {
  namespace: string;
  /** The requests its quota reserves (requests.cpu, requests.memory of k8s-ee-quota). */
  requests: Amounts;
  /** RFC 3339 creation time of the namespace. */
  createdAt?: string;
  pinned: boolean;
  /** RFC 3339 time the pin expires, when pinned. */
  pinnedUntil?: string;
  lastDeploy?: LastDeploy;
}

export interface CapacityState {
  /** The PR environments that exist (or are being admitted), not being deleted. */
  environments: readonly EnvironmentUse[];
  /** What the schedulable nodes can give (status.allocatable); undefined when no node is known. */
  allocatable: Amounts | undefined;
  /** Requests of every running pod outside PR namespaces. */
  others: Amounts;
}

export interface CapacityRequest {
  namespace: string;
  /** The requests its quota will reserve (all of it, not the growth). */
  requests: Amounts;
}

export type Shortfall =
  | { kind: 'count'; limit: number; running: number }
  | { kind: 'resource'; resource: CapacityResource; need: bigint; free: bigint; budget: bigint; granted: bigint };

export type CapacityVerdict = { ok: true } | { ok: false; shortfalls: Shortfall[] };

/** What PR quotas may reserve, per resource, and how much of it they reserve now. */
export interface CapacityUse {
  budget: Amounts | undefined;
  granted: Amounts;
  count: number;
}

const QUOTA_KEYS: Record<CapacityResource, string> = { cpu: 'requests.cpu', memory: 'requests.memory' };

/** The requests a quota's `hard` reserves; a missing or malformed amount reserves nothing of that resource. */
export function requestsOfQuota(hard: Record<string, string> | undefined): Amounts {
  const of = (r: CapacityResource): bigint => {
    const text = hard?.[QUOTA_KEYS[r]] ?? hard?.[r];
    return text === undefined ? 0n : (parseQuantity(text) ?? 0n);
  };
  return { cpu: of('cpu'), memory: of('memory') };
}

export const add = (a: Amounts, b: Amounts): Amounts => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory });

/** ratio × amount, exact to a thousandth of the ratio. */
function scale(amount: bigint, ratio: number): bigint {
  return (amount * BigInt(Math.round(ratio * 1000))) / 1000n;
}

/** What PR quotas may reserve: overcommit × (allocatable − others), never below zero. */
export function budgetOf(state: Pick<CapacityState, 'allocatable' | 'others'>, config: Pick<Config, 'capacity'>) {
  const { allocatable, others } = state;
  if (!allocatable) return undefined;
  const of = (r: CapacityResource): bigint => {
    const free = allocatable[r] - others[r];
    return free > 0n ? scale(free, config.capacity.overcommit[r]) : 0n;
  };
  return { cpu: of('cpu'), memory: of('memory') };
}

/** The budget, what the environments reserve of it, and how many there are. */
export function capacityUse(state: CapacityState, config: Pick<Config, 'capacity'>): CapacityUse {
  return {
    budget: budgetOf(state, config),
    granted: state.environments.reduce((sum, e) => add(sum, e.requests), ZERO),
    count: state.environments.length,
  };
}

/**
 * Whether `request` fits next to the other environments. An environment that exists already (it grows) is judged
 * with its new requests instead of its old ones, and is never refused by the count.
 */
export function decideCapacity(
  request: CapacityRequest,
  state: CapacityState,
  config: Pick<Config, 'capacity'>,
): CapacityVerdict {
  const exists = state.environments.some((e) => e.namespace === request.namespace);
  const others = state.environments.filter((e) => e.namespace !== request.namespace);
  const shortfalls: Shortfall[] = [];
  const limit = config.capacity.maxEnvironments;
  if (!exists && limit !== null && others.length >= limit)
    shortfalls.push({ kind: 'count', limit, running: others.length });
  const use = capacityUse({ ...state, environments: others }, config);
  if (use.budget) {
    for (const resource of CAPACITY_RESOURCES) {
      const need = request.requests[resource];
      const free = use.budget[resource] - use.granted[resource];
      if (need > 0n && need > free)
        shortfalls.push({
          kind: 'resource',
          resource,
          need,
          free,
          budget: use.budget[resource],
          granted: use.granted[resource],
        });
    }
  }
  return shortfalls.length > 0 ? { ok: false, shortfalls } : { ok: true };
}

const show = (amount: bigint, resource: CapacityResource): string => {
  if (resource === 'cpu') return formatQuantity(amount, 'cpu');
  // Memory in Mi (rounded up), readable whatever the sum.
  const mi = 1000n * 1024n * 1024n;
  return amount <= 0n ? '0' : `${(amount + mi - 1n) / mi}Mi`;
};

function describeShortfall(s: Shortfall, config: Pick<Config, 'capacity'>): string {
  if (s.kind === 'count')
    return `at most ${s.limit} PR environments may exist at once (capacity.maxEnvironments) and ${s.running} do`;
  const free = s.free > 0n ? `only ${show(s.free, s.resource)} is free` : 'none is free';
  return `its quota reserves ${show(s.need, s.resource)} of requests.${s.resource}, but ${free}: PR environments may reserve ${show(s.budget, s.resource)} (the nodes' allocatable minus other pods' requests, × overcommit ${config.capacity.overcommit[s.resource]}) and reserve ${show(s.granted, s.resource)} already`;
}

const ageOf = (iso: string | undefined, now: number): string => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? 'unknown' : formatDuration(Math.max(0, now - t));
};

/** Oldest first (creation time; unknown last), then by name. */
export function oldestFirst<T extends Pick<EnvironmentUse, 'namespace' | 'createdAt'>>(list: readonly T[]): T[] {
  const at = (e: T): number => {
    const t = e.createdAt ? Date.parse(e.createdAt) : NaN;
    return Number.isNaN(t) ? Infinity : t;
  };
  return [...list].sort((a, b) => at(a) - at(b) || byCodeUnits(a.namespace, b.namespace));
}

function describeEnvironment(e: EnvironmentUse, now: number): string {
  const deploy = e.lastDeploy
    ? `last deploy ${e.lastDeploy.release} v${e.lastDeploy.revision} ${ageOf(e.lastDeploy.at, now)} ago`
    : 'no Helm release';
  const pin = e.pinned ? `pinned${e.pinnedUntil ? ` until ${e.pinnedUntil}` : ''}` : 'not pinned';
  const reserves = `reserves ${show(e.requests.cpu, 'cpu')} CPU, ${show(e.requests.memory, 'memory')}`;
  return `${e.namespace} (age ${ageOf(e.createdAt, now)}, ${deploy}, ${pin}, ${reserves})`;
}

/**
 * The refusal, as one violation: each shortfall, the running environments oldest first, and how to free one. When
 * the refused environment exists already (it grows), it is left out of the list.
 */
export function capacityViolation(
  request: CapacityRequest & { grows?: boolean },
  verdict: { shortfalls: Shortfall[] },
  environments: readonly EnvironmentUse[],
  config: Pick<Config, 'capacity' | 'pins'>,
  now: number,
): Violation {
  const others = oldestFirst(environments.filter((e) => e.namespace !== request.namespace));
  const what = request.grows
    ? `${request.namespace} cannot grow its quota for the databases it declares`
    : `no room for PR environment ${request.namespace}`;
  const lines = verdict.shortfalls.map((s) => `  - ${describeShortfall(s, config)}`);
  const list = others.map((e, i) => `  ${i + 1}. ${describeEnvironment(e, now)}`);
  const message = [
    `${what}:`,
    ...lines,
    others.length > 0 ? `PR environments now, oldest first:` : 'no other PR environment exists',
    ...list,
  ].join('\n');
  const oldest = others[0];
  const pinned = others.find((e) => e.pinned);
  const steps = [
    oldest
      ? `free one: helm uninstall ${oldest.lastDeploy?.release ?? '<release>'} -n ${oldest.namespace} (or close its PR); the sweeper deletes the namespace within a minute`
      : undefined,
    pinned
      ? `pinned environments count too: unpin one (kubectl label namespace ${pinned.namespace} ${config.pins.label}-) so it can be freed`
      : undefined,
    request.grows ? 'or declare fewer databases' : undefined,
    'then run this deploy again; a platform admin may raise capacity.maxEnvironments or capacity.overcommit',
  ].filter((s): s is string => s !== undefined);
  return { rule: 'capacity', path: request.grows ? 'data' : 'metadata.name', message, fix: steps.join('; ') };
}
