// The sweeper's Kubernetes edge: ClusterReader and SweeperApi as plain JSON requests (webhooks/reconciler-http.ts).
// Lists are paginated and each page is reduced to what the planner reads before the next is fetched, so a pass
// over thousands of namespaces never holds the full objects (managedFields and all) of more than one page; Helm
// release records are listed as metadata only (PartialObjectMetadataList), so a run never downloads release
// payloads. No client-node at run time: its generated models cost more memory than the whole pass
// (bench/results.md). Events are core/v1, named per object and reason, and aggregated (count, lastTimestamp)
// like the Kubernetes event recorder does, so a repeated report does not flood the API server.
import { createHash } from 'node:crypto';
import type {
  CoreV1Event,
  V1Job,
  V1JobList,
  V1Namespace,
  V1NamespaceList,
  V1NodeList,
  V1PersistentVolume,
  V1PersistentVolumeList,
} from '@kubernetes/client-node';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { HELM_OWNER_SELECTOR, HELM_RELEASE_SECRET_TYPE, addSecret, liveReleases, type SecretMeta } from './helm.ts';
import {
  IMAGE_PRUNE_ANNOTATIONS,
  REPORTING_CONTROLLER,
  type MetadataPatch,
  type NamespaceInfo,
  type NodeDiskStats,
  type PruneJobInfo,
  type ReleaseRecord,
  type VolumeInfo,
} from './types.ts';
import type { ClusterReader } from './snapshot.ts';
import { withOnly, type NamespaceKeys } from './plan-namespace.ts';
import type { SweeperApi, SweeperEvent } from './executor.ts';
import { parseQuantity } from '../lib/quantity.ts';
import { Interner } from '../lib/string-pool.ts';

/**
 * Items per list page. A page of 500 namespaces or quotas (managedFields and all) parses into a few MiB of objects,
 * more than V8's young generation under the image's --max-semi-space-size=2, so each page was promoted to the old
 * generation before it became garbage; pages of 100 mostly die young. Measured on the sidecar with 5,000 PR
 * namespaces: peak over a pass 113-126 MiB with 500, 109-117 with 100 (50 requests a list instead of 10).
 */
const PAGE = 100;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const MERGE_PATCH = 'application/merge-patch+json';

export interface KubeSweeperOptions {
  /** Namespace of Events about cluster-scoped objects (core/v1 requires "default" for those). */
  eventsNamespace?: string;
  /** Namespace of the image-prune Jobs (the sweeper's own). */
  jobNamespace: string;
  /** reportingInstance of the Events (the pod name). */
  identity: string;
}

const iso = (value: Date | string | undefined): string | undefined =>
  value instanceof Date ? value.toISOString() : value;

export function namespaceInfoOf(ns: V1Namespace): NamespaceInfo {
  const meta = ns.metadata ?? {};
  return {
    name: meta.name ?? '',
    ...(meta.uid ? { uid: meta.uid } : {}),
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
    phase: ns.status?.phase ?? 'Active',
    creationTimestamp: iso(meta.creationTimestamp) ?? new Date(0).toISOString(),
    ...(meta.deletionTimestamp ? { deletionTimestamp: iso(meta.deletionTimestamp) } : {}),
    conditions: (ns.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    })),
    finalizers: ns.spec?.finalizers ?? [],
  };
}

/**
 * namespaceInfoOf for a list: only `keys` of each namespace (withOnly), and equal label, annotation and finalizer
 * sets shared between namespaces (most PR namespaces carry the same ones), so what a pass keeps of thousands of
 * namespaces is little more than their names, uids and times.
 */
export function namespaceReducer(keys: NamespaceKeys): (ns: V1Namespace) => NamespaceInfo {
  const shared = new Interner();
  return (ns) => {
    const info = withOnly(namespaceInfoOf(ns), keys);
    return {
      ...info,
      labels: shared.share(info.labels),
      annotations: shared.share(info.annotations),
      conditions: shared.share(info.conditions),
      finalizers: shared.share(info.finalizers),
    };
  };
}

function capacityBytesOf(pv: V1PersistentVolume): number {
  const storage = pv.spec?.capacity?.['storage'];
  const milli = storage === undefined ? undefined : parseQuantity(storage);
  return milli === undefined ? 0 : Number(milli / 1000n);
}

