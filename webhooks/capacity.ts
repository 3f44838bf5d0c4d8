// Capacity-aware admission, the cluster part. The pure decision is policies/capacity.ts; here:
// - CapacityCache: what the nodes can give (status.allocatable of schedulable Nodes) and what the pods outside PR
//   namespaces request, kept up to date by the reconciler's watches (no list per admission request);
// - the ledger: one Lease `k8s-ee-capacity` in k8s-ee's own namespace whose annotation holds the environments
//   granted in the last `grantMs` (they may not be visible in any cache yet). Every grant is a write of that Lease
//   with its resourceVersion as precondition, so two grants (on one replica or two) can never both build on the same
//   state: the loser gets 409, reads again and decides again. Concurrent creations cannot overshoot.
// - reserveCapacity: read the ledger, decide with the cache's view plus the live grants, write the grant.
import { setTimeout as sleep } from 'node:timers/promises';
import { quotaHard, declaredDatabases } from '../policies/baseline.ts';
import { ANNOTATIONS, FIELD_MANAGER } from '../policies/names.ts';
import { parseDuration } from '../lib/duration.ts';
import type { CachedEnvironment } from './reconciler-core.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.ts';
import type { CapacityGrant, ClusterServices } from './types.ts';
import { liveReleases } from '../sweeper/helm.ts';
import type { ReleaseRecord } from '../sweeper/types.ts';
import {
  CAPACITY_RESOURCES,
  capacityUse,
  capacityViolation,
  requestsOfQuota,
  decideCapacity,
  ZERO,
  type Amounts,
  type CapacityRequest,
  type CapacityState,
  type CapacityResource,
  type EnvironmentUse,
  type LastDeploy,
  type Shortfall,
} from '../policies/capacity.ts';
import type { Config } from '../policies/config.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { containerLimits, podContainers, podResources } from '../policies/pod-resources.ts';
import { parseQuantity } from '../lib/quantity.ts';
import type { KubeHttp } from './reconciler-http.ts';
import { describeApiError, statusCodeOf } from './reconciler-kube.ts';
import type { WatchEventType, WatchedObject } from './reconciler-watch.ts';

export const LEDGER_NAME = 'k8s-ee-capacity';
export const RESERVATIONS_ANNOTATION = 'k8s-ee.io/reservations';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (o: unknown, key: string): unknown => (isObj(o) ? o[key] : undefined);

const amountOf = (resources: unknown, key: 'cpu' | 'memory'): bigint => {
  const text = field(resources, key);
  return typeof text === 'string' || typeof text === 'number' ? (parseQuantity(text) ?? 0n) : 0n;
};

/** A Node's allocatable CPU and memory; an unschedulable (cordoned) node gives nothing. */
export function nodeAllocatable(node: unknown): Amounts {
  if (field(field(node, 'spec'), 'unschedulable') === true) return ZERO;
  const allocatable = field(field(node, 'status'), 'allocatable');
  return { cpu: amountOf(allocatable, 'cpu'), memory: amountOf(allocatable, 'memory') };
}

const NO_LIMITS = containerLimits({});

/** What a pod requests as the scheduler counts it (containers, init containers, sidecars, overhead). */
export function podRequests(pod: unknown): Amounts {
  const spec = field(pod, 'spec');
  if (!isObj(spec)) return ZERO;
  const { requests } = podResources(spec, podContainers(spec, NO_LIMITS));
  const overhead = field(spec, 'overhead');
  return {
    cpu: (requests['cpu'] ?? 0n) + amountOf(overhead, 'cpu'),
    memory: (requests['memory'] ?? 0n) + amountOf(overhead, 'memory'),
  };
}

const isFinished = (pod: unknown): boolean => {
  const phase = field(field(pod, 'status'), 'phase');
  return phase === 'Succeeded' || phase === 'Failed';
};

/** Node allocatable and the requests of pods outside PR namespaces, fed by watch events. */
export class CapacityCache {
  private readonly config: Config;
  private readonly nodes = new Map<string, Amounts>();
  private readonly pods = new Map<string, Amounts>();
  private sums: { allocatable: Amounts; others: Amounts } | undefined;

  constructor(config: Config) {
    this.config = config;
  }

  onNode(type: WatchEventType, node: WatchedObject): void {
    const name = node.metadata?.name ?? '';
    if (type === 'DELETED') this.nodes.delete(name);
    else this.nodes.set(name, nodeAllocatable(node));
    this.sums = undefined;
  }

