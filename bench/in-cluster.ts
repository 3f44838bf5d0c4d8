// k8s-ee as users run it: a built-in cluster with its real node (kubelet, containerd), k8s-ee installed by a plain
// `helm upgrade --install` of charts/k8s-ee with the locally built image (local/harness/platform.ts; the node
// imports the image when the cluster starts), its default two replicas, each with the sweeper sidecar. Needs root
// and this machine's node (one per machine): without them it says why and measures nothing.
// - Deployment creations (replicas 0, so nothing is scheduled) through the API server by a bare client, into a PR
//   namespace whose baseline is complete (the webhooks are called), interleaved with the same creations into a
//   namespace the webhooks do not match (k8s-ee installed, but the API server does not call it): the floor; and
//   into a third namespace where a bare webhook pair is called instead (bench/_bare-webhook.ts), the calibration:
//   what any pair of webhooks costs there, beside which k8s-ee's own part is measured.
// - The webhook containers' memory, read on the host from /proc (VmRSS, and VmHWM reset through clear_refs before
//   each measured stretch), idle, through the creations, and with 5,000 PR namespaces whose baselines the
//   reconciler built (10 s after the last one, and settled, 70 s after); the sweeper sidecar's peak over one of its passes then, beside a bare Node process paging
//   through the same lists (bench/_list-floor.mjs). The floor of the webhook's memory: a bare Node HTTPS server
//   idle (bench/_floor.mjs) with the image's node flags and environment, on the host. The certs sidecars' too
//   (`certs watch`): idle after the install, and their peak from start to the end of the bench.
// - `helm uninstall` of a PR environment (charts/k8s-ee-app with the sample app's pod running) until its namespace is
//   gone, the sweeper sidecar on the chart's defaults (its release watch, `releaseGrace: 30s`), beside the same
//   uninstall followed at once by `kubectl delete namespace` (what the namespace controller alone takes): the floor.
// The bench client is a platform identity (system:masters, configured so at install): the capacity gate lets the
// 5,000 environments in without a grant each. The sweeper runs on the chart's defaults (a pass every minute).
// BENCH_INCLUSTER_NAMESPACES (default 5000), BENCH_INCLUSTER_CREATES (default 300 a round) to try it smaller.
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../local/cluster/paths.ts';
import { startBuiltInCluster, testClusterFor, type TestCluster } from '../local/harness/cluster.ts';
import { installPlatform, PLATFORM_NAMESPACE, PLATFORM_RELEASE } from '../local/harness/platform.ts';
import { k8seeProcesses } from '../local/node/host.ts';
import { noNodeReason } from '../local/node/options.ts';
import { SWEEPER_ANNOTATIONS } from '../sweeper/types.ts';
import { KubeHttpError, kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';
import { writeServingCert } from '../webhooks/testing/process.ts';
import {
  BARE_WEBHOOKS,
  cpuMsOf,
  installBareWebhooks,
  pidsWith,
  removeBareWebhooks,
  webhookCalls,
} from './_bare-webhook.ts';
import { createPrNamespaces, listFloorEnv, waitStamped } from './_cluster.ts';
import {
  describeParts,
  emit,
  inParallel,
  measurePass,
  memoryOf,
  memoryPartsOf,
  partsBesideFloor,
  percentile,
  smallDeployment,
  startFloorServer,
  type Memory,
  type Row,
} from './_lib.ts';

const bench = 'in-cluster';
const NAMESPACES = Number(process.env['BENCH_INCLUSTER_NAMESPACES'] ?? 5000);
const CREATES = Number(process.env['BENCH_INCLUSTER_CREATES'] ?? 300);
const CONCURRENCY = 20;
// A round of 300 creations lasts ~1-1.5 s, and on this VM one side's rounds spread by ~20 % within a run: the
// median of 7 rounds a side (~30 s in all).
const ROUNDS = 7;
const WARMUP = 40;
const PR_NAMESPACE = 'bench-pr-1';
/** Matches no namespacePattern: the API server's matchConditions skip every k8s-ee webhook there. */
const FLOOR_NAMESPACE = 'bench-floor';
/** Where the bare webhook pair is called (bench/_bare-webhook.ts): no k8s-ee webhook matches it either. */
const BARE_NAMESPACE = 'bench-bare';
/** Two identical PR environments: one left to k8s-ee after `helm uninstall`, one deleted at once (the floor). */
const UNINSTALLED = 'bench-pr-2';
const UNINSTALLED_FLOOR = 'bench-pr-3';
const PREVIEW_DOMAIN = 'bench.example.com';
const SAMPLE_APP = [
  'image.repository=k8s-ee.local/sample-app',
  'image.tag=dev',
  'image.pullPolicy=Never',
  `previewDomain=${PREVIEW_DOMAIN}`,
];
// Settled: past the webhook's 60 s keep-alive for the API server's connections (webhooks/tls.ts).
const SETTLED_MS = 70_000;

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The pids of the k8s-ee containers on this machine's node running `command`; an error when there is none. */
function containerProcesses(command: 'webhook' | 'sweeper' | 'certs'): number[] {
  const pids = k8seeProcesses(command).map((p) => p.pid);
  if (pids.length === 0) throw new Error(`no k8s-ee ${command} process in the node's cgroups`);
  return pids;
}

/** The highest VmRSS and VmHWM over the processes (the replicas differ: one leads the reconciler, one sweeps). */
function highest(pids: number[]): Memory {
  const all = pids.map(memoryOf);
  return { rss: Math.max(...all.map((m) => m.rss)), hwm: Math.max(...all.map((m) => m.hwm)) };
}

/** Where the memory of the process with the highest VmRSS is, and of the floor's (bench/_lib.ts memoryPartsOf). */
function partsNote(pids: number[], floorPid: number): string {
  return partsBesideFloor(
    pids.reduce((a, b) => (memoryOf(b).rss > memoryOf(a).rss ? b : a)),
    floorPid,
  );
}

/** Sets VmHWM back to the current VmRSS (Linux clear_refs), so the next reading is the peak of what follows. */
function resetPeaks(pids: number[]): void {
  for (const pid of pids) writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

interface Round {
  perSecond: number;
  latencies: number[];
}

async function createDeployments(http: KubeHttp, namespace: string, prefix: string, count: number): Promise<Round> {
  const latencies: number[] = [];
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const started = performance.now();
  await inParallel(names, CONCURRENCY, async (name) => {
    const t0 = performance.now();
    await http.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      body: smallDeployment(name, undefined, 0),
    });
    latencies.push(performance.now() - t0);
  });
  return { perSecond: count / ((performance.now() - started) / 1000), latencies };
}

