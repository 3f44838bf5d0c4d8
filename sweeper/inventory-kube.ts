// Reads what the inventory needs, in a few paginated lists with read rights only: namespaces, Helm release records
// (metadata only), k8s-ee quotas, volume claims, environment ConfigMaps and Ingresses. A list that fails (no right
// to it, say) leaves its part unknown and is reported; only the namespace list is required.
import type { V1Namespace } from '@kubernetes/client-node';
import { parseQuantity } from '../lib/quantity.ts';
import { previewUrl } from '../lib/preview-url.ts';
import { Interner } from '../lib/string-pool.ts';
import { declaredDatabases } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { lookupPrs, type GitHubClient } from './github.ts';
import type { CostInput, InventoryInput, QuotaInfo } from './inventory.ts';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { eachItem, listPage, listReleaseRecordsWith, namespaceInfoOf, paginate } from './kube.ts';
import { isManaged, isTerminating } from './plan-namespace.ts';
import type { NamespaceInfo, ReleaseRecord } from './types.ts';

export interface InventoryRead {
  input: InventoryInput;
  /** Parts that could not be read (left unknown). */
  warnings: string[];
}

async function attempt<T>(what: string, warnings: string[], task: () => Promise<T>): Promise<T | undefined> {
  try {
    return await task();
  } catch (err) {
    const code = (err as { code?: number }).code;
    warnings.push(`${what}: ${code ? `HTTP ${code}` : (err as Error).message}`);
    return undefined;
  }
}

const stringMap = (value: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries((value ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));

/** Bytes of a storage quantity (parseQuantity gives milli-units). */
const bytesOf = (text: string | undefined): number => Number((parseQuantity(text ?? '0') ?? 0n) / 1000n);

type Namespaced = { metadata?: { namespace?: string } };
const nsOf = (o: Namespaced): string => o.metadata?.namespace ?? '';

function quotaMapOf(
  quotas: (Namespaced & { spec?: { hard?: object }; status?: { hard?: object; used?: object } })[] | undefined,
): Record<string, QuotaInfo> | undefined {
  if (!quotas) return undefined;
  const out: Record<string, QuotaInfo> = {};
  for (const q of quotas)
    out[nsOf(q)] = { hard: stringMap(q.spec?.hard ?? q.status?.hard), used: stringMap(q.status?.used) };
  return out;
}

function claimBytesOf(
  claims: (Namespaced & { status?: { phase?: string; capacity?: Record<string, string> } })[] | undefined,
): Record<string, number> | undefined {
  if (!claims) return undefined;
  const out: Record<string, number> = {};
  for (const c of claims)
    if (c.status?.phase === 'Bound') out[nsOf(c)] = (out[nsOf(c)] ?? 0) + bytesOf(c.status.capacity?.['storage']);
  return out;
}

function databasesOf(configMaps: Namespaced[]): Record<string, string[]> {
  return Object.fromEntries(
    configMaps.map((cm) => [nsOf(cm), declaredDatabases({ ...cm, kind: 'ConfigMap' }).databases]),
  );
}

function urlsOf(namespaces: NamespaceInfo[], ingresses: Namespaced[], config: Config): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const ns of namespaces) {
    const own = ingresses.filter((i) => nsOf(i) === ns.name).map((i) => ({ ...i, kind: 'Ingress' }));
    const url = previewUrl(own, `${ns.name}.${config.previewDomain}`);
    if (url) urls[ns.name] = url;
  }
  return urls;
}

