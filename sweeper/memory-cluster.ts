// An in-memory implementation of the sweeper's narrow ClusterReader and SweeperApi interfaces, for unit tests of
// the executor and of whole runs (the e2e tests use the real API server). Failures are programmable per method.
import { liveReleases } from './helm.ts';
import { withOnly, type NamespaceKeys } from './plan-namespace.ts';
import type { ClusterReader } from './snapshot.ts';
import type { SweeperApi, SweeperEvent } from './executor.ts';
import type {
  MetadataPatch,
  NamespaceInfo,
  NodeDisk,
  NodeDiskStats,
  PruneJobInfo,
  ReleaseRecord,
  VolumeInfo,
} from './types.ts';

type Method = keyof ClusterReader | keyof SweeperApi;

export class ApiError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

function applyPatch(target: Record<string, string>, patch: Record<string, string | null> | undefined): void {
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) delete target[key];
    else target[key] = value;
  }
}

export class MemoryCluster implements ClusterReader, SweeperApi {
  namespaces = new Map<string, NamespaceInfo>();
  releases: Record<string, ReleaseRecord[]> = {};
  volumes = new Map<string, VolumeInfo>();
  nodes: NodeDisk[] = [];
  events: SweeperEvent[] = [];
  /** Nodes a prune Job was created for, in order. */
  jobs: string[] = [];
  /** The prune Jobs that exist (created ones start running; tests finish them). */
  pruneJobs: PruneJobInfo[] = [];
  calls: string[] = [];
  failures = new Map<Method, ApiError>();
  /** Called after every successful write; lets a test change the cluster in the middle of a run. */
  afterWrite: ((method: Method, name: string) => void) | undefined;

  private check(method: Method, name = ''): void {
    this.calls.push(`${method} ${name}`.trim());
    const failure = this.failures.get(method);
    if (failure) throw failure;
  }

  private wrote(method: Method, name: string): void {
    this.afterWrite?.(method, name);
  }

  addNamespace(ns: NamespaceInfo): void {
    this.namespaces.set(ns.name, structuredClone(ns));
  }

  listNamespaces(keys?: NamespaceKeys): Promise<NamespaceInfo[]> {
    this.check('listNamespaces');
    const all = [...this.namespaces.values()].map((n) => structuredClone(n));
    return Promise.resolve(keys ? all.map((n) => withOnly(n, keys)) : all);
  }
  listReleaseRecords(): Promise<Record<string, ReleaseRecord[]>> {
    this.check('listReleaseRecords');
    return Promise.resolve(structuredClone(this.releases));
  }
  listVolumes(): Promise<VolumeInfo[]> {
    this.check('listVolumes');
    return Promise.resolve([...this.volumes.values()].map((v) => structuredClone(v)));
  }
  listNodeNames(): Promise<string[]> {
    this.check('listNodeNames');
    return Promise.resolve(this.nodes.map((n) => n.node));
  }
  nodeDisk(node: string): Promise<NodeDiskStats> {
    this.check('nodeDisk', node);
    const found = this.nodes.find((n) => n.node === node);
    if (!found || found.usedBytes === undefined || found.capacityBytes === undefined)
      return Promise.reject(new ApiError(503, `no stats for ${node}`));
    const { usedBytes, capacityBytes, availableBytes, imageFs } = found;
    return Promise.resolve({
      usedBytes,
      capacityBytes,
      ...(availableBytes === undefined ? {} : { availableBytes }),
      ...(imageFs ? { imageFs: { ...imageFs } } : {}),
    });
  }
  listImagePruneJobs(): Promise<PruneJobInfo[]> {
    this.check('listImagePruneJobs');
    return Promise.resolve(this.pruneJobs.map((j) => structuredClone(j)));
  }
  readNamespace(name: string): Promise<NamespaceInfo | undefined> {
    this.check('readNamespace', name);
    const ns = this.namespaces.get(name);
    return Promise.resolve(ns ? structuredClone(ns) : undefined);
  }
  liveReleaseCount(namespace: string): Promise<number> {
    this.check('liveReleaseCount', namespace);
    return Promise.resolve(liveReleases(this.releases[namespace] ?? []).length);
  }
  patchNamespace(name: string, patch: MetadataPatch): Promise<void> {
    this.check('patchNamespace', name);
    const ns = this.namespaces.get(name);
    if (!ns) return Promise.reject(new ApiError(404, `namespaces "${name}" not found`));
    applyPatch(ns.labels, patch.labels);
    applyPatch(ns.annotations, patch.annotations);
    this.wrote('patchNamespace', name);
    return Promise.resolve();
  }
  deleteNamespace(name: string, uid?: string): Promise<void> {
    this.check('deleteNamespace', name);
    const ns = this.namespaces.get(name);
    if (!ns) return Promise.reject(new ApiError(404, `namespaces "${name}" not found`));
    if (uid && ns.uid && uid !== ns.uid) return Promise.reject(new ApiError(409, 'Precondition failed: UID'));
    this.namespaces.delete(name);
    delete this.releases[name];
    this.wrote('deleteNamespace', name);
    return Promise.resolve();
  }
  deletePersistentVolume(name: string): Promise<void> {
    this.check('deletePersistentVolume', name);
    if (!this.volumes.delete(name)) return Promise.reject(new ApiError(404, `persistentvolumes "${name}" not found`));
    this.wrote('deletePersistentVolume', name);
    return Promise.resolve();
  }
  setVolumeReclaimPolicy(name: string, policy: 'Delete'): Promise<void> {
    this.check('setVolumeReclaimPolicy', name);
    const pv = this.volumes.get(name);
    if (!pv) return Promise.reject(new ApiError(404, `persistentvolumes "${name}" not found`));
    pv.reclaimPolicy = policy;
    this.wrote('setVolumeReclaimPolicy', name);
    return Promise.resolve();
  }
  createImagePruneJob(node: string, _image: string, imageFsUsedBytes?: number): Promise<'created' | 'exists'> {
    this.check('createImagePruneJob', node);
    if (this.pruneJobs.some((j) => j.node === node)) return Promise.resolve('exists');
    this.jobs.push(node);
    this.pruneJobs.push({
      name: `k8s-ee-image-prune-${node}`,
      uid: `uid-prune-${node}-${String(this.jobs.length)}`,
      node,
      state: 'running',
      ...(imageFsUsedBytes === undefined ? {} : { imageFsUsedBytes }),
    });
    return Promise.resolve('created');
  }
  deleteImagePruneJob(name: string, uid?: string): Promise<void> {
    this.check('deleteImagePruneJob', name);
    const job = this.pruneJobs.find((j) => j.name === name);
    if (!job) return Promise.reject(new ApiError(404, `jobs.batch "${name}" not found`));
    if (uid && job.uid && uid !== job.uid) return Promise.reject(new ApiError(409, 'Precondition failed: UID'));
    this.pruneJobs = this.pruneJobs.filter((j) => j !== job);
    this.wrote('deleteImagePruneJob', name);
    return Promise.resolve();
  }
  recordEvent(event: SweeperEvent): Promise<void> {
    this.check('recordEvent', event.target.name);
    this.events.push(event);
    return Promise.resolve();
  }
}
