// The sweeper's data: what one run sees of the cluster (Snapshot) and what it decides to do (Action).
// Both are plain values, so the planner is a pure function that tests compare whole.

/** Annotations the sweeper writes on managed namespaces to remember what it has seen between runs. */
export const SWEEPER_ANNOTATIONS = {
  /** RFC 3339 time the sweeper first saw a live Helm release in the namespace (the namespace was deployed). */
  releaseSeenAt: 'k8s-ee.io/release-seen-at',
  /** RFC 3339 time the sweeper first saw the namespace without a live Helm release; removed when one returns. */
  releaseGoneSince: 'k8s-ee.io/release-gone-since',
  /** RFC 3339 time the pin-expiry warning was sent for the current pin. */
  pinWarnedAt: 'k8s-ee.io/pin-warned-at',
} as const;

export const REPORTING_CONTROLLER = 'k8s-ee/sweeper';

export interface NamespaceCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface NamespaceInfo {
  name: string;
  uid?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  phase: string;
  creationTimestamp: string;
  deletionTimestamp?: string;
  conditions: NamespaceCondition[];
  finalizers: string[];
}

/** One Helm release record (a Secret of type helm.sh/release.v1 named sh.helm.release.v1.<release>.v<revision>). */
export interface ReleaseRecord {
  release: string;
  revision: number;
  /** Helm's status label: deployed, superseded, failed, pending-install, uninstalling, uninstalled, … */
  status: string;
  /** The record's creationTimestamp: when this revision was deployed. */
  createdAt: string;
}

export type PrState = 'open' | 'closed' | 'merged' | 'gone' | 'unknown';

export interface PrInfo {
  state: PrState;
  /** owner/repo#number, for messages. */
  ref?: string;
  closedAt?: string;
  /** Why the state is unknown (no token, no repository mapping, rate limited, HTTP 500, …). */
  detail?: string;
}

export interface VolumeInfo {
  name: string;
  uid?: string;
  phase: string;
  reclaimPolicy: string;
  /** Capacity in bytes (spec.capacity.storage), 0 when absent. */
  capacityBytes: number;
  claimNamespace?: string;
  claimName?: string;
  /** Value of the pv.kubernetes.io/provisioned-by annotation: set for dynamically provisioned volumes. */
  provisionedBy?: string;
}

/** What the kubelet summary API reports of a node's filesystems (node.fs and node.runtime.imageFs). */
export interface NodeDiskStats {
  usedBytes: number;
  capacityBytes: number;
  /** Free space for unprivileged writers: what the kubelet's image GC and eviction thresholds look at. */
  availableBytes?: number;
  /** The image filesystem's usage as the container runtime last sampled it (containerd: every 10 s). */
  imageFs?: { usedBytes: number; time: string };
}

export interface NodeDisk extends Partial<NodeDiskStats> {
  node: string;
  /** Why the stats are missing (the proxy call failed). */
  error?: string;
}

/** Annotations on the image-prune Jobs. */
export const IMAGE_PRUNE_ANNOTATIONS = {
  /** The node the Job prunes. */
  node: 'k8s-ee.io/node',
  /** The image filesystem's used bytes (kubelet summary) in the sample the sweeper started the Job on. */
  imageFsUsedBytes: 'k8s-ee.io/image-fs-used-bytes',
} as const;

/** An image-prune Job of the sweeper (in its own namespace), as the disk run sees it. */
export interface PruneJobInfo {
  name: string;
  uid?: string;
  node: string;
  state: 'running' | 'succeeded' | 'failed';
  /** RFC 3339 time the Job completed or failed. */
  finishedAt?: string;
  /** The image filesystem's used bytes when the Job was started (its annotation). */
  imageFsUsedBytes?: number;
  /** Why it failed: the Failed condition's reason and message. */
  failure?: string;
}

export interface Snapshot {
  /** Every namespace of the cluster (the unmanaged ones too: volumes need to know which namespaces exist). */
  namespaces: NamespaceInfo[];
  /** Helm release records by namespace; undefined when listing them failed (then release rules do not apply). */
  releases: Record<string, ReleaseRecord[]> | undefined;
  /** PR state by namespace name; a namespace without an entry is "unknown". */
  prs: Record<string, PrInfo>;
  /** PersistentVolumes; undefined when not collected in this run or when listing failed. */
  volumes: VolumeInfo[] | undefined;
  /** Node disk usage; undefined when not collected in this run. */
  nodes: NodeDisk[] | undefined;
  /** The sweeper's image-prune Jobs (disk runs with imagePrune enabled); undefined when not listed. */
  pruneJobs?: PruneJobInfo[] | undefined;
}

export const ACTION_KINDS = [
  'stamp-pin',
  'warn-pin',
  'unpin',
  'mark-release-seen',
  'mark-release-gone',
  'clear-release-gone',
  'delete-namespace',
  'defer-deletion',
  'delete-volume',
  'reclaim-volume',
  'report-stuck',
  'warn-disk',
  'prune-images',
  'finish-image-prune',
] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

export type DeleteReason =
  'pr-merged' | 'pr-closed' | 'pr-not-found' | 'release-gone' | 'never-deployed' | 'ttl-expired';

export interface ActionTarget {
  kind: 'Namespace' | 'PersistentVolume' | 'Node';
  name: string;
  uid?: string;
}

export type DetailValue = string | number | boolean | string[];

/** A JSON merge patch of an object's labels and annotations; null removes a key. */
export interface MetadataPatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

export interface Action {
  kind: ActionKind;
  target: ActionTarget;
  /** Machine-readable reason (a metric label value): release-gone, pin-expired, deletion-cap, … */
  reason: string;
  /** One human sentence: what and why. */
  message: string;
  details: Record<string, DetailValue>;
  /** The metadata change the action writes (pins and the sweeper's own annotations). */
  patch?: MetadataPatch;
  /** Bookkeeping actions (annotations the sweeper keeps for itself) get a metric and a log line, no Event. */
  bookkeeping?: boolean;
}

/** What the planner knows about each orphan it found (for the orphans-by-age metric). */
export interface OrphanInfo {
  namespace: string;
  reason: DeleteReason;
  ageSeconds: number;
}

export interface Plan {
  actions: Action[];
  orphans: OrphanInfo[];
  pinned: { namespace: string; ageSeconds: number }[];
  stuck: string[];
}