export async function readInventory(
  http: KubeHttp,
  config: Config,
  github: GitHubClient | undefined,
  opts: {
    urls?: boolean;
    /** Namespaces and release records already read (the sweeper's pass): not listed again. */
    read?: { namespaces: NamespaceInfo[]; releases: Record<string, ReleaseRecord[]> | undefined };
  } = {},
): Promise<InventoryRead> {
  const warnings: string[] = [];
  const namespaces =
    opts.read?.namespaces ?? (await paginate(listPage<V1Namespace>(http, '/api/v1/namespaces'), namespaceInfoOf));
  const pr = (name: string | undefined) => name !== undefined && matchNamespace(name, config) !== undefined;
  const active = namespaces.filter((ns) => isManaged(ns, config) && !isTerminating(ns));
  /**
   * Every object of a kind in all namespaces, page by page, optionally one name only; of each, only what `keep`
   * takes (with 5,000 PR namespaces, whole quotas with their managedFields were ~15 MiB of the sidecar's peak).
   */
  const all = <T>(path: string, keep: (o: T) => T, name?: string): Promise<T[]> =>
    paginate(listPage<T>(http, path, name ? { fieldSelector: `metadata.name=${name}` } : {}), keep);
  type Quota = Namespaced & { spec?: { hard?: object }; status?: { hard?: object; used?: object } };
  type Claim = Namespaced & { status?: { phase?: string; capacity?: Record<string, string> } };
  const quota = ({ metadata, spec, status }: Quota): Quota => ({
    metadata: { namespace: metadata?.namespace },
    spec: { hard: spec?.hard },
    status: { hard: status?.hard, used: status?.used },
  });
  const claim = ({ metadata, status }: Claim): Claim => ({
    metadata: { namespace: metadata?.namespace },
    status: { phase: status?.phase, capacity: status?.capacity },
  });
  const whole = <T>(o: T): T => o;
  const [releases, quotas, claims, configMaps, ingresses, prs] = await Promise.all([
    opts.read
      ? Promise.resolve(opts.read.releases)
      : attempt('Helm release records', warnings, () => listReleaseRecordsWith(http)),
    attempt('ResourceQuotas', warnings, () => all<Quota>('/api/v1/resourcequotas', quota, BASELINE_NAMES.quota)),
    attempt('PersistentVolumeClaims', warnings, () => all<Claim>('/api/v1/persistentvolumeclaims', claim)),
    attempt('environment ConfigMaps', warnings, () =>
      all<Namespaced>('/api/v1/configmaps', whole, ENVIRONMENT_CONFIGMAP),
    ),
    // URLs only where asked (`k8s-ee envs`): the sweeper's cost metrics need none, and its ClusterRole has no
    // right to Ingresses.
    opts.urls === false
      ? Promise.resolve([])
      : attempt('Ingresses', warnings, () => all<Namespaced>('/apis/networking.k8s.io/v1/ingresses', whole)),
    lookupPrs(active, config, github),
  ]);
  warnings.push(...prs.errors.map((e) => `GitHub: ${e}`));
  const ofPr = <T extends { metadata?: { namespace?: string } }>(items: T[] | undefined): T[] | undefined =>
    items?.filter((o) => pr(o.metadata?.namespace));
  return {
    input: {
      namespaces,
      releases,
      prs: prs.prs,
      quotas: quotaMapOf(ofPr(quotas)),
      claimBytes: claimBytesOf(ofPr(claims)),
      databases: databasesOf(ofPr(configMaps) ?? []),
      urls: urlsOf(active, ingresses ?? [], config),
    },
    warnings,
  };
}

/** The keys of a quota's hard amounts that its requests are read from (policies/capacity.ts requestsOfQuota). */
const REQUEST_KEYS = ['requests.cpu', 'requests.memory', 'cpu', 'memory'];

/**
 * What the sweeper's cost metrics need besides the namespaces its pass has read: the requests of each PR
 * namespace's k8s-ee quota and the bytes of its bound volume claims (the figures `k8s-ee envs` costs are made of).
 * Each page is reduced to those figures before the next is fetched, and equal requests share one object: with
 * 5,000 PR namespaces the whole inventory (PR states, quotas with their used amounts, rows) was ~6 MiB of the
 * sidecar's pass. A list that fails leaves its part unknown, as in readInventory.
 */
export async function readCosts(
  http: KubeHttp,
  config: Config,
  namespaces: NamespaceInfo[],
): Promise<{ input: CostInput; warnings: string[] }> {
  const warnings: string[] = [];
  const pr = (name: string | undefined) => name !== undefined && matchNamespace(name, config) !== undefined;
  type Quota = Namespaced & { spec?: { hard?: object }; status?: { hard?: object } };
  type Claim = Namespaced & { status?: { phase?: string; capacity?: Record<string, string> } };
  const quotas: Record<string, Pick<QuotaInfo, 'hard'>> = {};
  const shared = new Interner();
  const claimBytes: Record<string, number> = {};
  const [quotasRead, claimsRead] = await Promise.all([
    attempt('ResourceQuotas', warnings, () =>
      eachItem(
        listPage<Quota>(http, '/api/v1/resourcequotas', { fieldSelector: `metadata.name=${BASELINE_NAMES.quota}` }),
        (q) => {
          if (!pr(q.metadata?.namespace)) return;
          const all = stringMap(q.spec?.hard ?? q.status?.hard);
          const hard = Object.fromEntries(REQUEST_KEYS.flatMap((k) => (all[k] === undefined ? [] : [[k, all[k]]])));
          quotas[nsOf(q)] = shared.share({ hard });
        },
      ).then(() => true),
    ),
    attempt('PersistentVolumeClaims', warnings, () =>
      eachItem(listPage<Claim>(http, '/api/v1/persistentvolumeclaims'), (c) => {
        if (!pr(c.metadata?.namespace) || c.status?.phase !== 'Bound') return;
        claimBytes[nsOf(c)] = (claimBytes[nsOf(c)] ?? 0) + bytesOf(c.status.capacity?.['storage']);
      }).then(() => true),
    ),
  ]);
  return {
    input: {
      namespaces,
      quotas: quotasRead ? quotas : undefined,
      claimBytes: claimsRead ? claimBytes : undefined,
    },
    warnings,
  };
}
