// The cluster the e2e tests run against: an existing one ($K8S_EE_E2E_KUBECONFIG), the one the global setup
// started for this test run ($K8S_EE_E2E_BUILTIN_KUBECONFIG), or, when a test file runs alone
// (`node --test e2e/x.test.ts`), one started for this process and stopped when it ends.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { clusterDown, clusterUp, readState } from '../cluster/controlplane.ts';
import {
  CONTROL_PLANE_BINARIES,
  cacheDir,
  controlPlaneBinDir,
  helmPath,
  kubectlPath,
  projectRoot,
} from '../cluster/paths.ts';
import { isRunning } from '../cluster/processes.ts';
import { ensureControlPlaneBinaries, ensureTools } from '../cluster/setup.ts';
import { noNodeReason, resolveNodeOptions } from '../node/options.ts';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface TestCluster {
  kubeconfig: string;
  kubectl(args: string[], opts?: { input?: string; allowFail?: boolean }): Promise<CommandResult>;
  helm(args: string[], opts?: { allowFail?: boolean }): Promise<CommandResult>;
  /** True for our built-in cluster (local/cluster), with or without a node. */
  builtIn: boolean;
  /** True when pods really run: the built-in cluster with its node, or an external cluster. */
  node: boolean;
}

/** Set by e2e/global-setup.ts for the test files it spawns. */
export const BUILTIN_KUBECONFIG_ENV = 'K8S_EE_E2E_BUILTIN_KUBECONFIG';
export const EXTERNAL_KUBECONFIG_ENV = 'K8S_EE_E2E_KUBECONFIG';
/** Set by e2e/global-setup.ts when the built-in cluster has a node (why not, otherwise). */
export const BUILTIN_NODE_ENV = 'K8S_EE_E2E_BUILTIN_NODE';

/** Runs a command, collects its output; throws with the output unless it succeeds or `allowFail`. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: string; allowFail?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    // A command that exits before reading its input (most do not read it) makes this write fail with EPIPE: its
    // exit code and output tell what happened, so that error is not the test's.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      const result = { stdout, stderr, code: code ?? 1 };
      if (result.code === 0 || opts.allowFail) resolvePromise(result);
      else
        reject(
          new Error(
            `${cmd.split('/').at(-1) ?? cmd} ${args.join(' ')} exited with ${String(result.code)}\n${stderr}${stdout}`,
          ),
        );
    });
    child.stdin.end(opts.input ?? '');
  });
}

export function testClusterFor(kubeconfig: string, builtIn: boolean, node = !builtIn): TestCluster {
  const helmHome = join(cacheDir, 'helm');
  const helmEnv = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  };
  return {
    kubeconfig,
    builtIn,
    node,
    kubectl: (args, opts) => runCommand(kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], opts),
    helm: (args, opts) => runCommand(helmPath, ['--kubeconfig', kubeconfig, ...args], { ...opts, env: helmEnv }),
  };
}

/**
 * Stops the cluster in `dir` should this process die without stopping it (see local/cluster/watchdog.ts).
 * Call the returned function once the cluster is stopped the normal way.
 */
export function startWatchdog(dir: string): () => void {
  const script = join(projectRoot, 'local', 'cluster', 'watchdog.ts');
  const child = spawn(process.execPath, [script, String(process.pid), dir], { detached: true, stdio: 'ignore' });
  child.unref();
  return () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
}

