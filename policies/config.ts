// The k8s-ee configuration: its shape and its defaults (the PRD's). Loading and validation live in config-load.ts.

export const DATABASES = ['postgresql', 'mariadb', 'mongodb', 'redis', 'minio'] as const;
export type Database = (typeof DATABASES)[number];

/** Resource amounts for a quota: requests and limits of CPU, memory and storage, and object counts. */
export interface QuotaAmounts {
  requestsCpu?: string;
  requestsMemory?: string;
  limitsCpu?: string;
  limitsMemory?: string;
  requestsStorage?: string;
  pods?: number;
  services?: number;
  persistentVolumeClaims?: number;
  secrets?: number;
  configMaps?: number;
}

export interface PeerSelector {
  /** Namespace name of the peer (matched through the kubernetes.io/metadata.name label). */
  namespace: string;
  /** Pod labels of the peer; empty means every pod in that namespace. */
  podLabels: Record<string, string>;
}

export interface Config {
  /** Regular expression with named groups `project` and `number` that a managed namespace name matches. */
  namespacePattern: string;
  /** Preview hosts are {namespace}.{previewDomain} (https when the Ingress has TLS for them, else http). */
  previewDomain: string;
  /** The cluster's DNS domain (the kubelet's clusterDomain): services are {name}.{namespace}.svc.{clusterDomain}. */
  clusterDomain: string;
  podSecurity: { level: 'restricted'; version: string };
  /**
   * Identities allowed to change managed labels and baseline objects besides k8s-ee itself. Empty by default:
   * nobody, not even cluster-admins, silently weakens a PR namespace; name your platform team here.
   */
  platformIdentities: { users: string[]; groups: string[] };
  /** The identity k8s-ee's own API calls run as (its ServiceAccount). */
  selfUser: string;
  quota: { base: QuotaAmounts; perDatabase: Record<Database, QuotaAmounts> };
  limitRange: {
    defaultRequest: { cpu: string; memory: string };
    default: { cpu: string; memory: string };
    max: { cpu: string; memory: string };
  };
  networkPolicy: {
    dns: PeerSelector & { ports: number[] };
    ingressController: PeerSelector;
    monitoring: PeerSelector;
    /**
     * Egress to the internet; the listed CIDRs (private ranges by default) stay closed. The same list is what an
     * app's own NetworkPolicy may not open, in either family: list here the ranges where pods and services live
     * (in an IPv6 cluster with global pod addresses, add them). The baseline opens IPv4 (0.0.0.0/0) only, so only
     * the IPv4 entries become its exceptions.
     */
    internetEgress: { enabled: boolean; exceptCidrs: string[] };
  };
  pins: { label: string; value: string; maxPinned: number; maxDuration: string; warnBefore: string };
  mutation: {
    /** Resource requests/limits set on containers that declare none. */
    defaultResources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
    /**
     * The user, group and fsGroup given to pods that do not set runAsUser (at the pod level or in every container),
     * so images whose USER is root or a name start under runAsNonRoot. 0 turns a key off (runAsUser: 0, all three).
     */
    runAsUser: number;
    runAsGroup: number;
    fsGroup: number;
  };
  sweeper: {
    schedule: string;
    diskSchedule: string;
    releaseGrace: string;
    neverDeployedGrace: string;
    ttl: string;
    maxDeletionsPerRun: number;
    stuckAfter: string;
    deleteReleasedVolumes: boolean;
    diskWarnRatio: number;
    imagePrune: { enabled: boolean; image: string; thresholdRatio: number };
    github: { apiUrl: string; tokenEnv: string; repositories: Record<string, string> };
  };
  webhook: { maxBodyBytes: number };
  /**
   * Capacity-aware admission (webhooks/capacity.ts): a new PR namespace, or an environment that declares a database
   * later, is refused when it would not fit.
   */
  capacity: {
    /** At most this many PR environments at once (pinned ones count); null: no count limit. */
    maxEnvironments: number | null;
    /**
     * How far the quotas granted to PR namespaces may exceed what the nodes can give them (allocatable minus the
     * requests of every other pod), per resource: 1 = never more than the nodes have. Memory is not compressible
     * (a node short of it kills pods), CPU is (it throttles).
     */
    overcommit: { cpu: number; memory: number };
  };
  /**
   * Estimated cost of an environment, charged on what its quota reserves (requests) and on the size of its bound
   * volume claims. `k8s-ee envs` and the sweeper's k8s_ee_environment_cost_* metrics use it.
   */
  cost: { currency: string; cpuHour: number; memoryGiBHour: number; storageGiBMonth: number };
}

/**
 * The uid (and gid, fsGroup) pods get when they name no user: 65532, the conventional "nonroot" of distroless and
 * Chainguard images, owned by no system account of common base images.
 */
export const DEFAULT_POD_USER = 65532;

/**
 * Requests of CPU may promise the PR environments 4 times what the nodes can give: a quota's requests.cpu is a
 * ceiling the environment seldom fills (a container that declares nothing gets 50m of the base's 300m), idle previews
 * use almost no CPU, and CPU is compressible (a busy node throttles, it never kills). Memory, 1.0, decides on a
 * 4 vCPU / 24 GiB node (about 40 base environments); CPU at 4x stays a backstop against CPU-hungry environments.
 */