  onPod(type: WatchEventType, pod: WatchedObject): void {
    const namespace = pod.metadata?.namespace ?? '';
    const key = `${namespace}/${pod.metadata?.name ?? ''}`;
    // PR namespaces are counted by their quotas, finished pods hold nothing.
    if (type === 'DELETED' || isFinished(pod) || matchNamespace(namespace, this.config)) this.pods.delete(key);
    else this.pods.set(key, podRequests(pod));
    this.sums = undefined;
  }

  /** Undefined while no node is known (a control plane without nodes): then resources are not judged. */
  allocatable(): Amounts | undefined {
    return this.nodes.size > 0 ? this.totals().allocatable : undefined;
  }

  others(): Amounts {
    return this.totals().others;
  }

  private totals(): { allocatable: Amounts; others: Amounts } {
    if (!this.sums) {
      const sum = (values: Iterable<Amounts>): Amounts => {
        let total = ZERO;
        for (const v of values) total = { cpu: total.cpu + v.cpu, memory: total.memory + v.memory };
        return total;
      };
      this.sums = { allocatable: sum(this.nodes.values()), others: sum(this.pods.values()) };
    }
    return this.sums;
  }
}

/** A grant not yet visible to every cache: the namespace and the requests its quota will reserve. */
export interface Reservation {
  namespace: string;
  requests: Amounts;
  /** Epoch milliseconds. */
  at: number;
}

export interface Ledger {
  reservations: Reservation[];
  /** Empty when the ledger does not exist yet. */
  resourceVersion: string;
}

/** The narrow API of the ledger; a memory one in tests. */
export interface LedgerStore {
  read(): Promise<Ledger>;
  /** Writes `reservations` if the ledger is unchanged since `read` (or still absent); false when it changed. */
  write(previous: Ledger, reservations: Reservation[]): Promise<boolean>;
}

/** What the gate sees of the cluster at one moment. */
export interface CapacitySource {
  /** The PR environments (not being deleted), with the requests their quotas reserve. */
  environments(): EnvironmentUse[];
  allocatable(): Amounts | undefined;
  others(): Amounts;
  /** When the namespace was seen going away (deleted or terminating): grants older than that no longer count. */
  departedAt?(namespace: string): number | undefined;
}

/** When the pin of a namespace expires: its first pin (or the latest, when earlier or the only one) + maxDuration. */
export function pinnedUntil(annotations: Record<string, string>, config: Pick<Config, 'pins'>): string | undefined {
  const times = [annotations[ANNOTATIONS.firstPinnedAt], annotations[ANNOTATIONS.pinnedAt]]
    .map((t) => (t ? Date.parse(t) : NaN))
    .filter((t) => !Number.isNaN(t));
  const max = parseDuration(config.pins.maxDuration);
  if (times.length === 0 || max === undefined) return undefined;
  return new Date(Math.min(...times) + max).toISOString();
}

/**
 * A cached PR namespace as the gate counts it: the requests of its quota, or, before the quota exists, of the quota
 * its declaration implies.
 */
export function environmentUseOf(e: CachedEnvironment, config: Pick<Config, 'pins' | 'quota'>): EnvironmentUse {
  const requests = requestsOfQuota(e.quotaHard ?? quotaHard(declaredDatabases(e.environment).databases, config));
  const pinned = e.labels[config.pins.label] === config.pins.value;
  const until = pinned ? pinnedUntil(e.annotations, config) : undefined;
  return {
    namespace: e.name,
    requests,
    ...(e.createdAt ? { createdAt: e.createdAt } : {}),
    pinned,
    ...(until ? { pinnedUntil: until } : {}),
  };
}

export type CapacityAnswer =
  | { ok: true }
  | { ok: false; shortfalls: Shortfall[]; environments: EnvironmentUse[] }
  | { ok: false; busy: true; environments: EnvironmentUse[] };

const maxOf = (a: Amounts, b: Amounts): Amounts => ({
  cpu: a.cpu > b.cpu ? a.cpu : b.cpu,
  memory: a.memory > b.memory ? a.memory : b.memory,
});

/** The environments the cache knows, grown or completed by the grants that still count. */
export function withReservations(
  environments: readonly EnvironmentUse[],
  reservations: readonly Reservation[],
): EnvironmentUse[] {
  const out = new Map(environments.map((e) => [e.namespace, e]));
  for (const r of reservations) {
    const known = out.get(r.namespace);
    out.set(
      r.namespace,
      known
        ? { ...known, requests: maxOf(known.requests, r.requests) }
        : { namespace: r.namespace, requests: r.requests, createdAt: new Date(r.at).toISOString(), pinned: false },
    );
  }
  return [...out.values()];
}

