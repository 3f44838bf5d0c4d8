// `k8s-ee demo`: the README's run command. Sets up what is missing, starts the built-in cluster (with its node as
// root), installs k8s-ee into it with plain `helm install charts/k8s-ee` (without a node: runs the webhook and the
// sweeper as local processes), installs PR environments with plain helm, shows what k8s-ee did and that the
// network isolates them, and keeps it all running until Ctrl-C (or, with --once, cleans up at once: a
// non-interactive smoke test).
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { CliError } from '../../cli/errors.ts';
import { clusterDown, clusterUp } from '../cluster/controlplane.ts';
import { resolveNodeOptions } from '../node/options.ts';
import { installPlatform, type InstalledPlatform, PLATFORM_NAMESPACE } from '../harness/platform.ts';
import { freePort } from '../cluster/net.ts';
import { cacheDir, projectRoot } from '../cluster/paths.ts';
import { ensureControlPlaneBinaries, ensureTools } from '../cluster/setup.ts';
import { runCommand, startWatchdog, testClusterFor, type TestCluster } from '../harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../harness/webhook.ts';
import { addedPaths, errorText, type ListOf, namespaceMarks, objectNames } from './report.ts';
import { writeSampleChart } from './sample-chart.ts';
import { startSweeper, type StartedSweeper } from './sweeper.ts';

const HELP = `Usage: k8s-ee demo [--once] [--dir DIR]

Shows k8s-ee at work on this machine, without Docker: builds what is missing (the first run compiles the
cluster's binaries, which takes minutes), starts a single-node cluster (a control plane only when not root),
installs k8s-ee into it with plain helm from the locally built image, installs PR environments (namespaces
demo-pr-1 and demo-pr-2) with plain helm, and prints what k8s-ee did: the namespace labels, the baseline
objects, the security defaults added to the app, a privileged pod refused with the message a developer reads,
the app answering inside its PR and a request from the other PR refused by the network, and the sweeper
removing an environment after helm uninstall. Then it keeps running, so you can try kubectl and helm yourself,
until Ctrl-C, and cleans up.

Options:
  --once      clean up right after showing, instead of waiting for Ctrl-C (for scripts and CI)
  --dir DIR   state folder (default .cache/demo in the project)
  -h, --help  show this help
`;

const NAMESPACE = 'demo-pr-1';
const SHORT_LIVED = 'demo-pr-2';
// The demo's sweeper looks every 5 seconds and gives an uninstalled release 10 seconds of grace (the defaults,
// every minute and 1 minute, would make the demo wait minutes for the same thing).
const SWEEPER_CONFIG = `sweeper:
  schedule: '*/5 * * * * *'
  releaseGrace: 10s
  neverDeployedGrace: 10s
`;
const SWEEPER_VALUES = {
  config: { sweeper: { schedule: '*/5 * * * * *', releaseGrace: '10s', neverDeployedGrace: '10s' } },
};
const PREVIEW_DOMAIN = 'preview.example.com';
/** The app chart's values that run our locally built sample app (it answers with its namespace and pod). */
const SAMPLE_APP = [
  '--set',
  'image.repository=k8s-ee.local/sample-app',
  '--set',
  'image.tag=dev',
  '--set',
  'image.pullPolicy=Never',
];
const out = (line = ''): void => void process.stdout.write(`${line}\n`);
let steps = 7;
const step = (n: number, title: string): void => out(`\n[${String(n)}/${String(steps)}] ${title}`);
const indent = (lines: string[] | string): string =>
  (Array.isArray(lines) ? lines : lines.split('\n')).map((l) => `    ${l}`).join('\n');

interface Demo {
  dir: string;
  startedCluster?: boolean;
  stopWatchdog?: () => void;
  sweeper?: StartedSweeper;
  interrupted?: boolean;
  cluster?: TestCluster;
  webhook?: StartedWebhook;
  metricsPort?: number;
  /** k8s-ee installed in the cluster (with a node); else the webhook and sweeper run as local processes. */
  platform?: InstalledPlatform;
  node?: boolean;
}