export const DEFAULT_CPU_OVERCOMMIT = 4;

const capacityAndCost = (): Pick<Config, 'capacity' | 'cost'> => ({
  capacity: { maxEnvironments: null, overcommit: { cpu: DEFAULT_CPU_OVERCOMMIT, memory: 1 } },
  cost: { currency: 'USD', ...DEFAULT_PRICES },
});

/** Hours in a month as cloud bills count them (365 × 24 / 12). */
export const HOURS_PER_MONTH = 730;

/**
 * The node of the product brief, 4 vCPU and 24 GiB for US$ 120 a month (730 h), split half and half between CPU and
 * memory: US$ 60 / (4 × 730) per vCPU-hour and US$ 60 / (24 × 730) per GiB-hour, so a vCPU costs as much as 6 GiB,
 * within the 6-9x of public clouds' on-demand prices. Storage is not part of the node's price: US$ 0.10 per GiB-month,
 * what general-purpose block storage costs.
 */
export const DEFAULT_PRICES = {
  cpuHour: 60 / (4 * HOURS_PER_MONTH),
  memoryGiBHour: 60 / (24 * HOURS_PER_MONTH),
  storageGiBMonth: 0.1,
} as const;

const DEFAULT_DB_INCREMENT: QuotaAmounts = {
  requestsCpu: '100m',
  requestsMemory: '256Mi',
  limitsCpu: '500m',
  limitsMemory: '512Mi',
  requestsStorage: '2Gi',
  pods: 2,
  services: 2,
  persistentVolumeClaims: 1,
};

export function defaultConfig(): Config {
  return {
    namespacePattern: '^(?<project>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-pr-(?<number>[1-9][0-9]*)$',
    previewDomain: 'preview.example.com',
    clusterDomain: 'cluster.local',
    podSecurity: { level: 'restricted', version: 'latest' },
    platformIdentities: { users: [], groups: [] },
    selfUser: 'system:serviceaccount:k8s-ee-system:k8s-ee',
    quota: {
      base: {
        requestsCpu: '300m',
        requestsMemory: '512Mi',
        limitsCpu: '1',
        limitsMemory: '1Gi',
        requestsStorage: '1Gi',
        pods: 10,
        // Room for the app chart with every database enabled (6 Services, 5 volume claims) before its
        // environment ConfigMap adds the increments.
        services: 8,
        persistentVolumeClaims: 6,
      },
      perDatabase: {
        postgresql: { ...DEFAULT_DB_INCREMENT },
        mariadb: { ...DEFAULT_DB_INCREMENT },
        mongodb: { ...DEFAULT_DB_INCREMENT, requestsMemory: '384Mi', limitsMemory: '768Mi' },
        redis: {
          ...DEFAULT_DB_INCREMENT,
          requestsCpu: '50m',
          requestsMemory: '64Mi',
          limitsMemory: '128Mi',
          requestsStorage: '1Gi',
        },
        minio: { ...DEFAULT_DB_INCREMENT, requestsMemory: '128Mi', limitsMemory: '256Mi', requestsStorage: '5Gi' },
      },
    },
    limitRange: {
      defaultRequest: { cpu: '50m', memory: '64Mi' },
      default: { cpu: '200m', memory: '256Mi' },
      max: { cpu: '1', memory: '1Gi' },
    },
    networkPolicy: {
      dns: { namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' }, ports: [53] },
      ingressController: { namespace: 'kube-system', podLabels: { 'app.kubernetes.io/name': 'traefik' } },
      monitoring: { namespace: 'observability', podLabels: {} },
      internetEgress: {
        enabled: true,
        exceptCidrs: [
          '10.0.0.0/8',
          '172.16.0.0/12',
          '192.168.0.0/16',
          '169.254.0.0/16',
          '100.64.0.0/10',
          'fc00::/7',
          'fe80::/10',
          '::1/128',
        ],
      },
    },
    pins: { label: 'preserve', value: 'true', maxPinned: 3, maxDuration: '48h', warnBefore: '1h' },
    mutation: {
      defaultResources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      runAsUser: DEFAULT_POD_USER,
      runAsGroup: DEFAULT_POD_USER,
      fsGroup: DEFAULT_POD_USER,
    },
    sweeper: {
      schedule: '* * * * *',
      diskSchedule: '*/5 * * * *',
      releaseGrace: '30s',
      neverDeployedGrace: '30m',
      ttl: '7d',
      maxDeletionsPerRun: 10,
      stuckAfter: '10m',
      deleteReleasedVolumes: true,
      diskWarnRatio: 0.8,
      imagePrune: { enabled: false, image: 'rancher/k3s:latest', thresholdRatio: 0.85 },
      github: { apiUrl: 'https://api.github.com', tokenEnv: 'GITHUB_TOKEN', repositories: {} },
    },
    webhook: { maxBodyBytes: 3 * 1024 * 1024 },
    ...capacityAndCost(),
  };
}
