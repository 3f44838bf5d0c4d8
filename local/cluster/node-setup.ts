// What a node needs on this machine, put in place by `npm run setup` (and `cluster up`) as root on Linux:
// kubelet, kube-proxy and kube-scheduler from the control plane's Go module; containerd v2, crictl and a patched
// kube-network-policies from our wrapper modules under local/node/build (their go.mod holds the pinned version);
// each built once into a version-keyed folder of .cache/node. And the Debian packages a node runs with (runc,
// the CNI plugins, iptables, nftables, conntrack, iproute2, busybox-static).
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { controlPlaneModuleDir, controlPlaneVersions, nodeBuildDir, nodeCacheDir, projectRoot } from './paths.ts';
import { buildLdflags, findGo, type Progress } from './setup.ts';

export interface NodeBinaries {
  kubelet: string;
  'kube-proxy': string;
  'kube-scheduler': string;
  containerd: string;
  'containerd-shim-runc-v2': string;
  ctr: string;
  crictl: string;
  'kube-network-policies': string;
}

export const CONTAINERD_MODULE = 'github.com/containerd/containerd/v2';
export const CRI_TOOLS_MODULE = 'sigs.k8s.io/cri-tools';
export const KUBE_NETWORK_POLICIES_MODULE = 'sigs.k8s.io/kube-network-policies';
const KNP_MAIN = 'github.com/k8s-ee/k8s-ee/local/node/build/kube-network-policies';
const containerdDir = join(nodeBuildDir, 'containerd');
const crictlDir = join(nodeBuildDir, 'crictl');
const knpDir = join(nodeBuildDir, 'kube-network-policies');
/** Our patches to kube-network-policies, applied in this order (each file's header says why). */
export const KNP_PATCHES = ['nfqueue-xt-target.patch', 'nri-disabled-no-plugin.patch'].map((f) => join(knpDir, f));
/** Build tags of containerd: no btrfs, devmapper or zfs snapshotters (they need cgo), no generated docs. */
export const CONTAINERD_TAGS = ['no_btrfs', 'no_devmapper', 'no_zfs', 'urfave_cli_no_docs'];

export interface NodeVersions {
  kubernetes: string;
  containerd: string;
  crictl: string;
  kubeNetworkPolicies: string;
}