async function startControlPlane(demo: Demo): Promise<TestCluster> {
  const progress = (line: string): void => out(indent(line));
  step(1, 'setting up helm, kubectl and the control-plane binaries');
  await ensureTools(progress);
  const binaries = await ensureControlPlaneBinaries(progress);
  const dir = join(demo.dir, 'cluster');
  const node = await resolveNodeOptions(dir, true, progress);
  demo.node = node !== undefined;
  steps = demo.node ? 8 : 7;
  step(
    2,
    demo.node
      ? 'starting a cluster: etcd, kube-apiserver, kube-controller-manager and a node (containerd, kubelet, kube-proxy, kube-scheduler, kube-network-policies)'
      : 'starting a control plane (etcd, kube-apiserver, kube-controller-manager)',
  );
  const { state, alreadyRunning } = await clusterUp({ dir, binaries, progress, ...(node ? { node } : {}) });
  if (alreadyRunning) {
    throw new CliError(`a demo already runs with ${dir} (${state.server}); stop it first (Ctrl-C in its terminal)`, 1);
  }
  demo.startedCluster = true;
  demo.stopWatchdog = startWatchdog(dir); // the control plane goes with this process, even if it is killed
  out(indent(`API server ${state.server}, kubeconfig ${state.kubeconfig}`));
  return testClusterFor(state.kubeconfig, true, demo.node);
}

async function installK8sEe(demo: Demo, cluster: TestCluster): Promise<void> {
  step(3, 'installing k8s-ee into the cluster with plain helm, from the locally built image');
  out(
    indent(
      `$ helm upgrade --install k8s-ee charts/k8s-ee -n ${PLATFORM_NAMESPACE} --create-namespace --set image.repository=k8s-ee.local/k8s-ee --set image.tag=dev --set image.pullPolicy=Never --wait`,
    ),
  );
  out(indent('  (with a sweeper pass every 5 s and 10 s of grace, so the demo does not wait minutes)'));
  demo.platform = await installPlatform({ cluster, previewDomain: PREVIEW_DOMAIN, values: SWEEPER_VALUES });
  const pods = await demo.platform.pods();
  out(
    indent(
      `ready in ${demo.platform.readySeconds.toFixed(1)} s: ${pods.length} webhook pods (certificate init container, ` +
        'webhook with the baseline reconciler, sweeper sidecar), reached by the API server through their Service',
    ),
  );
}

async function runWebhook(demo: Demo, cluster: TestCluster): Promise<StartedWebhook> {
  step(3, 'running k8s-ee: the webhook (with its baseline reconciler) and the sweeper');
  demo.metricsPort = await freePort();
  const webhook = await startWebhook({
    cluster,
    extraArgs: ['--metrics-port', String(demo.metricsPort)],
    logFile: join(demo.dir, 'webhook.log'),
  });
  out(
    indent(`webhook ${webhook.url} (/mutate, /validate), registered by URL; logs in ${join(demo.dir, 'webhook.log')}`),
  );
  const logFile = join(demo.dir, 'sweeper.log');
  const configFile = join(demo.dir, 'sweeper-config.yaml');
  await writeFile(configFile, SWEEPER_CONFIG);
  demo.sweeper = await startSweeper({ kubeconfig: cluster.kubeconfig, port: await freePort(), logFile, configFile });
  out(indent(`sweeper running (a pass every 5 s, 10 s grace, no leader election); logs in ${logFile}`));
  return webhook;
}

async function chartPath(demo: Demo): Promise<string> {
  const appChart = join(projectRoot, 'charts', 'k8s-ee-app');
  if (existsSync(join(appChart, 'Chart.yaml'))) return appChart;
  return writeSampleChart(join(demo.dir, 'sample-chart'));
}

function installArgs(demo: Demo, chart: string, name: string): string[] {
  const args = ['upgrade', '--install', name, chart, '-n', name, '--create-namespace'];
  return demo.node ? [...args, ...SAMPLE_APP, '--wait', '--timeout', '3m'] : args;
}