/** True when k8s-ee's mutation reached the Deployment (it sets resources on a container that declares none). */
async function mutated(http: KubeHttp, namespace: string, name: string): Promise<boolean> {
  const d = await http.request<{ spec: { template: { spec: { containers: { resources?: object }[] } } } }>(
    'GET',
    `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
  );
  return Object.keys(d.spec.template.spec.containers[0]?.resources ?? {}).length > 0;
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/**
 * Waits for a namespaces sweep that started at or after `since` (ms) to finish, from the sweeper containers' logs;
 * its duration in seconds.
 */
async function sweepFinishedAfter(cluster: TestCluster, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const selector = `app.kubernetes.io/instance=${PLATFORM_RELEASE},app.kubernetes.io/component=webhook`;
  for (;;) {
    const r = await cluster.kubectl(
      ['logs', '-n', PLATFORM_NAMESPACE, '-l', selector, '-c', 'sweeper', '--since=5m', '--tail=-1'],
      { allowFail: true },
    );
    for (const line of r.stdout.split('\n')) {
      if (!line.includes('sweeper run finished')) continue;
      const entry = JSON.parse(line) as { sweep?: string; now?: string; durationSeconds?: number };
      if (entry.sweep === 'namespaces' && Date.parse(entry.now ?? '') >= since) return entry.durationSeconds ?? NaN;
    }
    if (Date.now() > deadline) {
      const last = r.stdout.trim().split('\n').slice(-30).join('\n');
      throw new Error(
        `no sweeper pass finished within ${timeoutMs / 1000} s: ${r.stderr}\nthe sweepers' last lines:\n${last}`,
      );
    }
    await sleep(1000);
  }
}

