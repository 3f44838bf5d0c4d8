// Starts and stops a local control plane (etcd, kube-apiserver, kube-controller-manager) whose state lives in
// one folder: pki/, etcd/ data, logs/, kubeconfig and state.json (ports and pids). Several folders, several clusters.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiserverArgs, type ClusterLayout, controllerManagerArgs, etcdArgs, pkiPath } from './flags.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { freePorts, httpsGet, type TlsClient } from './net.ts';
import { createClusterCA, createSigningKey, issueCert } from './pki.ts';
import { isRunning, type ManagedProcess, spawnDetached, stopProcesses, waitFor } from './processes.ts';
import type { ControlPlaneBinaries, Progress } from './setup.ts';
import { HOST, NET, type NodeLayout, nodeLayout, type NodePorts } from '../node/layout.ts';
import {
  apiserverNodeArgs,
  guardControlPlane,
  NODE_PROCESSES,
  type NodeBinaries,
  type NodeImage,
  prepareNode,
  startNode,
  stopNode,
  unguardControlPlane,
} from '../node/node.ts';

export interface ClusterState {
  version: 1;
  dir: string;
  kubeconfig: string;
  server: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  processes: ManagedProcess[];
  startedAt: string;
  /** Present when the cluster has a node (kubelet, containerd, …) beside the control plane. */
  node?: { name: string; ip: string; ports: NodePorts; crictl: string; shim: string };
  /** A control plane without a node that set up the host's service route and guard (root only). */
  hostGuard?: boolean;
}

export interface NodeOptions {
  binaries: NodeBinaries;
  images: NodeImage[];
  kubectl: string;
}

export interface UpOptions {
  dir: string;
  binaries: ControlPlaneBinaries;
  progress: Progress;
  timeoutMs?: number;
  /** Start a node too (root on Linux only; see local/node). */
  node?: NodeOptions;
}

const stateFile = (dir: string): string => join(dir, 'state.json');
export const kubeconfigFile = (dir: string): string => join(dir, 'kubeconfig');
const DATA_ENTRIES = ['etcd', 'apiserver', 'pki', 'node', 'state.json', 'kubeconfig', 'controller-manager.kubeconfig'];

