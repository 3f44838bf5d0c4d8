// A real node beside the control plane: containerd (CRI, runc, CNI bridge), kubelet, kube-proxy (nftables),
// kube-scheduler and kube-network-policies, started as recorded background processes of the cluster.
// prepareNode runs before the control plane (the API server binds to the node's address and needs the kubelet
// client certificate); startNode after it. stopNode undoes both, and also what a crashed run left.
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CertPem } from '../cluster/pki.ts';
import { issueCert } from '../cluster/pki.ts';
import { kubeconfigYaml } from '../cluster/kubeconfig.ts';
import { isRunning, type ManagedProcess, spawnDetached, stopProcesses, waitFor } from '../cluster/processes.ts';
import {
  APISERVER_KUBELET_USER,
  apiserverKubeletRbac,
  cniConflist,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  NETWORK_POLICY_USER,
  networkPolicyRbac,
  registryHostsToml,
} from './configs.ts';
import { claimHost, cleanUpHost, readHostRecord, setUpCgroups, setUpNetwork, sh } from './host.ts';
import { HOST, NET, type NodeLayout } from './layout.ts';
import type { NodeBinaries } from '../cluster/node-setup.ts';

export type { NodeBinaries };

export interface NodeImage {
  ref: string;
  archive: string;
  key: string;
}

export interface NodeStartOptions {
  layout: NodeLayout;
  binaries: NodeBinaries;
  images: NodeImage[];
  kubectl: string;
  adminKubeconfig: string;
  progress: (line: string) => void;
  /** Called with each process as soon as it runs, so a failed start can still stop it. */
  record: (p: ManagedProcess) => Promise<void>;
  deadline: number;
}

/** The names of the node's processes, in the order they are stopped. */
export const NODE_PROCESSES = ['kube-network-policies', 'kube-proxy', 'kube-scheduler', 'kubelet', 'containerd'];

const IMAGE_KEY_LABEL = 'k8s-ee.dev/input-key';

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/**
 * Before the control plane: claims the host (cleaning what a crashed run left), creates the bridge, the routes,
 * the guard and the cgroup root, and issues the node's certificates. Returns the API server's extra SANs.
 */
export async function prepareNode(l: NodeLayout, ca: CertPem, progress: (line: string) => void): Promise<void> {
  const previous = readHostRecord();
  if (previous) {
    progress(`node: cleaning what an earlier run (${previous.owner}) left on this host`);
    await cleanUpHost([join(previous.owner, 'node'), l.nodeDir]);
  }
  await claimHost(l.dir);
  await setUpCgroups();
  await setUpNetwork();
  await mkdir(join(l.nodeDir, 'pki'), { recursive: true });
  const now = new Date();
  const certs = {
    'kubelet-serving': issueCert(
      ca,
      { commonName: HOST.nodeName, usage: 'server', dnsNames: [HOST.nodeName], ipAddresses: [NET.nodeIp] },
      now,
    ),
    kubelet: issueCert(
      ca,
      { commonName: `system:node:${HOST.nodeName}`, organization: 'system:nodes', usage: 'client' },
      now,
    ),
    'apiserver-kubelet-client': issueCert(ca, { commonName: APISERVER_KUBELET_USER, usage: 'client' }, now),
    'kube-proxy': issueCert(ca, { commonName: 'system:kube-proxy', usage: 'client' }, now),
    'kube-scheduler': issueCert(ca, { commonName: 'system:kube-scheduler', usage: 'client' }, now),
    'kube-network-policies': issueCert(ca, { commonName: NETWORK_POLICY_USER, usage: 'client' }, now),
  };
  await writeFile(l.pki('ca.crt'), ca.certPem);
  for (const [name, pending] of Object.entries(certs)) {
    const cert = await pending;
    await writeFile(l.pki(`${name}.crt`), cert.certPem);
    await writePrivate(l.pki(`${name}.key`), cert.keyPem);
  }
}

/**
 * A control plane without a node, as root: the same bridge, service route and guard, so the API server's calls
 * to Service-backed webhooks stay on this machine. Returns false (nothing done) when another cluster holds the
 * host (its bridge and guard are there already) or when not root on Linux.
 */
export async function guardControlPlane(dir: string, progress: (line: string) => void): Promise<boolean> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || nodeBusyReason(dir)) return false;
  const previous = readHostRecord();
  if (previous) await cleanUpHost([join(previous.owner, 'node')]);
  await claimHost(dir);
  await setUpNetwork();
  progress(
    `network: service range ${NET.serviceCidr} routed to ${HOST.bridge}; cluster addresses stay on this machine`,
  );
  return true;
}

