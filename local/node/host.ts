// What a node changes on the host, and how it is put back: the bridge with the node's address and the
// service route, the guard table, sysctls, the cgroup root, mounts, network namespaces and the nft/iptables
// state the components leave. Every step of the cleanup is idempotent, so `down` and an `up` after a crash
// run the same code. One node per machine: host.json in HOST.runDir says which cluster folder owns it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { guardRuleset } from './configs.ts';
import { HOST, NET, SAVED_SYSCTLS } from './layout.ts';

const execFileP = promisify(execFile);

export interface HostRecord {
  /** The cluster folder that owns the node. */
  owner: string;
  /** sysctl values before the first `up` (kept across crashed runs, so the original values come back). */
  sysctls: Record<string, string>;
  /** nft tables that existed before `up` (family and name); any other table a component created goes on `down`. */
  tablesBefore: string[];
  /** Whether containerd's own cgroup (HOST.runtimeCgroup) existed before `up` (another containerd's). */
  runtimeCgroupBefore: boolean;
}

const recordFile = join(HOST.runDir, 'host.json');

/** Runs a command; its stderr is in the error. */
export async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  try {
    if (input !== undefined) return await runWithInput(cmd, args, input);
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

function runWithInput(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(cmd, args, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(err.message, { cause: err }), { stderr }));
      else resolvePromise(stdout);
    });
    child.stdin?.end(input);
  });
}

/** The same, but a failure is only returned (cleanup goes on). */
async function trySh(cmd: string, args: string[]): Promise<string | undefined> {
  return sh(cmd, args).catch(() => undefined);
}

export function readHostRecord(): HostRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile, 'utf8')) as HostRecord;
  } catch {
    return undefined;
  }
}

const sysctlPath = (key: string): string => `/proc/sys/${key}`;

function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SAVED_SYSCTLS) {
    if (existsSync(sysctlPath(key))) out[key] = readFileSync(sysctlPath(key), 'utf8').trim();
  }
  return out;
}

async function nftTables(): Promise<string[]> {
  const out = (await trySh('nft', ['list', 'tables'])) ?? '';
  return out
    .split('\n')
    .map((l) => l.replace(/^table\s+/, '').trim())
    .filter(Boolean);
}

/** Takes the node for `owner`: records what `down` must restore (unless a crashed run's record is still there). */
export async function claimHost(owner: string): Promise<HostRecord> {
  await mkdir(HOST.runDir, { recursive: true, mode: 0o700 });
  const previous = readHostRecord();
  const record: HostRecord = previous
    ? { ...previous, owner }
    : {
        owner,
        sysctls: readSysctls(),
        tablesBefore: await nftTables(),
        runtimeCgroupBefore: cgroupDirs(HOST.runtimeCgroup).some((d) => existsSync(d)),
      };
  await writeFile(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

async function writeSysctl(key: string, value: string): Promise<void> {
  await writeFile(sysctlPath(key), `${value}\n`);
}

/** The bridge with the node's address, the service range routed onto it, forwarding on, and the guard. */
export async function setUpNetwork(): Promise<void> {
  const bridge = HOST.bridge;
  if ((await trySh('ip', ['link', 'show', bridge])) === undefined)
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await sh('ip', ['addr', 'replace', `${NET.nodeIp}/${String(NET.nodeIpPrefix)}`, 'dev', bridge]);
  await sh('ip', ['link', 'set', bridge, 'up']);
  // ClusterIPs go to the bridge: kube-proxy's DNAT runs before the re-route, and an address nothing serves
  // fails here ("no route to host") instead of leaving by the default route.
  await sh('ip', ['route', 'replace', NET.serviceCidr, 'dev', bridge, 'src', NET.nodeIp]);
  await trySh('nft', ['delete', 'table', 'inet', HOST.guardTable]);
  await sh('nft', ['-f', '-'], guardRuleset());
  await writeSysctl('net/ipv4/ip_forward', '1');
  // Pod-to-pod traffic on the bridge must pass netfilter, or NetworkPolicies would not see it.
  await writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  await writeSysctl('net/bridge/bridge-nf-call-ip6tables', '1');
}

/** cgroup v1 hierarchies (one folder per mounted controller set); empty on a pure cgroup v2 host. */
function cgroupV1Hierarchies(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return [];
  return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'unified')
    .map((d) => join('/sys/fs/cgroup', d.name));
}

/** A cgroup's folder in every hierarchy (v1 controllers, or the v2 root). */
function cgroupDirs(name: string): string[] {
  return [...cgroupV1Hierarchies(), '/sys/fs/cgroup/unified', '/sys/fs/cgroup'].map((h) => join(h, name));
}

/** The kubelet's cgroupRoot must exist in every v1 hierarchy before it starts (cpuset also needs its cpus/mems). */
export async function setUpCgroups(): Promise<void> {
  for (const h of cgroupV1Hierarchies()) {
    const dir = join(h, HOST.cgroupRoot);
    await mkdir(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (!existsSync(join(dir, f))) continue;
      const mine = (await readFile(join(dir, f), 'utf8')).trim();
      if (!mine) await writeFile(join(dir, f), await readFile(join(h, f), 'utf8'));
    }
  }
  if (cgroupV1Hierarchies().length === 0) await mkdir(join('/sys/fs/cgroup', HOST.cgroupRoot), { recursive: true });
}

/** Pids of every process left in our cgroup root (pods' processes, shims), from any hierarchy. */
export function processesInCgroups(): number[] {
  const pids = new Set<number>();
  const roots = cgroupDirs(HOST.cgroupRoot);
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    const procs = join(dir, 'cgroup.procs');
    if (existsSync(procs)) for (const p of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) pids.add(Number(p));
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) walk(join(dir, d.name));
  };
  roots.forEach(walk);
  return [...pids];
}