/** The mean duration (ms) of the calls the API server made to `name` between two readings of its metrics. */
function meanCall(
  before: Map<string, { count: number; seconds: number }>,
  after: Map<string, { count: number; seconds: number }>,
  name: string,
): { calls: number; ms: number } {
  const a = before.get(name) ?? { count: 0, seconds: 0 };
  const b = after.get(name) ?? { count: 0, seconds: 0 };
  const calls = b.count - a.count;
  return { calls, ms: calls > 0 ? (1000 * (b.seconds - a.seconds)) / calls : NaN };
}

/**
 * Deployment creations on three sides, interleaved round by round: the floor (no webhook called), the bare webhook
 * pair (bench/_bare-webhook.ts: what being called at all costs) and k8s-ee.
 */
async function measureCreations(http: KubeHttp, rows: Row[]): Promise<void> {
  await installBareWebhooks(http, BARE_NAMESPACE, `${PLATFORM_NAMESPACE}/${PLATFORM_RELEASE}`);
  try {
    await creationRounds(http, rows);
  } finally {
    await removeBareWebhooks(http);
  }
}

async function creationRounds(http: KubeHttp, rows: Row[]): Promise<void> {
  for (const ns of [FLOOR_NAMESPACE, BARE_NAMESPACE, PR_NAMESPACE]) await createDeployments(http, ns, 'warm', WARMUP);
  const elsewhere = [FLOOR_NAMESPACE, BARE_NAMESPACE];
  const mutatedElsewhere = await Promise.all(elsewhere.map((ns) => mutated(http, ns, 'warm-1')));
  if (!(await mutated(http, PR_NAMESPACE, 'warm-1')) || mutatedElsewhere.includes(true))
    throw new Error(`k8s-ee should mutate Deployments in ${PR_NAMESPACE} and only there`);
  const k8see: Round[] = [];
  const bare: Round[] = [];
  const floor: Round[] = [];
  // CPU time during each side's rounds, read on the host: the API server's, k8s-ee's webhook containers', the bare
  // pair's pods'.
  const processes = {
    apiserver: pidsWith('kube-apiserver').filter(
      (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kube-apiserver',
    ),
    k8see: containerProcesses('webhook'),
    bare: pidsWith('/floor/floor.mjs'),
  };
  const cpuNow = (): Record<keyof typeof processes, number> => ({
    apiserver: cpuMsOf(processes.apiserver),
    k8see: cpuMsOf(processes.k8see),
    bare: cpuMsOf(processes.bare),
  });
  const none = (): Record<keyof typeof processes, number> => ({ apiserver: 0, k8see: 0, bare: 0 });
  const cpu = { floor: none(), bare: none(), k8see: none() };
  const side = async (name: keyof typeof cpu, namespace: string, prefix: string): Promise<Round> => {
    const before = cpuNow();
    const round = await createDeployments(http, namespace, prefix, CREATES);
    const after = cpuNow();
    for (const group of Object.keys(after) as (keyof typeof after)[]) cpu[name][group] += after[group] - before[group];
    return round;
  };
  const before = await webhookCalls(http);
  for (let i = 1; i <= ROUNDS; i++) {
    floor.push(await side('floor', FLOOR_NAMESPACE, `r${i}`));
    bare.push(await side('bare', BARE_NAMESPACE, `r${i}`));
    k8see.push(await side('k8see', PR_NAMESPACE, `r${i}`));
    const rate = (rounds: Round[]): string => rounds.at(-1)?.perSecond.toFixed(0) ?? '-';
    log(`round ${i}: ${rate(k8see)} creates/s, bare webhook pair ${rate(bare)}, floor ${rate(floor)}`);
  }
  const after = await webhookCalls(http);
  const calls = {
    k8seeMutate: meanCall(before, after, 'pods.mutate.k8s-ee.io'),
    k8seeValidate: meanCall(before, after, 'pods.validate.k8s-ee.io'),
    bareMutate: meanCall(before, after, BARE_WEBHOOKS.mutate),
    bareValidate: meanCall(before, after, BARE_WEBHOOKS.validate),
  };
  // Each side's creations called what it should: the bare pair once each per creation, k8s-ee too.
  for (const [webhook, c] of Object.entries(calls))
    if (c.calls < ROUNDS * CREATES)
      throw new Error(`${webhook}: the API server called it ${c.calls} times over ${ROUNDS * CREATES} creations`);
  const ms = (c: { ms: number }): string => `${c.ms.toFixed(2)} ms`;
  const per = (total: number): string => (total / (ROUNDS * CREATES)).toFixed(2);
  const cpuNote =
    `CPU per creation (ms, on the host, during each side's rounds): the API server ${per(cpu.k8see.apiserver)} ` +
    `(k8s-ee's side), ${per(cpu.bare.apiserver)} (the bare pair's), ${per(cpu.floor.apiserver)} (the floor's); the ` +
    `webhook pods ${per(cpu.k8see.k8see)} (k8s-ee's, its side) vs ${per(cpu.bare.bare)} (the bare pair's, its side)`;
  const callNote =
    `the API server's mean call (its admission metrics): k8s-ee mutate ${ms(calls.k8seeMutate)}, validate ` +
    `${ms(calls.k8seeValidate)}; bare pair mutate ${ms(calls.bareMutate)}, validate ${ms(calls.bareValidate)}`;
  const perSecond = (rounds: Round[]): number => median(rounds.map((r) => r.perSecond));
  const spread = (rounds: Round[]): string =>
    `${Math.min(...rounds.map((r) => r.perSecond)).toFixed(0)}-${Math.max(...rounds.map((r) => r.perSecond)).toFixed(0)}`;
  const spreads = `rounds: k8s-ee ${spread(k8see)}, bare pair ${spread(bare)}, floor ${spread(floor)} creates/s`;
  const at = `${CREATES} at ${CONCURRENCY} at once`;
  const sides = `replicas 0; into ${PR_NAMESPACE} (baseline complete)`;
  rows.push({
    bench,
    row: `Deployment creations through the API server, ${at}`,
    figure: perSecond(k8see),
    floor: perSecond(floor),
    unit: 'creates/s',
    higherIsBetter: true,
    note:
      `${sides}, floor: into ${FLOOR_NAMESPACE}, which no webhook matches (k8s-ee installed, not called); the three ` +
      `sides interleaved, median of ${ROUNDS} rounds; no target (the issue sets none): any webhook pair costs the ` +
      `API server its calls (next row), k8s-ee's own part is the row after`,
  });
  rows.push({
    bench,
    row: `calibration: a bare webhook pair registered, Deployment creations, ${at}`,
    figure: perSecond(bare),
    floor: perSecond(floor),
    unit: 'creates/s',
    higherIsBetter: true,
    note:
      `what any mutating + validating webhook pair costs here: bench/_floor.mjs answering allowed (uid echoed, no ` +
      `patch) from pods of the k8s-ee image behind a Service, k8s-ee's replicas and resources, into ${BARE_NAMESPACE}`,
  });
  rows.push({
    bench,
    row: `Deployment creations, k8s-ee beside a bare webhook pair, ${at}`,
    figure: perSecond(k8see),
    floor: perSecond(bare),
    unit: 'creates/s',
    higherIsBetter: true,
    target: 'ratio >= 0.7',
    note: `k8s-ee's own part of a creation (its policies and its patch applied; its entries select the namespace by label and its ValidatingAdmissionPolicy is not bound in a stamped one, so no CEL runs); ${spreads}; ${callNote}; ${cpuNote}`,
  });
  const all = (rounds: Round[]): number[] => rounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
  for (const p of [50, 95])
    rows.push({
      bench,
      row: `Deployment creation latency, ${at}, p${p}`,
      figure: percentile(all(k8see), p),
      floor: percentile(all(floor), p),
      unit: 'ms',
      note: `${ROUNDS * CREATES} creations each side; the bare webhook pair: ${percentile(all(bare), p).toFixed(1)} ms`,
    });
}

/** Resolves with the ms from `since` until GET of the namespace answers 404. */
async function untilGone(http: KubeHttp, name: string, since: number, timeoutMs: number): Promise<number> {
  for (;;) {
    try {
      await http.request('GET', `/api/v1/namespaces/${name}`);
    } catch (err) {
      if (err instanceof KubeHttpError && err.code === 404) return performance.now() - since;
      throw err;
    }
    if (performance.now() - since > timeoutMs)
      throw new Error(`namespace ${name} still there after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** Waits until the sweeper's release watch has marked the namespace as having had a release. */
async function releaseSeen(http: KubeHttp, name: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ns = await http.request<{ metadata: { annotations?: Record<string, string> } }>(
      'GET',
      `/api/v1/namespaces/${name}`,
    );
    if (ns.metadata.annotations?.[SWEEPER_ANNOTATIONS.releaseSeenAt]) return;
    if (performance.now() > deadline)
      throw new Error(`the sweeper did not see the release in ${name} within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/**
 * `helm uninstall` -> namespace gone, with the sweeper on its defaults, beside the floor: the same environment
 * uninstalled and its namespace deleted at once, so the namespace controller's own time (the pod's termination,
 * the objects' finalization) is on both sides.
 */
async function measureUninstall(cluster: TestCluster, http: KubeHttp, rows: Row[]): Promise<void> {
  const chart = join(projectRoot, 'charts', 'k8s-ee-app');
  for (const name of [UNINSTALLED, UNINSTALLED_FLOOR]) {
    const args = ['upgrade', '--install', name, chart, '-n', name, '--create-namespace', '--wait', '--timeout', '3m'];
    await cluster.helm([...args, ...SAMPLE_APP.flatMap((v) => ['--set', v])]);
    // A release the watch never saw is a namespace that was never deployed, not an uninstalled one.
    await releaseSeen(http, name, 30_000);
  }
  log(`${UNINSTALLED} and ${UNINSTALLED_FLOOR} installed (the sample app running); uninstalling`);
  const floorStart = performance.now();
  await cluster.helm(['uninstall', UNINSTALLED_FLOOR, '-n', UNINSTALLED_FLOOR]);
  await cluster.kubectl(['delete', 'namespace', UNINSTALLED_FLOOR, '--wait=false']);
  const floorMs = await untilGone(http, UNINSTALLED_FLOOR, floorStart, 180_000);
  const start = performance.now();
  await cluster.helm(['uninstall', UNINSTALLED, '-n', UNINSTALLED]);
  const uninstallMs = performance.now() - start;
  const goneMs = await untilGone(http, UNINSTALLED, start, 180_000);
  log(`${UNINSTALLED} gone ${seconds(goneMs)} after helm uninstall (floor ${seconds(floorMs)})`);
  rows.push({
    bench,
    row: 'helm uninstall -> namespace gone, the sweeper on its defaults',
    figure: goneMs / 1000,
    floor: floorMs / 1000,
    unit: 's',
    target: '<= 45 s',
    note: `releaseGrace 30s (what protects an uninstall-then-install, sweeper/README.md); helm uninstall itself took ${seconds(uninstallMs)}; floor: helm uninstall then kubectl delete namespace at once`,
  });
}

async function run(cluster: TestCluster, rows: Row[], dir: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  // The bench's own client (and the floor's) stays on HTTP/1.1, a connection per concurrent request, as the floors
  // of earlier runs were measured: only k8s-ee's side moved to HTTP/2 (webhooks/kube-h2.ts).
  const http = kubeHttp(kc, { http2: false });
  const floorServer = await startFloorServer(dir);
  try {
    await installPlatform({
      cluster,
      previewDomain: PREVIEW_DOMAIN,
      values: { config: { platformIdentities: { groups: ['system:masters'] } } },
      progress: log,
    });
    const stamped = waitStamped(kc, [PR_NAMESPACE], 60_000);
    for (const name of [PR_NAMESPACE, FLOOR_NAMESPACE])
      await http.request('POST', '/api/v1/namespaces', {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      });
    await stamped;
    log(`${PR_NAMESPACE} has its baseline; idle for 10 s`);
    await sleep(10_000);
    const webhooks = containerProcesses('webhook');
    const floorIdle = memoryOf(floorServer.child.pid ?? 0).rss;
    const where = `${webhooks.length} replicas, the higher; VmRSS on the node's host`;
    const vsFloor = "floor: a bare Node HTTPS server idle (bench/_floor.mjs, the webhook's flags), on the host";
    rows.push({
      bench,
      row: 'webhook RSS idle, in-cluster',
      figure: highest(webhooks).rss,
      floor: floorIdle,
      unit: 'MiB',
      target: '<= 90 MiB',
      note: `${where}; ${vsFloor}; ${partsNote(webhooks, floorServer.child.pid ?? 0)}`,
    });

    // The sidecar that renews the webhook's certificates (`certs watch`, a check a minute), idle as it mostly is.
    const certs = containerProcesses('certs');
    rows.push({
      bench,
      row: 'certs watcher RSS idle, in-cluster',
      figure: highest(certs).rss,
      floor: floorIdle,
      unit: 'MiB',
      target: '<= 80 MiB',
      note: `${certs.length} sidecars, the higher; VmRSS on the node's host; ${vsFloor}; ${partsNote(certs, floorServer.child.pid ?? 0)}`,
    });

    await measureUninstall(cluster, http, rows);
    resetPeaks(webhooks);
    await measureCreations(http, rows);
    rows.push({
      bench,
      row: 'webhook peak RSS through the Deployment creations',
      figure: highest(webhooks).hwm,
      floor: floorIdle,
      unit: 'MiB',
      target: '<= 110 MiB',
      peakOf: 'webhook',
      note: `VmHWM reset before the creations; ${where.replace('VmRSS', 'VmHWM')}; ${vsFloor}`,
    });

    const names = Array.from({ length: NAMESPACES }, (_, i) => `load-pr-${i + 1}`);
    log(`creating ${NAMESPACES} PR namespaces`);
    resetPeaks(webhooks);
    const t0 = performance.now();
    const built = waitStamped(kc, names, 600_000, (n) =>
      log(`${n} baselines complete, ${seconds(performance.now() - t0)}`),
    );
    await createPrNamespaces(http, 'load', 0, NAMESPACES);
    const createdMs = performance.now() - t0;
    log(`${NAMESPACES} namespaces created in ${seconds(createdMs)}`);
    await built;
    const buildMs = performance.now() - t0;
    const buildPeak = highest(webhooks).hwm;
    log(`all ${NAMESPACES} baselines complete after ${seconds(buildMs)}; settling for 10 s`);
    await sleep(10_000);
    const at = `${NAMESPACES.toLocaleString('en')} PR namespaces`;
    rows.push(
      {
        bench,
        row: `${at} created until every baseline is complete`,
        figure: buildMs / 1000,
        unit: 's',
        note: `a bare client creating them 32 at once (one in ten with a Helm release record) took ${seconds(createdMs)}; no floor`,
      },
      {
        bench,
        row: `webhook RSS with ${at}, baselines complete`,
        figure: highest(webhooks).rss,
        floor: floorIdle,
        unit: 'MiB',
        target: '<= 110 MiB',
        note: `10 s after the last baseline; ${where}; ${vsFloor}; ${partsNote(webhooks, floorServer.child.pid ?? 0)}`,
      },
      {
        bench,
        row: `webhook peak RSS while the ${at} get their baselines`,
        figure: buildPeak,
        floor: floorIdle,
        unit: 'MiB',
        target: '<= 110 MiB',
        peakOf: 'webhook',
        note: `VmHWM reset before the creations; ${vsFloor}`,
      },
    );

    const listFloor = await measurePass(
      [process.execPath, join(import.meta.dirname, '_list-floor.mjs')],
      await listFloorEnv(kc, dir),
    );
    const sweepers = containerProcesses('sweeper');
    const before = highest(sweepers).rss;
    // Where the fullest sidecar's memory is before the pass: what it holds between passes, not what a pass adds.
    const fullest = sweepers.reduce((a, b) => (memoryOf(b).rss > memoryOf(a).rss ? b : a));
    const beforeParts = describeParts(memoryPartsOf(fullest));
    resetPeaks(sweepers);
    const since = Date.now();
    log('waiting for a sweeper pass (the default schedule: every minute)');
    // A pass that starts after `since`: a pass takes ~40-50 s at 5,000 namespaces here, and one still running when the
    // next minute comes makes the schedule skip it, so the one measured may start two minutes on.
    const passSeconds = await sweepFinishedAfter(cluster, since, 300_000);
    rows.push({
      bench,
      row: `sweeper sidecar peak RSS over a pass, ${at}`,
      figure: highest(sweepers).hwm,
      floor: listFloor.peakMiB,
      unit: 'MiB',
      target: '<= 100 MiB',
      peakOf: 'sweeper',
      note: `VmHWM reset before the pass (${passSeconds.toFixed(2)} s, its log; VmRSS ${before.toFixed(1)} MiB just before: ${beforeParts}), the higher of ${sweepers.length} sidecars; floor: bench/_list-floor.mjs on the host`,
    });
    // The same webhook once the burst is over: the API server's idle connections closed (the webhook keeps them 60 s)
    // and V8's memory reducer run. The row above, 10 s after, still carries the burst's garbage and connections.
    const sinceBuilt = performance.now() - t0 - buildMs;
    if (sinceBuilt < SETTLED_MS) await sleep(SETTLED_MS - sinceBuilt);
    rows.push({
      bench,
      row: `webhook RSS with ${at}, settled`,
      figure: highest(webhooks).rss,
      floor: floorIdle,
      unit: 'MiB',
      target: '<= 110 MiB',
      note: `${SETTLED_MS / 1000} s after the last baseline; ${where}; ${vsFloor}; ${partsNote(webhooks, floorServer.child.pid ?? 0)}`,
    });
    rows.push({
      bench,
      row: 'certs watcher peak RSS, from its start to the end of the bench',
      figure: highest(certs).hwm,
      floor: floorIdle,
      unit: 'MiB',
      target: '<= 80 MiB',
      peakOf: 'certs',
      note: `VmHWM never reset: its first check (which issued the certificates' files) and one a minute since, through every stretch above; ${certs.length} sidecars, the higher; ${vsFloor}`,
    });
  } finally {
    floorServer.child.kill('SIGTERM');
    http.close();
  }
}

async function main(): Promise<void> {
  // The node's own check (root on Linux, no other cluster holding this machine's node), before anything starts.
  const why = noNodeReason(join(tmpdir(), 'k8s-ee-bench-in-cluster'), true);
  if (why) {
    log(`in-cluster: skipped, this machine cannot run a node now: ${why}`);
    return;
  }
  const started = Date.now();
  const cluster = await startBuiltInCluster(log, { node: true });
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-bench-in-cluster-'));
  const rows: Row[] = [];
  try {
    if (cluster.noNode) {
      log(`in-cluster: skipped, the cluster got no node: ${cluster.noNode}`);
      return;
    }
    log(`cluster with its node up after ${seconds(Date.now() - started)}`);
    await writeServingCert(dir, 'bench-floor-ca');
    await run(testClusterFor(cluster.kubeconfig, true, true), rows, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    log('stopping the cluster');
    await cluster.stop();
  }
  log(`done in ${seconds(Date.now() - started)}`);
  emit(rows);
}

await main();