/** The version `module` is required at in a go.mod's text; `file` names it in the error. */
export function requiredVersion(goMod: string, module: string, file: string): string {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v[0-9][^\\s]*)`, 'm').exec(goMod);
  if (!match?.[1]) {
    throw new Error(
      `${file}: no "require ${module} vX.Y.Z" line; add it back (go get ${module}@<version> && go mod tidy)`,
    );
  }
  return match[1];
}

function wrapperVersion(dir: string, module: string): string {
  const file = join(dir, 'go.mod');
  if (!existsSync(file)) throw new Error(`${relative(projectRoot, file)} is missing: restore it from git`);
  return requiredVersion(readFileSync(file, 'utf8'), module, relative(projectRoot, file));
}

/** The pinned versions, read from the committed go.mod files (a bump there rebuilds into a new cache folder). */
export function nodeVersions(): NodeVersions {
  return {
    kubernetes: controlPlaneVersions().kubernetes,
    containerd: wrapperVersion(containerdDir, CONTAINERD_MODULE),
    crictl: wrapperVersion(crictlDir, CRI_TOOLS_MODULE),
    kubeNetworkPolicies: wrapperVersion(knpDir, KUBE_NETWORK_POLICIES_MODULE),
  };
}

/** containerd's version stamp, as its Makefile sets it (`containerd --version` prints it). */
export function containerdLdflags(version: string): string {
  return `-s -w -X ${CONTAINERD_MODULE}/version.Version=${version}`;
}

/** crictl's version stamp: cri-tools' Makefile sets it without the leading "v". */
export function crictlLdflags(version: string): string {
  return `-s -w -X ${CRI_TOOLS_MODULE}/pkg/version.Version=${version.replace(/^v/, '')}`;
}

/** One `go build` of several commands into one cache folder. */
export interface GoBuild {
  /** What the progress lines call it, e.g. "containerd v2.4.2". */
  label: string;
  /** The Go module `go build` runs in. */
  moduleDir: string;
  /** Package paths; the last element of each is the binary's name. */
  packages: string[];
  outDir: string;
  ldflags: string;
  tags: string[];
  env: Record<string, string>;
  /** Files whose content the binaries depend on besides the module cache (go.mod, go.sum, our sources, a patch). */
  inputs: string[];
  /** Runs in the temporary build folder before `go build`; returns extra arguments (e.g. -modfile). */
  prepare?: (tmp: string, go: string, progress: Progress) => Promise<string[]>;
}

export function binaryNames(build: Pick<GoBuild, 'packages'>): string[] {
  return build.packages.map((pkg) => pkg.split('/').at(-1) ?? pkg);
}

/** The text of a build's marker file: everything that, changed, must rebuild. `digest` covers the input files. */
export function buildMarker(build: GoBuild, digest: string): string {
  const env = Object.entries(build.env).sort(([a], [b]) => a.localeCompare(b));
  const lines = [
    `packages ${build.packages.join(' ')}`,
    `ldflags ${build.ldflags}`,
    `tags ${build.tags.join(',')}`,
    ...env.map(([k, v]) => `env ${k}=${v}`),
    `inputs ${digest}`,
  ];
  return `${lines.join('\n')}\n`;
}

async function digestFiles(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${relative(projectRoot, file)}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The builds of every node binary at the given versions. */
export function nodeBuilds(v: NodeVersions): GoBuild[] {
  const k8sCmds = ['kubelet', 'kube-proxy', 'kube-scheduler'];
  const fromWrapper = (dir: string): string[] => [join(dir, 'go.mod'), join(dir, 'go.sum')];
  return [
    {
      label: `kubelet, kube-proxy, kube-scheduler ${v.kubernetes}`,
      moduleDir: controlPlaneModuleDir,
      packages: k8sCmds.map((c) => `./cmd/${c}`),
      outDir: join(nodeCacheDir, `k8s-${v.kubernetes}`),
      // The control plane's flags and environment, so go reuses the packages the control-plane build compiled.
      ldflags: buildLdflags({ kubernetes: v.kubernetes, etcd: '' }),
      tags: [],
      env: {},
      inputs: [
        ...fromWrapper(controlPlaneModuleDir),
        ...k8sCmds.map((c) => join(controlPlaneModuleDir, 'cmd', c, 'main.go')),
      ],
    },
    {
      label: `containerd ${v.containerd}`,
      moduleDir: containerdDir,
      packages: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((c) => `${CONTAINERD_MODULE}/cmd/${c}`),
      outDir: join(nodeCacheDir, `containerd-${v.containerd}`),
      ldflags: containerdLdflags(v.containerd),
      tags: CONTAINERD_TAGS,
      env: { CGO_ENABLED: '0' },
      inputs: fromWrapper(containerdDir),
    },
    {
      label: `crictl ${v.crictl}`,
      moduleDir: crictlDir,
      packages: [`${CRI_TOOLS_MODULE}/cmd/crictl`],
      outDir: join(nodeCacheDir, `crictl-${v.crictl}`),
      ldflags: crictlLdflags(v.crictl),
      tags: [],
      env: { CGO_ENABLED: '0' },
      inputs: fromWrapper(crictlDir),
    },
    {
      label: `kube-network-policies ${v.kubeNetworkPolicies} (patched)`,
      moduleDir: knpDir,
      packages: [KNP_MAIN],
      outDir: join(nodeCacheDir, `kube-network-policies-${v.kubeNetworkPolicies}`),
      ldflags: '-s -w',
      tags: [],
      env: { CGO_ENABLED: '0' },
      inputs: [...fromWrapper(knpDir), join(knpDir, 'main.go'), ...KNP_PATCHES],
      prepare: (tmp, go, progress) => patchedModfile(tmp, go, v.kubeNetworkPolicies, progress),
    },
  ];
}

/**
 * Every node binary: from the cache when built from the same inputs, else built (one build after another; go
 * parallelises each). Needs the Go toolchain and the Go module proxy (or a warm module cache).
 */
export async function ensureNodeBinaries(progress: Progress): Promise<NodeBinaries> {
  const paths: Record<string, string> = {};
  for (const build of nodeBuilds(nodeVersions())) Object.assign(paths, await ensureBuilt(build, progress));
  return paths as unknown as NodeBinaries;
}

const MARKER = '.build';

async function ensureBuilt(build: GoBuild, progress: Progress): Promise<Record<string, string>> {
  const marker = buildMarker(build, await digestFiles(build.inputs));
  const names = binaryNames(build);
  const current =
    names.every((n) => existsSync(join(build.outDir, n))) && readText(join(build.outDir, MARKER)) === marker;
  if (current) progress(`node: ${build.label} ready in ${relative(projectRoot, build.outDir)}`);
  else await buildGo(requireGo(build.label), build, marker, progress);
  return Object.fromEntries(names.map((n) => [n, join(build.outDir, n)]));
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function requireGo(what: string): string {
  const go = findGo();
  if (!go) {
    throw new Error(
      `the Go toolchain is needed to build ${what}, and \`go\` is neither on PATH nor in /usr/local/go/bin: ` +
        'install Go 1.26 or newer',
    );
  }
  return go;
}

