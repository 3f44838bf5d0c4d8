// Data-plane checks that need running pods, against k8s-ee installed in the cluster from its own chart with plain
// `helm upgrade --install` (local/harness/platform.ts): the API server calls the webhook through its Service, the
// sweeper runs as its sidecar. PR environments are a chart kept apart (e2e/fixtures/charts/sample-app: a Deployment
// and a Service of the locally built sample app, no securityContext) installed with plain helm, plus bare pods
// written like a developer would. Probes are `kubectl exec … nc` (busybox) to pod and Service IPs this file
// creates, nothing else: no DNS (the built-in node has no DNS server), no address outside the cluster.
//
// Runs on the built-in cluster with its node (as root: `npm test`), or on a cluster of $K8S_EE_E2E_KUBECONFIG whose
// nodes hold the k8s-ee.local images (ours does; for kind or k3s, load them first) and whose CNI enforces
// NetworkPolicies. Skipped with the reason printed when pods cannot run.
//
// Other e2e files register an out-of-cluster webhook (local/harness/webhook.ts) named k8s-ee-e2e-<port>; this
// install's configurations are named k8s-ee and its policy k8s-ee-baseline-required. When two webhook
// configurations match a request, the API server calls both, and each one's reconciler and guard would fight over
// the other's baseline objects (each refuses the other's identity). So: the e2e files run one at a time
// (--test-concurrency=1), this install manages only `dp-pr-N` namespaces (config.namespacePattern, used by no other
// file), the file refuses to start while a k8s-ee-e2e-* registration is live, and the install is removed,
// namespace and all, before this file ends, with a check that no configuration of it is left. The policy's name is
// the one e2e/baseline.test.ts applies by hand (policies/vap.ts) and deletes again: run one at a time, they never
// meet (should one be left behind, helm refuses to adopt it and says so).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { defaultConfig } from '../policies/config.ts';
import { kubeHttp } from '../webhooks/reconciler-http.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import type { TestCluster } from '../local/harness/cluster.ts';
import { clusterWithNode } from '../local/harness/pods.ts';
import {
  installPlatform,
  PLATFORM_FULLNAME,
  PLATFORM_NAMESPACE,
  uninstallPlatform,
  type InstalledPlatform,
} from '../local/harness/platform.ts';

const SAMPLE_CHART = join(projectRoot, 'e2e', 'fixtures', 'charts', 'sample-app');
const IMAGES = {
  numeric: 'k8s-ee.local/sample-app:dev',
  named: 'k8s-ee.local/sample-app:dev-named-user',
  root: 'k8s-ee.local/sample-app:dev-root',
} as const;
const PORT = 8080;
const PREVIEW_DOMAIN = 'dp.e2e.test';

/** Two PR environments of the sample chart. */
const ENVS = ['dp-pr-1', 'dp-pr-2'] as const;
type EnvName = (typeof ENVS)[number];
const FRESH_NS = 'dp-pr-3';
const USERS_NS = 'dp-pr-4';
const QUOTA_NS = 'dp-pr-5';
const SWEPT_NS = 'dp-pr-6';
const PR_NAMESPACES = [...ENVS, FRESH_NS, USERS_NS, QUOTA_NS, SWEPT_NS];
/** Not a PR namespace (the pattern does not match): the policy alone judges it. */
/** Not a PR namespace, no policies: a neutral peer (target of the egress check, source of ingress checks). */
const OUTSIDE_NS = 'dp-outside';

const defaults = defaultConfig();
/** The shipped defaults say where the ingress controller and monitoring run; the test puts pods there. */
const INGRESS = defaults.networkPolicy.ingressController;
const MONITORING = defaults.networkPolicy.monitoring;
const QUOTA = defaults.quota.base;

/** What the test needs beyond `--set config.previewDomain`: its own namespaces only, a short release grace. */
const PLATFORM_VALUES = {
  config: {
    namespacePattern: '^(?<project>dp)-pr-(?<number>[1-9][0-9]*)$',
    sweeper: { releaseGrace: '5s' },
  },
};

const CLIENT = 'dp-client';
/** The label of what this file creates outside PR namespaces. */
const PART_OF = 'k8s-ee-dataplane-e2e';
const HOOK_TIMEOUT_MS = 15 * 60_000;
const TEST_TIMEOUT_MS = 5 * 60_000;
const READY_TIMEOUT_S = 180;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface PodRef {
  ns: string;
  name: string;
}

interface Probe {
  ok: boolean;
  code: number;
  out: string;
  ms: number;
}

/** The cluster, or why pods cannot run on it (then every test is skipped with that reason). */
const dataPlaneCluster = clusterWithNode;

const { cluster: maybeCluster, skip } = await dataPlaneCluster();
if (skip) console.log(`e2e/dataplane: skipped: ${skip}`);

const downwardEnv = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

/**
 * A pod of the sample app (it serves GET / and /healthz on 8080 and carries busybox nc). In a PR namespace it is
 * written like a developer would: no securityContext, resources only when given. Elsewhere nothing mutates it, so
 * it brings its own restricted context.
 */
function samplePod(
  ref: PodRef,
  opts: { image?: string; labels?: Record<string, string>; resources?: Json; secure?: boolean } = {},
): Json {
  const container: Json = {
    name: 'app',
    image: opts.image ?? IMAGES.numeric,
    imagePullPolicy: 'Never',
    env: downwardEnv,
    ports: [{ name: 'http', containerPort: PORT }],
    readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
    ...(opts.resources ? { resources: opts.resources } : {}),
  };
  const spec: Json = {
    terminationGracePeriodSeconds: 1,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    containers: [container],
  };
  if (opts.secure) {
    spec['securityContext'] = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
    container['securityContext'] = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
    container['resources'] ??= { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } };
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: ref.name, namespace: ref.ns, labels: { 'app.kubernetes.io/part-of': PART_OF, ...opts.labels } },
    spec,
  };
}