/** Undoes guardControlPlane when this cluster still owns the host. */
export async function unguardControlPlane(dir: string): Promise<void> {
  if (readHostRecord()?.owner === dir) await cleanUpHost([]);
}

/** The API server's flags towards the kubelet (client certificate, CA to verify the kubelet's serving cert). */
export function apiserverNodeArgs(l: NodeLayout): string[] {
  return [
    `--kubelet-client-certificate=${l.pki('apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${l.pki('apiserver-kubelet-client.key')}`,
    `--kubelet-certificate-authority=${l.pki('ca.crt')}`,
    '--kubelet-preferred-address-types=InternalIP',
  ];
}

async function componentKubeconfig(l: NodeLayout, name: string, user: string, caPem: string): Promise<string> {
  const path = join(l.nodeDir, `${name}.kubeconfig`);
  const certPem = readFileSync(l.pki(`${name}.crt`), 'utf8');
  const keyPem = readFileSync(l.pki(`${name}.key`), 'utf8');
  await writePrivate(path, kubeconfigYaml({ server: l.apiserver, caPem, certPem, keyPem, user }));
  return path;
}

async function writeConfigs(l: NodeLayout): Promise<void> {
  for (const d of [l.containerdRoot, l.cniConfDir, l.kubeletRoot, l.podLogsDir, HOST.runDir])
    await mkdir(d, { recursive: true });
  await writeFile(l.containerdConfig, containerdConfig(l));
  for (const host of [HOST.imageDomain, '_default']) {
    await mkdir(join(l.registryConfigDir, host), { recursive: true });
    await writeFile(join(l.registryConfigDir, host, 'hosts.toml'), registryHostsToml());
  }
  await writeFile(join(l.cniConfDir, '10-k8s-ee.conflist'), cniConflist());
  await writeFile(join(l.nodeDir, 'kubelet.yaml'), kubeletConfig(l));
}

function ctr(o: NodeStartOptions, args: string[]): Promise<string> {
  return sh(o.binaries.ctr, ['--address', o.layout.containerdSocket, '--namespace', 'k8s.io', ...args]);
}

/** Imports each image archive unless the image store already has it from the same inputs. */
async function importImages(o: NodeStartOptions): Promise<void> {
  const listed = await ctr(o, ['images', 'list']);
  for (const image of o.images) {
    const line = listed.split('\n').find((l) => l.startsWith(`${image.ref} `)) ?? '';
    if (line.includes(`${IMAGE_KEY_LABEL}=${image.key}`)) continue;
    const started = Date.now();
    await ctr(o, ['images', 'import', '--no-unpack=false', '--local', image.archive]).catch(() =>
      ctr(o, ['images', 'import', image.archive]),
    );
    await ctr(o, ['images', 'label', image.ref, `${IMAGE_KEY_LABEL}=${image.key}`]);
    o.progress(`node: imported ${image.ref} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }
}

const HOST_CONTAINERD_DROPINS = '/etc/containerd/conf.d';

async function startContainerd(o: NodeStartOptions): Promise<void> {
  const l = o.layout;
  const dropIns = existsSync(HOST_CONTAINERD_DROPINS)
    ? readdirSync(HOST_CONTAINERD_DROPINS).filter((f) => f.endsWith('.toml'))
    : [];
  if (dropIns.length > 0)
    o.progress(
      `node: warning: containerd also reads ${HOST_CONTAINERD_DROPINS} (${dropIns.join(', ')}), which may change it`,
    );
  // containerd finds its shim on PATH.
  const env = {
    ...process.env,
    PATH: `${dirname(o.binaries['containerd-shim-runc-v2'])}:${process.env['PATH'] ?? ''}`,
  };
  const args = ['--config', l.containerdConfig];
  const p = spawnDetached('containerd', o.binaries.containerd, args, logOf(l, 'containerd'), env);
  await o.record(p);
  await waitFor('containerd', async () => (await ctr(o, ['version'])).includes('Server'), [p], o.deadline);
  await importImages(o);
}

const logOf = (l: NodeLayout, name: string): string => join(l.dir, 'logs', `${name}.log`);

async function startComponents(o: NodeStartOptions): Promise<ManagedProcess[]> {
  const l = o.layout;
  const ca = readFileSync(l.pki('ca.crt'), 'utf8');
  const kc = (name: string, user: string): Promise<string> => componentKubeconfig(l, name, user, ca);
  const kubeletKc = await kc('kubelet', `system:node:${HOST.nodeName}`);
  const proxyKc = await kc('kube-proxy', 'system:kube-proxy');
  const schedulerKc = await kc('kube-scheduler', 'system:kube-scheduler');
  const policyKc = await kc('kube-network-policies', NETWORK_POLICY_USER);
  await writeFile(join(l.nodeDir, 'kube-proxy.yaml'), kubeProxyConfig(l, proxyKc));
  const starts: [keyof NodeBinaries, string[]][] = [
    ['kubelet', kubeletArgs(l, kubeletKc)],
    ['kube-proxy', [`--config=${join(l.nodeDir, 'kube-proxy.yaml')}`, '--v=1']],
    ['kube-scheduler', schedulerArgs(schedulerKc)],
    ['kube-network-policies', networkPolicyArgs(l, policyKc)],
  ];
  const started: ManagedProcess[] = [];
  for (const [name, args] of starts) {
    const p = spawnDetached(name, o.binaries[name], args, logOf(l, name));
    await o.record(p);
    started.push(p);
  }
  return started;
}

export function kubeletArgs(l: NodeLayout, kubeconfig: string): string[] {
  return [
    `--config=${join(l.nodeDir, 'kubelet.yaml')}`,
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${HOST.nodeName}`,
    `--node-ip=${NET.nodeIp}`,
    `--root-dir=${l.kubeletRoot}`,
    `--cert-dir=${join(l.nodeDir, 'pki')}`,
    '--v=1',
  ];
}

function schedulerArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--secure-port=0',
  ];
}

