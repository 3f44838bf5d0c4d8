// Leader election on a coordination.k8s.io/v1 Lease, the way client-go does it: the holder renews at a third of
// the lease, a follower takes over only after it has seen the same record unchanged for a whole lease (its own
// clock, so clock skew between replicas does not matter), and a leader that cannot renew steps down before anyone
// else may take over. The decision is a pure function; the loop and the API calls are thin edges around it.
// Plain JSON through kubeHttp rather than client-node's CoordinationV1Api: client-node costs ~76 MiB of resident
// memory once loaded (bench/results.md), and a Lease is three requests.
import { kubeHttp, KubeHttpError, type KubeHttp } from '../webhooks/reconciler-http.ts';
import type { KubeAccess } from './kube-access.ts';
import type { Logger } from './log.ts';

/** The fields of a Lease the election reads and writes. */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions?: number;
  /** Optimistic concurrency: an update carries the version it read. */
  resourceVersion?: string;
}

/** The narrow API the election needs; `create`/`update` throw on conflict (409) like the API server. */
export interface LeaseStore {
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaderElectionOptions {
  kc: KubeAccess;
  /** Requests for the Lease (default: one made from kc). */
  http?: KubeHttp;
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds?: number;
  log: Logger;
  onStart?: () => void;
  onStop?: () => void;
}

export interface LeaderElection {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export type LeaseAction =
  | { kind: 'create'; record: LeaseRecord }
  | { kind: 'renew'; record: LeaseRecord }
  | { kind: 'acquire'; record: LeaseRecord }
  | { kind: 'follow'; holder: string };

export interface LeaseInput {
  lease: LeaseRecord | undefined;
  identity: string;
  now: Date;
  /** Local time at which the current record (holder + renewTime + version) was first seen. */
  observedAt: number;
  leaseMs: number;
}

/** What to do given the lease as read now. Pure. */
export function decideLease(input: LeaseInput): LeaseAction {
  const { lease, identity, now, leaseMs } = input;
  const durationSeconds = Math.max(1, Math.ceil(leaseMs / 1000));
  const fresh: LeaseRecord = {
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: now,
    renewTime: now,
  };
  if (!lease) return { kind: 'create', record: { ...fresh, leaseTransitions: 0 } };
  const holder = lease.holderIdentity ?? '';
  if (holder === identity) {
    return { kind: 'renew', record: { ...lease, leaseDurationSeconds: durationSeconds, renewTime: now } };
  }
  const theirMs = (lease.leaseDurationSeconds ?? durationSeconds) * 1000;
  const expired = holder === '' || input.observedAt + theirMs <= now.getTime();
  if (!expired) return { kind: 'follow', holder };
  const transitions = (lease.leaseTransitions ?? 0) + (holder === '' ? 0 : 1);
  return {
    kind: 'acquire',
    record: { ...fresh, leaseTransitions: transitions, resourceVersion: lease.resourceVersion },
  };
}

const fingerprint = (lease: LeaseRecord | undefined): string =>
  lease ? `${lease.holderIdentity ?? ''}|${lease.renewTime?.getTime() ?? ''}|${lease.resourceVersion ?? ''}` : '';

export interface ElectionClock {
  now(): Date;
}

/** Runs an election against any LeaseStore (the real one, or an in-memory one in tests). */
export function startLeaderElectionWithStore(
  store: LeaseStore,
  opts: Omit<LeaderElectionOptions, 'kc' | 'http' | 'namespace' | 'name'> & { clock?: ElectionClock },
): LeaderElection {
  const leaseMs = (opts.leaseSeconds ?? 15) * 1000;
  const clock = opts.clock ?? { now: () => new Date() };
  const state = { leader: false, stopped: false, lastRenew: 0, seen: '', observedAt: 0 };
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const becomeLeader = (): void => {
    state.lastRenew = clock.now().getTime();
    if (state.leader) return;
    state.leader = true;
    opts.log.info({ identity: opts.identity }, 'leader election: acquired the lease');
    opts.onStart?.();
  };
  const stepDown = (why: string): void => {
    if (!state.leader) return;
    state.leader = false;
    opts.log.warn({ identity: opts.identity, why }, 'leader election: lost the lease');
    opts.onStop?.();
  };

  const tick = async (): Promise<void> => {
    const now = clock.now();
    try {
      const lease = await store.get();
      const print = fingerprint(lease);
      if (print !== state.seen) {
        state.seen = print;
        state.observedAt = now.getTime();
      }
      const action = decideLease({ lease, identity: opts.identity, now, observedAt: state.observedAt, leaseMs });
      if (action.kind === 'follow') return stepDown(`held by ${action.holder}`);
      const written = action.kind === 'create' ? await store.create(action.record) : await store.update(action.record);
      state.seen = fingerprint(written);
      state.observedAt = now.getTime();
      becomeLeader();
    } catch (error) {
      opts.log.debug({ err: error, identity: opts.identity }, 'leader election: attempt failed');
      // A leader that cannot renew steps down well before a follower may take over (2/3 of the lease).
      if (state.leader && clock.now().getTime() - state.lastRenew > (leaseMs * 2) / 3)
        stepDown('could not renew in time');
    }
  };

  const loop = (): void => {
    if (state.stopped) return;
    inFlight = tick().finally(() => {
      if (!state.stopped) timer = setTimeout(loop, leaseMs / 3);
    });
  };
  loop();

  return {
    isLeader: () => state.leader,
    stop: async () => {
      state.stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      if (!state.leader) return;
      try {
        const lease = await store.get();
        if (lease?.holderIdentity === opts.identity) {
          await store.update({ ...lease, holderIdentity: '', leaseDurationSeconds: 1, renewTime: clock.now() });
        }
      } catch (error) {
        opts.log.warn({ err: error }, 'leader election: could not release the lease');
      }
      stepDown('stopped');
    },
  };
}

/** The Lease fields the election reads, as the API server sends them (plain JSON through kubeHttp). */
interface LeaseJson {
  metadata?: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

function toRecord(lease: LeaseJson): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    acquireTime: spec.acquireTime ? new Date(spec.acquireTime) : undefined,
    renewTime: spec.renewTime ? new Date(spec.renewTime) : undefined,
    leaseTransitions: spec.leaseTransitions,
    resourceVersion: lease.metadata?.resourceVersion,
  };
}

/** A MicroTime as the API server writes it: RFC 3339 with six fractional digits. */
export const microTime = (date: Date | undefined): string | undefined =>
  date ? date.toISOString().replace(/Z$/, '000Z') : undefined;

function toLease(name: string, namespace: string, record: LeaseRecord): object {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion: record.resourceVersion },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      acquireTime: microTime(record.acquireTime),
      renewTime: microTime(record.renewTime),
      leaseTransitions: record.leaseTransitions,
    },
  };
}

/** A LeaseStore backed by the coordination.k8s.io/v1 API, through plain JSON requests. */
export function kubeLeaseStore(http: KubeHttp, namespace: string, name: string): LeaseStore {
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  return {
    get: async () => {
      try {
        return toRecord(await http.request<LeaseJson>('GET', `${leases}/${name}`));
      } catch (error) {
        if (error instanceof KubeHttpError && error.code === 404) return undefined;
        throw error;
      }
    },
    create: async (record) =>
      toRecord(await http.request<LeaseJson>('POST', leases, { body: toLease(name, namespace, record) })),
    update: async (record) =>
      toRecord(await http.request<LeaseJson>('PUT', `${leases}/${name}`, { body: toLease(name, namespace, record) })),
  };
}

/** Leader election on the Lease `namespace/name`; renews every leaseSeconds/3 (default lease 15 s). */
export function startLeaderElection(opts: LeaderElectionOptions): LeaderElection {
  const http = opts.http ?? kubeHttp(opts.kc);
  const election = startLeaderElectionWithStore(kubeLeaseStore(http, opts.namespace, opts.name), opts);
  return {
    isLeader: () => election.isLeader(),
    stop: async () => {
      await election.stop();
      if (!opts.http) http.close();
    },
  };
}
