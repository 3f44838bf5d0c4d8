// The node components' configuration files: pure functions of the layout, so tests read them whole.
import { stringify } from 'yaml';
import { HOST, NET, type NodeLayout } from './layout.ts';

/** A TOML string literal (basic string, escaped). */
const tomlString = (s: string): string => JSON.stringify(s);

/**
 * containerd v2 (config version 4): the CRI plugins with runc from the distribution, our CNI folder, the sandbox
 * image pinned (so neither image GC nor `crictl rmi --prune` removes it), oom_score_adj restricted (root here
 * lacks CAP_SYS_RESOURCE), NRI off, the streaming server on loopback, and every registry resolved through
 * certs.d (see registryHostsToml), so no image is ever pulled from outside.
 */
export function containerdConfig(l: NodeLayout): string {
  return `version = 4
root = ${tomlString(l.containerdRoot)}
state = ${tomlString(l.containerdState)}
# No plugin that reads host folders or reaches out. (containerd 2.4 always imports /etc/containerd/conf.d/*.toml
# as well; k8s-ee cluster up warns when that folder holds files.)
disabled_plugins = ['io.containerd.image-verifier.v1.bindir', 'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing']

[plugins.'io.containerd.server.v1.grpc']
  address = ${tomlString(l.containerdSocket)}

[plugins.'io.containerd.server.v1.ttrpc']
  address = ${tomlString(`${l.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = ${tomlString(HOST.sandboxImage)}

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = ${tomlString(l.registryConfigDir)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false
  # Pods' network namespaces under containerd's state folder, not in the host's /run/netns.
  netns_mounts_under_state_dir = true

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = '/usr/sbin/runc'
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [${tomlString(l.cniBinDir)}]
  conf_dir = ${tomlString(l.cniConfDir)}
  max_conf_num = 1

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.transfer.v1.local']
  config_path = ${tomlString(l.registryConfigDir)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${tomlString(`${l.containerdRoot}/opt`)}
`;
}

/** A closed port on loopback: any pull is refused at once, and no registry name is ever looked up in DNS. */
export const CLOSED_REGISTRY = 'http://127.0.0.1:9';

/** certs.d/<host>/hosts.toml (and _default): every registry answers from a closed port on 127.0.0.1. */
export function registryHostsToml(): string {
  return `# k8s-ee node: images are imported, never pulled. No request or DNS lookup leaves this machine.
server = ${tomlString(CLOSED_REGISTRY)}

[host.${tomlString(CLOSED_REGISTRY)}]
  capabilities = ['pull', 'resolve']
  skip_verify = true
`;
}

/**
 * CNI: a bridge (our own, created beforehand with the node's address) with host-local addresses from the
 * node's subnet, no masquerading (pod traffic never leaves the machine), portmap for hostPorts and loopback.
 */
export function cniConflist(): string {
  const conf = {
    cniVersion: '1.0.0',
    name: 'k8s-ee',
    plugins: [
      {
        type: 'bridge',
        bridge: HOST.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: NET.nodePodSubnet, gateway: NET.nodeIp }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/**
 * The kubelet: client certificate to the API server, its own serving certificate from the cluster CA, webhook
 * authentication and authorization (no anonymous access), cgroup v1 allowed, host DNS never handed to pods,
 * pod logs and state inside the cluster folder, and eviction thresholds low enough for a shared disk.
 */
export function kubeletConfig(l: NodeLayout): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NET.nodeIp,
    port: l.ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: l.ports.kubeletHealthz,
    tlsCertFile: l.pki('kubelet-serving.crt'),
    tlsPrivateKeyFile: l.pki('kubelet-serving.key'),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '30s' },
      x509: { clientCAFile: l.pki('ca.crt') },
    },
    authorization: { mode: 'Webhook', webhook: { cacheAuthorizedTTL: '30s', cacheUnauthorizedTTL: '5s' } },
    containerRuntimeEndpoint: `unix://${l.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${HOST.cgroupRoot}`,
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain: 'cluster.local',
    clusterDNS: [NET.clusterDns],
    resolvConf: '',
    podLogsDir: l.podLogsDir,
    protectKernelDefaults: false,
    serializeImagePulls: false,
    maxPods: 110,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 90,
    imageGCLowThresholdPercent: 80,
    nodeStatusReportFrequency: '10s',
    shutdownGracePeriod: '0s',
    registerNode: true,
    rotateCertificates: false,
    serverTLSBootstrap: false,
  });
}

/** kube-proxy in nftables mode; NodePorts only on the node's own address, conntrack sysctls left alone. */
export function kubeProxyConfig(l: NodeLayout, kubeconfig: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'nftables',
    clientConnection: { kubeconfig },
    hostnameOverride: HOST.nodeName,
    clusterCIDR: NET.podCidr,
    nodePortAddresses: [`${NET.nodeIp}/32`],
    healthzBindAddress: `127.0.0.1:${String(l.ports.proxyHealthz)}`,
    metricsBindAddress: `127.0.0.1:${String(l.ports.proxyMetrics)}`,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  });
}

/** RBAC for kube-network-policies (it authenticates as this user with a client certificate). */
export const NETWORK_POLICY_USER = 'k8s-ee:kube-network-policies';
export function networkPolicyRbac(): string {
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: NETWORK_POLICY_USER },
    rules: [
      { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: ['list', 'watch', 'get'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch', 'get'] },
      {
        apiGroups: ['policy.networking.k8s.io'],
        resources: ['adminnetworkpolicies', 'baselineadminnetworkpolicies', 'clusternetworkpolicies'],
        verbs: ['list', 'watch', 'get'],
      },
    ],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: NETWORK_POLICY_USER },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NETWORK_POLICY_USER },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NETWORK_POLICY_USER }],
  };
  return `${stringify(role)}---\n${stringify(binding)}`;
}

/** The kube-apiserver's user towards the kubelet API (authorized there by a SubjectAccessReview). */
export const APISERVER_KUBELET_USER = 'kube-apiserver-kubelet-client';
export function apiserverKubeletRbac(): string {
  return stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: APISERVER_KUBELET_USER },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: APISERVER_KUBELET_USER }],
  });
}

/**
 * The guard: nothing addressed to or coming from the cluster's supernet leaves by any device but loopback,
 * the bridge and the pods' veths. Checked before NAT, so it holds whatever kube-proxy rewrites.
 */
export function guardRuleset(): string {
  const local = `{ "lo", "${HOST.bridge}" }`;
  const rule = (dir: 'daddr' | 'saddr'): string =>
    `    ip ${dir} ${NET.clusterSupernet} oifname != ${local} oifname != "veth*" counter drop`;
  return `table inet ${HOST.guardTable} {
  chain keep-local {
    type filter hook postrouting priority -300; policy accept;
${rule('daddr')}
${rule('saddr')}
  }
}
`;
}