/** A k8s-ee service process on this machine's node: its pid and command line. */
export interface ServiceProcess {
  pid: number;
  argv: string[];
}

/** The main process of every k8s-ee container on this machine's node running `command` (webhook, sweeper). */
export function k8seeProcesses(command: string): ServiceProcess[] {
  return processesInCgroups().flatMap((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const script = argv.findIndex((a) => a.endsWith('dist/cli/main.js'));
      return script >= 0 && argv[script + 1] === command ? [{ pid, argv }] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const d of readdirSync(dir, { withFileTypes: true }))
    if (d.isDirectory()) await removeCgroupTree(join(dir, d.name));
  await rmdir(dir).catch(() => undefined);
}

/** Mount points under the given prefixes, deepest first. */
export function mountsUnder(mountinfo: string, prefixes: string[]): string[] {
  const points = mountinfo
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((p) => prefixes.some((prefix) => p === prefix || p.startsWith(`${prefix}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountUnder(prefixes: string[]): Promise<number> {
  const points = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), prefixes);
  for (const p of points) await trySh('umount', ['-l', p]);
  return points.length;
}

/** The network namespaces the CRI made for pods (cni-…), and the mounts that hold them. */
async function removePodNetns(): Promise<void> {
  const out = (await trySh('ip', ['netns', 'list'])) ?? '';
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith('cni-')) await trySh('ip', ['netns', 'delete', name]);
  }
}

/** Chains the kubelet adds through iptables-nft (KUBE-FIREWALL, KUBE-IPTABLES-HINT, …), with their jumps. */
async function removeKubeIptablesChains(): Promise<void> {
  for (const bin of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = (await trySh(bin, ['-t', table, '-S'])) ?? '';
      for (const rule of rules.split('\n').filter((r) => /^-A \S+ .*-j KUBE-/.test(r)))
        await trySh(bin, ['-t', table, ...rule.replace(/^-A /, '-D ').split(' ')]);
      for (const chain of rules.split('\n').filter((r) => r.startsWith('-N KUBE-')))
        await trySh(bin, ['-t', table, '-F', chain.slice(3)]);
      for (const chain of rules.split('\n').filter((r) => r.startsWith('-N KUBE-')))
        await trySh(bin, ['-t', table, '-X', chain.slice(3)]);
    }
  }
}

async function removeNftTables(record: HostRecord | undefined): Promise<void> {
  await trySh('nft', ['delete', 'table', 'inet', HOST.guardTable]);
  for (const [family, name] of HOST.componentTables) await trySh('nft', ['delete', 'table', family, name]);
  if (!record) return;
  // Tables iptables-nft created for the kubelet's chains, now empty: gone with the node.
  for (const table of await nftTables())
    if (!record.tablesBefore.includes(table)) await trySh('nft', ['delete', 'table', ...table.split(' ')]);
}

export interface CleanupReport {
  unmounted: number;
  killed: number;
}

/**
 * Puts the host back: kills what is left in the cgroup root, unmounts what the node mounted, removes the
 * pods' network namespaces, the bridge, the nft tables and iptables chains, the cgroup root, and restores
 * the sysctls. Safe to run when nothing is there.
 */
export async function cleanUpHost(prefixes: string[]): Promise<CleanupReport> {
  const record = readHostRecord();
  const leftovers = processesInCgroups();
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const unmounted = await unmountUnder([...prefixes, HOST.runDir]);
  await removePodNetns();
  await trySh('ip', ['link', 'delete', HOST.bridge]);
  await removeKubeIptablesChains();
  await removeNftTables(record);
  for (const d of cgroupDirs(HOST.cgroupRoot)) await removeCgroupTree(d);
  if (record && !record.runtimeCgroupBefore) for (const d of cgroupDirs(HOST.runtimeCgroup)) await removeCgroupTree(d);
  for (const [key, value] of Object.entries(record?.sysctls ?? {})) await writeSysctl(key, value).catch(() => {});
  await rm(HOST.runDir, { recursive: true, force: true });
  return { unmounted, killed: leftovers.length };
}