/** Builds into a temporary folder inside outDir, then renames the binaries in and writes the marker. */
async function buildGo(go: string, build: GoBuild, marker: string, progress: Progress): Promise<void> {
  progress(`node: building ${build.label} with ${go}; this takes minutes the first time`);
  await mkdir(build.outDir, { recursive: true });
  const tmp = await mkdtemp(join(build.outDir, '.build-'));
  const started = Date.now();
  const cpuBefore = childCpuSeconds();
  const heartbeat = setInterval(
    () => progress(`node: still building ${build.label} (${formatElapsed(Date.now() - started)})`),
    30_000,
  );
  try {
    const extra = build.prepare ? await build.prepare(tmp, go, progress) : [];
    const tags = build.tags.length > 0 ? [`-tags=${build.tags.join(',')}`] : [];
    const args = ['build', '-trimpath', '-buildvcs=false', `-ldflags=${build.ldflags}`, ...tags, ...extra];
    await runGo(go, [...args, '-o', `${tmp}/`, ...build.packages], build);
    for (const name of binaryNames(build)) await rename(join(tmp, name), join(build.outDir, name));
    await writeFile(join(build.outDir, MARKER), marker);
  } finally {
    clearInterval(heartbeat);
    await rm(tmp, { recursive: true, force: true });
  }
  const cpu = childCpuSeconds();
  const cpuText =
    cpu !== undefined && cpuBefore !== undefined ? `, ${formatElapsed((cpu - cpuBefore) * 1000)} CPU` : '';
  const sizes = await Promise.all(
    binaryNames(build).map(
      async (n) => `${n} ${String(Math.round((await stat(join(build.outDir, n))).size / 1e6))} MB`,
    ),
  );
  progress(
    `node: built ${build.label} in ${formatElapsed(Date.now() - started)}${cpuText} into ` +
      `${relative(projectRoot, build.outDir)} (${sizes.join(', ')})`,
  );
}

/** Runs go with its output on our stderr (stdout may carry a command's result, e.g. `cluster up`'s kubeconfig). */
function runGo(go: string, args: string[], build: GoBuild): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env, ...build.env };
    const child = spawn(go, args, { cwd: build.moduleDir, env, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) return resolvePromise();
      const dir = relative(projectRoot, build.moduleDir);
      reject(
        new Error(
          `building ${build.label}: go ${args[0] ?? ''} failed (${signal ?? `exit code ${String(code)}`}) in ${dir}; ` +
            `see go's output above. Missing go.sum entries (after a version bump): run \`go mod tidy\` in ${dir}; ` +
            'modules that cannot be downloaded: the Go module proxy must be reachable',
        ),
      );
    });
  });
}

