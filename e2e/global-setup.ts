// Global setup of `npm run test:e2e` (node --test-global-setup): one built-in control plane for the whole
// run, in a temporary folder, unless $K8S_EE_E2E_KUBECONFIG names a cluster to use. Its kubeconfig reaches the
// test files (child processes spawned after this ran) through $K8S_EE_E2E_BUILTIN_KUBECONFIG.
import {
  BUILTIN_KUBECONFIG_ENV,
  BUILTIN_NODE_ENV,
  EXTERNAL_KUBECONFIG_ENV,
  startBuiltInCluster,
  type StartedCluster,
} from '../local/harness/cluster.ts';

let cluster: StartedCluster | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env[EXTERNAL_KUBECONFIG_ENV]) {
    process.stderr.write(
      `e2e: using the cluster of ${EXTERNAL_KUBECONFIG_ENV}=${process.env[EXTERNAL_KUBECONFIG_ENV]}\n`,
    );
    return;
  }
  const started = Date.now();
  // With a node whenever this machine allows one (root on Linux): then the data-plane tests run.
  cluster = await startBuiltInCluster((line) => process.stderr.write(`e2e: ${line}\n`), { node: true });
  process.env[BUILTIN_KUBECONFIG_ENV] = cluster.kubeconfig;
  process.env[BUILTIN_NODE_ENV] = cluster.noNode === undefined ? 'yes' : `no: ${cluster.noNode}`;
  process.stderr.write(`e2e: control plane ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${cluster.dir})\n`);
}

export async function globalTeardown(): Promise<void> {
  await cluster?.stop();
  cluster = undefined;
}
