// Shared by the benchmarks: rows measured beside their floor, /proc memory readings, and the hand-off to
// bench/run.ts (each bench appends its rows as JSON lines to $BENCH_OUT; run alone, it only prints them).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseRuntimeStage } from '../local/images/dockerfile.ts';
import { projectRoot } from '../local/cluster/paths.ts';

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
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
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

/** Pins a process to one CPU (Linux taskset); a no-op where taskset is missing or there is one CPU. */
export function cpuPrefix(cpu: number): string[] {
  if (availableParallelism() < 2 || !existsSync('/usr/bin/taskset')) return [];
  return ['/usr/bin/taskset', '-c', String(cpu)];
}

/** The environment the image sets (its runtime stage's ENV lines), so a bench runs with what ships. */
export function imageEnv(): Record<string, string> {
  const { env } = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  return Object.fromEntries(env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

/** Node's own flags in the image's ENTRYPOINT (between `node` and the script), so a bench runs what ships. */
export function imageNodeArgs(): string[] {
  const { entrypoint } = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  return entrypoint.slice(1, -1);
}