export interface StartedCluster {
  kubeconfig: string;
  dir: string;
  /** Why the cluster has no node, or undefined when it has one. */
  noNode: string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts a built-in cluster in a fresh temporary folder (building the binaries if needed), with a node when
 * `node` is asked for and this machine allows it (root on Linux, no other cluster holding the node).
 */
export async function startBuiltInCluster(
  progress: (line: string) => void = () => undefined,
  opts: { node?: boolean } = {},
): Promise<StartedCluster> {
  await ensureTools(progress);
  const binaries = await ensureControlPlaneBinaries(progress);
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-e2e-'));
  const wantNode = opts.node ?? false;
  const nodeOptions = await resolveNodeOptions(dir, wantNode, progress);
  const noNode = nodeOptions ? undefined : (noNodeReason(dir, wantNode) ?? 'the node could not be prepared');
  const { state } = await clusterUp({ dir, binaries, progress, ...(nodeOptions ? { node: nodeOptions } : {}) });
  const stopWatchdog = startWatchdog(dir);
  // Last resort if the process ends without stop(): no control plane outlives the test run.
  const killOnExit = (): void => {
    for (const p of state.processes.filter(isRunning)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  };
  process.once('exit', killOnExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      await clusterDown(dir);
      stopWatchdog();
      await rm(dir, { recursive: true, force: true });
    })());
  return { kubeconfig: state.kubeconfig, dir, noNode, stop };
}

let own: Promise<TestCluster> | undefined;

async function startOwnCluster(): Promise<TestCluster> {
  process.stderr.write('e2e: no cluster from the global setup; starting one for this test file\n');
  const started = await startBuiltInCluster((line) => process.stderr.write(`e2e: ${line}\n`), { node: true });
  // The event loop empties once the file's tests are done: stop the cluster then.
  process.once('beforeExit', () => void started.stop());
  return testClusterFor(started.kubeconfig, true, started.noNode === undefined);
}

/** The cluster of this test run; see the module comment for where it comes from. */
export async function getTestCluster(): Promise<TestCluster> {
  const external = process.env[EXTERNAL_KUBECONFIG_ENV];
  if (external) {
    await ensureTools(() => undefined);
    return testClusterFor(external, false);
  }
  const builtIn = process.env[BUILTIN_KUBECONFIG_ENV];
  if (builtIn) return testClusterFor(builtIn, true, process.env[BUILTIN_NODE_ENV] === 'yes');
  own ??= startOwnCluster();
  return own;
}

/**
 * Deletes namespaces and waits until they are gone (the namespace controller empties them first), so the next
 * test, or the next file on the shared cluster, can create them afresh.
 */
export async function deleteNamespaces(cluster: TestCluster, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await cluster.kubectl(['delete', 'namespace', ...names, '--ignore-not-found', '--wait=true', '--timeout=90s']);
}

/** Why the tests that start their own built-in control plane cannot run here, or false when they can. */
export function builtInSkipReason(): string | false {
  const built = CONTROL_PLANE_BINARIES.every((b) => existsSync(join(controlPlaneBinDir(), b)));
  if (built || process.env['KUBEBUILDER_ASSETS'] || !process.env[EXTERNAL_KUBECONFIG_ENV]) return false;
  return `${EXTERNAL_KUBECONFIG_ENV} is set and the built-in control plane is not built (npm run setup without it builds it)`;
}

/** The state folder of a built-in cluster's kubeconfig (for tests that look at its processes). */
export async function builtInClusterProcesses(kubeconfig: string): Promise<{ name: string; pid: number }[]> {
  const state = await readState(join(kubeconfig, '..'));
  return state?.processes.map(({ name, pid }) => ({ name, pid })) ?? [];
}

/**
 * Writes a kubeconfig for a ServiceAccount of the cluster (a token from the TokenRequest API, `duration` long) to
 * `file`, beside the admin's own cluster entry: for tests and benches that act as an identity other than the admin.
 */
export async function serviceAccountKubeconfig(
  cluster: TestCluster,
  sa: { namespace: string; name: string },
  file: string,
  duration = '1h',
): Promise<string> {
  const token = (
    await cluster.kubectl(['-n', sa.namespace, 'create', 'token', sa.name, `--duration=${duration}`])
  ).stdout.trim();
  const admin = parseYaml((await cluster.kubectl(['config', 'view', '--raw', '--minify'])).stdout) as {
    clusters: { name: string }[];
  };
  const user = `${sa.namespace}-${sa.name}`;
  const config = {
    ...admin,
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: admin.clusters[0]?.name ?? '', user } }],
    'current-context': user,
  };
  await writeFile(file, stringifyYaml(config), { mode: 0o600 });
  return file;
}
