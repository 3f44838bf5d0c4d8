// Issue 9 on the built-in cluster: capacity-aware admission and the environment inventory, through the real API
// server, helm and kubectl, as a developer (impersonated: the admin kubeconfig is a platform identity, which the gate
// lets past). The webhooks run as local processes registered by URL; their grants are arbitrated by the capacity
// Lease in this file's own "k8s-ee namespace".
// - With capacity.maxEnvironments 3, the fourth `helm upgrade --install --create-namespace` fails naming the three
//   running environments oldest first; after `helm uninstall` and a sweep it goes through.
// - `k8s-ee envs -o json --now T` lists exactly the managed environments with their ages, expiries and costs.
// - Ten namespaces created at once, two webhook processes: exactly three admitted (count), and, with the maximum
//   unset, exactly as many as fit the nodes' allocatable memory (a Node object of this file's own when the cluster
//   has no node, the real node's allocatable otherwise).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { parseQuantity } from '../lib/quantity.ts';
import { HOURS_PER_MONTH } from '../policies/config.ts';
import { podRequests } from '../webhooks/capacity.ts';
import { deleteNamespaces, getTestCluster, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';
import { projectRoot } from '../local/cluster/paths.ts';

const ID = `cap${Date.now().toString(36).slice(-5)}`;
const SYS = `${ID}-system`;
const DEV_USER = 'dev-capacity@example.com';
const KUBECTL_DEV = [`--as=${DEV_USER}`, '--as-group=system:authenticated'];
const HELM_DEV = ['--kube-as-user', DEV_USER, '--kube-as-group', 'system:authenticated'];
const MAIN = join(projectRoot, 'cli', 'main.ts');
const CHART = join(projectRoot, 'e2e', 'fixtures', 'charts', 'configmap-only');
const MI = 1024n * 1024n * 1000n; // milli-units of 1Mi

const pattern = (project: string) => `^(?<project>${project})-pr-(?<number>[1-9][0-9]*)$`;
const P1 = `${ID}a`;
const P2 = `${ID}b`;
const P3 = `${ID}c`;

const devRbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: e2e-capacity-dev }
rules:
  - apiGroups: ['']
    resources: [namespaces]
    verbs: [get, list, create, update, patch]
  - apiGroups: ['']
    resources: [configmaps, secrets]
    verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: e2e-capacity-dev }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-capacity-dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: ${DEV_USER} }]
