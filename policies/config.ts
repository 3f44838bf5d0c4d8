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
}

/**
 * The uid (and gid, fsGroup) pods get when they name no user: 65532, the conventional "nonroot" of distroless and
 * Chainguard images, owned by no system account of common base images.
 */
export const DEFAULT_POD_USER = 65532;

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
  };
}
