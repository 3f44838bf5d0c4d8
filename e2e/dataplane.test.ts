// Data-plane checks that need running pods: two PR environments installed with plain helm from the real app chart,
// a client pod in each (written without any securityContext: k8s-ee's webhook supplies it), then what a PR pod
// can really reach. They need a cluster with nodes and a NetworkPolicy-enforcing CNI ($K8S_EE_E2E_KUBECONFIG:
// kind with Calico or Cilium, k3s with its kube-router policy controller); on the built-in control plane (no
// kubelet, no CNI: pods are admitted but never run) every test is skipped with the reason.
// For kind, the API server runs in a container: set $K8S_EE_E2E_WEBHOOK_HOST to this host's address as seen from
// there (the docker bridge gateway, e.g. 172.18.0.1) so it can call the webhook running here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { projectRoot } from '../local/cluster/paths.ts';
import {
  BUILTIN_KUBECONFIG_ENV,
  deleteNamespaces,
  EXTERNAL_KUBECONFIG_ENV,
  getTestCluster,
  type TestCluster,
} from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';

const CHART = join(projectRoot, 'charts', 'k8s-ee-app');
const ENVS = ['dp-pr-1', 'dp-pr-2'] as const;
type EnvName = (typeof ENVS)[number];
const CLIENT = 'dp-client';
const PREVIEW_DOMAIN = 'dp.e2e.test';
/** The uid/gid the webhook gives pods that set none (policies/pod-defaults.ts, `mutation.runAsUser`). */
const INJECTED_ID = 10123;
const WEBHOOK_CONFIG = [
  `previewDomain: ${PREVIEW_DOMAIN}`,
  'mutation:',
  `  runAsUser: ${INJECTED_ID}`,
  `  runAsGroup: ${INJECTED_ID}`,
  '',
].join('\n');
/** wget's own network timeout; `timeout` bounds the whole command a little later. */
const CONNECT_TIMEOUT_S = 3;
const READY_TIMEOUT = '300s';
const HOOK_TIMEOUT_MS = 15 * 60_000;

