// Command lines of etcd, kube-apiserver and kube-controller-manager: pure functions of the layout and ports.
import { join } from 'node:path';

export interface ClusterLayout {
  dir: string;
  etcdClientPort: number;
  etcdPeerPort: number;
  apiserverPort: number;
  /** Where the API server listens and what it advertises: 127.0.0.1, or the node's address when a node runs. */
  address?: string;
  /** Extra API server flags (the node's kubelet client certificate). */
  apiserverExtraArgs?: string[];
}

export const SERVICE_CIDR = '10.0.0.0/24';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const ADMISSION_PLUGINS = [
  'NamespaceLifecycle',
  'LimitRanger',
  'ServiceAccount',
  'PodSecurity',
  'ResourceQuota',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionWebhook',
  'ValidatingAdmissionPolicy',
];

// The controllers that matter without nodes: namespace deletion, quotas, garbage collection, service accounts
// and their tokens, the workload controllers (so a Deployment really makes a ReplicaSet and Pods, which are
// admitted but stay Pending), volume binding and protection (the sweeper frees Released volumes), RBAC role
// aggregation (admin/edit/view) and the kube-root-ca.crt publisher.
export const CONTROLLERS = [
  'namespace-controller',
  'resourcequota-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
  'ttl-after-finished-controller',
  'endpointslice-controller',
  'disruption-controller',
  'persistentvolume-binder-controller',
  'persistentvolume-protection-controller',
  'persistentvolumeclaim-protection-controller',
  'validatingadmissionpolicy-status-controller',
  // With a node: the not-ready taint lifts once the kubelet reports Ready, pods of a gone node are collected,
  // and volumes are attached for the kubelet.
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'pod-garbage-collector-controller',
  'persistentvolume-attach-detach-controller',
  'ttl-controller',
];

export const pkiPath = (dir: string, file: string): string => join(dir, 'pki', file);

export function etcdArgs(l: ClusterLayout): string[] {
  const client = `http://127.0.0.1:${String(l.etcdClientPort)}`;
  const peer = `http://127.0.0.1:${String(l.etcdPeerPort)}`;
  return [
    '--name=default',
    `--data-dir=${join(l.dir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--initial-cluster-state=new',
    // Test data: losing it in a power cut is fine, and skipping fsync makes the API server much faster.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

export function apiserverArgs(l: ClusterLayout): string[] {
  const pki = (f: string): string => pkiPath(l.dir, f);
  return [
    `--etcd-servers=http://127.0.0.1:${String(l.etcdClientPort)}`,
    `--bind-address=${l.address ?? '127.0.0.1'}`,
    `--advertise-address=${l.address ?? '127.0.0.1'}`,
    `--secure-port=${String(l.apiserverPort)}`,
    `--cert-dir=${join(l.dir, 'apiserver')}`,
    `--tls-cert-file=${pki('apiserver.crt')}`,
    `--tls-private-key-file=${pki('apiserver.key')}`,
    `--client-ca-file=${pki('ca.crt')}`,
    '--authorization-mode=Node,RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki('sa.pub')}`,
    `--service-account-signing-key-file=${pki('sa.key')}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    `--enable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`,
    // As in real clusters: privileged pods are the PodSecurity admission's and our webhook's to refuse.
    '--allow-privileged=true',
    // Without a node the "kubernetes" Service would point at 127.0.0.1, which Endpoints may not hold and
    // nothing needs; with one, pods reach the API server through it at the node's address.
    `--endpoint-reconciler-type=${l.address && l.address !== '127.0.0.1' ? 'lease' : 'none'}`,
    '--profiling=false',
    ...(l.apiserverExtraArgs ?? []),
  ];
}

export function controllerManagerArgs(l: ClusterLayout): string[] {
  const pki = (f: string): string => pkiPath(l.dir, f);
  return [
    `--kubeconfig=${join(l.dir, 'controller-manager.kubeconfig')}`,
    `--controllers=${CONTROLLERS.join(',')}`,
    `--service-account-private-key-file=${pki('sa.key')}`,
    `--root-ca-file=${pki('ca.crt')}`,
    // Each controller acts as its own service account (system:serviceaccount:kube-system:namespace-controller, …),
    // as in a real cluster, so the webhook sees the same users here as in production.
    '--use-service-account-credentials=true',
    `--cluster-signing-cert-file=${pki('ca.crt')}`,
    `--cluster-signing-key-file=${pki('ca.key')}`,
    '--leader-elect=false',
    '--secure-port=0',
    '--profiling=false',
  ];
}
