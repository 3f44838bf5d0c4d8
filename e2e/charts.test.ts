// Both charts installed with real helm on the real control plane. The platform chart's RBAC is proven by running
// k8s-ee's own commands as its ServiceAccount (a real token): `certs ensure` with the chart's own arguments and
// `sweeper --once --dry-run` with the chart's own configuration. The app chart keeps its per-PR credentials
// across upgrades and declares its databases. (Our control plane has no kubelet: pods are created, never run.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot } from '../local/cluster/paths.ts';
import { getTestCluster, runCommand, serviceAccountKubeconfig, type TestCluster } from '../local/harness/cluster.ts';
import { withValuesFile } from '../charts/render.ts';

const NS = 'k8s-ee-charts-e2e';
const RELEASE = 'k8s-ee-e2e';
const APP_NS = 'charts-e2e-app';
const SA = `system:serviceaccount:${NS}:${RELEASE}`;
// Webhooks and the policy only for namespaces nobody else uses: no webhook pod ever runs here.
const PLATFORM_VALUES = {
  config: { namespacePattern: '^(?<project>chartse2e)-pr-(?<number>[1-9][0-9]*)$', previewDomain: 'preview.e2e.test' },
  replicaCount: 1,
};

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const decode = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');

describe('charts on a real API server', () => {
  let cluster: TestCluster;
  let dir = '';
  let saKubeconfig = '';

  const helmInstall = (release: string, chart: string, namespace: string, values: unknown, extra: string[] = []) =>
    withValuesFile(values, (file) =>
      cluster.helm(
        [
          'upgrade',
          '--install',
          release,
          join(projectRoot, 'charts', chart),
          '-n',
          namespace,
          '--create-namespace',
          '-f',
          file,
          ...extra,
        ],
        { allowFail: true },
      ),
    );
  const getJson = async (args: string[]): Promise<Any> =>
    JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as Any;
  const canI = async (args: string[]): Promise<boolean> =>
    (await cluster.kubectl(['auth', 'can-i', ...args, `--as=${SA}`], { allowFail: true })).stdout.trim() === 'yes';
  const asServiceAccount = (args: string[]) =>
    runCommand(process.execPath, [join(projectRoot, 'cli', 'main.ts'), ...args, '--kubeconfig', saKubeconfig], {
      allowFail: true,
    });

  before(async () => {
    cluster = await getTestCluster();
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-charts-e2e-'));
  });

  after(async () => {
    await cluster.helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found'], { allowFail: true });
    await cluster.helm(['uninstall', 'shop', '-n', APP_NS, '--ignore-not-found'], { allowFail: true });
    await cluster.kubectl(['delete', 'namespace', NS, APP_NS, '--wait=false', '--ignore-not-found'], {
      allowFail: true,
    });
    await rm(dir, { recursive: true, force: true });
  });

  test('helm install of the platform chart: webhook configurations, policy and RBAC accepted by the API server', async () => {
    const result = await helmInstall(RELEASE, 'k8s-ee', NS, PLATFORM_VALUES);
    assert.equal(result.code, 0, result.stderr);
    for (const kind of [
      'mutatingwebhookconfiguration',
      'validatingwebhookconfiguration',
      'validatingadmissionpolicy',
      'validatingadmissionpolicybinding',
      'clusterrole',
      'clusterrolebinding',
    ]) {
      await cluster.kubectl([
        'get',
        kind,
        kind.startsWith('validatingadmission') ? `${RELEASE}-baseline-required` : RELEASE,
      ]);
    }
    const deployment = await getJson(['-n', NS, 'get', 'deployment', RELEASE]);
    assert.deepEqual(
      (deployment['spec']['template']['spec']['containers'] as Any[]).map((c) => c['name']),
      ['webhook', 'certs', 'sweeper'],
    );
  });

  test('the ServiceAccount may do what k8s-ee does, and nothing more', async () => {
    const allowed = [
      ['patch', 'namespaces'],
      ['delete', 'namespaces'],
      ['watch', 'namespaces'],
      ['list', 'secrets', '-A'],
      ['watch', 'secrets', '-A'],
      ['patch', 'resourcequotas', '-n', 'shop-pr-1'],
      ['create', 'networkpolicies.networking.k8s.io', '-n', 'shop-pr-1'],
      ['watch', 'configmaps', '-A'],
      ['delete', 'persistentvolumes'],
      ['get', 'nodes', '--subresource=proxy'],
      ['create', 'events', '-n', 'shop-pr-1'],
      ['update', 'leases.coordination.k8s.io', '-n', NS],
      ['create', 'secrets', '-n', NS],
      ['update', `secrets/${RELEASE}-tls`, '-n', NS],
      ['patch', `mutatingwebhookconfigurations/${RELEASE}`],
      ['patch', `validatingwebhookconfigurations/${RELEASE}`],
    ];
    const refused = [
      // Helm release records are listed (metadata only), never read by name; no other Secret is touched.
      ['get', 'secrets', '-n', 'kube-system'],
      ['get', 'secrets/sh.helm.release.v1.shop.v1', '-n', 'shop-pr-1'],
      ['delete', 'secrets', '-n', 'shop-pr-1'],
      ['create', 'secrets', '-n', 'shop-pr-1'],
      ['update', 'secrets/other', '-n', NS],
      ['create', 'pods', '-n', 'shop-pr-1'],
      ['create', 'deployments.apps', '-n', 'shop-pr-1'],
      ['patch', 'mutatingwebhookconfigurations/someone-else'],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-system'],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
      ['create', 'jobs.batch', '-n', NS],
      ['impersonate', 'users'],
      // Nothing it does not use: no pods anywhere, no namespace creation, no RBAC, no node writes.
      ['create', 'pods', '-n', NS],
      ['create', 'namespaces'],
      ['update', 'namespaces'],
      ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'shop-pr-1'],
      ['patch', 'nodes'],
      ['get', 'persistentvolumes'],
      ['patch', 'events', '-n', 'default'],
      ['watch', 'leases.coordination.k8s.io', '-n', NS],
    ];
    for (const args of allowed) assert.equal(await canI(args), true, `can ${args.join(' ')}`);
    for (const args of refused) assert.equal(await canI(args), false, `cannot ${args.join(' ')}`);
  });

  test('as the ServiceAccount, `certs ensure` with the chart’s own arguments issues the certificates and injects the caBundle', async () => {
    saKubeconfig = await serviceAccountKubeconfig(
      cluster,
      { namespace: NS, name: RELEASE },
      join(dir, 'sa.kubeconfig'),
      '10m',
    );
    const deployment = await getJson(['-n', NS, 'get', 'deployment', RELEASE]);
    const init = (deployment['spec']['template']['spec']['initContainers'] as Any[])[0]!;
    const args = (init['args'] as string[]).map((a) =>
      a.startsWith('--cert-dir=') ? `--cert-dir=${join(dir, 'certs')}` : a,
    );
    const result = await asServiceAccount(args);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /injected caBundle into MutatingWebhookConfiguration\/k8s-ee-e2e/);
    assert.match(result.stdout, /injected caBundle into ValidatingWebhookConfiguration\/k8s-ee-e2e/);
    const ca = decode((await getJson(['-n', NS, 'get', 'secret', `${RELEASE}-tls`]))['data']['ca.crt'] as string);
    const validating = await getJson(['get', 'validatingwebhookconfiguration', RELEASE]);
    for (const w of validating['webhooks'] as Any[]) assert.equal(decode(w['clientConfig']['caBundle'] as string), ca);
  });

  test('helm upgrade keeps the injected caBundle (the chart looks it up)', async () => {
    const result = await helmInstall(RELEASE, 'k8s-ee', NS, PLATFORM_VALUES);
    assert.equal(result.code, 0, result.stderr);
    const ca = decode((await getJson(['-n', NS, 'get', 'secret', `${RELEASE}-tls`]))['data']['ca.crt'] as string);
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const config = await getJson(['get', kind, RELEASE]);
      for (const w of config['webhooks'] as Any[])
        assert.equal(decode(w['clientConfig']['caBundle'] as string), ca, `${kind} ${w['name']}`);
    }
  });

  test('as the ServiceAccount, `sweeper --once --dry-run` with the chart’s configuration lists everything it needs', async () => {
    const cm = await getJson(['-n', NS, 'get', 'configmap', `${RELEASE}-config`]);
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, cm['data']['config.yaml'] as string);
    const result = await asServiceAccount([
      'sweeper',
      '--once',
      '--dry-run',
      '--output',
      'json',
      '--config',
      configFile,
      '--lease-namespace',
      NS,
    ]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.doesNotMatch(result.stderr + result.stdout, /forbidden|403/i);
    const report = JSON.parse(result.stdout) as {
      runs: Array<{ kind: string; completed: boolean; success: boolean; errors: string[] }>;
    };
    assert.ok(report.runs.length >= 2, 'namespaces and disk runs');
    for (const run of report.runs) {
      assert.deepEqual([run.completed, run.success, run.errors], [true, true, []], `${run.kind}: every list answered`);
    }
  });

  test('as the ServiceAccount, `k8s-ee webhook` with the chart’s configuration becomes ready (reconciler watches, Lease)', async () => {
    const [port, metricsPort] = [
      20_000 + Math.floor(Math.random() * 10_000),
      30_000 + Math.floor(Math.random() * 10_000),
    ];
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'cli', 'main.ts'),
        'webhook',
        `--port=${port}`,
        '--host=127.0.0.1',
        `--tls-cert=${join(dir, 'certs', 'tls.crt')}`,
        `--tls-key=${join(dir, 'certs', 'tls.key')}`,
        `--tls-ca=${join(dir, 'certs', 'ca.crt')}`,
        `--config=${join(dir, 'config.yaml')}`,
        `--metrics-port=${metricsPort}`,
        '--kubeconfig',
        saKubeconfig,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAMESPACE: NS, POD_NAME: 'charts-e2e' } },
    );
    let logs = '';
    child.stdout.on('data', (c: Buffer) => (logs += c.toString()));
    child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      let status = 0;
      while (status !== 200) {
        assert.ok(Date.now() < deadline, `webhook never became ready as the ServiceAccount:\n${logs}`);
        await sleep(250);
        status = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
      }
      const lease = await getJson(['-n', NS, 'get', 'leases']);
      assert.ok((lease['items'] as Any[]).length > 0, 'the reconciler took its Lease in the release namespace');
    } finally {
      child.kill('SIGTERM');
    }
    await exited;
    assert.doesNotMatch(logs, /forbidden/i, logs);
  });

  test('the app chart keeps per-PR credentials across upgrades and declares its databases', async () => {
    const all = {
      databases: {
        postgresql: { enabled: true },
        mariadb: { enabled: true },
        mongodb: { enabled: true },
        redis: { enabled: true },
        minio: { enabled: true },
      },
    };
    const first = await helmInstall('shop', 'k8s-ee-app', APP_NS, all);
    assert.equal(first.code, 0, first.stderr);
    const passwords = async (): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const db of ['postgresql', 'mariadb', 'mongodb', 'redis', 'minio']) {
        const secret = await getJson(['-n', APP_NS, 'get', 'secret', `shop-${db}`]);
        out[db] = decode(secret['data']['password'] as string);
      }
      return out;
    };
    const before = await passwords();
    for (const p of Object.values(before)) assert.match(p, /^[A-Za-z0-9]{32}$/);
    assert.equal(new Set(Object.values(before)).size, 5, 'one password per database');
    const env = await getJson(['-n', APP_NS, 'get', 'configmap', 'k8s-ee-environment']);
    assert.equal(env['data']['databases'], 'postgresql,mariadb,mongodb,redis,minio');
    const upgraded = await helmInstall('shop', 'k8s-ee-app', APP_NS, all, ['--set-string', 'image.tag=1.27.5-alpine']);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.deepEqual(await passwords(), before, 'passwords survive an upgrade');
    const withoutRedis = await helmInstall('shop', 'k8s-ee-app', APP_NS, {
      databases: { ...all.databases, redis: { enabled: false } },
    });
    assert.equal(withoutRedis.code, 0, withoutRedis.stderr);
    assert.equal(
      (await getJson(['-n', APP_NS, 'get', 'configmap', 'k8s-ee-environment']))['data']['databases'],
      'postgresql,mariadb,mongodb,minio',
    );
    const gone = await cluster.kubectl(['-n', APP_NS, 'get', 'statefulset', 'shop-redis'], { allowFail: true });
    assert.notEqual(gone.code, 0, 'the redis StatefulSet is removed');
  });
});