interface ChartValues {
  image: { repository: string; tag: string };
  containerPort: number;
  service: { port: number };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The client runs the app chart's own default image (one pull for both): nginx-unprivileged is Alpine, so busybox
 * brings wget, nslookup, id and timeout, and its USER is numeric, as runAsNonRoot requires.
 */
const chartValues = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as ChartValues;
const IMAGE = `${chartValues.image.repository}:${chartValues.image.tag}`;

/** Names of the CNI pieces found in kube-system (and k3s's embedded policy controller), for messages only. */
async function detectNetworking(cluster: TestCluster): Promise<string> {
  const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-n', 'kube-system', '-o', 'json'])).stdout) as Json;
  const names = (pods['items'] as Json[]).map((p) => String(p['metadata']['name']));
  const known = ['calico', 'cilium', 'kube-router', 'antrea', 'weave', 'kindnet', 'flannel', 'kube-network-policies'];
  const found = known.filter((k) => names.some((n) => n.includes(k)));
  const nodes = JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as Json;
  const k3s = (nodes['items'] as Json[]).some((n) =>
    String(n['status']?.['nodeInfo']?.['kubeletVersion']).includes('k3s'),
  );
  if (k3s) found.push('k3s (flannel + embedded kube-router network policy controller)');
  return found.length ? found.join(', ') : 'no known CNI pods in kube-system';
}

async function readyNodes(cluster: TestCluster): Promise<number> {
  const nodes = JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as Json;
  return (nodes['items'] as Json[]).filter(
    (n) =>
      n['spec']?.['unschedulable'] !== true &&
      (n['status']?.['conditions'] as Json[] | undefined)?.some((c) => c['type'] === 'Ready' && c['status'] === 'True'),
  ).length;
}

/**
 * The cluster, or why the data-plane tests cannot run on it. When this file runs alone with neither variable set,
 * getTestCluster() would start a built-in control plane only for it to be skipped: that case is decided at once.
 */
async function dataPlaneCluster(): Promise<{ cluster?: TestCluster; skip: string | false }> {
  const builtInReason =
    'the built-in control plane has no kubelet and no CNI, so pods never run; set ' +
    `${EXTERNAL_KUBECONFIG_ENV} to a kind or k3s cluster whose CNI enforces NetworkPolicies to run these checks`;
  if (!process.env[EXTERNAL_KUBECONFIG_ENV] && !process.env[BUILTIN_KUBECONFIG_ENV]) return { skip: builtInReason };
  const cluster = await getTestCluster();
  if (cluster.builtIn) return { skip: builtInReason };
  if ((await readyNodes(cluster)) === 0)
    return { skip: `the cluster of ${EXTERNAL_KUBECONFIG_ENV} has no Ready, schedulable node: pods cannot run there` };
  return { cluster, skip: false };
}

const { cluster: maybeCluster, skip } = await dataPlaneCluster();
if (skip) console.log(`e2e/dataplane: skipped: ${skip}`);

interface FetchResult {
  ok: boolean;
  code: number;
  body: string;
  error: string;
  ms: number;
}

interface Endpoints {
  service: string;
  serviceIp: string;
  podIp: string;
}

/** `<ns>.svc.<domain>` is the first search domain kubelet writes into a pod's resolv.conf. */
function clusterDomainFromResolvConf(resolvConf: string, namespace: string): string | undefined {
  const search = resolvConf.split('\n').find((line) => line.trim().startsWith('search '));
  const prefix = `${namespace}.svc.`;
  const entry = search
    ?.trim()
    .split(/\s+/)
    .find((d) => d.startsWith(prefix));
  return entry?.slice(prefix.length).replace(/\.$/, '');
}

/** The answers of busybox nslookup (`Address: IP`, older `Address 1: IP name`); the server's line ends in :53. */
function nslookupAddresses(output: string): string[] {
  return [...output.matchAll(/^Address(?:\s+\d+)?:\s*([0-9a-f.:]+)(?:\s+\S+)?\s*$/gim)].map((m) => m[1] ?? '');
}

describe('data plane: PR environments on a cluster with running pods', () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook | undefined;
  let networking = '';
  let domain = 'cluster.local';
  const endpoints = new Map<EnvName, Endpoints>();

  const execIn = (ns: string, pod: string, command: string[]) =>
    cluster.kubectl(['exec', '-n', ns, pod, '--', ...command], { allowFail: true });
  const exec = (ns: string, command: string[]) => execIn(ns, CLIENT, command);

  const fetchFrom = async (ns: EnvName, url: string): Promise<FetchResult> => {
    const started = Date.now();
    const wget = ['wget', '-q', '-O', '-', '-T', String(CONNECT_TIMEOUT_S), url];
    const r = await exec(ns, ['timeout', String(CONNECT_TIMEOUT_S + 3), ...wget]);
    return { ok: r.code === 0, code: r.code, body: r.stdout, error: r.stderr.trim(), ms: Date.now() - started };
  };

  /** A new pod's policy may take a moment to be programmed by the CNI: the allowed path is tried for a while. */
  const fetchUntilOk = async (ns: EnvName, url: string): Promise<FetchResult> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await fetchFrom(ns, url);
      if (r.ok || Date.now() > deadline) return r;
      await sleep(1_000);
    }
  };

  const getJson = async (args: string[]): Promise<Json> =>
    JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as Json;

  const installEnvironment = async (ns: EnvName): Promise<void> => {
    const r = await cluster.helm(
      [
        'upgrade',
        '--install',
        ns,
        CHART,
        '-n',
        ns,
        '--create-namespace',
        '--set-string',
        `previewDomain=${PREVIEW_DOMAIN}`,
        '--wait',
        '--timeout',
        '5m',
      ],
      { allowFail: true },
    );
    assert.equal(r.code, 0, `helm upgrade --install ${ns} failed:\n${r.stderr}${r.stdout}`);
  };

  /** A bare client pod written like a developer would: no securityContext, no resources. */
  const startClient = async (ns: EnvName): Promise<void> => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: CLIENT, namespace: ns, labels: { 'app.kubernetes.io/name': CLIENT } },
      spec: {
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [{ name: 'client', image: IMAGE, command: ['sleep', '3600'] }],
      },
    };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  };

  const waitReady = async (ns: EnvName): Promise<void> => {
    const r = await cluster.kubectl(
      ['wait', '-n', ns, '--for=condition=Ready', 'pod', '--all', `--timeout=${READY_TIMEOUT}`],
      { allowFail: true },
    );
    if (r.code !== 0) {
      const pods = await cluster.kubectl(['get', 'pods', '-n', ns, '-o', 'wide'], { allowFail: true });
      const events = await cluster.kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'], {
        allowFail: true,
      });
      assert.fail(`pods in ${ns} not Ready within ${READY_TIMEOUT}:\n${r.stderr}\n${pods.stdout}\n${events.stdout}`);
    }
  };

  const readEndpoints = async (ns: EnvName): Promise<Endpoints> => {
    const service = await getJson(['get', 'service', ns, '-n', ns]);
    const pods = await getJson([
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      `app.kubernetes.io/instance=${ns},app.kubernetes.io/component=app`,
    ]);
    const podIp = (pods['items'] as Json[])[0]?.['status']?.['podIP'] as string | undefined;
    assert.ok(podIp, `no app pod with an IP in ${ns}`);
    return { service: ns, serviceIp: String(service['spec']['clusterIP']), podIp };
  };

  const other = (ns: EnvName): EnvName => (ns === 'dp-pr-1' ? 'dp-pr-2' : 'dp-pr-1');
  const ep = (ns: EnvName): Endpoints => {
    const e = endpoints.get(ns);
    assert.ok(e, `the setup did not record ${ns}'s service and pod`);
    return e;
  };
  const describeFetch = (r: FetchResult): string =>
    `exit ${r.code} after ${r.ms} ms; stderr: ${r.error || '(none)'}; body: ${r.body.slice(0, 200) || '(none)'}`;

  before(
    async () => {
      if (skip || !maybeCluster) return;
      cluster = maybeCluster;
      networking = await detectNetworking(cluster);
      console.log(`e2e/dataplane: networking found: ${networking}`);
      await deleteNamespaces(cluster, [...ENVS]);
      try {
        webhook = await startWebhook({ cluster, configYaml: WEBHOOK_CONFIG });
      } catch (err) {
        throw new Error(
          `${(err as Error).message}\nIf the API server runs in a container (kind), set K8S_EE_E2E_WEBHOOK_HOST to ` +
            'the address at which it reaches this host (for example the docker bridge gateway).',
          { cause: err },
        );
      }
      await Promise.all(ENVS.map(installEnvironment));
      await Promise.all(ENVS.map(startClient));
      await Promise.all(ENVS.map(waitReady));
      for (const ns of ENVS) endpoints.set(ns, await readEndpoints(ns));
      const resolvConf = await exec(ENVS[0], ['cat', '/etc/resolv.conf']);
      domain = clusterDomainFromResolvConf(resolvConf.stdout, ENVS[0]) ?? domain;
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  after(
    async () => {
      if (skip || !maybeCluster) return;
      for (const ns of ENVS) await cluster.helm(['uninstall', ns, '-n', ns, '--ignore-not-found'], { allowFail: true });
      try {
        await deleteNamespaces(cluster, [...ENVS]);
      } finally {
        await webhook?.stop();
      }
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  test('a pod in a PR namespace reaches its own service, by name, by ClusterIP and by pod IP', { skip }, async (t) => {
    for (const ns of ENVS) {
      const own = ep(ns);
      const targets = [
        `http://${own.service}`,
        `http://${own.serviceIp}:${chartValues.service.port}`,
        `http://${own.podIp}:${chartValues.containerPort}`,
      ];
      for (const url of targets) {
        const r = await fetchUntilOk(ns, url);
        t.diagnostic(`${ns} -> ${url}: ${describeFetch(r)}`);
        assert.ok(r.ok, `${ns}: ${url} must be reachable from its own namespace: ${describeFetch(r)}`);
        assert.match(r.body, /Welcome to nginx/, `${ns}: ${url} answered something other than the app`);
      }
    }
  });

  test(
    "a pod in one PR namespace cannot reach another PR's service or pod (the connection fails within seconds)",
    { skip },
    async (t) => {
      for (const ns of ENVS) {
        // The positive control first: the target serves, and the client's own network works.
        const target = ep(other(ns));
        const control = await fetchUntilOk(other(ns), `http://${target.service}`);
        assert.ok(control.ok, `${other(ns)} must serve its own pods before isolation means anything`);
        const urls = [
          `http://${target.service}.${other(ns)}.svc.${domain}`,
          `http://${target.serviceIp}:${chartValues.service.port}`,
          `http://${target.podIp}:${chartValues.containerPort}`,
        ];
        for (const url of urls) {
          const r = await fetchFrom(ns, url);
          t.diagnostic(`${ns} -> ${url}: ${describeFetch(r)}`);
          assert.ok(
            !r.ok && !/Welcome to nginx/.test(r.body),
            `${ns} reached ${url} in ${other(ns)}: PR namespaces are not isolated. Does the CNI enforce ` +
              `NetworkPolicies? (found: ${networking}) ${describeFetch(r)}`,
          );
          // Dropped packets time out (wget's message, or `timeout` ending it with 143); a CNI that rejects
          // (kube-router) answers refused or unreachable at once. A DNS failure would prove nothing.
          assert.ok(
            /timed out|refused|unreachable|no route/i.test(r.error) || r.code === 143 || r.code === 124,
            `${ns} -> ${url} failed, but not as a blocked connection: ${describeFetch(r)}`,
          );
        }
      }
    },
  );

  test('DNS works from a PR pod (kube-dns is reachable through k8s-ee-allow-dns)', { skip }, async (t) => {
    const kubernetes = await getJson(['get', 'service', 'kubernetes', '-n', 'default']);
    const expected: [string, string][] = [
      [`kubernetes.default.svc.${domain}`, String(kubernetes['spec']['clusterIP'])],
      [`${ENVS[1]}.${ENVS[1]}.svc.${domain}`, ep(ENVS[1]).serviceIp],
    ];
    for (const [name, ip] of expected) {
      const r = await exec(ENVS[0], ['nslookup', name]);
      t.diagnostic(`nslookup ${name} from ${ENVS[0]}:\n${r.stdout}${r.stderr}`);
      assert.ok(
        nslookupAddresses(r.stdout).includes(ip),
        `nslookup ${name} from ${ENVS[0]} should answer ${ip}:\n${r.stdout}${r.stderr}`,
      );
    }
  });

  test(
    'pods run with the security context k8s-ee injected: non-root uid, no privilege escalation, no capabilities, RuntimeDefault seccomp',
    { skip },
    async (t) => {
      for (const ns of ENVS) {
        const pod = await getJson(['get', 'pod', CLIENT, '-n', ns]);
        const podSc = pod['spec']['securityContext'] as Json;
        const sc = pod['spec']['containers'][0]['securityContext'] as Json;
        assert.equal(podSc['runAsNonRoot'], true, `${ns}/${CLIENT}: runAsNonRoot was not injected`);
        assert.equal(podSc['runAsUser'], INJECTED_ID, `${ns}/${CLIENT}: runAsUser was not injected`);
        assert.deepEqual(podSc['seccompProfile'], { type: 'RuntimeDefault' });
        assert.equal(sc['allowPrivilegeEscalation'], false);
        assert.deepEqual(sc['capabilities']?.['drop'], ['ALL']);

        const id = await exec(ns, ['id', '-u']);
        assert.equal(id.code, 0, id.stderr);
        assert.equal(id.stdout.trim(), String(INJECTED_ID), `${ns}/${CLIENT} runs as uid ${id.stdout.trim()}`);
        const status = await exec(ns, ['cat', '/proc/self/status']);
        t.diagnostic(`${ns}/${CLIENT} /proc/self/status:\n${status.stdout}`);
        const line = (key: string): string[] =>
          new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status.stdout)?.[1]?.trim().split(/\s+/) ?? [];
        // Real, effective, saved and filesystem uids all non-root.
        assert.deepEqual(line('Uid'), Array<string>(4).fill(String(INJECTED_ID)));
        assert.deepEqual(line('NoNewPrivs'), ['1'], 'allowPrivilegeEscalation: false sets no_new_privs');
        assert.deepEqual(line('Seccomp'), ['2'], 'RuntimeDefault is a seccomp filter (mode 2)');
        assert.deepEqual(line('CapBnd'), ['0000000000000000'], 'drop ALL empties the bounding set');
        assert.deepEqual(line('CapEff'), ['0000000000000000']);

        // The app chart writes its own context (runAsUser 10001); the webhook keeps it as written.
        const appPods = await getJson(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=${ns}`]);
        const appPod = String((appPods['items'] as Json[])[0]?.['metadata']['name']);
        const appId = await execIn(ns, appPod, ['id', '-u']);
        assert.equal(appId.code, 0, appId.stderr);
        assert.notEqual(appId.stdout.trim(), '0', `${ns}/${appPod} runs as root`);
      }
    },
  );
});