function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${String(Math.floor(s / 60))}m${String(s % 60).padStart(2, '0')}s` : `${String(s)}s`;
}

/**
 * CPU seconds (user + system) of this process's finished children and their descendants, from the cutime and
 * cstime fields of /proc/<pid>/stat (in clock ticks of 1/100 s); undefined when the text is not such a line.
 */
export function parseChildCpuSeconds(statLine: string): number | undefined {
  const fields = statLine
    .slice(statLine.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  // After "pid (comm) ", field 3 (state) is index 0: cutime (field 16) and cstime (field 17) are at 13 and 14.
  const cutime = Number(fields[13]);
  const cstime = Number(fields[14]);
  if (!statLine.includes(')') || !Number.isFinite(cutime) || !Number.isFinite(cstime)) return undefined;
  return (cutime + cstime) / 100;
}

function childCpuSeconds(): number | undefined {
  const line = readText('/proc/self/stat');
  return line === undefined ? undefined : parseChildCpuSeconds(line);
}

/**
 * The patched kube-network-policies source: a copy of the module (from the Go module cache) with our patches
 * applied, in a folder keyed by version and patch digest; then a go.mod for the build with a replace line to it.
 */
async function patchedModfile(tmp: string, go: string, version: string, progress: Progress): Promise<string[]> {
  const source = await patchedSource(go, version, progress);
  const goMod = await readFile(join(knpDir, 'go.mod'), 'utf8');
  await writeFile(join(tmp, 'build.mod'), `${goMod}\nreplace ${KUBE_NETWORK_POLICIES_MODULE} => ${source}\n`);
  await cp(join(knpDir, 'go.sum'), join(tmp, 'build.sum'));
  return [`-modfile=${join(tmp, 'build.mod')}`];
}

async function patchedSource(go: string, version: string, progress: Progress): Promise<string> {
  const digest = (await digestFiles(KNP_PATCHES)).slice(0, 12);
  const dir = join(nodeCacheDir, 'src', `kube-network-policies-${version}-patch-${digest}`);
  if (existsSync(join(dir, 'go.mod'))) return dir;
  const origin = await moduleSourceDir(go, KUBE_NETWORK_POLICIES_MODULE, version);
  const names = KNP_PATCHES.map((p) => relative(projectRoot, p)).join(', ');
  progress(`node: applying ${names} to a copy of ${KUBE_NETWORK_POLICIES_MODULE}@${version}`);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dir), '.copy-'));
  try {
    const copy = join(tmp, 'src');
    await cp(origin, copy, { recursive: true });
    await makeWritable(copy); // the module cache is read-only
    for (const patch of KNP_PATCHES) applyPatch(copy, patch, `${KUBE_NETWORK_POLICIES_MODULE}@${version}`);
    await rm(dir, { recursive: true, force: true }); // a leftover without go.mod
    await rename(copy, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Where `go mod download` puts a module's source (downloading it when the module cache lacks it). */
export async function moduleSourceDir(go: string, module: string, version: string): Promise<string> {
  const { stdout, failure } = await new Promise<{ stdout: string; failure?: string }>((resolvePromise) => {
    execFile(go, ['mod', 'download', '-json', `${module}@${version}`], { cwd: knpDir }, (err, out, errOut) => {
      resolvePromise({ stdout: out, failure: err ? `${err.message} ${errOut}`.trim() : undefined });
    });
  });
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(stdout) as typeof info;
  } catch {
    // go printed no JSON: the failure says why
  }
  if (!info.Dir || info.Error || failure) {
    throw new Error(
      `go mod download ${module}@${version} failed: ${info.Error ?? failure ?? 'no Dir in its output'} ` +
        '(the Go module proxy must be reachable, or the module already in the module cache)',
    );
  }
  return info.Dir;
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    await chmod(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
}

function applyPatch(dir: string, patchFile: string, what: string): void {
  if (spawnSync('patch', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(`patch(1) is needed to patch ${what}: install it (apt-get install -y patch)`);
  }
  const args = ['-p1', '--forward', '--batch', '--no-backup-if-mismatch', '-d', dir, '-i', patchFile];
  const result = spawnSync('patch', args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${relative(projectRoot, patchFile)} does not apply to ${what}: ${`${result.stdout}${result.stderr}`.trim()}\n` +
        'Refresh the patch for this version (or drop it if upstream no longer needs it).',
    );
  }
}

/**
 * Debian packages a node runs with, each with the files that show it installed where dpkg is missing. `patch`
 * is for the build (kube-network-policies is patched); containerd is not among them: ours is built (v2).
 */
