// Shared by the benchmarks: rows measured beside their floor, /proc memory readings, the floor processes, and the
// hand-off to bench/run.ts (each bench appends its rows as JSON lines to $BENCH_OUT; run alone, it only prints them).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseRuntimeStage } from '../local/images/dockerfile.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { SERVICE_NODE_FLAGS, type Service } from '../cli/runtime.ts';

export interface Row {
  bench: string;
  /** What is measured. */
  row: string;
  /** k8s-ee's figure and the floor's, measured in the same run, in `unit`. */
  figure: number;
  floor?: number;
  unit: string;
  /** True when more is better (throughput); the ratio is then figure/floor, else floor/figure is not used. */
  higherIsBetter?: boolean;
  /** The target, in words (from the issue), for the table. */
  target?: string;
  note?: string;
  /** A measured peak of a container (MiB), checked against the chart's limit by charts/resources.test.ts. */
  peakOf?: 'webhook' | 'sweeper' | 'certs';
}

/** figure/floor: throughput ratios want >= target, latency and memory ratios want <= target. */
export function ratio(row: Row): number | undefined {
  if (row.floor === undefined || row.floor === 0 || !Number.isFinite(row.floor)) return undefined;
  return row.figure / row.floor;
}

export function emit(rows: Row[]): void {
  for (const r of rows) {
    const q = ratio(r);
    process.stdout.write(
      `${r.row}: ${fmt(r.figure)} ${r.unit}${r.floor === undefined ? '' : ` (floor ${fmt(r.floor)}, ratio ${q === undefined ? '-' : q.toFixed(2)})`}${r.note ? ` [${r.note}]` : ''}\n`,
    );
  }
  const out = process.env['BENCH_OUT'];
  if (out) appendFileSync(out, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export interface Memory {
  /** Resident set now, MiB. */
  rss: number;
  /** Peak resident set since start (VmHWM), MiB. */
  hwm: number;
}

/** VmRSS and VmHWM of a live process, from /proc (what the kernel counts against a container's limit). */
export function memoryOf(pid: number): Memory {
  const mib = statusMiB(pid);
  return { rss: mib('VmRSS'), hwm: mib('VmHWM') };
}

/** Reads /proc/PID/status once; the returned function gives one of its `kB` fields in MiB (NaN when absent). */
function statusMiB(pid: number): (key: string) => number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
}

/**
 * Where a process's resident memory is: anonymous pages (V8's heap, code and helper memory, and malloc's), of which
 * glibc's main malloc arena (the [heap] mapping: OpenSSL's and Node's native buffers, among others), and pages of
 * files, almost all of them the node binary's own code (~47 MiB, read-only and shared by every Node process, the
 * floor's too). MiB, from /proc/PID/status and /proc/PID/smaps.
 */
export interface MemoryParts {
  anon: number;
  mallocMain: number;
  file: number;
}

export function memoryPartsOf(pid: number): MemoryParts {
  const mib = statusMiB(pid);
  let mallocMain = 0;
  let inHeap = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.trimEnd().endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) mallocMain += Number(line.split(/\s+/)[1]);
  }
  return { anon: mib('RssAnon'), mallocMain: mallocMain / 1024, file: mib('RssFile') };
}

/** A row note's account of memoryPartsOf: `anon 37.1 MiB (malloc's main arena 6.2) + files 47.9 MiB`. */
export function describeParts(parts: MemoryParts): string {
  const mib = (x: number): string => x.toFixed(1);
  return `anon ${mib(parts.anon)} MiB (malloc's main arena ${mib(parts.mallocMain)}) + files ${mib(parts.file)} MiB`;
}

/** The memory rows' note: where k8s-ee's process's memory is, beside the floor's. */
export function partsBesideFloor(pid: number, floorPid: number): string {
  return `k8s-ee ${describeParts(memoryPartsOf(pid))}; floor ${describeParts(memoryPartsOf(floorPid))}`;
}

