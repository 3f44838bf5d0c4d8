// Hardening of k8s-ee's own surface, on the real node with k8s-ee installed in-cluster from its chart:
// - the CI identity of docs/runbooks/runners.md, set up with the runbook's own manifests and commands (read from the
//   markdown, so the doc and the test cannot drift), deploys and removes a PR environment with plain helm, and every
//   escape a red team tried with it is refused (RBAC, or the chart's ValidatingAdmissionPolicy);
// - the chart's NetworkPolicy: nothing in the cluster reaches the webhook port, only monitoring reaches the metrics
//   ports, and the API server still calls the webhook.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SERVICE_NODE_FLAGS } from '../cli/runtime.ts';
import { k8seeProcesses } from '../local/node/host.ts';
import { defaultConfig } from '../policies/config.ts';
import { helmPath, kubectlPath, projectRoot, toolsBinDir, cacheDir } from '../local/cluster/paths.ts';
import {
  runCommand,
  serviceAccountKubeconfig,
  type CommandResult,
  type TestCluster,
} from '../local/harness/cluster.ts';
import { clusterWithNode, describePods } from '../local/harness/pods.ts';
import { installPlatform, PLATFORM_NAMESPACE, PLATFORM_RELEASE, uninstallPlatform } from '../local/harness/platform.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RUNBOOK = join(projectRoot, 'docs', 'runbooks', 'runners.md');
const CI_NS = 'arc-runners';
const CI_USER = `system:serviceaccount:${CI_NS}:k8s-ee-ci`;
/** The runbook's example namespace, replaced by this file's own. */
const RUNBOOK_PR = 'shop-pr-42';
const PR = 'surf-pr-1';
const PR2 = 'surf-pr-2';
const OUTSIDE = 'surf-outside';
const MONITORING = defaultConfig().networkPolicy.monitoring.namespace;
const PART_OF = 'k8s-ee-surface-e2e';
const PLATFORM_VALUES = {
  config: { namespacePattern: '^(?<project>surf)-pr-(?<number>[1-9][0-9]*)$' },
  ci: { users: [CI_USER] },
};
const HOOK_TIMEOUT_MS = 10 * 60_000;

/** The fenced blocks of a markdown file in a language. */
function fenced(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!);
}

const { cluster: maybeCluster, skip } = await clusterWithNode();
if (skip) console.log(`e2e/surface: skipped: ${skip}`);

