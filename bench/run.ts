// `npm run bench`: runs every benchmark in bench/ (or those named on the command line: `npm run bench -- webhook
// sweeper`), one after another, each in its own process so one's warm-up or leftovers cannot skew another. Each
// row is a figure beside its floor, both measured in the same run; this prints them as one table and writes
// bench/results.md (for people: machine, versions, date) and bench/results.json (for charts/resources.test.ts,
// which fails when a measured peak exceeds the chart's memory limit). Rows of benches not run this time, or run
// without measuring anything (skipped), are kept from the previous results.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, ratio, type Row } from './_lib.ts';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts') && !f.startsWith('_'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
if (benches.length === 0) {
  process.stderr.write(`bench: nothing matches ${wanted.join(' ')}; benches: ${readdirSync(here).join(' ')}\n`);
  process.exit(2);
}

export interface Results {
  date: string;
  machine: string;
  node: string;
  rows: Row[];
  /** Per bench: the date of its rows, and the load average when it started (a noisy machine shows here). */
  runs: Record<string, { date: string; load: number; seconds: number; ok: boolean }>;
}

const resultsFile = join(here, 'results.json');
const previous: Results | undefined = existsSync(resultsFile)
  ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Results)
  : undefined;

const out = mkdtempSync(join(tmpdir(), 'k8s-ee-bench-out-'));
const rows: Row[] = [];
const runs: Results['runs'] = {};
let failed = 0;
for (const file of benches) {
  const name = file.replace(/\.ts$/, '');
  process.stdout.write(`\n== bench/${file}\n`);
  const outFile = join(out, `${name}.jsonl`);
  const started = Date.now();
  const load = loadavg()[0] ?? 0;
  const run = spawnSync(process.execPath, [join(here, file)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_OUT: outFile },
  });
  const ok = run.status === 0;
  if (!ok) failed += 1;
  runs[name] = { date: new Date(started).toISOString(), load, seconds: (Date.now() - started) / 1000, ok };
  if (existsSync(outFile))
    for (const line of readFileSync(outFile, 'utf8').split('\n')) if (line) rows.push(JSON.parse(line) as Row);
}
rmSync(out, { recursive: true, force: true });

// A bench replaces its previous rows only when it measured something: one that skipped (no node on this machine
// now) or failed before its first row keeps the rows and the date of its last run, and says so.
const measured = new Set(rows.map((r) => r.bench));
const replaced = (bench: string): boolean => measured.has(bench);
for (const file of benches) {
  const name = file.replace(/\.ts$/, '');
  const before = previous?.runs[name];
  if (!measured.has(name) && before)
    process.stdout.write(`bench: ${name} measured nothing this time; its rows of ${before.date} are kept\n`);
}
const kept = (previous?.rows ?? []).filter((r) => !replaced(r.bench));
const all = [...kept, ...rows];
const results: Results = {
  date: new Date().toISOString(),
  machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB`,
  node: process.versions.node,
  rows: all,
  runs: {
    ...Object.fromEntries(Object.entries(previous?.runs ?? {}).filter(([b]) => !replaced(b))),
    ...Object.fromEntries(Object.entries(runs).filter(([b]) => replaced(b) || !previous?.runs[b])),
  },
};

function table(list: Row[]): string {
  const head = '| bench | measure | k8s-ee | floor | ratio | target | note |\n|---|---|---:|---:|---:|---|---|\n';
  return (
    head +
    list
      .map((r) => {
        const q = ratio(r);
        return `| ${r.bench} | ${r.row} | ${fmt(r.figure)} ${r.unit} | ${r.floor === undefined ? '-' : `${fmt(r.floor)} ${r.unit}`} | ${q === undefined ? '-' : q.toFixed(2)} | ${r.target ?? ''} | ${r.note ?? ''} |`;
      })
      .join('\n') +
    '\n'
  );
}

process.stdout.write(`\n${table(all)}`);
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
const runLines = Object.entries(results.runs)
  .map(
    ([b, r]) =>
      `- ${b}: ${r.date}, ${r.seconds.toFixed(0)} s, 1-minute load average ${r.load.toFixed(2)} at the start${r.ok ? '' : ' (FAILED)'}`,
  )
  .join('\n');
writeFileSync(
  join(here, 'results.md'),
  `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); do not edit. Machine: ${results.machine}; Node ${results.node};
${results.date}. Each figure is beside its floor, measured in the same run (interleaved where the bench says so), so
the ratio holds on a busy machine even when the absolute figures do not: a load average near or above the CPU
count means the absolute numbers are pessimistic.

${runLines}

${table(all)}
Ratio: k8s-ee's figure / the floor's (throughput wants it high, latency and memory low). Floors: admission, a bare
Node HTTPS server answering a fixed AdmissionReview on the same CPU (bench/_floor.mjs); sweeper, a bare Node
process paging through the same lists (bench/_list-floor.mjs); baseline, the same objects written straight to the
API server by a bare client with no webhook registered; in-cluster, the same Deployments created into a namespace
the installed webhooks do not match, a bare Node HTTPS server idle for the webhook's and the certs sidecar's memory
and the list floor for the sweeper sidecar's. Peaks are checked against the chart's memory limits by charts/resources.test.ts.
`,
);
process.stdout.write(`\nwrote bench/results.md and bench/results.json\n`);
process.exitCode = failed === 0 ? 0 : 1;