/** Polls VmHWM until the process exits; the highest reading (a process exiting has no memory lines left). */
export function watchPeak(pid: number, everyMs = 20): { stop(): Memory | undefined } {
  let best: Memory | undefined;
  const read = (): void => {
    try {
      const m = memoryOf(pid);
      if (Number.isFinite(m.hwm) && (best === undefined || m.hwm >= best.hwm)) best = m;
    } catch {
      // gone: keep the best reading
    }
  };
  const timer = setInterval(read, everyMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return best;
    },
  };
}

/**
 * The CPUs this process may use, read when the module loads: before a bench pins itself to one CPU (the load
 * generator's), after which availableParallelism() says 1 and cpuPrefix would silently put the servers on the load
 * generator's CPU too (how every saturated figure before 2026-12-03 was measured: both on CPU 1, CPU 0 idle).
 */
const CPUS_AT_START = availableParallelism();

/** Pins a process to one CPU (Linux taskset); a no-op where taskset is missing or there is one CPU. */
export function cpuPrefix(cpu: number): string[] {
  if (CPUS_AT_START < 2 || !existsSync('/usr/bin/taskset')) return [];
  return ['/usr/bin/taskset', '-c', String(cpu)];
}

/** The environment the image sets (its runtime stage's ENV lines), so a bench runs with what ships. */
export function imageEnv(): Record<string, string> {
  const { env } = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  return Object.fromEntries(env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

/**
 * Node's own flags as the image runs a service: those of its ENTRYPOINT (between `node` and the script), then the
 * service's own (cli/runtime.ts, which the service adds at start when they are missing), so a bench runs what ships
 * and a floor runs with the same flags.
 */
export function serviceNodeArgs(service: Service): string[] {
  const { entrypoint } = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  return [...entrypoint.slice(1, -1), ...SERVICE_NODE_FLAGS[service]];
}

/** Runs `task` over the items, at most `limit` at once. */
export async function inParallel<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

export interface FloorServer {
  child: ChildProcess;
  port: number;
}

/**
 * The floor for admission (bench/_floor.mjs): a bare Node HTTPS server serving dir/tls.crt and dir/tls.key, with the
 * webhook's node flags and the image's environment, pinned to CPU 0; `workUs` of CPU spent per request (calibration).
 */
export function startFloorServer(dir: string, workUs = 0): Promise<FloorServer> {
  const argv = [
    ...cpuPrefix(0),
    process.execPath,
    ...serviceNodeArgs('webhook'),
    join(import.meta.dirname, '_floor.mjs'),
    join(dir, 'tls.crt'),
    join(dir, 'tls.key'),
  ];
  const [command = process.execPath, ...args] = argv;
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...imageEnv(), FLOOR_WORK_US: String(workUs) },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`floor server exited early with ${String(code)}: ${out}`)));
  });
}

export interface Pass {
  wallMs: number;
  peakMiB: number;
  /** API requests the process made, as it reports them ("apiRequests" on stderr). */
  calls: number;
}

/** Runs a process that must exit 0 (a sweeper pass, bench/_list-floor.mjs): its wall time, peak RSS and API calls. */
export async function measurePass(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Pass> {
  const started = performance.now();
  const [command = process.execPath, ...args] = argv;
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const peak = watchPeak(child.pid ?? 0, 10);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const memory = peak.stop();
  const wallMs = performance.now() - started;
  // --once exits 1 when an action failed; a dry run has none, so anything but 0 is a broken pass.
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${String(code)}: ${stderr.slice(-2000)}`);
  const calls = Number((/"apiRequests":(\d+)/.exec(stderr) ?? / (\d+) API requests/.exec(stderr))?.[1] ?? NaN);
  return { wallMs, peakMiB: memory?.hwm ?? NaN, calls };
}

/** A small Deployment as developers write them (one container, one port, no securityContext). */
export function smallDeployment(name: string, namespace?: string, replicas?: number): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}
