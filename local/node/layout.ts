// Where a node's pieces live and which addresses it uses: pure values, shared by the config writers, the host
// setup and the tests. One node per machine (kube-proxy's nft tables, the bridge and the cgroup root are
// machine-wide), owned by the cluster folder that started it (see host.ts's lock).
import { join } from 'node:path';

/** Addresses: everything of the cluster sits in one /16 so that one guard rule keeps it on this machine. */
export const NET = {
  /** The supernet of every cluster address; the guard drops any packet to or from it leaving by another device. */
  clusterSupernet: '10.0.0.0/16',
  /** ClusterIPs (the API server's --service-cluster-ip-range); routed to the bridge, never to the default route. */
  serviceCidr: '10.0.0.0/24',
  /** The "kubernetes" Service's address (first of the range), in the API server's certificate. */
  kubernetesServiceIp: '10.0.0.1',
  /** A DNS address pods are given; nothing answers it, so no pod query reaches the host's resolver. */
  clusterDns: '10.0.0.10',
  /** Pod addresses: kube-proxy's --cluster-cidr. */
  podCidr: '10.0.128.0/17',
  /** This node's share of it (host-local IPAM). */
  nodePodSubnet: '10.0.128.0/24',
  /** The bridge's own address: pods' gateway, the node's InternalIP and the API server's address for pods. */
  nodeIp: '10.0.128.1',
  nodeIpPrefix: 24,
} as const;

/** Machine-wide names this project owns (each removed on `down` and before an `up`). */
export const HOST = {
  bridge: 'k8see0',
  guardTable: 'k8s-ee-guard',
  /** nft tables the node's components create: kube-proxy (ip, ip6) and kube-network-policies (inet). */
  componentTables: [
    ['ip', 'kube-proxy'],
    ['ip6', 'kube-proxy'],
    ['inet', 'kube-network-policies'],
  ] as const,
  cgroupRoot: 'k8s-ee',
  /** The cgroup containerd's CRI makes for itself (removed on down when it was not there before up). */
  runtimeCgroup: 'k8s.io',
  /** Runtime state that must live on a short path (unix sockets) and is machine-wide anyway. */
  runDir: '/run/k8s-ee-node',
  /** The local image domain; containerd's resolver for it (and for every other registry) is a closed port. */
  imageDomain: 'k8s-ee.local',
  sandboxImage: 'k8s-ee.local/pause:dev',
  nodeName: 'k8s-ee-node',
} as const;

/** Host settings the node's components change; their values before `up` are saved and put back by `down`. */
export const SAVED_SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

export interface NodePorts {
  kubelet: number;
  kubeletHealthz: number;
  proxyHealthz: number;
  proxyMetrics: number;
  policyMetrics: number;
}

export interface NodeLayout {
  /** The cluster folder. */
  dir: string;
  /** <dir>/node: configs, certificates, kubelet root, pod logs, containerd root. */
  nodeDir: string;
  pki: (file: string) => string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  containerdConfig: string;
  registryConfigDir: string;
  cniConfDir: string;
  cniBinDir: string;
  kubeletRoot: string;
  podLogsDir: string;
  ports: NodePorts;
  apiserver: string;
}

export function nodeLayout(dir: string, ports: NodePorts, apiserver: string): NodeLayout {
  const nodeDir = join(dir, 'node');
  return {
    dir,
    nodeDir,
    pki: (file) => join(nodeDir, 'pki', file),
    containerdRoot: join(nodeDir, 'containerd'),
    containerdState: join(HOST.runDir, 'containerd'),
    containerdSocket: join(HOST.runDir, 'containerd.sock'),
    containerdConfig: join(nodeDir, 'containerd.toml'),
    registryConfigDir: join(nodeDir, 'certs.d'),
    cniConfDir: join(nodeDir, 'cni'),
    cniBinDir: '/usr/lib/cni',
    kubeletRoot: join(nodeDir, 'kubelet'),
    podLogsDir: join(nodeDir, 'pod-logs'),
    ports,
    apiserver,
  };
}