describe("k8s-ee's own surface: the CI identity and the NetworkPolicy, in-cluster", { skip }, () => {
  let cluster: TestCluster;
  let dir = '';
  let ciKubeconfig = '';
  let createdMonitoring = false;
  const ciEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    KUBECONFIG: ciKubeconfig,
    PATH: `${toolsBinDir}:${process.env['PATH'] ?? ''}`,
    HELM_CACHE_HOME: join(cacheDir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(cacheDir, 'helm', 'config'),
    HELM_DATA_HOME: join(cacheDir, 'helm', 'data'),
  });
  /** kubectl as the CI identity (its own token). */
  const asCi = (args: string[], input?: string): Promise<CommandResult> =>
    runCommand(kubectlPath, args, { env: ciEnv(), allowFail: true, ...(input ? { input } : {}) });
  const helmAsCi = (args: string[]): Promise<CommandResult> =>
    runCommand(helmPath, args, { env: ciEnv(), allowFail: true });
  /** `k8s-ee prepare`, the workflow's step before helm, as the CI identity. */
  const k8seePrepare = (ns: string): Promise<CommandResult> =>
    runCommand(process.execPath, [join(projectRoot, 'cli', 'main.ts'), 'prepare', ns], {
      env: ciEnv(),
      allowFail: true,
    });
  /** The runbook's kubectl equivalent, as written, for a PR namespace of this file. */
  const prepareNamespace = async (ns: string): Promise<CommandResult> => {
    const script = fenced(await readFile(RUNBOOK, 'utf8'), 'sh').find((b) => b.includes('create rolebinding'));
    assert.ok(script, 'the runbook shows the commands that prepare a PR namespace');
    return runCommand('bash', ['-euo', 'pipefail', '-c', script.replaceAll(RUNBOOK_PR, ns)], {
      env: ciEnv(),
      allowFail: true,
    });
  };
  const refused = (r: CommandResult, what: string, pattern: RegExp = /forbidden/i): void => {
    assert.notEqual(r.code, 0, `${what} was allowed:\n${r.stdout}`);
    assert.match(r.stderr, pattern, `${what}: ${r.stderr}`);
  };

  before(
    async () => {
      cluster = maybeCluster!;
      dir = await mkdtemp(join(tmpdir(), 'k8s-ee-surface-'));
      await installPlatform({
        cluster,
        previewDomain: 'surf.e2e.test',
        values: PLATFORM_VALUES,
        probeNamespace: 'surf-pr-99',
      });
      await cluster.kubectl(['create', 'namespace', CI_NS], { allowFail: true });
      const manifests = fenced(await readFile(RUNBOOK, 'utf8'), 'yaml').find((b) => b.includes('k8s-ee-ci-deployer'));
      assert.ok(manifests, 'the runbook shows the CI identity manifests');
      await cluster.kubectl(['apply', '-f', '-'], { input: manifests });
      ciKubeconfig = await serviceAccountKubeconfig(
        cluster,
        { namespace: CI_NS, name: 'k8s-ee-ci' },
        join(dir, 'ci.kubeconfig'),
        '20m',
      );
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  after(
    async () => {
      if (!cluster) return;
      const deleteNs = [PR, PR2, OUTSIDE, CI_NS, ...(createdMonitoring ? [MONITORING] : [])];
      await cluster.kubectl(
        [
          'delete',
          'pod',
          '-n',
          MONITORING,
          '-l',
          `app.kubernetes.io/part-of=${PART_OF}`,
          '--ignore-not-found',
          '--wait=false',
        ],
        {
          allowFail: true,
        },
      );
      await cluster.kubectl(['delete', 'namespace', ...deleteNs, '--ignore-not-found', '--wait=false'], {
        allowFail: true,
      });
      for (const kind of ['clusterrolebinding', 'clusterrole']) {
        await cluster.kubectl(['delete', kind, 'k8s-ee-ci', '--ignore-not-found'], { allowFail: true });
      }
      await cluster.kubectl(['delete', 'clusterrole', 'k8s-ee-ci-deployer', '--ignore-not-found'], { allowFail: true });
      await uninstallPlatform(cluster);
      await rm(dir, { recursive: true, force: true });
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  const notHere = maybeCluster?.builtIn === false && "an external cluster's processes are not on this host";
  test(
    "the webhook and the sweeper run in-cluster with their own V8 flags (what the node's /proc shows)",
    { skip: notHere },
    () => {
      // The image's ENTRYPOINT passes none: each service replaces itself at start with a process that has its own
      // (cli/runtime.ts). Read from the node's /proc, as the bench reads their memory.
      for (const service of ['webhook', 'sweeper'] as const) {
        const argvs = k8seeProcesses(service).map((p) => p.argv);
        assert.ok(argvs.length > 0, `no ${service} process on the node`);
        for (const argv of argvs) {
          for (const flag of SERVICE_NODE_FLAGS[service]) assert.ok(argv.includes(flag), `${flag}: ${argv.join(' ')}`);
        }
      }
    },
  );

  test('with its runbook rights only, the CI identity cannot run helm before the namespace is prepared', async () => {
    const r = await helmAsCi([
      'upgrade',
      '--install',
      'surf-pr-9',
      join(projectRoot, 'charts', 'k8s-ee-app'),
      '-n',
      'surf-pr-9',
      '--create-namespace',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /secrets is forbidden: User "system:serviceaccount:arc-runners:k8s-ee-ci" cannot list/);
  });

  test('the workflow steps, as the CI identity: k8s-ee prepare, helm upgrade --install --create-namespace, helm uninstall', async (t) => {
    const prepared = await k8seePrepare(PR);
    assert.equal(prepared.code, 0, prepared.stderr + prepared.stdout);
    t.diagnostic(prepared.stdout.trim());
    assert.match(
      prepared.stdout,
      new RegExp(`namespace ${PR}: created; RoleBinding k8s-ee-ci for ${CI_USER}: created`),
    );
    const again = await k8seePrepare(PR);
    assert.equal(again.code, 0, `a second push prepares again without failing: ${again.stderr}`);
    assert.match(again.stdout, /: exists; RoleBinding k8s-ee-ci for .*: exists/);
    const outside = await k8seePrepare('surf-evil');
    assert.equal(outside.code, 1, outside.stdout);
    assert.match(outside.stderr, /may not create namespace surf-evil: HTTP 403: .*\[vap:ci-namespace\][\s\S]*fix: /);
    const install = await helmAsCi([
      'upgrade',
      '--install',
      PR,
      join(projectRoot, 'charts', 'k8s-ee-app'),
      '-n',
      PR,
      '--create-namespace',
      '--set-string',
      'image.repository=k8s-ee.local/sample-app',
      '--set-string',
      'image.tag=dev',
      '--set-string',
      'image.pullPolicy=Never',
      '--set-string',
      'previewDomain=surf.e2e.test',
      '--wait',
      '--timeout',
      '3m',
    ]);
    assert.equal(install.code, 0, `${install.stderr}\n${await describePods(cluster, PR)}`);
    const status = await helmAsCi(['status', PR, '-n', PR, '-o', 'json']);
    assert.equal((JSON.parse(status.stdout) as Json)['info']['status'], 'deployed');
    const uninstall = await helmAsCi(['uninstall', PR, '-n', PR, '--wait', '--timeout', '2m']);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    const left = await asCi(['get', 'deployments,statefulsets,services', '-n', PR, '-o', 'name']);
    assert.equal(left.stdout.trim(), '', 'the release is gone');
  });

  test('every escape a red team tried as the CI identity is refused', async () => {
    const prepared = await prepareNamespace(PR2);
    assert.equal(prepared.code, 0, `the runbook's kubectl commands: ${prepared.stderr}`);
    // Secrets outside its PR namespaces.
    for (const ns of [PLATFORM_NAMESPACE, 'kube-system', CI_NS, 'default']) {
      refused(await asCi(['get', 'secrets', '-n', ns]), `list secrets in ${ns}`);
    }
    refused(await asCi(['get', 'secrets', '-A']), 'list secrets in every namespace');
    refused(
      await asCi(['get', 'secret', `${PLATFORM_RELEASE}-tls`, '-n', PLATFORM_NAMESPACE]),
      "read k8s-ee's TLS key",
    );
    // Pods in k8s-ee's namespace, privileged or under its ServiceAccount.
    const pod = (name: string, spec: Json) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: PLATFORM_NAMESPACE }, spec });
    const c = { name: 'c', image: 'k8s-ee.local/sample-app:dev' };
    refused(
      await asCi(
        ['create', '-f', '-'],
        pod('escape-privileged', { containers: [{ ...c, securityContext: { privileged: true } }] }),
      ),
      'privileged pod in k8s-ee-system',
    );
    refused(
      await asCi(['create', '-f', '-'], pod('escape-sa', { serviceAccountName: PLATFORM_RELEASE, containers: [c] })),
      "pod under k8s-ee's ServiceAccount",
    );
    // k8s-ee's configuration and its admission and RBAC objects.
    const addSelf = JSON.stringify({ data: { 'config.yaml': `platformIdentities: { users: ["${CI_USER}"] }\n` } });
    refused(
      await asCi([
        'patch',
        'configmap',
        `${PLATFORM_RELEASE}-config`,
        '-n',
        PLATFORM_NAMESPACE,
        '--type=merge',
        '-p',
        addSelf,
      ]),
      'add itself to platformIdentities',
    );
    refused(
      await asCi(['delete', 'validatingwebhookconfiguration', PLATFORM_RELEASE]),
      'delete the validating webhooks',
    );
    refused(await asCi(['delete', 'mutatingwebhookconfiguration', PLATFORM_RELEASE]), 'delete the mutating webhooks');
    for (const vap of ['baseline-required', 'ci-confinement', 'managed-label']) {
      refused(
        await asCi(['delete', 'validatingadmissionpolicybinding', `${PLATFORM_RELEASE}-${vap}`]),
        `unbind VAP ${vap}`,
      );
      refused(await asCi(['delete', 'validatingadmissionpolicy', `${PLATFORM_RELEASE}-${vap}`]), `delete VAP ${vap}`);
    }
    refused(
      await asCi(['delete', 'validatingadmissionpolicybinding', `${PLATFORM_RELEASE}-baseline-required-unstamped`]),
      'unbind the pod makers of VAP baseline-required',
    );
    refused(
      await asCi([
        'patch',
        'clusterrole',
        'k8s-ee-ci',
        '--type=json',
        '-p',
        '[{"op":"add","path":"/rules/-","value":{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}}]',
      ]),
      'widen its own ClusterRole',
    );
    refused(
      await asCi(['create', 'clusterrolebinding', 'escape', '--clusterrole=cluster-admin', `--user=${CI_USER}`]),
      'bind cluster-admin',
    );
    refused(
      await asCi(['delete', 'networkpolicy', PLATFORM_RELEASE, '-n', PLATFORM_NAMESPACE]),
      "delete k8s-ee's NetworkPolicy",
    );
    // Namespaces and bindings outside the pattern, and escalation inside it.
    refused(await asCi(['create', 'namespace', 'surf-evil']), 'create a non-PR namespace', /vap:ci-namespace/);
    refused(await asCi(['create', 'namespace', PLATFORM_NAMESPACE]), 'create k8s-ee-system', /vap:ci-namespace/);
    // A server-side apply, as Helm 4's --create-namespace sends (kubectl label and patch read first, which it may not).
    const applyNamespace = (ns: string) =>
      asCi(
        ['apply', '--server-side', '--field-manager=escape', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
        }),
      );
    for (const ns of ['kube-system', PLATFORM_NAMESPACE, CI_NS]) {
      refused(await applyNamespace(ns), `relabel namespace ${ns}`, /vap:ci-namespace/);
    }
    refused(
      await applyNamespace(PR2),
      'lower the Pod Security level of its PR namespace',
      /denied the request[\s\S]*pod-security\.kubernetes\.io\/enforce/,
    );
    for (const role of ['cluster-admin', 'admin', 'edit']) {
      refused(
        await asCi([
          'create',
          'rolebinding',
          `escape-${role}`,
          '-n',
          PR2,
          `--clusterrole=${role}`,
          `--user=${CI_USER}`,
        ]),
        `bind ${role} in its PR namespace`,
      );
    }
    refused(
      await asCi([
        'create',
        'rolebinding',
        'escape',
        '-n',
        'kube-system',
        '--clusterrole=k8s-ee-ci-deployer',
        `--user=${CI_USER}`,
      ]),
      'bind the deployer role in kube-system',
      /vap:ci-binding/,
    );
    refused(
      await asCi([
        'create',
        'rolebinding',
        'escape',
        '-n',
        PR2,
        '--clusterrole=k8s-ee-ci-deployer',
        '--group=system:authenticated',
      ]),
      'bind the deployer role to everyone',
      /vap:ci-binding/,
    );
    // Inside its PR namespace, k8s-ee's webhooks judge it like any deployer.
    const privileged = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'escape', namespace: PR2 },
      spec: { containers: [{ ...c, securityContext: { privileged: true } }] },
    });
    refused(await asCi(['create', '-f', '-'], privileged), 'privileged pod in its PR namespace', /privileged/);
  });

  test('the NetworkPolicy: nothing in the cluster reaches the webhook port, only monitoring the metrics ports; the API server still calls the webhook', async () => {
    const webhookPod = (
      JSON.parse(
        (
          await cluster.kubectl([
            'get',
            'pods',
            '-n',
            PLATFORM_NAMESPACE,
            '-l',
            `app.kubernetes.io/instance=${PLATFORM_RELEASE},app.kubernetes.io/component=webhook`,
            '-o',
            'json',
          ])
        ).stdout,
      ) as Json
    )['items'][0] as Json;
    const ip = String(webhookPod['status']['podIP']);
    if ((await cluster.kubectl(['get', 'namespace', MONITORING], { allowFail: true })).code !== 0) {
      await cluster.kubectl(['create', 'namespace', MONITORING]);
      createdMonitoring = true;
    }
    await cluster.kubectl(['create', 'namespace', OUTSIDE], { allowFail: true });
    const client = (ns: string, name: string): Json => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/part-of': PART_OF } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'app',
            image: 'k8s-ee.local/sample-app:dev',
            imagePullPolicy: 'Never',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
          },
        ],
      },
    });
    const clients = [
      client(MONITORING, 'surf-monitor'),
      client(OUTSIDE, 'surf-outside'),
      client(PR2, 'surf-pr-client'),
    ];
    await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: clients }),
    });
    for (const p of clients) {
      const r = await cluster.kubectl(
        [
          'wait',
          '--for=condition=Ready',
          `pod/${p['metadata']['name']}`,
          '-n',
          p['metadata']['namespace'],
          '--timeout=120s',
        ],
        { allowFail: true },
      );
      assert.equal(r.code, 0, `${r.stderr}\n${await describePods(cluster, p['metadata']['namespace'] as string)}`);
    }
    const connects = async (ns: string, name: string, port: number): Promise<boolean> => {
      const r = await cluster.kubectl(
        ['exec', '-n', ns, name, '--', 'sh', '-c', `timeout 5 nc -w 2 ${ip} ${String(port)} </dev/null`],
        { allowFail: true },
      );
      return r.code === 0;
    };
    const [webhook, metrics, sweeper, certs] = [9443, 8080, 9090, 9445];
    // The positive control first: the network path works, the policy chooses.
    for (const port of [metrics, sweeper, certs])
      assert.equal(await connects(MONITORING, 'surf-monitor', port), true, `monitoring reaches ${port}`);
    assert.equal(
      await connects(MONITORING, 'surf-monitor', webhook),
      false,
      'monitoring does not reach the webhook port',
    );
    for (const [ns, name] of [
      [OUTSIDE, 'surf-outside'],
      [PR2, 'surf-pr-client'],
    ] as const) {
      for (const port of [webhook, metrics, sweeper, certs])
        assert.equal(await connects(ns, name, port), false, `${ns} does not reach ${port}`);
    }
    // The API server (on the node) still calls the webhook: a PR namespace comes back labelled.
    const dry = await cluster.kubectl(['create', 'namespace', 'surf-pr-98', '--dry-run=server', '-o', 'json']);
    assert.equal((JSON.parse(dry.stdout) as Json)['metadata']['labels']['k8s-ee.io/managed'], 'true');
    // What the node sends passes: the API server's pod proxy reads the metrics (as kubectl and the tests do).
    const proxied = await cluster.kubectl([
      'get',
      '--raw',
      `/api/v1/namespaces/${PLATFORM_NAMESPACE}/pods/${String(webhookPod['metadata']['name'])}:${String(metrics)}/proxy/metrics`,
    ]);
    assert.match(proxied.stdout, /k8s_ee_/);
    // The negative control: without the chart's NetworkPolicy the same pod reaches the webhook port.
    const policy = (
      await cluster.kubectl(['get', 'networkpolicy', PLATFORM_RELEASE, '-n', PLATFORM_NAMESPACE, '-o', 'json'])
    ).stdout;
    await cluster.kubectl(['delete', 'networkpolicy', PLATFORM_RELEASE, '-n', PLATFORM_NAMESPACE]);
    try {
      let open = false;
      for (let i = 0; i < 20 && !open; i++) open = await connects(OUTSIDE, 'surf-outside', webhook);
      assert.equal(open, true, 'without the NetworkPolicy the webhook port is reachable: the policy is what blocks it');
    } finally {
      const restored = JSON.parse(policy) as Json;
      delete restored['metadata']['resourceVersion'];
      delete restored['metadata']['uid'];
      await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(restored) });
    }
  });
});