export interface ReserveInput {
  request: CapacityRequest;
  source: CapacitySource;
  config: Pick<Config, 'capacity'>;
  now: () => number;
  /** How long a grant counts without being visible in the cache (default 30 s). */
  grantMs: number;
  dryRun: boolean;
  /** Rounds of read-decide-write before giving up (concurrent grants each win one round). */
  rounds?: number;
  /** Whether a grant's namespace is one this gate counts (its namespace pattern); default: all. */
  counts?: (namespace: string) => boolean;
}

/** The grants that still count: recent, for a namespace this gate counts, not gone since they were made. */
const recent = (r: Reservation, grantMs: number, now: number): boolean => now - r.at < grantMs && r.at <= now + grantMs;

function liveReservations(ledger: Ledger, input: ReserveInput, now: number): Reservation[] {
  return ledger.reservations.filter((r) => {
    if (!recent(r, input.grantMs, now)) return false;
    if (input.counts && !input.counts(r.namespace)) return false;
    const departed = input.source.departedAt?.(r.namespace);
    return departed === undefined || departed < r.at;
  });
}

/**
 * Grants capacity to `request.namespace` or refuses it. A dry-run request is answered without writing. Each round
 * reads the ledger, decides on the source's state plus the grants still counting, and writes the grant with the
 * ledger's resourceVersion as precondition; a lost race starts another round after a short random pause.
 */
export async function reserveCapacity(store: LedgerStore, input: ReserveInput): Promise<CapacityAnswer> {
  const rounds = input.rounds ?? 30;
  let environments: EnvironmentUse[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const ledger = await store.read();
    const now = input.now();
    const live = liveReservations(ledger, input, now);
    const state: CapacityState = {
      environments: withReservations(input.source.environments(), live),
      allocatable: input.source.allocatable(),
      others: input.source.others(),
    };
    environments = [...state.environments];
    const verdict = decideCapacity(input.request, state, input.config);
    if (!verdict.ok) return { ok: false, shortfalls: verdict.shortfalls, environments };
    if (input.dryRun) return { ok: true };
    const mine = { namespace: input.request.namespace, requests: input.request.requests, at: now };
    // Only lapsed grants leave the ledger: the others may count for gates of other namespace patterns.
    const rest = ledger.reservations.filter((r) => recent(r, input.grantMs, now) && r.namespace !== mine.namespace);
    if (await store.write(ledger, [...rest, mine])) return { ok: true };
    await sleep(5 + Math.floor(Math.random() * 20));
  }
  return { ok: false, busy: true, environments };
}

interface ReservationJson {
  namespace?: unknown;
  cpu?: unknown;
  memory?: unknown;
  at?: unknown;
}

/** The reservations of the ledger's annotation; unreadable entries are dropped (they would only block). */
export function parseReservations(text: string | undefined): Reservation[] {
  if (!text) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return (list as ReservationJson[]).flatMap((r) => {
    const at = typeof r.at === 'string' ? Date.parse(r.at) : NaN;
    const cpu = typeof r.cpu === 'string' ? parseQuantity(r.cpu) : undefined;
    const memory = typeof r.memory === 'string' ? parseQuantity(r.memory) : undefined;
    if (typeof r.namespace !== 'string' || Number.isNaN(at) || cpu === undefined || memory === undefined) return [];
    return [{ namespace: r.namespace, requests: { cpu, memory }, at }];
  });
}

export function formatReservations(reservations: readonly Reservation[]): string {
  return JSON.stringify(
    reservations.map((r) => ({
      namespace: r.namespace,
      cpu: `${r.requests.cpu}m`,
      memory: `${r.requests.memory}m`,
      at: new Date(r.at).toISOString(),
    })),
  );
}

interface LeaseJson {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
}

const LEDGER_LABELS = { 'app.kubernetes.io/part-of': 'k8s-ee', 'app.kubernetes.io/component': 'capacity' };

/** The ledger as a Lease in `namespace` (k8s-ee's own: its Role may get, create and update Leases there). */
export function kubeLedger(http: KubeHttp, namespace: string): LedgerStore {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const query = { fieldManager: FIELD_MANAGER };
  const body = (reservations: Reservation[], resourceVersion?: string) => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: LEDGER_NAME,
      namespace,
      labels: LEDGER_LABELS,
      annotations: { [RESERVATIONS_ANNOTATION]: formatReservations(reservations) },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: {},
  });
  return {
    read: async () => {
      try {
        const lease = await http.request<LeaseJson>('GET', `${collection}/${LEDGER_NAME}`);
        return {
          reservations: parseReservations(lease.metadata?.annotations?.[RESERVATIONS_ANNOTATION]),
          resourceVersion: lease.metadata?.resourceVersion ?? '',
        };
      } catch (error) {
        if (statusCodeOf(error) === 404) return { reservations: [], resourceVersion: '' };
        throw error;
      }
    },
    write: async (previous, reservations) => {
      try {
        if (previous.resourceVersion)
          await http.request('PUT', `${collection}/${LEDGER_NAME}`, {
            query,
            body: body(reservations, previous.resourceVersion),
          });
        else await http.request('POST', collection, { query, body: body(reservations) });
        return true;
      } catch (error) {
        if (statusCodeOf(error) === 409) return false;
        throw error;
      }
    },
  };
}

