// `k8s-ee cluster up|down|kubeconfig|images`: a local Kubernetes cluster without Docker: a control plane, and a
// real node beside it when running as root on Linux.
import { parseArgs } from 'node:util';
import { CliError } from '../../cli/errors.ts';
import { clusterDown, clusterUp, kubeconfigFile, runningCluster } from './controlplane.ts';
import { clusterDir } from './paths.ts';
import { ensureControlPlaneBinaries } from './setup.ts';
import { resolveNodeOptions } from '../node/options.ts';
import { nodeLayout } from '../node/layout.ts';
import { sh } from '../node/host.ts';

export const HELP = `Usage: k8s-ee cluster <up|down|kubeconfig|images> [--dir DIR] [--no-node]

A real single-node Kubernetes cluster on this machine, without Docker. The control plane: etcd, kube-apiserver
(TLS, RBAC, service accounts, admission webhooks, PodSecurity, ResourceQuota, LimitRanger) and
kube-controller-manager. The node (as root on Linux): containerd v2 with runc and the CNI bridge, kubelet,
kube-proxy (nftables), kube-scheduler and kube-network-policies, so pods run and NetworkPolicies are enforced.
Images are built locally and imported (k8s-ee.local/k8s-ee:dev, k8s-ee.local/sample-app:dev, …); nothing is
ever pulled, and no packet to a cluster address leaves the machine.

Commands:
  up          build what is needed (npm run setup does it too), start the cluster in the background and wait
              until it is ready (with a node: until the node is Ready). The last line printed is the
              kubeconfig's path:
                export KUBECONFIG=$(k8s-ee cluster up)
              When a cluster already runs in DIR, says so and prints its kubeconfig.
  down        stop every process of the cluster (pods first, then the node, then the control plane), put back
              what the node changed on the host, and remove the cluster's data (logs stay).
  kubeconfig  print the kubeconfig path of the running cluster.
  images      list the images in the node's image store.

Options:
  --dir DIR   state folder (certificates, etcd data, node state, logs/, kubeconfig).
              Default: $K8S_EE_CLUSTER_DIR, else .cache/cluster in the project.
  --no-node   a control plane only (pods are admitted but never run).
  -h, --help  show this help.

One node per machine: while one cluster has it, another \`up\` starts a control plane only and says so.
Binaries: built once from Go modules into .cache/ (Go needed), or taken from $KUBEBUILDER_ASSETS (envtest's
etcd and kube-apiserver). Debian packages the node needs (runc, containernetworking-plugins, nftables,
iptables, conntrack, iproute2, busybox-static) are installed with apt-get when missing.
`;

const err = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function up(dir: string, wantNode: boolean): Promise<number> {
  const started = Date.now();
  const running = await runningCluster(dir);
  if (running) {
    err(
      `a cluster already runs in ${dir} (${running.server}, since ${running.startedAt}); \`k8s-ee cluster down --dir ${dir}\` stops it`,
    );
    process.stdout.write(`${running.kubeconfig}\n`);
    return 0;
  }
  const binaries = await ensureControlPlaneBinaries(err);
  const node = await resolveNodeOptions(dir, wantNode, err);
  err(`starting a ${node ? 'cluster (control plane and node)' : 'control plane'} in ${dir}`);
  const { state } = await clusterUp({ dir, binaries, progress: err, ...(node ? { node } : {}) });
  const what = state.node ? `cluster with node ${state.node.name}` : 'control plane';
  err(`${what} ready at ${state.server} in ${((Date.now() - started) / 1000).toFixed(1)}s; logs in ${dir}/logs`);
  process.stdout.write(`${state.kubeconfig}\n`);
  return 0;
}

async function down(dir: string): Promise<number> {
  const { stopped, found } = await clusterDown(dir);
  if (!found) err(`no cluster in ${dir}; nothing to stop`);
  else
    err(
      stopped.length > 0
        ? `stopped ${stopped.join(', ')}; data removed from ${dir}`
        : `no process was running; data removed from ${dir}`,
    );
  return 0;
}

async function images(dir: string): Promise<number> {
  const state = await runningCluster(dir);
  if (!state) throw new CliError(`no cluster runs in ${dir}; start one with \`k8s-ee cluster up --dir ${dir}\``, 1);
  if (!state.node) throw new CliError(`the cluster in ${dir} has no node, so no image store`, 1);
  const endpoint = `unix://${nodeLayout(dir, state.node.ports, state.server).containerdSocket}`;
  process.stdout.write(await sh(state.node.crictl, ['--runtime-endpoint', endpoint, 'images']));
  return 0;
}

async function kubeconfig(dir: string): Promise<number> {
  if (!(await runningCluster(dir)))
    throw new CliError(`no cluster runs in ${dir}; start one with \`k8s-ee cluster up --dir ${dir}\``, 1);
  process.stdout.write(`${kubeconfigFile(dir)}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        'no-node': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new CliError(`cluster: ${(e as Error).message}\n\n${HELP}`);
  }
  const [action, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (extra.length > 0) throw new CliError(`cluster: unexpected argument "${extra.join(' ')}"\n\n${HELP}`);
  const dir = clusterDir(parsed.values.dir);
  switch (action) {
    case 'up':
      return up(dir, !parsed.values['no-node']);
    case 'images':
      return images(dir);
    case 'down':
      return down(dir);
    case 'kubeconfig':
      return kubeconfig(dir);
    default:
      throw new CliError(
        `cluster: ${action === undefined ? 'say up, down, kubeconfig or images' : `unknown action "${action}"`}\n\n${HELP}`,
      );
  }
}