function networkPolicyArgs(l: NodeLayout, kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${HOST.nodeName}`,
    '--netfilter-bug-1766-fix=false',
    '--disable-nri',
    `--metrics-bind-address=127.0.0.1:${String(l.ports.policyMetrics)}`,
    '--v=1',
  ];
}

interface NodeJson {
  spec?: { taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

async function nodeReady(o: NodeStartOptions): Promise<boolean> {
  const out = await sh(o.kubectl, [`--kubeconfig=${o.adminKubeconfig}`, 'get', 'node', HOST.nodeName, '-o', 'json']);
  const node = JSON.parse(out) as NodeJson;
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const tainted = (node.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
  return ready && !tainted;
}

/** After the control plane: RBAC for the node's users, containerd with our images, then the components. */
export async function startNode(o: NodeStartOptions): Promise<void> {
  const started = Date.now();
  await writeConfigs(o.layout);
  await sh(o.kubectl, [`--kubeconfig=${o.adminKubeconfig}`, 'apply', '-f', '-'], apiserverKubeletRbac());
  await sh(o.kubectl, [`--kubeconfig=${o.adminKubeconfig}`, 'apply', '-f', '-'], networkPolicyRbac());
  await startContainerd(o);
  const [kubelet] = await startComponents(o);
  if (kubelet) await waitFor('node Ready', () => nodeReady(o), [kubelet], o.deadline);
  o.progress(`node: ${HOST.nodeName} Ready (${NET.nodeIp}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

/**
 * Why this cluster folder cannot have a node now: another folder's cluster holds the machine's node (one per
 * machine), or undefined when it is free (a record left by a crashed run does not hold it).
 */
export function nodeBusyReason(dir: string): string | undefined {
  const record = readHostRecord();
  if (!record || record.owner === dir) return undefined;
  try {
    const state = JSON.parse(readFileSync(join(record.owner, 'state.json'), 'utf8')) as {
      processes?: ManagedProcess[];
    };
    // By pid and binary: a pid reused by another program does not hold the node.
    const alive = (state.processes ?? []).some(isRunning);
    return alive ? `the node of this machine belongs to the cluster in ${record.owner}` : undefined;
  } catch {
    return undefined;
  }
}

/** Every process whose executable is `binary` (containerd's shims outlive containerd). */
function processesOf(binary: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) === binary) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * Stops the node: the components first (so nothing restarts pods), then every pod through the CRI, then
 * containerd and its shims, then the host is put back (see host.ts).
 */
export async function stopNode(
  l: NodeLayout,
  processes: ManagedProcess[],
  binaries: Pick<NodeBinaries, 'crictl' | 'containerd-shim-runc-v2'> | undefined,
): Promise<string[]> {
  const byName = (names: string[]): ManagedProcess[] => processes.filter((p) => names.includes(p.name));
  const stopped = await stopProcesses(byName(NODE_PROCESSES.filter((n) => n !== 'containerd')));
  if (binaries && existsSync(l.containerdSocket)) {
    const endpoint = ['--runtime-endpoint', `unix://${l.containerdSocket}`, '--timeout', '20s'];
    await sh(binaries.crictl, [...endpoint, 'rmp', '--all', '--force']).catch(() => undefined);
  }
  stopped.push(...(await stopProcesses(byName(['containerd']))));
  if (binaries)
    for (const pid of processesOf(binaries['containerd-shim-runc-v2'])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  await cleanUpHost([l.nodeDir]);
  return stopped;
}