const namespaceManifest = (name: string, labels: Record<string, string> = {}): Json => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

const list = (items: Json[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

describe('data plane: k8s-ee in-cluster, PR environments with running pods', () => {
  let cluster: TestCluster;
  let platform: InstalledPlatform | undefined;
  const podIps = new Map<string, string>();
  const serviceIps = new Map<EnvName, string>();
  const appPods = new Map<EnvName, string>();

  const key = (ref: PodRef): string => `${ref.ns}/${ref.name}`;
  const client = (ns: string): PodRef => ({ ns, name: CLIENT });
  /** Support pods outside PR namespaces. */
  const ingressPod: PodRef = { ns: INGRESS.namespace, name: 'dp-ingress-controller' };
  const ingressNeighbour: PodRef = { ns: INGRESS.namespace, name: 'dp-not-ingress-controller' };
  const monitoringPod: PodRef = { ns: MONITORING.namespace, name: 'dp-monitoring' };
  const outsidePod: PodRef = { ns: OUTSIDE_NS, name: 'dp-outside' };
  /** Carries the monitoring labels, but in the wrong namespace. */
  const lookalikePod: PodRef = { ns: OUTSIDE_NS, name: 'dp-monitoring-lookalike' };
  const supportPods = [ingressPod, ingressNeighbour, monitoringPod, outsidePod, lookalikePod];

  const getJson = async (args: string[]): Promise<Json> =>
    JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as Json;
  const exec = (from: PodRef, command: string[]) =>
    cluster.kubectl(['exec', '-n', from.ns, from.name, '--', ...command], { allowFail: true });

  const ipOf = (ref: PodRef): string => {
    const ip = podIps.get(key(ref));
    assert.ok(ip, `the setup did not record the IP of ${key(ref)}`);
    return ip;
  };

  /**
   * A TCP connect, bounded: busybox nc (no -z here) connects, sees stdin closed and exits 0; a dropped SYN ends
   * with "nc: timed out" after 2 s, a closed port with "Connection refused"; `timeout` ends it in any case.
   */
  const connect = async (from: PodRef, ip: string, port = PORT): Promise<Probe> => {
    const started = Date.now();
    const r = await exec(from, ['sh', '-c', `timeout 5 nc -w 2 ${ip} ${String(port)} </dev/null`]);
    return { ok: r.code === 0, code: r.code, out: `${r.stdout}${r.stderr}`.trim(), ms: Date.now() - started };
  };

  /** Dropped by a policy: the connection attempt timed out (any other failure proves nothing). */
  const timedOut = (p: Probe): boolean => !p.ok && (/timed out/i.test(p.out) || p.code === 124 || p.code === 143);

  /** GET / over a raw TCP connection (busybox wget crashes on this machine); ok when the app answered. */
  const httpGet = async (from: PodRef, ip: string, port = PORT): Promise<Probe> => {
    const started = Date.now();
    const script = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 ${ip} ${String(port)}`;
    const r = await exec(from, ['sh', '-c', script]);
    return {
      ok: /^HTTP\/1\.[01] 200/.test(r.stdout),
      code: r.code,
      out: `${r.stdout}${r.stderr}`.trim(),
      ms: Date.now() - started,
    };
  };

  const show = (p: Probe): string =>
    `${p.ok ? 'connected' : 'failed'} (exit ${p.code}, ${p.ms} ms): ${p.out.replace(/\s+/g, ' ').slice(0, 200) || '(no output)'}`;

  /** An allowed path may need a moment after a pod starts (Service endpoints, kube-proxy rules): try for 30 s. */
  const httpGetUntilOk = async (from: PodRef, ip: string, port = PORT): Promise<Probe> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const p = await httpGet(from, ip, port);
      if (p.ok || Date.now() > deadline) return p;
      await sleep(500);
    }
  };

  const assertReaches = async (t: TestContext, from: PodRef, ip: string, what: string, body?: RegExp) => {
    const p = await httpGetUntilOk(from, ip);
    t.diagnostic(`${key(from)} -> ${what} ${ip}:${PORT}: ${show(p)}`);
    assert.ok(p.ok, `${key(from)} must reach ${what} (${ip}:${PORT}): ${show(p)}`);
    if (body) assert.match(p.out, body, `${what} answered, but not as expected`);
  };

  /**
   * A blocked connection: the attempt times out. Not a refusal (the packet got there and the port is closed) nor
   * any other error (a broken probe must not pass for isolation). Tried twice so a verdict is not a fluke.
   */
  const assertBlocked = async (t: TestContext, from: PodRef, ip: string, what: string) => {
    for (let i = 0; i < 2; i++) {
      const p = await connect(from, ip);
      t.diagnostic(`${key(from)} -> ${what} ${ip}:${PORT}: ${show(p)}`);
      assert.ok(!p.ok, `${key(from)} opened a TCP connection to ${what} (${ip}:${PORT}): it must be blocked`);
      assert.ok(timedOut(p), `${key(from)} -> ${what}: failed, but not as a dropped connection: ${show(p)}`);
    }
  };

  const dumpNamespace = async (ns: string): Promise<string> => {
    const pods = await cluster.kubectl(['get', 'pods', '-n', ns, '-o', 'wide'], { allowFail: true });
    const events = await cluster.kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'], {
      allowFail: true,
    });
    return `${pods.stdout}${pods.stderr}\n${events.stdout}${events.stderr}`;
  };

  const waitReady = async (ns: string, target: string, timeoutS = READY_TIMEOUT_S): Promise<void> => {
    const r = await cluster.kubectl(['wait', '-n', ns, '--for=condition=Ready', target, `--timeout=${timeoutS}s`], {
      allowFail: true,
    });
    if (r.code !== 0)
      assert.fail(`${ns}: ${target} not Ready within ${timeoutS} s:\n${r.stderr}\n${await dumpNamespace(ns)}`);
  };

  const recordIp = async (ref: PodRef): Promise<string> => {
    const pod = await getJson(['get', 'pod', ref.name, '-n', ref.ns]);
    const ip = pod['status']?.['podIP'] as string | undefined;
    assert.ok(ip, `${key(ref)} has no IP`);
    podIps.set(key(ref), ip);
    return ip;
  };

  const installEnvironment = async (ns: string): Promise<number> => {
    const started = Date.now();
    const r = await cluster.helm(
      ['upgrade', '--install', ns, SAMPLE_CHART, '-n', ns, '--create-namespace', '--wait', '--timeout', '3m'],
      { allowFail: true },
    );
    assert.equal(r.code, 0, `helm upgrade --install ${ns} failed:\n${r.stderr}${r.stdout}\n${await dumpNamespace(ns)}`);
    return Date.now() - started;
  };

  /** Everything this file creates outside PR namespaces carries this label (a namespace only when it made it). */
  const OURS = `app.kubernetes.io/part-of=${PART_OF}`;

  const cleanUp = async (): Promise<void> => {
    const quiet = { allowFail: true };
    for (const ns of [...ENVS, SWEPT_NS]) await cluster.helm(['uninstall', ns, '-n', ns, '--ignore-not-found'], quiet);
    await cluster.kubectl(['delete', 'namespace', ...PR_NAMESPACES, '--ignore-not-found', '--wait=false'], quiet);
    await cluster.kubectl(['delete', 'namespace', '-l', OURS, '--wait=false'], quiet);
    for (const ns of new Set([INGRESS.namespace, MONITORING.namespace]))
      await cluster.kubectl(['delete', 'pod', '-n', ns, '-l', OURS, '--ignore-not-found', '--wait=false'], quiet);
    await cluster.kubectl(['wait', '--for=delete', 'namespace', '-l', OURS, '--timeout=120s'], quiet);
    await cluster.kubectl(
      ['wait', '--for=delete', ...PR_NAMESPACES.map((n) => `namespace/${n}`), '--timeout=120s'],
      quiet,
    );
  };

  before(
    async () => {
      if (skip || !maybeCluster) return;
      cluster = maybeCluster;
      const t0 = Date.now();
      const log = (line: string): void =>
        console.log(`e2e/dataplane: ${line} (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      // Another file's out-of-cluster webhook (k8s-ee-e2e-<port>) would be called for these namespaces too.
      const others = (
        await cluster.kubectl(['get', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', '-o', 'name'])
      ).stdout
        .split('\n')
        .filter((n) => n.includes('/k8s-ee-e2e-'));
      assert.deepEqual(others, [], 'out-of-cluster k8s-ee registrations of another test file (or a dead run) are live');
      // A run that died may have left all of it behind.
      await cleanUp();
      await uninstallPlatform(cluster);
      platform = await installPlatform({
        cluster,
        previewDomain: PREVIEW_DOMAIN,
        values: PLATFORM_VALUES,
        probeNamespace: 'dp-pr-999',
        progress: log,
      });
      log(`k8s-ee installed and answering through its Service in ${platform.readySeconds.toFixed(1)} s`);

      // The monitoring namespace of the defaults may exist already: then it stays.
      const monitoringNs = await cluster.kubectl(['get', 'namespace', MONITORING.namespace], { allowFail: true });
      const namespaces = [OUTSIDE_NS, ...(monitoringNs.code !== 0 ? [MONITORING.namespace] : [])];
      await cluster.kubectl(['apply', '-f', '-'], {
        input: list([
          ...namespaces.map((n) => namespaceManifest(n, { 'app.kubernetes.io/part-of': PART_OF })),
          samplePod(ingressPod, { labels: INGRESS.podLabels, secure: true }),
          samplePod(ingressNeighbour, { secure: true }),
          samplePod(monitoringPod, {
            labels: { ...MONITORING.podLabels, 'app.kubernetes.io/name': 'prometheus' },
            secure: true,
          }),
          samplePod(outsidePod, { secure: true }),
          samplePod(lookalikePod, {
            labels: { ...MONITORING.podLabels, 'app.kubernetes.io/name': 'prometheus' },
            secure: true,
          }),
        ]),
      });
      const installMs = await Promise.all(ENVS.map(installEnvironment));
      log(`sample chart installed with helm --wait: ${ENVS.map((ns, i) => `${ns} ${installMs[i]} ms`).join(', ')}`);
      for (const ns of ENVS)
        await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(samplePod(client(ns))) });
      for (const ns of ENVS) await waitReady(ns, `pod/${CLIENT}`);
      for (const ref of supportPods) await waitReady(ref.ns, `pod/${ref.name}`);
      for (const ref of [...supportPods, ...ENVS.map(client)]) await recordIp(ref);
      for (const ns of ENVS) {
        const service = await getJson(['get', 'service', ns, '-n', ns]);
        serviceIps.set(ns, String(service['spec']['clusterIP']));
        const pods = await getJson(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=${ns}`]);
        const app = (pods['items'] as Json[])[0];
        assert.ok(app, `no pod of the sample chart in ${ns}`);
        appPods.set(ns, String(app['metadata']['name']));
        podIps.set(`${ns}/${String(app['metadata']['name'])}`, String(app['status']['podIP']));
      }
      log('every pod Ready');
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  after(
    async () => {
      if (skip || !maybeCluster) return;
      // PR namespaces go while the webhook still runs, as in a real cluster; then k8s-ee itself.
      try {
        await cleanUp();
      } finally {
        await uninstallPlatform(cluster);
      }
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  const app = (ns: EnvName): PodRef => {
    const name = appPods.get(ns);
    assert.ok(name, `the setup did not record the app pod of ${ns}`);
    return { ns, name };
  };
  const serviceIp = (ns: EnvName): string => {
    const ip = serviceIps.get(ns);
    assert.ok(ip, `the setup did not record the Service of ${ns}`);
    return ip;
  };
  const other = (ns: EnvName): EnvName => (ns === 'dp-pr-1' ? 'dp-pr-2' : 'dp-pr-1');

  /** On failure, what the in-cluster k8s-ee said. */
  const withPlatformLogs = async (t: TestContext, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (platform) t.diagnostic(await platform.logs());
      throw err;
    }
  };

  /** `kubectl rollout restart` of k8s-ee, waited for until its old pods are gone (not only replaced). */
  const rollOut = async (installed: InstalledPlatform): Promise<void> => {
    const oldPods = (await installed.pods()).map((p) => String(p['metadata']['name']));
    const deployment = ['deployment', PLATFORM_FULLNAME, '-n', PLATFORM_NAMESPACE];
    await cluster.kubectl(['rollout', 'restart', ...deployment]);
    await cluster.kubectl(['rollout', 'status', ...deployment, '--timeout=300s']);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const names = (await installed.pods()).map((p) => String(p['metadata']['name']));
      if (!names.some((n) => oldPods.includes(n))) return;
      assert.ok(Date.now() < deadline, `old k8s-ee pods still there 120 s after the rollout: ${names.join(', ')}`);
      await sleep(500);
    }
  };

  test(
    'k8s-ee runs in-cluster from its chart: certificate init, webhook behind its Service, sweeper, VAP, PDB, metrics',
    { skip, timeout: TEST_TIMEOUT_MS },
    (t) =>
      withPlatformLogs(t, async () => {
        assert.ok(platform);
        const pods = await platform.pods();
        assert.equal(pods.length, 2, 'replicaCount 2: two webhook pods (one node: both on it)');
        for (const pod of pods) {
          const name = String(pod['metadata']['name']);
          const init = (pod['status']['initContainerStatuses'] as Json[]).find((s) => s['name'] === 'certs-init');
          assert.equal(init?.['state']?.['terminated']?.['exitCode'], 0, `${name}: certs-init did not complete`);
          const statuses = pod['status']['containerStatuses'] as Json[];
          assert.deepEqual(statuses.map((s) => s['name']).sort(), ['certs', 'sweeper', 'webhook']);
          for (const s of statuses) assert.equal(s['ready'], true, `${name}/${String(s['name'])} is not ready`);
        }
        // The caBundle the init container injected, and the Service as the way in.
        for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
          const config = await getJson(['get', kind, PLATFORM_FULLNAME]);
          for (const w of config['webhooks'] as Json[]) {
            assert.deepEqual(w['clientConfig']['service'], {
              namespace: PLATFORM_NAMESPACE,
              name: PLATFORM_FULLNAME,
              path: w['clientConfig']['service']['path'],
              port: 443,
            });
            assert.match(
              String(w['clientConfig']['caBundle'] ?? ''),
              /^LS0t/,
              `${kind} ${String(w['name'])}: no caBundle`,
            );
          }
        }
        const pdb = await getJson(['get', 'pdb', PLATFORM_FULLNAME, '-n', PLATFORM_NAMESPACE]);
        t.diagnostic(`PDB status: ${JSON.stringify(pdb['status'])}`);
        assert.equal(pdb['status']['currentHealthy'], 2);
        assert.equal(pdb['status']['disruptionsAllowed'], 1);

        // The policy in the API server selects PR namespaces by NAME (policies/vap.ts; e2e/backstop.test.ts shows it
        // refusing with the webhooks deleted): here, that the chart's policy is that one and compiled without warnings.
        const vap = await getJson(['get', 'validatingadmissionpolicy', `${PLATFORM_FULLNAME}-baseline-required`]);
        assert.equal(vap['spec']['matchConditions'][0]['name'], 'pr-namespace');
        assert.deepEqual(vap['status']?.['typeChecking']?.['expressionWarnings'] ?? [], []);

        // Metrics of every container, read through the API server's pod proxy.
        const podNames = pods.map((p) => String(p['metadata']['name']));
        const webhookMetrics = (await Promise.all(podNames.map((p) => platform!.metrics(p, 8080)))).join('\n');
        assert.match(webhookMetrics, /^k8s_ee_admission_requests_total\{[^}]*route="mutate"[^}]*\} [1-9]/m);
        const certsMetrics = await platform.metrics(podNames[0]!, 9445);
        assert.match(certsMetrics, /^k8s_ee_cert_expiry_timestamp_seconds\{[^}]*\} [1-9]/m);
        // Only the Lease holder sweeps (its first runs come at start-up, then every minute); the disk run reads
        // the node's real kubelet summary through the API server.
        const wanted = [
          /^k8s_ee_sweeper_last_success_timestamp_seconds\{[^}]*kind="namespaces"[^}]*\} [1-9]/m,
          /^k8s_ee_sweeper_node_disk_usage_ratio\{[^}]*\} (0\.\d*[1-9]|1)/m,
        ];
        const deadline = Date.now() + 90_000;
        let sweeperMetrics = '';
        while (!wanted.every((re) => re.test(sweeperMetrics))) {
          assert.ok(
            Date.now() < deadline,
            `the sweeper reported no run or no disk ratio within 90 s:\n${sweeperMetrics}`,
          );
          await sleep(2_000);
          sweeperMetrics = (await Promise.all(podNames.map((p) => platform!.metrics(p, 9090)))).join('\n');
        }
        t.diagnostic(
          sweeperMetrics
            .split('\n')
            .filter((l) => l.startsWith('k8s_ee_sweeper_node_disk'))
            .join('\n'),
        );
      }),
  );

  test('the sample chart runs in two PR namespaces under Pod Security Standards restricted', { skip }, async (t) => {
    for (const ns of ENVS) {
      const namespace = await getJson(['get', 'namespace', ns]);
      const labels = namespace['metadata']['labels'] as Record<string, string>;
      assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted', `${ns}: ${JSON.stringify(labels)}`);
      assert.equal(labels['k8s-ee.io/managed'], 'true');
      assert.match(labels['k8s-ee.io/baseline-hash'] ?? '', /^[0-9a-f]{20}$/);
      for (const ref of [app(ns), client(ns)]) {
        const pod = await getJson(['get', 'pod', ref.name, '-n', ns]);
        assert.equal(pod['status']['phase'], 'Running', `${key(ref)}`);
        const podSc = pod['spec']['securityContext'] as Json;
        const sc = pod['spec']['containers'][0]['securityContext'] as Json;
        assert.equal(podSc['runAsNonRoot'], true, `${key(ref)}: runAsNonRoot was not injected`);
        assert.deepEqual(podSc['seccompProfile'], { type: 'RuntimeDefault' });
        assert.equal(sc['allowPrivilegeEscalation'], false);
        assert.deepEqual(sc['capabilities']?.['drop'], ['ALL']);
        assert.equal(pod['metadata']['labels']['k8s-ee.io/pr'], ns.replace('dp-pr-', ''));
        // What the kernel says about the running process.
        const status = await exec(ref, ['cat', '/proc/1/status']);
        assert.equal(status.code, 0, status.stderr);
        const line = (k: string): string[] =>
          new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status.stdout)?.[1]?.trim().split(/\s+/) ?? [];
        t.diagnostic(`${key(ref)}: Uid ${line('Uid').join(' ')}, NoNewPrivs ${line('NoNewPrivs').join('')}`);
        assert.ok(!line('Uid').includes('0'), `${key(ref)} runs as root: Uid ${line('Uid').join(' ')}`);
        assert.deepEqual(line('NoNewPrivs'), ['1'], 'allowPrivilegeEscalation: false sets no_new_privs');
        assert.deepEqual(line('Seccomp'), ['2'], 'RuntimeDefault is a seccomp filter (mode 2)');
        assert.deepEqual(line('CapBnd'), ['0000000000000000'], 'drop ALL empties the bounding set');
        assert.deepEqual(line('CapEff'), ['0000000000000000']);
      }
    }
  });

  test('a PR pod reaches its own Service (ClusterIP) and pods', { skip }, async (t) => {
    for (const ns of ENVS) {
      const own = new RegExp(`namespace=${ns} pod=${ns}-`);
      await assertReaches(t, client(ns), serviceIp(ns), `its own Service ${ns}`, own);
      await assertReaches(t, client(ns), ipOf(app(ns)), `its own app pod ${app(ns).name}`, own);
      await assertReaches(t, app(ns), ipOf(client(ns)), `its own pod ${CLIENT}`);
    }
  });

  test("a PR pod cannot open a TCP connection to another PR's pods or Service", { skip }, async (t) => {
    // Positive controls: the targets serve (to their own namespace).
    for (const ns of ENVS) await assertReaches(t, client(ns), serviceIp(ns), `${ns}'s Service from inside`);
    // Each probe waits for its timeout: all at once.
    await Promise.all(
      ENVS.flatMap((ns) => {
        const target = other(ns);
        return [
          assertBlocked(t, client(ns), serviceIp(target), `${target}'s Service`),
          assertBlocked(t, client(ns), ipOf(app(target)), `${target}'s app pod`),
          assertBlocked(t, client(ns), ipOf(client(target)), `${target}'s ${CLIENT} pod`),
          assertBlocked(t, app(ns), ipOf(app(target)), `${target}'s app pod (from the app)`),
        ];
      }),
    );
  });

  test(
    'ingress from the configured ingress controller and monitoring is allowed; their neighbours and look-alikes are not',
    { skip },
    async (t) => {
      const ns = ENVS[0];
      const own = new RegExp(`namespace=${ns} pod=`);
      await assertReaches(t, ingressPod, ipOf(app(ns)), `${ns}'s app pod from the ingress controller`, own);
      await assertReaches(t, ingressPod, serviceIp(ns), `${ns}'s Service from the ingress controller`, own);
      await assertReaches(t, monitoringPod, ipOf(app(ns)), `${ns}'s app pod from monitoring`, own);
      // Same namespace as the ingress controller without its labels; monitoring's labels in another namespace.
      await Promise.all([
        assertBlocked(
          t,
          ingressNeighbour,
          ipOf(app(ns)),
          `${ns}'s app pod from an unlabelled ${INGRESS.namespace} pod`,
        ),
        assertBlocked(t, lookalikePod, ipOf(app(ns)), `${ns}'s app pod from a monitoring look-alike in ${OUTSIDE_NS}`),
        assertBlocked(t, outsidePod, ipOf(app(ns)), `${ns}'s app pod from ${OUTSIDE_NS}`),
      ]);
    },
  );

  test('egress from a PR pod to private ranges is blocked (a pod outside k8s-ee)', { skip }, async (t) => {
    // Positive control: the target serves to a peer without policies.
    await assertReaches(t, ingressNeighbour, ipOf(outsidePod), `${key(outsidePod)}`);
    await Promise.all(
      ENVS.map((ns) => assertBlocked(t, client(ns), ipOf(outsidePod), `${key(outsidePod)} (private range)`)),
    );
  });

  test(
    'a new PR namespace is isolated from its first second: namespace and pod created at once, probed at once',
    { skip, timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const first: PodRef = { ns: FRESH_NS, name: 'first' };
      const t0 = Date.now();
      const since = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      const created = await cluster.kubectl(['create', '-f', '-'], {
        input: list([namespaceManifest(FRESH_NS), samplePod(first)]),
        allowFail: true,
      });
      assert.equal(created.code, 0, `namespace and pod in one go: ${created.stderr}`);
      t.diagnostic(`namespace and pod created: ${since()}`);
      // The baseline came before the pod: its policies are older than the pod.
      const policies = await getJson(['get', 'networkpolicies', '-n', FRESH_NS]);
      const pod = await getJson(['get', 'pod', first.name, '-n', FRESH_NS]);
      const podCreated = Date.parse(String(pod['metadata']['creationTimestamp']));
      const names = (policies['items'] as Json[]).map((p) => String(p['metadata']['name']));
      assert.ok(names.includes('k8s-ee-default-deny'), `no default-deny policy yet: ${names.join(', ')}`);
      for (const p of policies['items'] as Json[])
        assert.ok(
          Date.parse(String(p['metadata']['creationTimestamp'])) <= podCreated,
          `${String(p['metadata']['name'])} is younger than the pod`,
        );
      // Probe as soon as the pod has an IP and its container runs.
      let ip: string;
      const deadline = Date.now() + 120_000;
      for (;;) {
        const p = await getJson(['get', 'pod', first.name, '-n', FRESH_NS]);
        ip = String(p['status']?.['podIP'] ?? '');
        const running = (p['status']?.['containerStatuses'] as Json[] | undefined)?.[0]?.['state']?.['running'];
        if (ip && running) break;
        assert.ok(Date.now() < deadline, `${key(first)} not running within 120 s:\n${await dumpNamespace(FRESH_NS)}`);
        await sleep(100);
      }
      podIps.set(key(first), ip);
      t.diagnostic(`${key(first)} running with IP ${ip}: ${since()}`);
      const probedAt = since();
      const [firstIn, outbound] = await Promise.all([connect(outsidePod, ip), connect(first, ipOf(outsidePod))]);
      t.diagnostic(`first probes started at ${probedAt}: ${key(outsidePod)} -> ${key(first)}: ${show(firstIn)}`);
      t.diagnostic(`${key(first)} -> ${key(outsidePod)}: ${show(outbound)}`);
      assert.ok(timedOut(outbound), `${key(first)} -> ${key(outsidePod)} in the first seconds: ${show(outbound)}`);
      // Inbound, a refusal only means the app is not listening yet: probe again until the verdict is the policy's.
      let inbound = firstIn;
      while (!timedOut(inbound)) {
        assert.ok(!inbound.ok, `${key(outsidePod)} -> ${key(first)} connected in the first seconds: ${show(inbound)}`);
        assert.ok(
          Date.now() < deadline,
          `${key(outsidePod)} -> ${key(first)}: never a clear verdict: ${show(inbound)}`,
        );
        await sleep(200);
        inbound = await connect(outsidePod, ip);
        t.diagnostic(`again at ${since()}: ${show(inbound)}`);
      }
      // The allowed path proves the pod serves.
      await assertReaches(
        t,
        ingressPod,
        ip,
        `${key(first)} from the ingress controller`,
        /namespace=dp-pr-3 pod=first/,
      );
      t.diagnostic(`allowed path answered at ${since()}`);
      await Promise.all([
        assertBlocked(t, outsidePod, ip, `${key(first)} (ingress)`),
        assertBlocked(t, first, ipOf(outsidePod), `${key(outsidePod)} (egress)`),
      ]);
    },
  );

  test("a privileged pod is refused with k8s-ee's own message by the in-cluster webhook", { skip }, (t) =>
    withPlatformLogs(t, async () => {
      const pod = samplePod({ ns: ENVS[0], name: 'privileged' });
      pod['spec']['containers'][0]['securityContext'] = { privileged: true };
      const res = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(pod), allowFail: true });
      t.diagnostic(res.stderr);
      assert.notEqual(res.code, 0, `the privileged pod was admitted: ${res.stdout}`);
      assert.match(
        res.stderr,
        /admission webhook "pods\.mutate\.k8s-ee\.io" denied the request: k8s-ee denied CREATE Pod\/privileged/,
      );
      assert.match(res.stderr, /spec\.containers\[0\]\.securityContext\.privileged: .* Fix: /);
      // Said by a webhook pod (the only k8s-ee running for this file), and logged there.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const logs = await Promise.all(
          (await platform!.pods()).map(
            async (p) =>
              (
                await cluster.kubectl([
                  'logs',
                  '-n',
                  PLATFORM_NAMESPACE,
                  String(p['metadata']['name']),
                  '-c',
                  'webhook',
                ])
              ).stdout,
          ),
        );
        if (
          logs.some((l) =>
            l.split('\n').some((line) => line.includes('admission denied') && line.includes('privileged')),
          )
        )
          break;
        assert.ok(Date.now() < deadline, 'no webhook pod logged the denial');
        await sleep(500);
      }
    }),
  );

  test(
    'the mutated defaults and image users: numeric, named and root USERs run, or admission says why beforehand',
    { skip, timeout: TEST_TIMEOUT_MS },
    async (t) => {
      await cluster.kubectl(['create', 'namespace', USERS_NS]);
      for (const [kind, image] of Object.entries(IMAGES)) {
        await t.test(`USER ${kind} (${image})`, async (st) => {
          const ref: PodRef = { ns: USERS_NS, name: `user-${kind}` };
          const created = await cluster.kubectl(['create', '-f', '-'], {
            input: JSON.stringify(samplePod(ref, { image })),
            allowFail: true,
          });
          if (created.code !== 0) {
            st.diagnostic(`refused at admission: ${created.stderr.trim()}`);
            assert.match(created.stderr, /k8s-ee/, `refused, but not by k8s-ee: ${created.stderr}`);
            assert.match(created.stderr, /user|runAsUser|root/i, 'the refusal must say what about the user is wrong');
            return;
          }
          const deadline = Date.now() + 90_000;
          for (;;) {
            const pod = await getJson(['get', 'pod', ref.name, '-n', ref.ns]);
            const status = (pod['status']?.['containerStatuses'] as Json[] | undefined)?.[0];
            if (status?.['ready'] === true) {
              const id = await exec(ref, ['id', '-u']);
              st.diagnostic(`Running and Ready as uid ${id.stdout.trim()}`);
              assert.notEqual(id.stdout.trim(), '0', `${key(ref)} runs as root`);
              return;
            }
            const waiting = status?.['state']?.['waiting'] as Json | undefined;
            if (waiting?.['reason'] === 'CreateContainerConfigError') {
              const message = `${key(ref)} was admitted, then never started: ${String(waiting['reason'])}: ${String(waiting['message'])}`;
              st.diagnostic(message);
              const sc = pod['spec']['securityContext'] as Json | undefined;
              const containerSc = pod['spec']['containers'][0]['securityContext'] as Json | undefined;
              // Today's defaults set runAsNonRoot without a runAsUser, so the kubelet cannot prove a named user
              // non-root and refuses a root one. Issue #8 gives such pods a numeric user; until then this is known.
              if (sc?.['runAsUser'] === undefined && containerSc?.['runAsUser'] === undefined)
                st.todo('issue #8: the mutation sets runAsNonRoot but no runAsUser, so this image never starts');
              assert.fail(`${message}\n(admission said nothing; helm --wait would only time out)`);
            }
            assert.ok(
              Date.now() < deadline,
              `${key(ref)} neither Ready nor refused within 90 s:\n${await dumpNamespace(ref.ns)}`,
            );
            await sleep(500);
          }
        });
      }
    },
  );

  test(
    'LimitRange defaults are visible on running pods; the quota refuses real pods beyond it',
    { skip, timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const ns = QUOTA_NS;
      await cluster.kubectl(['create', 'namespace', ns]);
      const bare: PodRef = { ns, name: 'no-resources' };
      const partial: PodRef = { ns, name: 'cpu-request-only' };
      await cluster.kubectl(['create', '-f', '-'], {
        input: list([samplePod(bare), samplePod(partial, { resources: { requests: { cpu: '10m' } } })]),
      });
      await waitReady(ns, `pod/${bare.name}`);
      await waitReady(ns, `pod/${partial.name}`);
      const limitRange = await getJson(['get', 'limitrange', 'k8s-ee-limits', '-n', ns]);
      const limits = (limitRange['spec']['limits'] as Json[])[0]!;
      const resourcesOf = async (ref: PodRef): Promise<Json> =>
        (await getJson(['get', 'pod', ref.name, '-n', ns]))['spec']['containers'][0]['resources'] as Json;
      const bareResources = await resourcesOf(bare);
      t.diagnostic(`LimitRange: ${JSON.stringify(limits)}; ${bare.name}: ${JSON.stringify(bareResources)}`);
      assert.deepEqual(bareResources['requests'], limits['defaultRequest']);
      assert.deepEqual(bareResources['limits'], limits['default']);
      // Only CPU requested: the rest comes from the LimitRange alone (the webhook fills only resource-less containers).
      const partialResources = await resourcesOf(partial);
      t.diagnostic(`${partial.name}: ${JSON.stringify(partialResources)}`);
      assert.deepEqual(partialResources['requests'], { cpu: '10m', memory: limits['defaultRequest']['memory'] });
      assert.deepEqual(partialResources['limits'], limits['default']);

      // A pod asking for more CPU than the whole quota is refused with the quota's message.
      const greedy = samplePod(
        { ns, name: 'greedy' },
        { resources: { requests: { cpu: '400m', memory: '32Mi' }, limits: { cpu: '400m', memory: '64Mi' } } },
      );
      const refused = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(greedy), allowFail: true });
      t.diagnostic(refused.stderr.trim());
      assert.notEqual(refused.code, 0, 'a pod beyond the quota was admitted');
      assert.match(refused.stderr, /exceeded quota: k8s-ee-quota, requested: .*requests\.cpu=400m/);
      assert.match(refused.stderr, new RegExp(`limited: .*requests\\.cpu=${QUOTA.requestsCpu ?? ''}`));

      // A Deployment asking for more than fits: some pods run, the rest are refused (FailedCreate on its ReplicaSet).
      const each = { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } };
      const template = samplePod({ ns, name: 'unused' }, { resources: each, labels: { app: 'hog' } });
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'hog', namespace: ns },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'hog' } },
          template: { metadata: { labels: template['metadata']['labels'] }, spec: template['spec'] },
        },
      };
      await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(deployment) });
      const deadline = Date.now() + 120_000;
      let events: string;
      let ready: number;
      for (;;) {
        events = (
          await cluster.kubectl(['get', 'events', '-n', ns, '--field-selector', 'reason=FailedCreate', '-o', 'json'])
        ).stdout;
        const d = await getJson(['get', 'deployment', 'hog', '-n', ns]);
        ready = Number(d['status']?.['readyReplicas'] ?? 0);
        if (ready >= 1 && /exceeded quota: k8s-ee-quota/.test(events)) break;
        assert.ok(
          Date.now() < deadline,
          `no quota refusal and running hog pod within 120 s (ready ${ready}):\n${await dumpNamespace(ns)}`,
        );
        await sleep(1_000);
      }
      const messages = [...new Set((JSON.parse(events)['items'] as Json[]).map((e) => String(e['message'])))];
      t.diagnostic(`hog: ${ready} of 4 Ready; FailedCreate: ${messages[0] ?? ''}`);
      assert.ok(ready < 4, 'all four hog pods run: the quota did not hold');
      const quota = await getJson(['get', 'resourcequota', 'k8s-ee-quota', '-n', ns]);
      t.diagnostic(`quota used: ${JSON.stringify(quota['status']['used'])}`);
    },
  );

  test(
    'rollouts of k8s-ee refuse no admission call: each old replica serves on while the Service stops routing to it',
    { skip, timeout: TEST_TIMEOUT_MS },
    (t) =>
      withPlatformLogs(t, async () => {
        assert.ok(platform);
        // A developer's CI writing Deployments into a PR namespace (server-side dry runs: the webhooks and the
        // policy judge each one, nothing is stored) from four clients at once, all through the rollout.
        const kc = new KubeConfig();
        kc.loadFromFile(cluster.kubeconfig);
        const http = kubeHttp(kc, { http2: false, maxSockets: 4 });
        const ns = ENVS[0];
        const path = `/apis/apps/v1/namespaces/${ns}/deployments?dryRun=All`;
        let writing = true;
        let answered = 0;
        const failures: string[] = [];
        const writer = async (i: number): Promise<void> => {
          for (let n = 0; writing; n++) {
            const name = `rollout-${String(i)}-${String(n)}`;
            const body = {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name, namespace: ns },
              spec: {
                selector: { matchLabels: { app: name } },
                template: {
                  metadata: { labels: { app: name } },
                  spec: { containers: [{ name: 'app', image: IMAGES.numeric }] },
                },
              },
            };
            try {
              const created = await http.request<Json>('POST', path, { body });
              // The webhook's defaults are in what came back: the call went through it.
              assert.equal(created['spec']['template']['spec']['securityContext']?.['runAsNonRoot'], true);
              answered++;
            } catch (err) {
              failures.push(`${new Date().toISOString()} ${(err as Error).message}`);
            }
          }
        };
        const writers = [0, 1, 2, 3].map((i) => writer(i));
        try {
          await sleep(1_000);
          assert.ok(answered > 0, `no write answered before the rollout: ${failures.slice(0, 3).join('; ')}`);
          const before = answered;
          // Twice: without the shutdown delay a call fails only when it meets the moment a replica stops (a kept
          // connection closed under it: EOF; or a new one routed to the closed port), so one rollout showed 2
          // failures and the next none, two rollouts 7 of 5,502; with the delay none in any run.
          for (let round = 0; round < 2; round++) await rollOut(platform);
          await sleep(2_000);
          writing = false;
          await Promise.all(writers);
          t.diagnostic(
            `${String(answered)} Deployment writes answered (${String(answered - before)} from the rollouts on), ` +
              `${String(failures.length)} refused`,
          );
          assert.deepEqual(
            failures.slice(0, 10),
            [],
            `${String(failures.length)} of ${String(answered + failures.length)} writes failed during the rollouts`,
          );
        } finally {
          writing = false;
          await Promise.all(writers);
          http.close();
        }
      }),
  );

  test(
    'helm uninstall of environments with running pods: deleted namespace gone; the sweeper removes the other',
    { skip, timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const installMs = await installEnvironment(SWEPT_NS);
      t.diagnostic(`${SWEPT_NS} installed in ${installMs} ms`);
      const gone = async (ns: string, timeoutMs: number): Promise<number> => {
        const started = Date.now();
        for (;;) {
          const r = await cluster.kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name'], {
            allowFail: true,
          });
          if (r.code === 0 && r.stdout.trim() === '') return Date.now() - started;
          assert.ok(
            Date.now() - started < timeoutMs,
            `namespace ${ns} still there after ${timeoutMs / 1000} s:\n${await dumpNamespace(ns)}`,
          );
          await sleep(500);
        }
      };
      for (const ns of [ENVS[1], SWEPT_NS]) {
        const pods = await getJson(['get', 'pods', '-n', ns, '--field-selector=status.phase=Running']);
        assert.ok((pods['items'] as Json[]).length > 0, `${ns} has no running pod to begin with`);
      }
      // One the workflow's way: helm uninstall, then delete the namespace.
      const started = Date.now();
      await cluster.helm(['uninstall', ENVS[1], '-n', ENVS[1]]);
      await cluster.kubectl(['delete', 'namespace', ENVS[1], '--wait=false']);
      const deletedMs = await gone(ENVS[1], 120_000);
      t.diagnostic(
        `${ENVS[1]}: helm uninstall + delete namespace -> gone after ${Date.now() - started} ms (${deletedMs} ms waiting)`,
      );
      // The other left to the in-cluster sweeper (release grace 5 s in this install).
      const swept = Date.now();
      await cluster.helm(['uninstall', SWEPT_NS, '-n', SWEPT_NS]);
      await withPlatformLogs(t, async () => {
        const ms = await gone(SWEPT_NS, 150_000);
        t.diagnostic(`${SWEPT_NS}: helm uninstall only -> the sweeper deleted it; gone after ${ms} ms`);
      });
      t.diagnostic(`sweeper path took ${Date.now() - swept} ms`);
    },
  );
});
