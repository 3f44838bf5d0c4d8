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

export interface NodeDisk {
  node: string;
  usedBytes?: number;
  capacityBytes?: number;
  /** Why the stats are missing (the proxy call failed). */
  error?: string;
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
