// One sweeper pass (`k8s-ee sweeper --once --dry-run --only namespaces`, the compiled dist/cli/main.js the image
// runs, with the node flags of its ENTRYPOINT) over 100, 1,000 and 5,000 managed PR namespaces (one in ten with a Helm release record carrying a 16 KB
// payload, as real ones do), on a built-in control plane without a node (no lock needed), or on
// $K8S_EE_E2E_KUBECONFIG. Each figure beside its floor, measured in the same run: a bare Node process paging
// through the same lists and keeping the names (bench/_list-floor.mjs). Peak RSS is VmHWM from /proc; API calls
// are counted by each process (the sweeper says how many at the end of a pass).
// BENCH_SWEEPER_SIZES=100,1000 to choose the sizes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startBuiltInCluster } from '../local/harness/cluster.ts';
import { LABELS } from '../policies/names.ts';
import { kubeHttp } from '../webhooks/reconciler-http.ts';
import { createPrNamespaces, listFloorEnv } from './_cluster.ts';
import { emit, imageEnv, serviceNodeArgs, measurePass, type Pass, type Row } from './_lib.ts';

const SIZES = (process.env['BENCH_SWEEPER_SIZES'] ?? '100,1000,5000').split(',').map(Number);
const bench = 'sweeper';

async function main(): Promise<void> {
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('tsc -p tsconfig.build.json failed: the sweeper is measured as built');
  const external = process.env['K8S_EE_E2E_KUBECONFIG'];
  const cluster = external
    ? undefined
    : await startBuiltInCluster((line) => process.stderr.write(`bench: ${line}\n`), { node: false });
  const kubeconfig = external ?? cluster?.kubeconfig ?? '';
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const http = kubeHttp(kc);
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-bench-sweeper-'));
  const floorEnv = await listFloorEnv(kc, dir);
  const rows: Row[] = [];
  try {
    let have = 0;
    for (const size of SIZES.sort((a, b) => a - b)) {
      const t0 = performance.now();
      await createPrNamespaces(http, 'bench', have, size, { [LABELS.managed]: 'true', [LABELS.project]: 'bench' });
      have = size;
      process.stderr.write(`bench: ${size} namespaces ready in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      const sweeper = [
        process.execPath,
        ...serviceNodeArgs('sweeper'),
        'dist/cli/main.js',
        'sweeper',
        '--once',
        '--dry-run',
        '--only',
        'namespaces',
        '--kubeconfig',
        kubeconfig,
      ];
      const floorArgv = [process.execPath, join(import.meta.dirname, '_list-floor.mjs')];
      // Interleaved: floor, sweeper, floor, sweeper; the better wall of each side and the higher peak (a peak is
      // what a memory limit must hold: at 5,000 one pass in two peaked ~15 MiB higher, as a full collection came
      // earlier or later in it).
      const runs: { k: Pass[]; f: Pass[] } = { k: [], f: [] };
      for (let i = 0; i < 2; i++) {
        runs.f.push(await measurePass(floorArgv, floorEnv));
        runs.k.push(await measurePass(sweeper, imageEnv()));
      }
      const best = (ps: Pass[], key: keyof Pass): number => Math.min(...ps.map((p) => p[key]));
      const highest = (ps: Pass[]): number => Math.max(...ps.map((p) => p.peakMiB));
      const at = `${size} namespaces`;
      rows.push(
        {
          bench,
          row: `sweeper pass, ${at}: peak RSS`,
          figure: highest(runs.k),
          floor: highest(runs.f),
          unit: 'MiB',
          target: '<= 100 MiB',
          peakOf: 'sweeper',
        },
        {
          bench,
          row: `sweeper pass, ${at}: wall`,
          figure: best(runs.k, 'wallMs'),
          floor: best(runs.f, 'wallMs'),
          unit: 'ms',
          target: '<= 2 s at 5,000',
          note: 'process start included',
        },
        {
          bench,
          row: `sweeper pass, ${at}: API requests`,
          figure: best(runs.k, 'calls'),
          floor: best(runs.f, 'calls'),
          unit: 'requests',
          note: 'as each process counts them',
        },
      );
    }
  } finally {
    http.close();
    rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  }
  emit(rows);
}

await main();