export const NODE_PACKAGES: Record<string, string[]> = {
  runc: ['/usr/sbin/runc', '/usr/bin/runc'],
  'containernetworking-plugins': ['/usr/lib/cni/bridge', '/opt/cni/bin/bridge'],
  iptables: ['/usr/sbin/iptables', '/sbin/iptables'],
  nftables: ['/usr/sbin/nft', '/sbin/nft'],
  conntrack: ['/usr/sbin/conntrack', '/sbin/conntrack'],
  iproute2: ['/usr/sbin/ip', '/sbin/ip', '/bin/ip'],
  'busybox-static': ['/bin/busybox', '/usr/bin/busybox'],
  patch: ['/usr/bin/patch'],
};

/** The installed packages among the lines `dpkg-query -W -f='${Package} ${db:Status-Status}\n'` prints. */
export function parseDpkgInstalled(output: string): Set<string> {
  const installed = new Set<string>();
  for (const line of output.split('\n')) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && status === 'installed') installed.add(name.replace(/:.*$/, ''));
  }
  return installed;
}

/** The packages of `wanted` that are not installed: asked of dpkg when it is there, else judged by their files. */
export function missingNodePackages(wanted: Record<string, string[]> = NODE_PACKAGES): string[] {
  const names = Object.keys(wanted);
  const dpkg = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...names], { encoding: 'utf8' });
  if (dpkg.error === undefined) {
    const installed = parseDpkgInstalled(dpkg.stdout);
    return names.filter((n) => !installed.has(n));
  }
  return names.filter((n) => !(wanted[n] ?? []).some((file) => existsSync(file)));
}

/** The command that installs `packages`, as the error messages show it. */
export function aptInstallCommand(packages: string[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * The Debian packages of NODE_PACKAGES: checked, and the missing ones installed with apt-get (one `apt-get
 * update` first) when running as root on Linux; otherwise an error naming the command to run.
 */
export async function ensureNodePackages(
  progress: Progress,
  packages: Record<string, string[]> = NODE_PACKAGES,
): Promise<void> {
  const missing = missingNodePackages(packages);
  if (missing.length === 0) {
    progress(`node: packages present (${Object.keys(packages).join(', ')})`);
    return;
  }
  const command = aptInstallCommand(missing);
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error(`a node needs the Debian packages ${missing.join(', ')}: run as root \`${command}\``);
  }
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(
      `a node needs ${missing.join(', ')} and apt-get is not available: install the equivalent packages ` +
        `(files ${missing.flatMap((n) => packages[n]?.[0] ?? []).join(', ')})`,
    );
  }
  progress(`node: installing ${missing.join(', ')} (${command})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runApt(['update'], env);
  await runApt(['install', '-y', '--no-install-recommends', ...missing], env);
  const still = missingNodePackages(packages);
  if (still.length > 0)
    throw new Error(`apt-get install left ${still.join(', ')} missing; run \`${aptInstallCommand(still)}\``);
  progress(`node: installed ${missing.join(', ')}`);
}

/** Runs apt-get with its output on our stderr, like runGo. */
function runApt(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('apt-get', args, { env, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`apt-get ${args.join(' ')} failed (${signal ?? `exit code ${String(code)}`})`));
    });
  });
}

/** What decides whether this machine can run a node. */
export interface HostFacts {
  platform: NodeJS.Platform;
  uid: number | undefined;
  /** The go command, when found. */
  go: string | undefined;
  /** Whether /sys/fs/cgroup is there (kubelet and runc need cgroups). */
  cgroups: boolean;
}

export function hostFacts(): HostFacts {
  return { platform: process.platform, uid: process.getuid?.(), go: findGo(), cgroups: existsSync('/sys/fs/cgroup') };
}

/** Whether a node can be built and run here: root on Linux with cgroups and Go; else a one-line reason. */
export function nodeSupport(host: HostFacts = hostFacts()): { ok: true } | { ok: false; why: string } {
  if (host.platform !== 'linux') return { ok: false, why: `a node runs on Linux only (this is ${host.platform})` };
  if (host.uid !== 0) {
    return { ok: false, why: `a node needs root (containerd, kubelet, nftables); running as uid ${String(host.uid)}` };
  }
  if (!host.cgroups) return { ok: false, why: '/sys/fs/cgroup is missing: kubelet and runc need cgroups' };
  if (!host.go) {
    return {
      ok: false,
      why: 'building a node needs the Go toolchain, and `go` is neither on PATH nor in /usr/local/go/bin',
    };
  }
  return { ok: true };
}