async function installEnvironment(demo: Demo, cluster: TestCluster): Promise<void> {
  step(4, `installing PR environments with plain helm: namespaces ${NAMESPACE} and ${SHORT_LIVED}`);
  const chart = await chartPath(demo);
  for (const name of [NAMESPACE, SHORT_LIVED]) {
    const args = installArgs(demo, chart, name);
    out(indent(`$ helm ${args.join(' ').replace(chart, 'charts/k8s-ee-app')}`));
    const res = await cluster.helm(args);
    out(indent(res.stdout.trim().split('\n').slice(0, 4)));
  }
}

async function getJson<T>(cluster: TestCluster, args: string[]): Promise<T> {
  return JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as T;
}

async function showNamespace(cluster: TestCluster): Promise<void> {
  const ns = await getJson<Parameters<typeof namespaceMarks>[0]>(cluster, ['get', 'namespace', NAMESPACE]);
  out(indent([`namespace ${NAMESPACE}, as created by helm --create-namespace and labelled by the webhook:`]));
  out(indent(namespaceMarks(ns).map((l) => `  ${l}`)));
  const kinds = ['resourcequota', 'limitrange', 'networkpolicy'];
  const lists = await Promise.all(
    kinds.map(async (kind) => ({ kind, list: await getJson<ListOf<object>>(cluster, ['get', kind, '-n', NAMESPACE]) })),
  );
  const names = objectNames(lists);
  out(indent(`baseline objects: ${names.length > 0 ? names.join(', ') : 'none (no reconciler in this build)'}`));
}

type Obj = Record<string, unknown>;

async function showDefaults(cluster: TestCluster): Promise<void> {
  const manifest = (await cluster.helm(['get', 'manifest', NAMESPACE, '-n', NAMESPACE])).stdout;
  const rendered = parseAllDocuments(manifest)
    .map((d) => d.toJS() as Obj | null)
    .find((d) => d?.['kind'] === 'Deployment');
  const name = (rendered?.['metadata'] as Obj | undefined)?.['name'];
  if (!rendered || typeof name !== 'string') return;
  const stored = await getJson<Obj>(cluster, ['get', 'deployment', name, '-n', NAMESPACE]);
  const template = (o: Obj): unknown => (o['spec'] as Obj | undefined)?.['template'];
  const added = addedPaths(template(rendered), template(stored)).filter((p) =>
    /securityContext|resources|metadata\.labels/.test(p),
  );
  out(indent(`deployment/${name}: what the mutating webhook added to the pod template:`));
  out(indent(added.length > 0 ? added.map((p) => `  ${p}`) : ['  (nothing)']));
}