/** The ledger in memory, with the API server's semantics (a stale resourceVersion or a second create: false). */
export function memoryLedger(): LedgerStore & { writes: number; ledger: Ledger } {
  let version = 0;
  const store = {
    writes: 0,
    ledger: { reservations: [] as Reservation[], resourceVersion: '' },
    read: () => Promise.resolve({ ...store.ledger, reservations: [...store.ledger.reservations] }),
    write: (previous: Ledger, reservations: Reservation[]) => {
      if (previous.resourceVersion !== store.ledger.resourceVersion) return Promise.resolve(false);
      store.writes += 1;
      store.ledger = { reservations: [...reservations], resourceVersion: String(++version) };
      return Promise.resolve(true);
    },
  };
  return store;
}

export interface CapacityGateOptions {
  source: CapacitySource;
  ledger: LedgerStore;
  config: Config;
  log: Logger;
  registry?: Registry;
  now?: () => number;
  grantMs?: number;
  /** The last Helm deploy of each namespace, read only to word a refusal (best effort). */
  lastDeploys?: () => Promise<Record<string, LastDeploy>>;
}

const REFUSAL_REASONS = ['count', 'cpu', 'memory', 'busy'] as const;

function registerMetrics(opts: CapacityGateOptions): Counter {
  const { registry, source, config } = opts;
  const registers = registry ? [registry] : [];
  const refusals = new Counter({
    name: 'k8s_ee_capacity_refusals_total',
    help: 'PR environments refused (or not allowed to grow) for capacity, by reason: count (capacity.maxEnvironments), cpu, memory, busy (too many grants at once)',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of REFUSAL_REASONS) refusals.inc({ reason }, 0);
  const unit = (r: CapacityResource, v: bigint): number => (r === 'cpu' ? Number(v) / 1000 : Number(v / 1000n));
  const gauge = (
    name: string,
    help: string,
    value: (use: ReturnType<typeof capacityUse>, r: CapacityResource) => bigint | undefined,
  ) =>
    new Gauge({
      name,
      help: `${help} (cpu in cores, memory in bytes)`,
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        const state = {
          environments: source.environments(),
          allocatable: source.allocatable(),
          others: source.others(),
        };
        const use = capacityUse(state, config);
        for (const r of CAPACITY_RESOURCES) {
          const v = value(use, r);
          if (v !== undefined) this.set({ resource: r }, unit(r, v));
        }
      },
    });
  gauge(
    'k8s_ee_capacity_allocatable',
    "The schedulable nodes' allocatable capacity",
    (_u, r) => source.allocatable()?.[r],
  );
  gauge(
    'k8s_ee_capacity_other_requests',
    'Requests of running pods outside PR namespaces',
    (_u, r) => source.others()[r],
  );
  gauge(
    'k8s_ee_capacity_budget',
    'What PR quotas may reserve: overcommit × (allocatable − other requests)',
    (u, r) => u.budget?.[r],
  );
  gauge('k8s_ee_capacity_used', 'What the quotas of PR environments reserve (requests)', (u, r) => u.granted[r]);
  gauge(
    'k8s_ee_capacity_free',
    'What PR quotas may still reserve (budget − used; negative when overcommitted)',
    (u, r) => (u.budget ? u.budget[r] - u.granted[r] : undefined),
  );
  new Gauge({
    name: 'k8s_ee_capacity_environments',
    help: 'PR environments counted by the capacity gate, and the configured maximum (limit="max"; absent when unset)',
    labelNames: ['limit'],
    registers,
    collect() {
      this.reset();
      this.set({ limit: 'count' }, source.environments().length);
      if (config.capacity.maxEnvironments !== null) this.set({ limit: 'max' }, config.capacity.maxEnvironments);
    },
  });
  return refusals;
}

/** The requests a namespace's quota will reserve once this environment ConfigMap is stored. */
function grownRequests(configMap: unknown, config: Config): Amounts {
  return requestsOfQuota(quotaHard(declaredDatabases(configMap).databases, config));
}