export function volumeInfoOf(pv: V1PersistentVolume): VolumeInfo {
  const meta = pv.metadata ?? {};
  const provisionedBy = meta.annotations?.['pv.kubernetes.io/provisioned-by'];
  const claim = pv.spec?.claimRef ?? {};
  return {
    name: meta.name ?? '',
    ...(meta.uid ? { uid: meta.uid } : {}),
    phase: pv.status?.phase ?? 'Pending',
    reclaimPolicy: pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain',
    capacityBytes: capacityBytesOf(pv),
    ...(claim.namespace ? { claimNamespace: claim.namespace } : {}),
    ...(claim.name ? { claimName: claim.name } : {}),
    ...(provisionedBy ? { provisionedBy } : {}),
  };
}

export interface Page<T> {
  items?: T[] | null;
  metadata?: { continue?: string; resourceVersion?: string };
}

/**
 * Follows `continue` tokens, handing each item of a page to `visit` before the next page is fetched, so that no more
 * than one page of whole objects is alive at a time. An empty PartialObjectMetadataList comes back with `items: null`.
 */
export async function eachItem<T>(
  page: (cont: string | undefined) => Promise<Page<T>>,
  visit: (item: T) => void,
): Promise<void> {
  let cont: string | undefined;
  do cont = await page(cont).then((list) => visitPage(list, visit));
  while (cont);
}

/**
 * Visits a page's items and returns its continue token. A function of its own, so that nothing in eachItem refers to
 * the page while the next one is awaited: an async function keeps what its frame held at an await (V8 saves the
 * frame's registers, dead ones too), and the page's objects, ~1 MiB of them for 100 namespaces with their
 * managedFields, then outlived two young-generation collections and were promoted to the old generation, garbage
 * only a full collection frees (issue 10: the sweeper sidecar's peak over a pass of 5,000 namespaces).
 */
function visitPage<T>(list: Page<T>, visit: (item: T) => void): string | undefined {
  for (const item of list.items ?? []) visit(item);
  return list.metadata?.continue || undefined;
}

/** Every item of a paginated list, each reduced with `keep` before the next page is fetched. */
export async function paginate<T, R>(
  page: (cont: string | undefined) => Promise<Page<T>>,
  keep: (item: T) => R,
): Promise<R[]> {
  const out: R[] = [];
  await eachItem(page, (item) => out.push(keep(item)));
  return out;
}

export const listPage =
  <T>(http: KubeHttp, path: string, query: Record<string, string> = {}) =>
  (cont: string | undefined): Promise<Page<T>> =>
    http.request<Page<T>>('GET', path, { query: { ...query, limit: PAGE, continue: cont } });

export interface HelmSecretPageOptions {
  namespace?: string;
  limit?: number;
  cont?: string;
}

export interface SecretMetaList {
  items?: { metadata?: SecretMeta }[] | null;
  metadata?: { continue?: string; resourceVersion?: string };
}

/** One page of Helm release record Secrets (owner=helm, type helm.sh/release.v1), metadata only. */
export function helmSecretPage(http: KubeHttp, opts: HelmSecretPageOptions): Promise<SecretMetaList> {
  const path = opts.namespace ? `/api/v1/namespaces/${opts.namespace}/secrets` : '/api/v1/secrets';
  return http.request<SecretMetaList>('GET', path, {
    accept: METADATA_ONLY,
    query: {
      labelSelector: HELM_OWNER_SELECTOR,
      fieldSelector: `type=${HELM_RELEASE_SECRET_TYPE}`,
      limit: opts.limit ?? PAGE,
      continue: opts.cont,
    },
  });
}

const notFound = (err: unknown): boolean => (err as { code?: number }).code === 404;

const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 10);

/** The Event name: stable per object, reason and object uid, so repeats aggregate. */
export function eventName(event: SweeperEvent): string {
  return `${event.target.name}.${shortHash(`${event.reason}/${event.target.uid ?? ''}`)}`;
}

// The CRI sockets of k3s, of a plain containerd, and of k8s-ee's own local node (local/node), in that order.
const pruneScript = [
  'for s in /host/run/k3s/containerd/containerd.sock /host/run/containerd/containerd.sock /host/run/k8s-ee-node/containerd.sock; do',
  '  if [ -S "$s" ]; then exec crictl --runtime-endpoint "unix://$s" rmi --prune; fi',
  'done',
  'echo "no containerd socket found under /run" >&2; exit 1',
].join('\n');

const PRUNE_LABELS = { 'app.kubernetes.io/managed-by': 'k8s-ee', 'app.kubernetes.io/component': 'image-prune' };

