// What the admission handlers need from the cluster: the zero-window baseline gate and the list of pinned
// namespaces (read at most every `pinsCacheMs`, concurrent callers sharing one request).
import type { KubeAccess } from '../lib/kube-access.ts';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/log.ts';
import type { Config } from '../policies/config.ts';
import { LABELS } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import {
  createCapacityGate,
  kubeLedger,
  lastDeployOf,
  type CapacityGateOptions,
  type CapacitySource,
} from './capacity.ts';
import type { LastDeploy } from '../policies/capacity.ts';
import { createGate, type GateOptions } from './gate.ts';
import { releasePinSlot, reservePinSlot, kubePinSlots, type PinAnswer, type PinSlotStore } from './pin-slots.ts';
import { ownNamespace } from './reconciler.ts';
import { kubeHttp, type KubeHttp } from './reconciler-http.ts';
import { kubeBaselineClient, statusCodeOf, type BaselineClient } from './reconciler-kube.ts';
import type { ClusterServices } from './types.ts';

export interface ClusterServicesOptions {
  kc: KubeAccess;
  config: Config;
  log: Logger;
  registry: Registry;
  /** The API client to share (default: one of its own). */
  http?: KubeHttp;
  pinsCacheMs?: number;
  /** How long a granted pin counts before the API server is expected to show it (default 10 s). */
  pinGrantMs?: number;
  /** Where pins are arbitrated across replicas (webhooks/pin-slots.ts); without it, per process. */
  pinSlots?: PinSlotStore;
  /** The capacity gate (webhooks/capacity.ts); without it, no capacity-aware admission. */
  capacity?: Omit<CapacityGateOptions, 'config' | 'log' | 'registry'>;
  /** The reconciler's view of the environment ConfigMaps, for the baseline gate (webhooks/gate.ts). */
  watchedEnvironment?: GateOptions['watchedEnvironment'];
}

function capacityGateOf(opts: Omit<ClusterServicesOptions, 'kc'> & { now?: () => number }) {
  if (!opts.capacity) return {};
  const { config, log, registry, now } = opts;
  return { reserveCapacity: createCapacityGate({ ...opts.capacity, config, log, registry, ...(now ? { now } : {}) }) };
}

export function createClusterServicesWith(
  client: BaselineClient,
  opts: Omit<ClusterServicesOptions, 'kc'> & { now?: () => number; quotaWaitMs?: number },
): ClusterServices {
  const gate = createGate({
    client,
    config: opts.config,
    log: opts.log,
    registry: opts.registry,
    now: opts.now,
    quotaWaitMs: opts.quotaWaitMs,
    ...(opts.watchedEnvironment ? { watchedEnvironment: opts.watchedEnvironment } : {}),
  });
  const now = opts.now ?? Date.now;
  // Asked only when a pin appears (rare), and a stale answer would let a burst of pins past the limit: no cache by default.
  const pinsCacheMs = opts.pinsCacheMs ?? 0;
  const { label, value } = opts.config.pins;
  let pins: { at: number; names: Promise<string[]> } | undefined;
  const readPins = async (): Promise<string[]> => {
    const namespaces = await client.listNamespaces(`${label}=${value},${LABELS.managed}=true`);
    return namespaces.filter((ns) => !ns.terminating && matchNamespace(ns.name, opts.config)).map((ns) => ns.name);
  };
  const pinnedNamespaces = async (): Promise<string[]> => {
    if (!pins || now() - pins.at >= pinsCacheMs) {
      const names = readPins();
      pins = { at: now(), names };
      names.catch(() => (pins = undefined)); // a failed read is not cached
    }
    return [...(await pins.names)];
  };
  // Pins granted here that the API server may not show yet (the request is still in admission): name -> until.
  const granted = new Map<string, number>();
  const grantMs = opts.pinGrantMs ?? 10_000;
  let queue: Promise<unknown> = Promise.resolve();
  /** Without slots in the API server (no store, or its namespace missing): this process's grants only. */
  const decideInProcess = async (namespace: string, limit: number, dryRun: boolean): Promise<PinAnswer> => {
    for (const [name, until] of granted) if (until <= now()) granted.delete(name);
    const pinned = (await pinnedNamespaces()).filter((n) => n !== namespace).sort();
    const others = new Set([...pinned, ...granted.keys()]);
    others.delete(namespace);
    if (others.size >= limit) return { ok: false, pinned, pending: others.size - pinned.length };
    if (!dryRun) granted.set(namespace, now() + grantMs);
    return { ok: true };
  };
  let slotsMissing = false;
  const decideBySlots = async (store: PinSlotStore, namespace: string, limit: number, dryRun: boolean) => {
    try {
      const pinned = await pinnedNamespaces();
      return await reservePinSlot(store, { namespace, limit, pinned, grantMs, now, dryRun });
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
      if (!slotsMissing) {
        opts.log.warn(
          { err: error },
          'pins: the namespace of the pin slots does not exist, so pins are counted by this replica alone (run k8s-ee in its own namespace)',
        );
      }
      slotsMissing = true;
      return decideInProcess(namespace, limit, dryRun);
    }
  };
  const reservePin: ClusterServices['reservePin'] = (namespace, limit, { dryRun }) => {
    const decide = (): Promise<PinAnswer> =>
      opts.pinSlots
        ? decideBySlots(opts.pinSlots, namespace, limit, dryRun)
        : decideInProcess(namespace, limit, dryRun);
    const result = queue.then(decide, decide);
    queue = result.catch(() => undefined);
    return result;
  };
  const releasePin = async (namespace: string): Promise<void> => {
    granted.delete(namespace);
    if (opts.pinSlots) await releasePinSlot(opts.pinSlots, namespace);
  };
  return {
    ...capacityGateOf(opts),
    releasePin,
    ensureBaseline: (namespace, options) => gate.ensure(namespace, options),
    ensureEnvironment: (namespace, configMap, options) => gate.ensureEnvironment(namespace, configMap, options),
    pinnedNamespaces,
    reservePin,
  };
}

/**
 * The ClusterServices of the webhook process, backed by the API server of `kc`; with a capacity source (the
 * reconciler's watch caches), the capacity gate too, its grants arbitrated by a Lease in k8s-ee's own namespace.
 */
export function createClusterServices(
  opts: ClusterServicesOptions & { capacitySource?: CapacitySource },
): ClusterServices {
  const http = opts.http ?? kubeHttp(opts.kc);
  const own = ownNamespace(opts.config);
  const capacity = opts.capacitySource
    ? { source: opts.capacitySource, ledger: kubeLedger(http, own), lastDeploys: () => lastDeploys(http) }
    : undefined;
  return createClusterServicesWith(kubeBaselineClient(opts.kc, http), {
    pinSlots: kubePinSlots(http, own),
    ...(capacity ? { capacity } : {}),
    ...opts,
  });
}

/** The newest live Helm release of every namespace (release records' metadata only): words a capacity refusal. */
async function lastDeploys(http: KubeHttp): Promise<Record<string, LastDeploy>> {
  const { listReleaseRecordsWith } = await import('../sweeper/kube.ts');
  return lastDeployOf(await listReleaseRecordsWith(http));
}