`;

let cluster: TestCluster;
let dir: string;
const created: string[] = [];
let fakeNode: string | undefined;
/** Every webhook process this file starts, stopped at the end whatever failed. */
const started: StartedWebhook[] = [];
async function webhookWith(configYaml: string): Promise<StartedWebhook> {
  const webhook = await startWebhook({ cluster, configYaml });
  started.push(webhook);
  return webhook;
}

async function namespacesOf(project: string): Promise<{ name: string; createdAt: string; terminating: boolean }[]> {
  const res = await cluster.kubectl(['get', 'namespaces', '-o', 'json']);
  const list = JSON.parse(res.stdout) as {
    items: { metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string } }[];
  };
  return list.items
    .filter((n) => new RegExp(pattern(project)).test(n.metadata.name))
    .map((n) => ({
      name: n.metadata.name,
      createdAt: n.metadata.creationTimestamp,
      terminating: n.metadata.deletionTimestamp !== undefined,
    }));
}

function install(namespace: string) {
  created.push(namespace);
  return cluster.helm(
    ['upgrade', '--install', namespace, CHART, '-n', namespace, '--create-namespace', '--wait=false', ...HELM_DEV],
    { allowFail: true },
  );
}

function writeConfig(name: string, yaml: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

async function sweepOnce(config: string, at: Date): Promise<void> {
  const res = await runCommand(process.execPath, [
    MAIN,
    'sweeper',
    '--once',
    '--only',
    'namespaces',
    '--output',
    'json',
    '--kubeconfig',
    cluster.kubeconfig,
    '--config',
    config,
    '--now',
    at.toISOString(),
  ]);
  assert.equal(res.code, 0, res.stderr);
}

before(async () => {
  cluster = await getTestCluster();
  dir = mkdtempSync(join(tmpdir(), 'k8s-ee-capacity-'));
  await cluster.kubectl(['create', 'namespace', SYS]);
  await cluster.kubectl(['apply', '-f', '-'], { input: devRbac });
  // The webhooks keep their capacity Lease (and pin slots) in "their own namespace".
  process.env['K8S_EE_NAMESPACE'] = SYS;
});

after(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await deleteNamespaces(cluster, [...new Set(created)]).catch(() => undefined);
  await cluster.kubectl(['delete', 'clusterrole,clusterrolebinding', 'e2e-capacity-dev', '--ignore-not-found'], {
    allowFail: true,
  });
  if (fakeNode) await cluster.kubectl(['delete', 'node', fakeNode, '--ignore-not-found'], { allowFail: true });
  await deleteNamespaces(cluster, [SYS]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('capacity: at most 3 environments, through helm', () => {
  const config = `namespacePattern: '${pattern(P1)}'\ncapacity:\n  maxEnvironments: 3\n`;
  let webhook: StartedWebhook;
  let configFile: string;

  before(async () => {
    configFile = writeConfig('p1', config);
    webhook = await webhookWith(config);
  });
  after(async () => {
    await webhook?.stop();
  });

  test('the fourth install fails naming the three running environments oldest first; after uninstall and sweep it succeeds', async () => {
    for (const n of [1, 2, 3]) {
      const res = await install(`${P1}-pr-${n}`);
      assert.equal(res.code, 0, res.stderr);
      await sleep(1100); // creation times a second apart: "oldest first" is well defined
    }
    const refused = await install(`${P1}-pr-4`);
    assert.notEqual(refused.code, 0, 'the fourth environment must be refused');
    assert.match(refused.stderr, new RegExp(`no room for PR environment ${P1}-pr-4:`));
    assert.match(refused.stderr, /at most 3 PR environments may exist at once \(capacity\.maxEnvironments\) and 3 do/);
    const order = [1, 2, 3].map((n) => refused.stderr.indexOf(`. ${P1}-pr-${n} (age `));
    assert.ok(order.every((i) => i > 0) && order[0]! < order[1]! && order[1]! < order[2]!, refused.stderr);
    assert.match(refused.stderr, new RegExp(`last deploy ${P1}-pr-1 v1 `));
    assert.match(refused.stderr, new RegExp(`helm uninstall ${P1}-pr-1 -n ${P1}-pr-1`));
    assert.deepEqual(
      (await namespacesOf(P1)).map((n) => n.name).sort(),
      [1, 2, 3].map((n) => `${P1}-pr-${n}`),
      'the refused namespace was not created',
    );

    // Uninstall the oldest; the sweeper (which saw it deployed) deletes its namespace once the grace has passed.
    await sweepOnce(configFile, new Date());
    assert.equal((await cluster.helm(['uninstall', `${P1}-pr-1`, '-n', `${P1}-pr-1`])).code, 0);
    await sweepOnce(configFile, new Date());
    await sweepOnce(configFile, new Date(Date.now() + 5 * 60_000));
    assert.ok((await namespacesOf(P1)).find((n) => n.name === `${P1}-pr-1`)?.terminating !== false);
    let res = await install(`${P1}-pr-4`);
    for (let i = 0; res.code !== 0 && i < 20; i += 1) {
      await sleep(250); // the webhook's watch sees the deletion within moments
      res = await install(`${P1}-pr-4`);
    }
    assert.equal(res.code, 0, res.stderr);
  });

  test('k8s-ee envs lists exactly the managed environments with their ages, expiries and costs', async () => {
    await cluster.kubectl(['wait', '--for=delete', `namespace/${P1}-pr-1`, '--timeout=60s'], { allowFail: true });
    await cluster.kubectl(['label', 'namespace', `${P1}-pr-2`, 'preserve=true']);
    const now = new Date(Date.now() + 3 * 3_600_000);
    const res = await runCommand(process.execPath, [
      MAIN,
      'envs',
      '-o',
      'json',
      '--now',
      now.toISOString(),
      '--kubeconfig',
      cluster.kubeconfig,
      '--config',
      configFile,
    ]);
    assert.equal(res.code, 0, res.stderr);
    type Row = {
      namespace: string;
      status: string;
      ageSeconds: number;
      pinned: boolean;
      pinnedUntil: string | null;
      lastDeploy: { release: string; revision: number; at: string } | null;
      expiresAt: string | null;
      expiresReason: string | null;
      quota: { hard: Record<string, string> } | null;
      cost: { perMonth: number; soFar: number; currency: string };
    };
    const rows = (JSON.parse(res.stdout) as { environments: Row[] }).environments;
    const live = (await namespacesOf(P1)).filter((n) => !n.terminating);
    assert.deepEqual(
      rows.map((r) => r.namespace),
      [2, 3, 4].map((n) => `${P1}-pr-${n}`),
      'exactly the environments, oldest first',
    );
    const secrets = JSON.parse(
      (await cluster.kubectl(['get', 'secrets', '-A', '-l', 'owner=helm', '-o', 'json'])).stdout,
    ) as { items: { metadata: { namespace: string; creationTimestamp: string } }[] };
    const nsJson = JSON.parse((await cluster.kubectl(['get', 'namespace', `${P1}-pr-2`, '-o', 'json'])).stdout) as {
      metadata: { annotations: Record<string, string> };
    };
    for (const row of rows) {
      const ns = live.find((n) => n.name === row.namespace)!;
      const ageSeconds = Math.round((now.getTime() - Date.parse(ns.createdAt)) / 1000);
      assert.equal(row.ageSeconds, ageSeconds, row.namespace);
      assert.equal(row.status, 'deployed');
      const deployedAt = new Date(
        secrets.items.find((s) => s.metadata.namespace === row.namespace)!.metadata.creationTimestamp,
      ).toISOString();
      assert.deepEqual(row.lastDeploy, { release: row.namespace, revision: 1, status: 'deployed', at: deployedAt });
      assert.equal(row.expiresReason, 'ttl-expired');
      assert.equal(row.expiresAt, new Date(Date.parse(deployedAt) + 7 * 86_400_000).toISOString());
      assert.deepEqual(
        [row.quota?.hard['requests.cpu'], row.quota?.hard['requests.memory']],
        ['300m', '512Mi'],
        'the quota the reconciler gave it',
      );
      // 0.3 vCPU × US$ 15 + 0.5 GiB × US$ 2.5 a month, charged pro rata since creation.
      assert.ok(Math.abs(row.cost.perMonth - 5.75) < 1e-9, String(row.cost.perMonth));
      // From the exact age (the row's ageSeconds is rounded: half a second of it is ~1e-6 of this cost).
      const ageHours = (now.getTime() - Date.parse(ns.createdAt)) / 3_600_000;
      assert.ok(Math.abs(row.cost.soFar - (5.75 * ageHours) / HOURS_PER_MONTH) < 1e-9, String(row.cost.soFar));
    }
    const pinned = rows.find((r) => r.namespace === `${P1}-pr-2`)!;
    const pinnedAt = Date.parse(nsJson.metadata.annotations['k8s-ee.io/pinned-at'] ?? '');
    assert.equal(pinned.pinned, true);
    assert.equal(pinned.pinnedUntil, new Date(pinnedAt + 48 * 3_600_000).toISOString());
    const table = await runCommand(process.execPath, [
      MAIN,
      'envs',
      '--kubeconfig',
      cluster.kubeconfig,
      '--config',
      configFile,
    ]);
    assert.match(table.stdout, new RegExp(`^${P1}-pr-2 +deployed +`, 'm'));
    assert.match(table.stdout, /^3 environments; estimated 17\.25 USD a month/m);
  });
});

describe('capacity: ten namespaces at once on two webhook processes never overshoot', () => {
  let webhooks: StartedWebhook[] = [];
  after(async () => {
    await Promise.all(webhooks.map((w) => w.stop()));
    webhooks = [];
  });

  async function createTen(project: string): Promise<{ admitted: string[]; refusals: string[] }> {
    const names = Array.from({ length: 10 }, (_, i) => `${project}-pr-${i + 1}`);
    created.push(...names);
    const results = await Promise.all(
      names.map((name) => cluster.kubectl(['create', 'namespace', name, ...KUBECTL_DEV], { allowFail: true })),
    );
    return {
      admitted: names.filter((_, i) => results[i]!.code === 0),
      refusals: results.filter((r) => r.code !== 0).map((r) => r.stderr),
    };
  }

  test('maximum 3: exactly three admitted', async () => {
    const config = `namespacePattern: '${pattern(P2)}'\ncapacity:\n  maxEnvironments: 3\n`;
    webhooks = await Promise.all([webhookWith(config), webhookWith(config)]);
    const { admitted, refusals } = await createTen(P2);
    assert.equal(admitted.length, 3, refusals.join('\n'));
    assert.equal((await namespacesOf(P2)).length, 3);
    for (const r of refusals) assert.match(r, /no room for PR environment|being created at this very moment/);
    await Promise.all(webhooks.map((w) => w.stop()));
    webhooks = [];
  });

  test('maximum unset: exactly as many as fit the allocatable memory at the configured overcommit', async () => {
    // What the nodes give and what other pods request, as the webhook counts it; without a node, a Node of our own.
    const nodes = JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as {
      items: { spec?: { unschedulable?: boolean }; status?: { allocatable?: Record<string, string> } }[];
    };
    if (nodes.items.length === 0) {
      fakeNode = `${ID}-node`;
      await cluster.kubectl(['create', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: fakeNode } }),
      });
      const status = {
        allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
        capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      };
      await cluster.kubectl([
        'patch',
        'node',
        fakeNode,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status }),
      ]);
      nodes.items.push({ status });
    }
    const allocatable = nodes.items
      .filter((n) => n.spec?.unschedulable !== true)
      .reduce((sum, n) => sum + (parseQuantity(n.status?.allocatable?.['memory'] ?? '0') ?? 0n), 0n);
    const pods = JSON.parse(
      (
        await cluster.kubectl([
          'get',
          'pods',
          '-A',
          '--field-selector=status.phase!=Succeeded,status.phase!=Failed',
          '-o',
          'json',
        ])
      ).stdout,
    ) as { items: { metadata: { namespace: string } }[] };
    const others = pods.items
      .filter((p) => !/-pr-[1-9][0-9]*$/.test(p.metadata.namespace))
      .reduce((sum, p) => sum + podRequests(p).memory, 0n);
    const free = allocatable - others;
    // An overcommit that lets 6.5 base quotas (512Mi each) in: six fit, the seventh does not.
    const ratio = Math.ceil((Number(13n * 256n * MI) / Number(free)) * 1000) / 1000;
    const config = [
      `namespacePattern: '${pattern(P3)}'`,
      'capacity:',
      `  overcommit: { cpu: 100, memory: ${ratio} }`,
      '',
    ].join('\n');
    webhooks = await Promise.all([webhookWith(config), webhookWith(config)]);
    const { admitted, refusals } = await createTen(P3);
    assert.equal(admitted.length, 6, `ratio ${ratio}, free ${free / MI}Mi:\n${refusals.join('\n')}`);
    assert.equal((await namespacesOf(P3)).length, 6);
    for (const r of refusals)
      assert.match(
        r,
        /its quota reserves 512Mi of requests\.memory, but (none|only \d+Mi) is free|being created at this very moment/,
      );
  });
});