export function imagePruneJob(node: string, image: string, namespace: string, imageFsUsedBytes?: number): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: `k8s-ee-image-prune-${shortHash(node)}`,
      namespace,
      labels: { ...PRUNE_LABELS },
      annotations: {
        [IMAGE_PRUNE_ANNOTATIONS.node]: node,
        ...(imageFsUsedBytes === undefined
          ? {}
          : { [IMAGE_PRUNE_ANNOTATIONS.imageFsUsedBytes]: String(imageFsUsedBytes) }),
      },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: 600,
      template: {
        metadata: { labels: { 'app.kubernetes.io/component': 'image-prune' } },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'prune',
              image,
              command: ['sh', '-c', pruneScript],
              securityContext: { runAsUser: 0 },
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              volumeMounts: [{ name: 'run', mountPath: '/host/run' }],
            },
          ],
          volumes: [{ name: 'run', hostPath: { path: '/run', type: 'Directory' } }],
        },
      },
    },
  };
}

function finishedState(job: V1Job): Pick<PruneJobInfo, 'state' | 'finishedAt' | 'failure'> {
  const conditions = job.status?.conditions ?? [];
  const isTrue = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const complete = isTrue('Complete');
  if (complete) {
    const at = iso(job.status?.completionTime) ?? iso(complete.lastTransitionTime);
    return { state: 'succeeded', ...(at ? { finishedAt: at } : {}) };
  }
  const failed = isTrue('Failed');
  if (!failed) return { state: 'running' };
  const at = iso(failed.lastTransitionTime);
  const failure = [failed.reason, failed.message].filter(Boolean).join(': ');
  return { state: 'failed', ...(at ? { finishedAt: at } : {}), ...(failure ? { failure } : {}) };
}

/** What the disk run needs of an image-prune Job: its node, whether it finished, and the sample it started on. */
export function pruneJobInfoOf(job: V1Job): PruneJobInfo {
  const meta = job.metadata ?? {};
  const annotations = meta.annotations ?? {};
  const before = Number(annotations[IMAGE_PRUNE_ANNOTATIONS.imageFsUsedBytes] ?? Number.NaN);
  return {
    name: meta.name ?? '',
    ...(meta.uid ? { uid: meta.uid } : {}),
    node: annotations[IMAGE_PRUNE_ANNOTATIONS.node] ?? job.spec?.template.spec?.nodeName ?? '',
    ...(Number.isFinite(before) ? { imageFsUsedBytes: before } : {}),
    ...finishedState(job),
  };
}

type PruneJobApi = Pick<SweeperApi, 'createImagePruneJob' | 'deleteImagePruneJob'> &
  Pick<ClusterReader, 'listImagePruneJobs'>;

