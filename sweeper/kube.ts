// The sweeper's Kubernetes edge: ClusterReader and SweeperApi over @kubernetes/client-node. Lists are paginated;
// Helm release records are listed as metadata only (PartialObjectMetadataList), so a run never downloads release
// payloads. Events are core/v1, named per object and reason, and aggregated (count, lastTimestamp) like the
// Kubernetes event recorder does, so a repeated report does not flood the API server.
import { createHash } from 'node:crypto';
import {
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
  type V1Job,
  type V1Namespace,
  type V1PersistentVolume,
  type V1SecretList,
} from '@kubernetes/client-node';
import { HELM_OWNER_SELECTOR, HELM_RELEASE_SECRET_TYPE, groupByNamespace, liveReleases } from './helm.ts';
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
import type { SweeperApi, SweeperEvent } from './executor.ts';
import { parseQuantity } from '../lib/quantity.ts';

const PAGE = 500;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

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

/** Follows `continue` tokens. An empty PartialObjectMetadataList comes back with `items: null`. */
export async function paginate<T>(
  page: (cont: string | undefined) => Promise<{ items: T[] | null; metadata?: { _continue?: string } }>,
): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const list = await page(cont);
    out.push(...(list.items ?? []));
    cont = list.metadata?._continue || undefined;
  } while (cont);
  return out;
}

export interface HelmSecretPageOptions {
  namespace?: string;
  limit?: number;
  cont?: string;
}

/** One page of Helm release record Secrets (owner=helm, type helm.sh/release.v1), metadata only. */
export function helmSecretPage(core: CoreV1Api, opts: HelmSecretPageOptions): Promise<V1SecretList> {
  const accept = setHeaderOptions('Accept', METADATA_ONLY);
  const query = {
    labelSelector: HELM_OWNER_SELECTOR,
    fieldSelector: `type=${HELM_RELEASE_SECRET_TYPE}`,
    limit: opts.limit ?? PAGE,
    _continue: opts.cont,
  };
  return opts.namespace
    ? core.listNamespacedSecret({ namespace: opts.namespace, ...query }, accept)
    : core.listSecretForAllNamespaces(query, accept);
}

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
function pruneJobApi(batch: BatchV1Api, namespace: string): PruneJobApi {
  const labelSelector = Object.entries(PRUNE_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    listImagePruneJobs: async () =>
      (
        await paginate((cont) => batch.listNamespacedJob({ namespace, labelSelector, limit: PAGE, _continue: cont }))
      ).map(pruneJobInfoOf),
    async createImagePruneJob(node, image, imageFsUsedBytes) {
      try {
        await batch.createNamespacedJob({ namespace, body: imagePruneJob(node, image, namespace, imageFsUsedBytes) });
        return 'created';
      } catch (err) {
        if ((err as { code?: number }).code === 409) return 'exists';
        throw err;
      }
    },
    async deleteImagePruneJob(name, uid) {
      await batch.deleteNamespacedJob({
        name,
        namespace,
        body: { propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
      });
    },
  };
}

/** Records core/v1 Events, aggregating repeats of the same object and reason into one Event with a count. */
function eventRecorder(
  core: CoreV1Api,
  eventsNamespace: string,
  identity: string,
): (event: SweeperEvent) => Promise<void> {
  return async (event) => {
    const name = eventName(event);
    const message = event.message.slice(0, 1024);
    try {
      const existing = await core.readNamespacedEvent({ name, namespace: eventsNamespace });
      existing.count = (existing.count ?? 1) + 1;
      existing.lastTimestamp = event.time;
      existing.message = message;
      await core.replaceNamespacedEvent({ name, namespace: eventsNamespace, body: existing });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    const body: CoreV1Event = {
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
    await core.createNamespacedEvent({ namespace: eventsNamespace, body });
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
async function nodeDiskOf(core: CoreV1Api, node: string): Promise<NodeDiskStats> {
  const text = await core.connectGetNodeProxyWithPath({ name: node, path: 'stats/summary' });
  return nodeDiskFromSummary((typeof text === 'string' ? JSON.parse(text) : text) as object);
}

/** Helm release records of every namespace (or one), metadata only, grouped by namespace. */
export async function listReleaseRecordsWith(
  core: CoreV1Api,
  namespace?: string,
): Promise<Record<string, ReleaseRecord[]>> {
  const items = await paginate((cont) => helmSecretPage(core, { ...(namespace ? { namespace } : {}), cont }));
  return groupByNamespace(items.map((s) => ({ ...s.metadata, type: HELM_RELEASE_SECRET_TYPE })));
}

export function createKubeSweeper(kc: KubeConfig, opts: KubeSweeperOptions): ClusterReader & SweeperApi {
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const eventsNamespace = opts.eventsNamespace ?? 'default';

  const listReleaseRecords = (namespace?: string) => listReleaseRecordsWith(core, namespace);

  const recordEvent = eventRecorder(core, eventsNamespace, opts.identity);

  return {
    listNamespaces: async () =>
      (await paginate((cont) => core.listNamespace({ limit: PAGE, _continue: cont }))).map(namespaceInfoOf),
    listReleaseRecords: () => listReleaseRecords(),
    listVolumes: async () =>
      (await paginate((cont) => core.listPersistentVolume({ limit: PAGE, _continue: cont }))).map(volumeInfoOf),
    listNodeNames: async () =>
      (await paginate((cont) => core.listNode({ limit: PAGE, _continue: cont })))
        .map((n) => n.metadata?.name ?? '')
        .filter(Boolean),
    nodeDisk: (node) => nodeDiskOf(core, node),
    async readNamespace(name) {
      try {
        return namespaceInfoOf(await core.readNamespace({ name }));
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    async liveReleaseCount(namespace) {
      return liveReleases((await listReleaseRecords(namespace))[namespace] ?? []).length;
    },
    async patchNamespace(name, patch: MetadataPatch) {
      await core.patchNamespace({ name, body: { metadata: patch } }, MERGE_PATCH);
    },
    async deleteNamespace(name, uid) {
      await core.deleteNamespace({ name, body: uid ? { preconditions: { uid } } : {} });
    },
    async deletePersistentVolume(name, uid) {
      await core.deletePersistentVolume({ name, body: uid ? { preconditions: { uid } } : {} });
    },
    async setVolumeReclaimPolicy(name, policy) {
      await core.patchPersistentVolume(
        { name, body: { spec: { persistentVolumeReclaimPolicy: policy } } },
        MERGE_PATCH,
      );
    },
    ...pruneJobApi(batch, opts.jobNamespace),
    recordEvent,
  };
}
