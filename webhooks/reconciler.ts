// The baseline reconciler of the webhook process: watches namespaces, environment ConfigMaps and the baseline
// objects (and, for the capacity gate, nodes and running pods: webhooks/capacity.ts), and keeps every managed
// namespace's baseline exactly as configured (written under the field manager k8s-ee: webhooks/reconciler-kube.ts).
// With several replicas only the holder of a Lease writes; the others keep warm caches.
import type { KubeAccess } from '../lib/kube-access.ts';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { startLeaderElection, type LeaderElection } from '../lib/leader.ts';
import type { Logger } from '../lib/log.ts';
import { reduceMemory } from '../lib/memory.ts';
import { BASELINE_KINDS, BASELINE_SELECTOR } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import { ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { sharedCounter } from './gate.ts';
import { ReconcilerCore } from './reconciler-core.ts';
import { CapacityCache, environmentUseOf, type CapacitySource } from './capacity.ts';
import { kubeHttp, type KubeHttp } from './reconciler-http.ts';
import { kubeBaselineClient, type BaselineClient } from './reconciler-kube.ts';
import {
  createResilientWatch,
  type ResilientWatch,
  type ResilientWatchOptions,
  type WatchedObject,
  type WatchEventType,
} from './reconciler-watch.ts';

export interface ReconcilerOptions {
  kc: KubeAccess;
  config: Config;
  log: Logger;
  registry: Registry;
  identity: string;
  /** Where the Lease lives: default $K8S_EE_NAMESPACE, $POD_NAMESPACE, or the namespace of config.selfUser. */
  leaseNamespace?: string;
  leaseName?: string;
  leaseSeconds?: number;
  /** false: act as the only reconciler (no Lease). */
  leaderElection?: boolean;
  workers?: number;
  /**
   * Every managed namespace is checked again this often, whatever the watches said, but those whose last plan found
   * nothing to do and that no event touched since (ReconcilerCore.resync). Default 5 min.
   */
  resyncMs?: number;
  /** A watch with no event and no bookmark for this long is restarted. Default 90 s. */
  watchIdleMs?: number;
  client?: BaselineClient;
  /** The API client to share (default: one of its own, closed by stop()). */
  http?: KubeHttp;
}

export interface Reconciler {
  /** What the capacity gate counts: PR environments, node allocatable, other pods' requests (watch caches). */
  capacity: CapacitySource;
  /**
   * A namespace's environment ConfigMap as the configmaps watch last saw it, or undefined while that watch is not
   * synced (the baseline gate's fast path, webhooks/gate.ts watchedEnvironment).
   */
  watchedEnvironment(namespace: string): { environment: unknown } | undefined;
  stop(): Promise<void>;
  ready(): boolean;
  /** For tests: whether this replica currently writes. */
  isLeader(): boolean;
}

export const LEASE_NAME = 'k8s-ee-baseline-reconciler';

/** The namespace k8s-ee runs in: from the environment, else from its ServiceAccount user name. */
export function ownNamespace(config: Pick<Config, 'selfUser'>, env: NodeJS.ProcessEnv = process.env): string {
  const fromUser = /^system:serviceaccount:([^:]+):/.exec(config.selfUser)?.[1];
  return env['K8S_EE_NAMESPACE'] || env['POD_NAMESPACE'] || fromUser || 'default';
}

function createMetrics(registry: Registry, core: () => ReconcilerCore) {
  const reconcileSeconds = new Histogram({
    name: 'k8s_ee_baseline_reconcile_seconds',
    help: 'Time to reconcile the baseline of one namespace, by outcome (noop, changed, error)',
    labelNames: ['outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const repairs = sharedCounter(
    registry,
    'k8s_ee_baseline_repairs_total',
    'Baseline objects re-applied after someone changed or deleted them, by kind',
    ['kind'],
  );
  const leader = new Gauge({
    name: 'k8s_ee_baseline_reconciler_leader',
    help: '1 while this replica is the baseline reconciler that writes',
    registers: [registry],
  });
  new Gauge({
    name: 'k8s_ee_namespaces_managed',
    help: 'Managed PR namespaces that are not being deleted',
    registers: [registry],
    collect() {
      this.set(core().managedCount());
    },
  });
  const watchRestarts = sharedCounter(
    registry,
    'k8s_ee_watch_restarts_total',
    'Watches restarted, by resource and reason (idle: silent for too long; error; ended; expired)',
    ['resource', 'reason'],
  );
  return { reconcileSeconds, repairs, leader, watchRestarts };
}

function startElection(
  opts: ReconcilerOptions,
  client: BaselineClient,
  core: ReconcilerCore,
  http: KubeHttp,
): { stop(): Promise<void> } {
  if (opts.leaderElection === false) {
    core.setLeader(true);
    return { stop: () => Promise.resolve() };
  }
  const namespace = opts.leaseNamespace ?? ownNamespace(opts.config);
  let election: LeaderElection | undefined;
  let stopped = false;
  const starting = client.readNamespace(namespace).then(
    (ns) => {
      if (stopped) return;
      if (!ns) {
        opts.log.warn(
          { namespace },
          'baseline reconciler: the Lease namespace does not exist, so this replica reconciles alone (run it in its own namespace to elect a leader)',
        );
        core.setLeader(true);
        return;
      }
      election = startLeaderElection({
        kc: opts.kc,
        http,
        namespace,
        name: opts.leaseName ?? LEASE_NAME,
        identity: opts.identity,
        leaseSeconds: opts.leaseSeconds,
        log: opts.log,
        onStart: () => core.setLeader(true),
        onStop: () => core.setLeader(false),
      });
    },
    (error: unknown) => {
      opts.log.error(
        { err: error, namespace },
        'baseline reconciler: cannot read the Lease namespace; reconciling alone',
      );
      core.setLeader(true);
    },
  );
  return {
    stop: async () => {
      stopped = true;
      await starting;
      await election?.stop();
    },
  };
}

/** The reconciler's queue and caches; once a burst of reconciles is over, V8 is asked for the memory it grew. */
function createCore(
  opts: ReconcilerOptions,
  client: BaselineClient,
  metrics: ReturnType<typeof createMetrics>,
): ReconcilerCore {
  const afterBurst = (): void => {
    if (reduceMemory()) opts.log.info('baseline reconciler: burst over; V8 asked to give back the memory it grew');
  };
  return new ReconcilerCore({ client, config: opts.config, log: opts.log, metrics, workers: opts.workers, afterBurst });
}

/** The watch on the environment ConfigMaps of every namespace (one name, a field selector). */
function environmentWatch(c: ReconcilerCore) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: '/api/v1/configmaps',
    fieldSelector: `metadata.name=${ENVIRONMENT_CONFIGMAP}`,
    onEvent: (t: WatchEventType, o: WatchedObject) => c.onEnvironment(t, o),
    versions: c.environmentVersions(),
  };
}

/** Starts the watches, the workers and (unless disabled) the leader election. */
export function startReconciler(opts: ReconcilerOptions): Reconciler {
  const http = opts.http ?? kubeHttp(opts.kc);
  const client = opts.client ?? kubeBaselineClient(opts.kc, http);
  const metrics = createMetrics(opts.registry, () => c);
  const c = createCore(opts, client, metrics);
  const capacity = new CapacityCache(opts.config);
  const watch = (
    resource: string,
    spec: Pick<
      ResilientWatchOptions,
      'apiVersion' | 'kind' | 'path' | 'labelSelector' | 'fieldSelector' | 'onEvent' | 'versions'
    >,
  ): ResilientWatch =>
    createResilientWatch({
      ...spec,
      kc: opts.kc,
      http,
      log: opts.log,
      idleMs: opts.watchIdleMs,
      onRestart: (reason) => metrics.watchRestarts.inc({ resource, reason }),
    });
  const environments = watch('configmaps', environmentWatch(c));
  const watches = [
    watch('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      path: '/api/v1/namespaces',
      onEvent: (t, o) => c.onNamespace(t, o),
      versions: c.namespaceVersions(),
    }),
    environments,
    ...BASELINE_KINDS.map((k) =>
      watch(k.plural, {
        apiVersion: k.apiVersion,
        kind: k.kind,
        path: k.path,
        labelSelector: BASELINE_SELECTOR,
        onEvent: (t, o) => c.onBaselineObject(t, o),
        versions: c.baselineVersions(k.kind),
      }),
    ),
    // The capacity gate: the nodes' allocatable capacity and the requests of running pods outside PR namespaces.
    watch('nodes', { apiVersion: 'v1', kind: 'Node', path: '/api/v1/nodes', onEvent: (t, o) => capacity.onNode(t, o) }),
    watch('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      path: '/api/v1/pods',
      fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed',
      onEvent: (t, o) => capacity.onPod(t, o),
    }),
  ];
  for (const w of watches) void w.start();
  const election = startElection(opts, client, c, http);
  const resync = setInterval(() => c.resync(), opts.resyncMs ?? 300_000);
  resync.unref();
  opts.log.info({ identity: opts.identity }, 'baseline reconciler started');
  return {
    capacity: {
      environments: () => c.environments().map((e) => environmentUseOf(e, opts.config)),
      allocatable: () => capacity.allocatable(),
      others: () => capacity.others(),
      departedAt: (name) => c.departedAt(name),
    },
    watchedEnvironment: (namespace) => (environments.synced() ? { environment: c.declaration(namespace) } : undefined),
    ready: () => watches.every((w) => w.synced()),
    isLeader: () => c.isLeader(),
    stop: async () => {
      clearInterval(resync);
      await election.stop();
      await Promise.all(watches.map((w) => w.stop()));
      await c.stop();
      if (!opts.http) http.close();
    },
  };
}