/** The image-prune Jobs in the sweeper's namespace. */
function pruneJobApi(http: KubeHttp, namespace: string): PruneJobApi {
  const labelSelector = Object.entries(PRUNE_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const jobs = `/apis/batch/v1/namespaces/${namespace}/jobs`;
  return {
    listImagePruneJobs: () =>
      paginate(listPage<V1JobList['items'][number]>(http, jobs, { labelSelector }), pruneJobInfoOf),
    async createImagePruneJob(node, image, imageFsUsedBytes) {
      try {
        await http.request('POST', jobs, { body: imagePruneJob(node, image, namespace, imageFsUsedBytes) });
        return 'created';
      } catch (err) {
        if ((err as { code?: number }).code === 409) return 'exists';
        throw err;
      }
    },
    async deleteImagePruneJob(name, uid) {
      await http.request('DELETE', `${jobs}/${name}`, {
        body: { propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
      });
    },
  };
}

/** Records core/v1 Events, aggregating repeats of the same object and reason into one Event with a count. */
function eventRecorder(
  http: KubeHttp,
  eventsNamespace: string,
  identity: string,
): (event: SweeperEvent) => Promise<void> {
  const events = `/api/v1/namespaces/${eventsNamespace}/events`;
  return async (event) => {
    const name = eventName(event);
    const message = event.message.slice(0, 1024);
    try {
      const existing = await http.request<CoreV1Event>('GET', `${events}/${name}`);
      existing.count = (existing.count ?? 1) + 1;
      existing.lastTimestamp = event.time;
      existing.message = message;
      await http.request('PUT', `${events}/${name}`, { body: existing });
      return;
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    const body: CoreV1Event & { apiVersion: string; kind: string } = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: eventsNamespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: event.target.kind,
        name: event.target.name,
        ...(event.target.uid ? { uid: event.target.uid } : {}),
      },
      type: event.type,
      reason: event.reason,
      action: event.action,
      message,
      count: 1,
      firstTimestamp: event.time,
      lastTimestamp: event.time,
      source: { component: REPORTING_CONTROLLER },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: identity,
    };
    await http.request('POST', events, { body });
  };
}

interface SummaryFs {
  time?: string;
  usedBytes?: number;
  capacityBytes?: number;
  availableBytes?: number;
}

/** node.fs and node.runtime.imageFs of a kubelet summary (stats/summary). */
export function nodeDiskFromSummary(summary: {
  node?: { fs?: SummaryFs; runtime?: { imageFs?: SummaryFs } };
}): NodeDiskStats {
  const fs = summary.node?.fs;
  if (typeof fs?.usedBytes !== 'number' || typeof fs.capacityBytes !== 'number')
    throw new Error('the kubelet summary has no node.fs usedBytes/capacityBytes');
  const image = summary.node?.runtime?.imageFs;
  return {
    usedBytes: fs.usedBytes,
    capacityBytes: fs.capacityBytes,
    ...(typeof fs.availableBytes === 'number' ? { availableBytes: fs.availableBytes } : {}),
    ...(typeof image?.usedBytes === 'number' && typeof image.time === 'string'
      ? { imageFs: { usedBytes: image.usedBytes, time: image.time } }
      : {}),
  };
}

/** The kubelet summary API, through the API server's node proxy. */
async function nodeDiskOf(http: KubeHttp, node: string): Promise<NodeDiskStats> {
  const summary = await http.request<unknown>('GET', `/api/v1/nodes/${node}/proxy/stats/summary`);
  return nodeDiskFromSummary((typeof summary === 'string' ? JSON.parse(summary) : summary) as object);
}

/**
 * Helm release records of every namespace (or one), metadata only, grouped by namespace: the newest of each release
 * (helm.ts addNewest), gathered page by page, so that thousands of environments with ten revisions each are held as
 * one record per release.
 */
export async function listReleaseRecordsWith(
  http: KubeHttp,
  namespace?: string,
): Promise<Record<string, ReleaseRecord[]>> {
  const out: Record<string, ReleaseRecord[]> = {};
  await eachItem(
    (cont) => helmSecretPage(http, { ...(namespace ? { namespace } : {}), ...(cont ? { cont } : {}) }),
    (s) => {
      const { name, namespace: ns, labels, creationTimestamp } = s.metadata ?? {};
      addSecret(out, { name, namespace: ns, labels, creationTimestamp, type: HELM_RELEASE_SECRET_TYPE });
    },
  );
  return out;
}

export function createKubeSweeper(http: KubeHttp, opts: KubeSweeperOptions): ClusterReader & SweeperApi {
  const eventsNamespace = opts.eventsNamespace ?? 'default';
  const listReleaseRecords = (namespace?: string) => listReleaseRecordsWith(http, namespace);

  const recordEvent = eventRecorder(http, eventsNamespace, opts.identity);
  const byName = (path: string, name: string, uid: string | undefined) =>
    http.request('DELETE', `${path}/${name}`, { body: uid ? { preconditions: { uid } } : {} });

  return {
    listNamespaces: (keys) =>
      paginate(
        listPage<V1NamespaceList['items'][number]>(http, '/api/v1/namespaces'),
        keys ? namespaceReducer(keys) : namespaceInfoOf,
      ),
    listReleaseRecords: () => listReleaseRecords(),
    listVolumes: () =>
      paginate(listPage<V1PersistentVolumeList['items'][number]>(http, '/api/v1/persistentvolumes'), volumeInfoOf),
    listNodeNames: async () =>
      (
        await paginate(listPage<V1NodeList['items'][number]>(http, '/api/v1/nodes'), (n) => n.metadata?.name ?? '')
      ).filter(Boolean),
    nodeDisk: (node) => nodeDiskOf(http, node),
    async readNamespace(name) {
      try {
        return namespaceInfoOf(await http.request<V1Namespace>('GET', `/api/v1/namespaces/${name}`));
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async liveReleaseCount(namespace) {
      return liveReleases((await listReleaseRecords(namespace))[namespace] ?? []).length;
    },
    async patchNamespace(name, patch: MetadataPatch) {
      await http.request('PATCH', `/api/v1/namespaces/${name}`, {
        body: { metadata: patch },
        contentType: MERGE_PATCH,
      });
    },
    deleteNamespace: async (name, uid) => void (await byName('/api/v1/namespaces', name, uid)),
    deletePersistentVolume: async (name, uid) => void (await byName('/api/v1/persistentvolumes', name, uid)),
    async setVolumeReclaimPolicy(name, policy) {
      await http.request('PATCH', `/api/v1/persistentvolumes/${name}`, {
        body: { spec: { persistentVolumeReclaimPolicy: policy } },
        contentType: MERGE_PATCH,
      });
    },
    ...pruneJobApi(http, opts.jobNamespace),
    recordEvent,
  };
}