async function showRefusals(cluster: TestCluster): Promise<void> {
  const args = [
    'create',
    'deployment',
    'privileged',
    '-n',
    NAMESPACE,
    '--image=nginx:1.27',
    '--dry-run=client',
    '-o',
    'json',
  ];
  const deployment = JSON.parse((await cluster.kubectl(args)).stdout) as Obj;
  const containers = (((deployment['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['containers'] as Obj[];
  containers.forEach((c) => (c['securityContext'] = { privileged: true }));
  out(indent('a privileged Deployment, as a developer would apply it:'));
  const res = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment), allowFail: true });
  out(
    indent(
      res.code === 0
        ? `  admitted (unexpected): ${res.stdout.trim()}`
        : errorText(res.stderr)
            .split('\n')
            .map((l) => `  ${l}`),
    ),
  );
  const pod = await cluster.kubectl(
    ['run', 'privileged', '-n', NAMESPACE, '--image=nginx:1.27', '--privileged', '--restart=Never'],
    { allowFail: true },
  );
  out(indent('a privileged Pod (kubectl run --privileged):'));
  out(
    indent(
      pod.code === 0
        ? `  admitted (unexpected)`
        : errorText(pod.stderr)
            .split('\n')
            .map((l) => `  ${l}`),
    ),
  );
}

async function showForecast(cluster: TestCluster): Promise<void> {
  const later = new Date(Date.now() + 8 * 86_400_000).toISOString();
  const args = ['sweeper', '--kubeconfig', cluster.kubeconfig, '--once', '--dry-run', '--now', later];
  const res = await runCommand(process.execPath, [join(projectRoot, 'cli', 'main.ts'), ...args], { allowFail: true });
  out(indent('the sweeper, asked what it would do 8 days from now (k8s-ee sweeper --once --dry-run --now …):'));
  out(
    indent(
      `${res.stdout}${res.stderr}`
        .trim()
        .split('\n')
        .map((l) => `  ${l}`),
    ),
  );
}

async function showWhatHappened(cluster: TestCluster): Promise<void> {
  step(5, 'what k8s-ee did');
  await showNamespace(cluster);
  await showDefaults(cluster);
  await showRefusals(cluster);
  await showForecast(cluster);
}

/** The app's pod and its Service's ClusterIP and port in a PR namespace (the app chart's labels). */
async function appOf(cluster: TestCluster, ns: string): Promise<{ pod: string; ip: string; port: number }> {
  const selector = 'app.kubernetes.io/component=app';
  const pods = await getJson<ListOf<Obj>>(cluster, ['get', 'pods', '-n', ns, '-l', selector]);
  const services = await getJson<ListOf<Obj>>(cluster, ['get', 'services', '-n', ns, '-l', selector]);
  const pod = pods.items?.[0]?.['metadata'] as { name?: string } | undefined;
  const spec = services.items?.[0]?.['spec'] as { clusterIP?: string; ports?: { port: number }[] } | undefined;
  return { pod: pod?.name ?? '', ip: spec?.clusterIP ?? '', port: spec?.ports?.[0]?.port ?? 80 };
}

/** An HTTP GET from inside a pod (busybox nc), the answer's body or why there was none. */
async function getFrom(cluster: TestCluster, ns: string, pod: string, ip: string, port: number): Promise<string> {
  const script = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} ${String(port)} | tail -n 1`;
  const res = await cluster.kubectl(['exec', '-n', ns, pod, '--', 'sh', '-c', script], { allowFail: true });
  const body = res.stdout.trim();
  return body !== '' ? `answered: ${body}` : `no answer within 3 s (${res.stderr.trim() || 'connection dropped'})`;
}

async function showIsolation(cluster: TestCluster): Promise<void> {
  step(6, 'the environments run, and the network keeps them apart');
  const mine = await appOf(cluster, NAMESPACE);
  const other = await appOf(cluster, SHORT_LIVED);
  out(indent(`pod ${mine.pod} in ${NAMESPACE} asks its own Service (${mine.ip}:${String(mine.port)}):`));
  out(indent(`  ${await getFrom(cluster, NAMESPACE, mine.pod, mine.ip, mine.port)}`));
  out(indent(`pod ${other.pod} in ${SHORT_LIVED}, another PR, asks the same Service:`));
  out(indent(`  ${await getFrom(cluster, SHORT_LIVED, other.pod, mine.ip, mine.port)}`));
  out(
    indent(
      '  (refused by k8s-ee-default-deny: only the namespace itself, the ingress controller and monitoring get in)',
    ),
  );
}

async function namespaceGone(cluster: TestCluster, name: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await cluster.kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name'], {
      allowFail: true,
    });
    if (res.code === 0 && res.stdout.trim() === '') return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** Waits until the sweeper has seen the release (it marks the namespace), so the story is "release gone". */
async function sweeperSawRelease(cluster: TestCluster, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const jsonpath = String.raw`-o=jsonpath={.metadata.annotations.k8s-ee\.io/release-seen-at}`;
  while (Date.now() < deadline) {
    const res = await cluster.kubectl(['get', 'namespace', name, jsonpath], { allowFail: true });
    if (res.stdout.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function showSweep(demo: Demo, cluster: TestCluster): Promise<void> {
  step(demo.node ? 7 : 6, `helm uninstall: the sweeper removes the environment ${SHORT_LIVED}`);
  await sweeperSawRelease(cluster, SHORT_LIVED, 30_000);
  out(indent(`$ helm uninstall ${SHORT_LIVED} -n ${SHORT_LIVED}`));
  const started = Date.now();
  await cluster.helm(['uninstall', SHORT_LIVED, '-n', SHORT_LIVED]);
  const gone = await namespaceGone(cluster, SHORT_LIVED, 120_000);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  out(
    indent(
      gone
        ? `namespace ${SHORT_LIVED} is gone, ${seconds} s after helm uninstall`
        : `namespace ${SHORT_LIVED} is still there after ${seconds} s; see the sweeper's log`,
    ),
  );
  const events = await cluster.kubectl(
    [
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      `involvedObject.name=${SHORT_LIVED}`,
      '-o',
      'custom-columns=REASON:.reason,MESSAGE:.message',
      '--no-headers',
    ],
    { allowFail: true },
  );
  const lines = events.stdout.trim().split('\n').filter(Boolean);
  if (lines.length > 0)
    out(indent(["the sweeper's Events about it (kubectl get events -n default):", ...lines.map((l) => `  ${l}`)]));
}

