// `k8s-ee cluster up|down|kubeconfig`: a local Kubernetes control plane without Docker.
import { parseArgs } from 'node:util';
import { CliError } from '../../cli/errors.ts';
import { clusterDown, clusterUp, kubeconfigFile, runningCluster } from './controlplane.ts';
import { clusterDir } from './paths.ts';
import { ensureControlPlaneBinaries } from './setup.ts';

export const HELP = `Usage: k8s-ee cluster <up|down|kubeconfig> [--dir DIR]

A real Kubernetes control plane on this machine, without Docker: etcd, kube-apiserver (TLS, RBAC, service
accounts, admission webhooks, PodSecurity, ResourceQuota, LimitRanger) and kube-controller-manager
(namespace, resource quota, garbage collector, service account and workload controllers). There is no
kubelet: pods are admitted and stored, but never run.

Commands:
  up          build the binaries if needed (npm run setup does it too), start the control plane in the
              background and wait until it is ready. The last line printed is the kubeconfig's path:
                export KUBECONFIG=$(k8s-ee cluster up)
              When a cluster already runs in DIR, says so and prints its kubeconfig.
  down        stop every process of the cluster (SIGTERM, then SIGKILL) and remove its data (logs stay).
  kubeconfig  print the kubeconfig path of the running cluster.

Options:
  --dir DIR   state folder (certificates, etcd data, logs/, kubeconfig); several folders, several clusters.
              Default: $K8S_EE_CLUSTER_DIR, else .cache/cluster in the project.
  -h, --help  show this help.

Binaries: built once from local/controlplane into .cache/controlplane/ (Go needed), or taken from
$KUBEBUILDER_ASSETS (envtest's etcd and kube-apiserver; kube-controller-manager is built if missing there).
`;

const err = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function up(dir: string): Promise<number> {
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
  err(`starting a control plane in ${dir}`);
  const { state } = await clusterUp({ dir, binaries, progress: err });
  err(`control plane ready at ${state.server} in ${((Date.now() - started) / 1000).toFixed(1)}s; logs in ${dir}/logs`);
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
      options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
      return up(dir);
    case 'down':
      return down(dir);
    case 'kubeconfig':
      return kubeconfig(dir);
    default:
      throw new CliError(
        `cluster: ${action === undefined ? 'say up, down or kubeconfig' : `unknown action "${action}"`}\n\n${HELP}`,
      );
  }
}
