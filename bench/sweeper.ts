// One sweeper pass (`k8s-ee sweeper --once --dry-run --only namespaces`, the compiled dist/cli/main.js the image
// runs, with the node flags of its ENTRYPOINT) over 100, 1,000 and 5,000 managed PR namespaces (one in ten with a Helm release record carrying a 16 KB
// payload, as real ones do), on a built-in control plane without a node (no lock needed), or on
// $K8S_EE_E2E_KUBECONFIG. Each figure beside its floor, measured in the same run: a bare Node process paging
// through the same lists and keeping the names (bench/_list-floor.mjs). Peak RSS is VmHWM from /proc; API calls
// are counted by each process (the sweeper says how many at the end of a pass).
// BENCH_SWEEPER_SIZES=100,1000 to choose the sizes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startBuiltInCluster } from '../local/harness/cluster.ts';
import { LABELS } from '../policies/names.ts';
import { kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';
import { emit, imageEnv, imageNodeArgs, watchPeak, type Row } from './_lib.ts';

const SIZES = (process.env['BENCH_SWEEPER_SIZES'] ?? '100,1000,5000').split(',').map(Number);
const bench = 'sweeper';

async function inParallel<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

async function createNamespaces(http: KubeHttp, from: number, to: number): Promise<void> {
  const payload = Buffer.alloc(12 * 1024, 'x').toString('base64');
  const indexes = Array.from({ length: to - from }, (_, i) => from + i + 1);
  await inParallel(indexes, 32, async (i) => {
    const name = `bench-pr-${i}`;
    await http.request('POST', '/api/v1/namespaces', {
      body: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { [LABELS.managed]: 'true', [LABELS.project]: 'bench' } },
      },
    });
    if (i % 10 !== 0) return;
    await http.request('POST', `/api/v1/namespaces/${name}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'helm.sh/release.v1',
        metadata: {
          name: 'sh.helm.release.v1.app.v1',
          labels: { owner: 'helm', name: 'app', status: 'deployed', version: '1' },
        },
        data: { release: payload },
      },
    });
  });
}

interface Pass {
  wallMs: number;
  peakMiB: number;
  /** API requests the process made, as it reports them ("apiRequests" on stderr). */
  calls: number;
}

async function measure(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Pass> {
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
  const tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } = {};
  await kc.applyToHTTPSOptions(tls);
  for (const k of ['ca', 'cert', 'key'] as const) writeFileSync(join(dir, k), tls[k] ?? '');
  const floorEnv = {
    K8S_SERVER: kc.getCurrentCluster()?.server ?? '',
    K8S_CA: join(dir, 'ca'),
    K8S_CERT: join(dir, 'cert'),
    K8S_KEY: join(dir, 'key'),
  };
  const rows: Row[] = [];
  try {
    let have = 0;
    for (const size of SIZES.sort((a, b) => a - b)) {
      const t0 = performance.now();
      await createNamespaces(http, have, size);
      have = size;
      process.stderr.write(`bench: ${size} namespaces ready in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      const sweeper = [
        process.execPath,
        ...imageNodeArgs(),
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
      // Interleaved: floor, sweeper, floor, sweeper; the better of each side.
      const runs: { k: Pass[]; f: Pass[] } = { k: [], f: [] };
      for (let i = 0; i < 2; i++) {
        runs.f.push(await measure(floorArgv, floorEnv));
        runs.k.push(await measure(sweeper, imageEnv()));
      }
      const best = (ps: Pass[], key: keyof Pass): number => Math.min(...ps.map((p) => p[key]));
      const at = `${size} namespaces`;
      rows.push(
        {
          bench,
          row: `sweeper pass, ${at}: peak RSS`,
          figure: best(runs.k, 'peakMiB'),
          floor: best(runs.f, 'peakMiB'),
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