function showAccess(demo: Demo, cluster: TestCluster): void {
  step(steps, 'try it yourself');
  out(indent(`export KUBECONFIG=${cluster.kubeconfig}`));
  out(indent(`kubectl and helm: ${join(cacheDir, 'tools', 'bin')}/`));
  if (demo.platform) {
    const ns = PLATFORM_NAMESPACE;
    out(indent(`k8s-ee's pods: kubectl get pods -n ${ns}; logs: kubectl logs -n ${ns} deploy/k8s-ee -c webhook`));
    out(indent(`webhook metrics: kubectl port-forward -n ${ns} deploy/k8s-ee 8080 → http://127.0.0.1:8080/metrics`));
    out(indent(`sweeper metrics: kubectl port-forward -n ${ns} deploy/k8s-ee 9090 → http://127.0.0.1:9090/metrics`));
    out(indent(`the app: kubectl port-forward -n ${NAMESPACE} svc/${NAMESPACE} 8081:80 → http://127.0.0.1:8081/`));
    return;
  }
  out(indent(`webhook metrics: http://127.0.0.1:${String(demo.metricsPort)}/metrics`));
  out(indent(`webhook (HTTPS): ${demo.webhook?.url ?? ''}/metrics`));
  out(indent(`sweeper metrics: ${demo.sweeper?.metricsUrl ?? ''}`));
}

async function cleanUp(demo: Demo): Promise<void> {
  if (!demo.startedCluster) return;
  out(
    `\ncleaning up: stopping ${demo.platform ? 'the cluster (k8s-ee with it)' : 'the webhook and the control plane'}`,
  );
  await demo.sweeper?.stop().catch(() => undefined);
  await demo.webhook?.stop().catch(() => undefined);
  await clusterDown(join(demo.dir, 'cluster'));
  demo.stopWatchdog?.();
  out('done');
}

/** Ctrl-C (or SIGTERM) resolves the promise; while a step runs, it only marks the demo, which stops after it. */
function interruption(demo: Demo): Promise<void> {
  return new Promise((resolvePromise) => {
    const onSignal = (): void => {
      demo.interrupted = true;
      resolvePromise();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

function checkInterrupted(demo: Demo): void {
  if (demo.interrupted) throw new CliError('demo: interrupted', 130);
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { once: { type: 'boolean' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    throw new CliError(`demo: ${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const demo: Demo = { dir: values.dir ?? join(cacheDir, 'demo') };
  await mkdir(demo.dir, { recursive: true });
  const interrupted = interruption(demo);
  try {
    demo.cluster = await startControlPlane(demo);
    checkInterrupted(demo);
    if (demo.node) await installK8sEe(demo, demo.cluster);
    else demo.webhook = await runWebhook(demo, demo.cluster);
    checkInterrupted(demo);
    await installEnvironment(demo, demo.cluster);
    checkInterrupted(demo);
    await showWhatHappened(demo.cluster);
    checkInterrupted(demo);
    if (demo.node) await showIsolation(demo.cluster);
    checkInterrupted(demo);
    await showSweep(demo, demo.cluster);
    showAccess(demo, demo.cluster);
    if (!values.once) {
      out('\nrunning; press Ctrl-C to stop and clean up');
      await interrupted;
    }
  } finally {
    await cleanUp(demo);
  }
  return 0;
}