/** The gate of the webhook process: reserves capacity through the ledger, words refusals, counts them. */
export function createCapacityGate(opts: CapacityGateOptions): NonNullable<ClusterServices['reserveCapacity']> {
  const refusals = registerMetrics(opts);
  const now = opts.now ?? Date.now;
  const fallback = memoryLedger();
  let ledgerMissing = false;
  const reserve = async (request: CapacityRequest, dryRun: boolean): Promise<CapacityAnswer> => {
    const input = {
      request,
      source: opts.source,
      config: opts.config,
      now,
      grantMs: opts.grantMs ?? 30_000,
      dryRun,
      counts: (namespace: string) => matchNamespace(namespace, opts.config) !== undefined,
    };
    if (ledgerMissing) return reserveCapacity(fallback, input);
    try {
      return await reserveCapacity(opts.ledger, input);
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
      opts.log.warn(
        { err: error },
        'capacity: the namespace of the capacity ledger does not exist, so grants are counted by this replica alone (run k8s-ee in its own namespace)',
      );
      ledgerMissing = true;
      return reserveCapacity(fallback, input);
    }
  };
  return async (namespace, configMap, { dryRun }) => {
    const request = requestOf(namespace, configMap, opts);
    if (!request) return { ok: true };
    let answer: CapacityAnswer;
    try {
      answer = await reserve(request, dryRun);
    } catch (error) {
      opts.log.error({ namespace, err: error }, 'capacity: could not read or write the capacity ledger');
      const message = `k8s-ee could not check whether ${namespace} fits the cluster (${describeApiError(error)})`;
      return refusal(request, message, 'this is temporary: run this deploy again in a few seconds');
    }
    if (answer.ok) return answer;
    const reasons =
      'busy' in answer ? ['busy'] : answer.shortfalls.map((s) => (s.kind === 'count' ? 'count' : s.resource));
    for (const reason of reasons) refusals.inc({ reason });
    opts.log.info({ namespace, reasons, grows: request.grows === true }, 'capacity: PR environment refused');
    if ('busy' in answer) {
      const message = `too many PR environments are being created at this very moment to grant ${namespace} its room safely`;
      return refusal(request, message, 'run this deploy again in a few seconds');
    }
    const environments = await withLastDeploys(answer.environments, opts.lastDeploys);
    return { ok: false, violation: capacityViolation(request, answer, environments, opts.config, now()) };
  };
}

type GateRequest = CapacityRequest & { grows?: boolean };

/**
 * What to judge: a new environment (no ConfigMap) with the base quota's requests; an environment ConfigMap that
 * grows the quota with its grown requests; undefined when the ConfigMap grows nothing.
 */
function requestOf(namespace: string, configMap: unknown, opts: CapacityGateOptions): GateRequest | undefined {
  if (configMap === undefined) return { namespace, requests: grownRequests(undefined, opts.config) };
  const current = opts.source.environments().find((e) => e.namespace === namespace);
  const grown = grownRequests(configMap, opts.config);
  if (current && grown.cpu <= current.requests.cpu && grown.memory <= current.requests.memory) return undefined;
  return { namespace, requests: current ? maxOf(current.requests, grown) : grown, grows: true };
}

const refusal = (request: GateRequest, message: string, fix: string): CapacityGrant => ({
  ok: false,
  violation: { rule: 'capacity', path: request.grows ? 'data' : 'metadata.name', message, fix },
});

/** The environments with their last Helm deploy, when it can be read (it only words the refusal). */
async function withLastDeploys(
  environments: EnvironmentUse[],
  lastDeploys: CapacityGateOptions['lastDeploys'],
): Promise<EnvironmentUse[]> {
  const deploys: Record<string, LastDeploy> = await (lastDeploys?.() ?? Promise.resolve({})).catch(() => ({}));
  return environments.map((e) => {
    const deploy = deploys[e.namespace];
    return deploy ? { ...e, lastDeploy: deploy } : e;
  });
}

/** The newest live release of each namespace, from Helm's release records (sweeper/helm.ts). */
export function lastDeployOf(records: Record<string, ReleaseRecord[]>): Record<string, LastDeploy> {
  const out: Record<string, LastDeploy> = {};
  for (const [namespace, list] of Object.entries(records)) {
    const newest = liveReleases(list).reduce<ReleaseRecord | undefined>(
      (a, b) => (!a || Date.parse(b.createdAt) > Date.parse(a.createdAt) ? b : a),
      undefined,
    );
    if (newest) out[namespace] = { release: newest.release, revision: newest.revision, at: newest.createdAt };
  }
  return out;
}