export async function readState(dir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** The state of a cluster whose processes all still run; undefined when none (or only part of one) runs. */
export async function runningCluster(dir: string): Promise<ClusterState | undefined> {
  const state = await readState(dir);
  return state && state.processes.length >= 3 && state.processes.every(isRunning) ? state : undefined;
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

async function writePki(
  dir: string,
  server: string,
  node: NodeLayout | undefined,
  progress: Progress,
): Promise<TlsClient> {
  const now = new Date();
  await mkdir(join(dir, 'pki'), { recursive: true });
  const ca = await createClusterCA('k8s-ee-cluster-ca', now);
  const [apiserver, admin, kcm, sa] = await Promise.all([
    issueCert(
      ca,
      {
        commonName: 'kube-apiserver',
        usage: 'server',
        dnsNames: [
          'localhost',
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
        ],
        ipAddresses: ['127.0.0.1', NET.kubernetesServiceIp, ...(node ? [NET.nodeIp] : [])],
      },
      now,
    ),
    issueCert(ca, { commonName: 'k8s-ee-admin', organization: 'system:masters', usage: 'client' }, now),
    issueCert(ca, { commonName: 'system:kube-controller-manager', usage: 'client' }, now),
    createSigningKey(),
  ]);
  const pki = (f: string): string => pkiPath(dir, f);
  await writeFile(pki('ca.crt'), ca.certPem);
  await writeSecret(pki('ca.key'), ca.keyPem);
  await writeFile(pki('apiserver.crt'), apiserver.certPem);
  await writeSecret(pki('apiserver.key'), apiserver.keyPem);
  await writeSecret(pki('sa.key'), sa.privatePem);
  await writeFile(pki('sa.pub'), sa.publicPem);
  const kc = { server, caPem: ca.certPem };
  await writeSecret(kubeconfigFile(dir), kubeconfigYaml({ ...kc, ...admin, user: 'k8s-ee-admin' }));
  const kcmConfig = kubeconfigYaml({ ...kc, ...kcm, user: 'system:kube-controller-manager' });
  await writeSecret(join(dir, 'controller-manager.kubeconfig'), kcmConfig);
  if (node) await prepareNode(node, ca, progress);
  return { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
}

async function apiOk(server: string, path: string, tls: TlsClient): Promise<boolean> {
  const res = await httpsGet(`${server}${path}`, tls);
  return res.status === 200;
}

async function saveState(state: ClusterState): Promise<void> {
  await writeFile(stateFile(state.dir), `${JSON.stringify(state, null, 2)}\n`);
}

/** Removes the data of a stopped cluster (certificates, etcd data, kubeconfig, state); logs stay for post-mortems. */
export async function removeData(dir: string): Promise<void> {
  await Promise.all(DATA_ENTRIES.map((e) => rm(join(dir, e), { recursive: true, force: true })));
}

async function startProcesses(
  state: ClusterState,
  layout: ClusterLayout,
  binaries: ControlPlaneBinaries,
  tls: TlsClient,
  opts: UpOptions,
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const log = (name: string): string => join(state.dir, 'logs', `${name}.log`);
  const start = async (name: keyof ControlPlaneBinaries, args: string[]): Promise<ManagedProcess> => {
    const p = spawnDetached(name, binaries[name], args, log(name));
    state.processes.push(p);
    await saveState(state);
    return p;
  };
  const etcd = await start('etcd', etcdArgs(layout));
  const apiserver = await start('kube-apiserver', apiserverArgs(layout));
  opts.progress(
    `etcd (pid ${String(etcd.pid)}) and kube-apiserver (pid ${String(apiserver.pid)}) started, waiting for /readyz`,
  );
  await waitFor('kube-apiserver /readyz', () => apiOk(state.server, '/readyz', tls), [etcd, apiserver], deadline);
  const kcm = await start('kube-controller-manager', controllerManagerArgs(layout));
  opts.progress(
    `kube-apiserver ready; kube-controller-manager (pid ${String(kcm.pid)}) started, waiting for its controllers`,
  );
  const ready = async (): Promise<boolean> =>
    (await apiOk(state.server, '/api/v1/namespaces/kube-system', tls)) &&
    // The service-account controller creates "default" in every namespace: proof the controllers run.
    (await apiOk(state.server, '/api/v1/namespaces/default/serviceaccounts/default', tls));
  await waitFor('kube-controller-manager', ready, [etcd, apiserver, kcm], deadline);
}

async function nodePorts(): Promise<NodePorts> {
  const [kubelet = 0, kubeletHealthz = 0, proxyHealthz = 0, proxyMetrics = 0, policyMetrics = 0] = await freePorts(5);
  return { kubelet, kubeletHealthz, proxyHealthz, proxyMetrics, policyMetrics };
}

async function startNodeOf(state: ClusterState, layout: NodeLayout, opts: UpOptions, node: NodeOptions) {
  await startNode({
    layout,
    binaries: node.binaries,
    images: node.images,
    kubectl: node.kubectl,
    adminKubeconfig: state.kubeconfig,
    progress: opts.progress,
    record: async (p) => {
      state.processes.push(p);
      await saveState(state);
    },
    deadline: Date.now() + (opts.timeoutMs ?? 180_000),
  });
}

/**
 * Starts a control plane in `dir` (and a node beside it with `opts.node`) and returns once it serves requests,
 * its controllers run and the node is Ready. When one already runs there, returns it with alreadyRunning. A
 * failed start stops what it started and keeps the logs.
 */
export async function clusterUp(opts: UpOptions): Promise<{ state: ClusterState; alreadyRunning: boolean }> {
  const running = await runningCluster(opts.dir);
  if (running) return { state: running, alreadyRunning: true };
  const stale = await readState(opts.dir);
  if (stale) await stopCluster(stale);
  await removeData(opts.dir);
  await mkdir(join(opts.dir, 'logs'), { recursive: true });
  await Promise.all(
    ['etcd', 'kube-apiserver', 'kube-controller-manager', ...NODE_PROCESSES].map((n) =>
      rm(join(opts.dir, 'logs', `${n}.log`), { force: true }),
    ),
  );
  const [etcdClient = 0, etcdPeer = 0, apiserver = 0] = await freePorts(3);
  const address = opts.node ? NET.nodeIp : '127.0.0.1';
  const server = `https://${address}:${String(apiserver)}`;
  const ports = opts.node ? await nodePorts() : undefined;
  const node = ports ? nodeLayout(opts.dir, ports, server) : undefined;
  const state: ClusterState = {
    version: 1,
    dir: opts.dir,
    kubeconfig: kubeconfigFile(opts.dir),
    server,
    ports: { etcdClient, etcdPeer, apiserver },
    processes: [],
    startedAt: new Date().toISOString(),
    ...(opts.node && ports
      ? {
          node: {
            name: HOST.nodeName,
            ip: NET.nodeIp,
            ports,
            crictl: opts.node.binaries.crictl,
            shim: opts.node.binaries['containerd-shim-runc-v2'],
          },
        }
      : {}),
  };
  const layout = {
    dir: opts.dir,
    etcdClientPort: etcdClient,
    etcdPeerPort: etcdPeer,
    apiserverPort: apiserver,
    address,
    apiserverExtraArgs: node ? apiserverNodeArgs(node) : [],
  };
  try {
    await saveState(state);
    if (!node && (await guardControlPlane(opts.dir, opts.progress))) {
      state.hostGuard = true;
      await saveState(state);
    }
    const tls = await writePki(opts.dir, server, node, opts.progress);
    await startProcesses(state, layout, opts.binaries, tls, opts);
    if (node && opts.node) await startNodeOf(state, node, opts, opts.node);
  } catch (err) {
    await stopCluster(state).catch(() => undefined);
    throw err;
  }
  return { state, alreadyRunning: false };
}

/** Stops the node (pods, components, host changes) and then the control plane (controllers first, etcd last). */
async function stopCluster(state: ClusterState): Promise<string[]> {
  const stopped: string[] = [];
  if (state.node) {
    const layout = nodeLayout(state.dir, state.node.ports, state.server);
    const binaries = { crictl: state.node.crictl, 'containerd-shim-runc-v2': state.node.shim };
    stopped.push(...(await stopNode(layout, state.processes, binaries)));
  }
  if (state.hostGuard) await unguardControlPlane(state.dir);
  const order = ['kube-controller-manager', 'kube-apiserver', 'etcd'];
  const processes = state.processes
    .filter((p) => order.includes(p.name))
    .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  for (const p of processes) stopped.push(...(await stopProcesses([p])));
  return stopped;
}

/** Stops every process of the cluster in `dir` (node first, then the control plane) and removes its data. */
export async function clusterDown(dir: string): Promise<{ stopped: string[]; found: boolean }> {
  const state = await readState(dir);
  if (!state) {
    const found = existsSync(join(dir, 'etcd'));
    await removeData(dir);
    return { stopped: [], found };
  }
  const stopped = await stopCluster(state);
  await removeData(dir);
  return { stopped, found: true };
}
