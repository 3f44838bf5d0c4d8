// Time from namespace creation to a complete baseline (all objects applied and the namespace stamped, which
// the reconciler does last), with 1, 20 and 100 managed namespaces created at the same moment. Runs the real
// `k8s-ee webhook` (with its reconciler) against a built-in control plane, or $K8S_EE_E2E_KUBECONFIG.
// Set BENCH_BASELINE_SIZES=1,20 to choose the rounds.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { LABELS } from '../policies/names.ts';
import { buildBaseline } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';
import { getTestCluster } from '../local/harness/cluster.ts';
import { startWebhook } from '../local/harness/webhook.ts';

const SIZES = (process.env['BENCH_BASELINE_SIZES'] ?? '1,20,100').split(',').map(Number);
const OBJECTS = buildBaseline('x-pr-1', [], defaultConfig()).length;

interface NamespaceList {
  items: { metadata: { name: string; labels?: Record<string, string> } }[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Watches namespaces and calls back the first time each one carries the baseline stamp. */
async function watchStamps(kc: KubeConfig, onStamped: (name: string, at: number) => void): Promise<AbortController> {
  const watch = new Watch(kc);
  return watch.watch(
    '/api/v1/namespaces',
    { labelSelector: `${LABELS.managed}=true` },
    (_type: string, ns: { metadata?: { name?: string; labels?: Record<string, string> } }) => {
      if (ns.metadata?.labels?.[LABELS.baselineHash] && ns.metadata.name)
        onStamped(ns.metadata.name, performance.now());
    },
    () => undefined,
  );
}

async function countObjects(http: KubeHttp, ns: string): Promise<number> {
  const paths = [
    `/api/v1/namespaces/${ns}/resourcequotas`,
    `/api/v1/namespaces/${ns}/limitranges`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
  ];
  const lists = await Promise.all(paths.map((p) => http.request<{ items: unknown[] }>('GET', p)));
  return lists.reduce((n, l) => n + l.items.length, 0);
}

async function deleteAndWait(http: KubeHttp, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => http.request('DELETE', `/api/v1/namespaces/${n}`).catch(() => undefined)));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const list = await http.request<NamespaceList>('GET', '/api/v1/namespaces');
    if (!list.items.some((ns) => names.includes(ns.metadata.name))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function round(http: KubeHttp, kc: KubeConfig, size: number, run: number): Promise<number[]> {
  const names = Array.from({ length: size }, (_, i) => `bench${run}-pr-${i + 1}`);
  const created = new Map<string, number>();
  const stamped = new Map<string, number>();
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const watch = await watchStamps(kc, (name, at) => {
    if (!names.includes(name) || stamped.has(name)) return;
    stamped.set(name, at);
    if (stamped.size === size) done();
  });
  await Promise.all(
    names.map(async (name) => {
      await http.request('POST', '/api/v1/namespaces', {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      });
      created.set(name, performance.now());
    }),
  );
  const timeout = setTimeout(done, 60_000);
  await all;
  clearTimeout(timeout);
  watch.abort();
  const incomplete = [];
  for (const name of names)
    if ((await countObjects(http, name)) !== OBJECTS || !stamped.has(name)) incomplete.push(name);
  if (incomplete.length > 0)
    throw new Error(`baseline incomplete in ${incomplete.length} namespaces: ${incomplete.slice(0, 5).join(', ')}`);
  const latencies = names
    .map((n) => Math.max(0, (stamped.get(n) ?? NaN) - (created.get(n) ?? NaN)))
    .sort((a, b) => a - b);
  await deleteAndWait(http, names);
  return latencies;
}

async function main(): Promise<void> {
  const cluster = await getTestCluster();
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const http = kubeHttp(kc);
  const webhook = await startWebhook({ cluster, extraArgs: [] });
  const rows: string[] = [];
  try {
    for (const [i, size] of SIZES.entries()) {
      const started = performance.now();
      const latencies = await round(http, kc, size, i + 1);
      const wall = performance.now() - started;
      const fmt = (ms: number): string => ms.toFixed(0).padStart(8);
      rows.push(
        `| ${String(size).padStart(10)} | ${fmt(percentile(latencies, 50))} | ${fmt(percentile(latencies, 95))} | ${fmt(latencies.at(-1) ?? NaN)} | ${(wall / 1000).toFixed(1).padStart(9)} |`,
      );
    }
  } finally {
    await webhook.stop();
    http.close();
  }
  process.stdout.write(
    'Time from namespace creation to complete baseline (8 objects + namespace stamp), reconciler in `k8s-ee webhook`\n',
  );
  process.stdout.write(
    `| namespaces |   p50 ms |   p95 ms |   max ms | round s*  |\n|-----------:|---------:|---------:|---------:|----------:|\n${rows.join('\n')}\n`,
  );
  process.stdout.write("* round: creation, completion, checks and deletion of the round's namespaces\n");
}

await main();
