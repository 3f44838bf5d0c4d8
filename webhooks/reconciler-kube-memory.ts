// An in-memory BaselineClient for tests of the gate and the reconciler: objects with resource versions, a quota
// "controller" that fills status.hard (at once, after a delay, or never), call counts and injectable failures.
import type { BaselineKind, BaselineObject } from '../policies/baseline.ts';
import { ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import type { BaselineClient, LiveBaselineObject, NamespaceInfo } from './reconciler-kube.ts';

export interface MemoryCluster extends BaselineClient {
  namespaces: Map<string, NamespaceInfo>;
  objects: Map<string, LiveBaselineObject>;
  environments: Map<string, Record<string, string>>;
  calls: string[];
  /** Milliseconds before the quota status follows the spec; undefined: at once; Infinity: never. */
  quotaStatusDelayMs?: number;
  /** The answer of probeStamp (undefined: admitted); a function is called per probe. */
  probeAnswer?: (() => string | undefined) | string;
  /** When set, every write fails with this error. */
  failWrites?: Error;
}

const key = (kind: string, namespace: string, name: string): string => `${namespace}/${kind}/${name}`;

/** Stores an object as a write does (its status kept), and returns a copy of it as stored. */
function store(cluster: MemoryCluster, object: BaselineObject, resourceVersion: string): LiveBaselineObject {
  const k = key(object.kind, object.metadata.namespace, object.metadata.name);
  const before = cluster.objects.get(k);
  const stored: LiveBaselineObject = {
    ...structuredClone(object),
    status: before?.status,
    metadata: { ...structuredClone(object.metadata), resourceVersion },
  };
  cluster.objects.set(k, stored);
  if (object.kind === 'ResourceQuota') followQuota(cluster, k, object.spec['hard'] as Record<string, string>);
  return structuredClone(stored);
}

export function memoryCluster(): MemoryCluster {
  let version = 0;
  const nextVersion = (): string => String(++version);
  const cluster: MemoryCluster = {
    namespaces: new Map(),
    objects: new Map(),
    environments: new Map(),
    calls: [],
    create: (object: BaselineObject) => {
      cluster.calls.push(`create ${object.kind}/${object.metadata.name}`);
      if (cluster.failWrites) return Promise.reject(cluster.failWrites);
      if (cluster.objects.has(key(object.kind, object.metadata.namespace, object.metadata.name))) {
        return Promise.reject(Object.assign(new Error('already exists'), { code: 409 }));
      }
      return Promise.resolve(store(cluster, object, nextVersion()));
    },
    apply: (object: BaselineObject) => {
      cluster.calls.push(`apply ${object.kind}/${object.metadata.name}`);
      if (cluster.failWrites) return Promise.reject(cluster.failWrites);
      return Promise.resolve(store(cluster, object, nextVersion()));
    },
    replace: (object, _rv) => cluster.apply(object),
    remove: (kind: BaselineKind, namespace: string, name: string) => {
      cluster.calls.push(`delete ${kind}/${name}`);
      cluster.objects.delete(key(kind, namespace, name));
      return Promise.resolve();
    },
    listBaseline: (namespace) => {
      cluster.calls.push(`list ${namespace}`);
      const items = [...cluster.objects.entries()].filter(
        ([k, o]) => k.startsWith(`${namespace}/`) && o.metadata?.labels?.[LABELS.baselineObject] === 'true',
      );
      return Promise.resolve(items.map(([, o]) => structuredClone(o)));
    },
    readQuota: (namespace, name) =>
      Promise.resolve(structuredClone(cluster.objects.get(key('ResourceQuota', namespace, name)))),
    readNamespace: (name) => {
      cluster.calls.push(`get namespace ${name}`);
      return Promise.resolve(structuredClone(cluster.namespaces.get(name)));
    },
    readEnvironment: (namespace) => {
      cluster.calls.push(`get environment ${namespace}`);
      const data = cluster.environments.get(namespace);
      return Promise.resolve(
        data
          ? { kind: 'ConfigMap', metadata: { name: ENVIRONMENT_CONFIGMAP, namespace }, data: { ...data } }
          : undefined,
      );
    },
    stampNamespace: (name, hash) => {
      cluster.calls.push(`stamp ${name}`);
      if (cluster.failWrites) return Promise.reject(cluster.failWrites);
      const ns = cluster.namespaces.get(name);
      if (!ns) return Promise.reject(Object.assign(new Error('not found'), { code: 404 }));
      ns.labels[LABELS.baselineHash] = hash;
      return Promise.resolve();
    },
    labelNamespace: (name, labels) => labelIn(cluster, name, labels),
    probeStamp: (namespace) => {
      cluster.calls.push(`probe ${namespace}`);
      const answer = cluster.probeAnswer;
      return Promise.resolve(typeof answer === 'function' ? answer() : answer);
    },
    listNamespaces: (selector) => {
      cluster.calls.push(`list namespaces ${selector}`);
      const wanted = selector.split(',').map((part) => part.split('='));
      const all = [...cluster.namespaces.values()].filter((ns) =>
        wanted.every(([k, v]) => k !== undefined && ns.labels[k] === v),
      );
      return Promise.resolve(structuredClone(all));
    },
  };
  return cluster;
}

function labelIn(cluster: MemoryCluster, name: string, labels: Record<string, string>): Promise<void> {
  cluster.calls.push(`label ${name} ${Object.keys(labels).sort().join(',')}`);
  if (cluster.failWrites) return Promise.reject(cluster.failWrites);
  const ns = cluster.namespaces.get(name);
  if (!ns) return Promise.reject(Object.assign(new Error('not found'), { code: 404 }));
  Object.assign(ns.labels, labels);
  return Promise.resolve();
}

function followQuota(cluster: MemoryCluster, k: string, hard: Record<string, string>): void {
  const fill = (): void => {
    const quota = cluster.objects.get(k);
    if (quota) quota.status = { hard: { ...hard }, used: Object.fromEntries(Object.keys(hard).map((r) => [r, '0'])) };
  };
  const delay = cluster.quotaStatusDelayMs;
  if (delay === undefined) fill();
  else if (Number.isFinite(delay)) setTimeout(fill, delay).unref();
}

/** Adds a namespace as the API server would hold it. */
export function addNamespace(
  cluster: MemoryCluster,
  name: string,
  labels: Record<string, string> = {},
  terminating = false,
): void {
  cluster.namespaces.set(name, { name, labels: { [LABELS.managed]: 'true', ...labels }, terminating });
}
