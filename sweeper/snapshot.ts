// Gathers what one run needs, in a few paginated list calls. A failed list makes its part of the snapshot unknown
// (undefined) and is reported; only the namespace list is required (without it there is no run).
import type { Config } from '../policies/config.ts';
import { isManaged, isTerminating, namespaceKeys, type NamespaceKeys } from './plan-namespace.ts';
import { lookupPrs, type GitHubClient } from './github.ts';
import type {
  NamespaceInfo,
  NodeDisk,
  NodeDiskStats,
  PruneJobInfo,
  ReleaseRecord,
  Snapshot,
  VolumeInfo,
} from './types.ts';

/** The narrow read API the sweeper needs. */
export interface ClusterReader {
  /** Every namespace; with `keys`, of each only those labels and annotations (plan-namespace.ts withOnly). */
  listNamespaces(keys?: NamespaceKeys): Promise<NamespaceInfo[]>;
  /** Helm release records by namespace (metadata only). */
  listReleaseRecords(): Promise<Record<string, ReleaseRecord[]>>;
  listVolumes(): Promise<VolumeInfo[]>;
  listNodeNames(): Promise<string[]>;
  /** node.fs and node.runtime.imageFs from the kubelet summary API through the API server's node proxy. */
  nodeDisk(node: string): Promise<NodeDiskStats>;
  /** The sweeper's image-prune Jobs (in its own namespace). */
  listImagePruneJobs(): Promise<PruneJobInfo[]>;
}

export type SweepKind = 'namespaces' | 'disk';

export interface SnapshotResult {
  snapshot: Snapshot;
  /** Problems met while collecting (each also means "unknown" for the part it concerns). */
  errors: { stage: 'list' | 'github'; message: string }[];
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const body = (err as { body?: unknown }).body;
  const detail = typeof body === 'string' ? body.slice(0, 300) : (body as { message?: string } | undefined)?.message;
  return detail ? `${err.message}: ${detail}` : err.message;
}

async function attempt<T>(
  what: string,
  errors: SnapshotResult['errors'],
  task: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await task();
  } catch (err) {
    errors.push({ stage: 'list', message: `${what}: ${message(err)}` });
    return undefined;
  }
}

async function collectDisk(reader: ClusterReader, errors: SnapshotResult['errors']): Promise<NodeDisk[] | undefined> {
  const names = await attempt('listing nodes', errors, () => reader.listNodeNames());
  if (!names) return undefined;
  return Promise.all(
    names.map(async (node): Promise<NodeDisk> => {
      try {
        return { node, ...(await reader.nodeDisk(node)) };
      } catch (err) {
        errors.push({ stage: 'list', message: `kubelet stats of node ${node}: ${message(err)}` });
        return { node, error: message(err) };
      }
    }),
  );
}

/** The snapshot for a run of the given kind; throws only when the namespaces cannot be listed. */
export async function collectSnapshot(
  kind: SweepKind,
  reader: ClusterReader,
  config: Config,
  github: GitHubClient | undefined,
): Promise<SnapshotResult> {
  const errors: SnapshotResult['errors'] = [];
  if (kind === 'disk') {
    const [nodes, pruneJobs] = await Promise.all([
      collectDisk(reader, errors),
      config.sweeper.imagePrune.enabled
        ? attempt('listing image-prune Jobs', errors, () => reader.listImagePruneJobs())
        : Promise.resolve(undefined),
    ]);
    return {
      snapshot: { namespaces: [], releases: undefined, prs: {}, volumes: undefined, nodes, pruneJobs },
      errors,
    };
  }
  const namespaces = await reader.listNamespaces(namespaceKeys(config));
  const active = namespaces.filter((ns) => isManaged(ns, config) && !isTerminating(ns));
  const [releases, volumes, prs] = await Promise.all([
    attempt('listing Helm release records', errors, () => reader.listReleaseRecords()),
    config.sweeper.deleteReleasedVolumes
      ? attempt('listing PersistentVolumes', errors, () => reader.listVolumes())
      : Promise.resolve(undefined),
    lookupPrs(active, config, github),
  ]);
  for (const e of prs.errors) errors.push({ stage: 'github', message: e });
  return { snapshot: { namespaces, releases, prs: prs.prs, volumes, nodes: undefined }, errors };
}
