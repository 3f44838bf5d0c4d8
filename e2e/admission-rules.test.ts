// What a developer meets through kubectl and helm when a PR namespace's rules are broken: the real API server
// calls the webhook and shows our message, naming the field and the fix. With a node, against k8s-ee installed
// in-cluster from its chart, as users run it (managing only this file's namespaces); without one, against the
// webhook run as a local process.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getTestCluster, type TestCluster } from '../local/harness/cluster.ts';
import { installPlatform, type InstalledPlatform, uninstallPlatform } from '../local/harness/platform.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';

const NS = 'rules-pr-7';
const DEV = ['--as=dev@example.com', '--as-group=system:authenticated'];

const devRbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: e2e-dev }
rules:
  - apiGroups: ['']
    resources: [namespaces]
    verbs: [get, list, create, update, patch]
  - apiGroups: ['', apps, networking.k8s.io]
    resources: [services, ingresses, networkpolicies, configmaps, deployments, pods, resourcequotas]
    verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: e2e-dev }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: dev@example.com }]
`;

function chart(dir: string, templates: Record<string, string>): string {
  const root = join(dir, 'chart');
  mkdirSync(join(root, 'templates'), { recursive: true });
  writeFileSync(join(root, 'Chart.yaml'), 'apiVersion: v2\nname: rules\nversion: 0.1.0\n');
  for (const [name, text] of Object.entries(templates)) writeFileSync(join(root, 'templates', name), text);
  return root;
}

/** The in-cluster install manages only this file's namespaces (other files' webhooks own the rest). */
const IN_CLUSTER_VALUES = { config: { namespacePattern: '^(?<project>rules|pins)-pr-(?<number>[1-9][0-9]*)$' } };

describe('admission rules through kubectl and helm', () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook | undefined;
  let platform: InstalledPlatform | undefined;
  let dir: string;

  before(async () => {
    cluster = await getTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'k8s-ee-rules-'));
    if (cluster.node)
      platform = await installPlatform({
        cluster,
        previewDomain: 'preview.example.com',
        values: IN_CLUSTER_VALUES,
        probeNamespace: 'rules-pr-99',
      });
    else webhook = await startWebhook({ cluster });
    await cluster.kubectl(['apply', '-f', '-'], { input: devRbac });
    await cluster.kubectl(['create', 'namespace', NS]);
  });

  after(async () => {
    await cluster?.kubectl(
      [
        'delete',
        'namespace',
        NS,
        'pins-pr-1',
        'pins-pr-2',
        'pins-pr-3',
        'pins-pr-4',
        '--ignore-not-found',
        '--wait=false',
      ],
      { allowFail: true },
    );
    await cluster?.kubectl(['delete', 'clusterrole,clusterrolebinding', 'e2e-dev', '--ignore-not-found'], {
      allowFail: true,
    });
    await webhook?.stop();
    // Also when the install itself failed half-way: nothing of it may intercept the next files.
    if (cluster?.node) await (platform?.uninstall() ?? uninstallPlatform(cluster));
    rmSync(dir, { recursive: true, force: true });
  });

  test('helm install of a chart with a NodePort and another PR host fails with every problem named', async () => {
    const root = chart(dir, {
      'svc.yaml':
        'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec:\n  type: NodePort\n  selector: { app: web }\n  ports: [{ port: 80 }]\n',
    });
    const res = await cluster.helm(['upgrade', '--install', 'rules', root, '-n', NS, '--wait=false'], {
      allowFail: true,
    });
    assert.notEqual(res.code, 0, res.stdout);
    assert.match(res.stderr, /exposure\.validate\.k8s-ee\.io/);
    assert.match(res.stderr, /spec\.type: type NodePort opens the environment outside the ingress/);
    assert.match(res.stderr, /Fix: use type ClusterIP/);
  });

  test("an Ingress for another PR's host is refused; its own host is admitted", async () => {
    const ingress = (host: string) =>
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: host.split('.')[0], namespace: NS },
        spec: {
          rules: [
            {
              host,
              http: {
                paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }],
              },
            },
          ],
        },
      });
    const hijack = await cluster.kubectl(['create', '-f', '-', ...DEV], {
      input: ingress('shop-pr-1.preview.example.com'),
      allowFail: true,
    });
    assert.notEqual(hijack.code, 0);
    assert.match(
      hijack.stderr,
      /spec\.rules\[0\]\.host: host "shop-pr-1\.preview\.example\.com" does not belong to this PR environment/,
    );
    const own = await cluster.kubectl(['create', '-f', '-', ...DEV], {
      input: ingress(`${NS}.preview.example.com`),
      allowFail: true,
    });
    assert.equal(own.code, 0, own.stderr);
  });

  test('an app NetworkPolicy that opens the namespace is refused; a same-namespace one is admitted', async () => {
    const policy = (name: string, ingress: unknown) =>
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name, namespace: NS },
        spec: { podSelector: {}, ingress },
      });
    const open = await cluster.kubectl(['create', '-f', '-', ...DEV], {
      input: policy('open', [{ from: [{ namespaceSelector: {} }] }]),
      allowFail: true,
    });
    assert.notEqual(open.code, 0);
    assert.match(
      open.stderr,
      /spec\.ingress\[0\]\.from\[0\]\.namespaceSelector: selects namespaces by labels that other PR environments can match/,
    );
    const fine = await cluster.kubectl(['create', '-f', '-', ...DEV], {
      input: policy('same-ns', [{ from: [{ podSelector: {} }] }]),
      allowFail: true,
    });
    assert.equal(fine.code, 0, fine.stderr);
  });

  test('NetworkPolicy refusals say what is too wide and what passes: port 53 to everyone, ingress by address', async () => {
    const create = (name: string, spec: unknown) =>
      cluster.kubectl(['create', '-f', '-', ...DEV], {
        input: JSON.stringify({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name, namespace: NS },
          spec: { podSelector: {}, ...(spec as object) },
        }),
        allowFail: true,
      });
    const dns = await create('dns-anywhere', {
      policyTypes: ['Egress'],
      egress: [{ ports: [{ protocol: 'UDP', port: 53 }] }],
    });
    assert.notEqual(dns.code, 0);
    assert.match(
      dns.stderr,
      /spec\.egress\[0\]\.to: an egress rule without "to" opens port 53 \(UDP\) to every destination, including other PR environments/,
    );
    const rule = /send it to the cluster DNS only: (\{.*?\})(?:\n|$)/.exec(dns.stderr)?.[1];
    assert.ok(rule, dns.stderr);
    // The rule the message shows is admitted as it is.
    const shown = await create('dns-kube-system', { policyTypes: ['Egress'], egress: [JSON.parse(rule)] });
    assert.equal(shown.code, 0, shown.stderr);
    const byAddress = await create('internet-in', {
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }] },
      ],
    });
    assert.notEqual(byAddress.code, 0);
    assert.match(byAddress.stderr, /spec\.ingress\[0\]\.from\[0\]\.ipBlock: admits traffic by address/);
    assert.match(byAddress.stderr, /k8s-ee-allow-ingress-controller already admits/);
  });

  test('downgrading the namespace to privileged is refused; an unrelated label is fine', async () => {
    const downgrade = await cluster.kubectl(
      ['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=privileged', '--overwrite', ...DEV],
      { allowFail: true },
    );
    assert.notEqual(downgrade.code, 0);
    assert.match(
      downgrade.stderr,
      /metadata\.labels\["pod-security\.kubernetes\.io\/enforce"\]: is "privileged", but every PR namespace must carry/,
    );
    const removal = await cluster.kubectl(['label', 'namespace', NS, 'k8s-ee.io/managed-', ...DEV], {
      allowFail: true,
    });
    assert.notEqual(removal.code, 0);
    assert.match(removal.stderr, /was removed/);
    const team = await cluster.kubectl(['label', 'namespace', NS, 'team=payments', ...DEV], { allowFail: true });
    assert.equal(team.code, 0, team.stderr);
    const labels = JSON.parse(
      (await cluster.kubectl(['get', 'namespace', NS, '-o', 'jsonpath={.metadata.labels}'])).stdout,
    ) as Record<string, string>;
    assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('a fourth pin is refused and names the three pinned environments; pinned-at is stamped', async () => {
    for (const n of [1, 2, 3]) {
      const res = await cluster.kubectl(['create', 'namespace', `pins-pr-${n}`, ...DEV], { allowFail: true });
      assert.equal(res.code, 0, res.stderr);
      const pin = await cluster.kubectl(['label', 'namespace', `pins-pr-${n}`, 'preserve=true', ...DEV], {
        allowFail: true,
      });
      assert.equal(pin.code, 0, pin.stderr);
    }
    const stamped = (
      await cluster.kubectl([
        'get',
        'namespace',
        'pins-pr-1',
        '-o',
        'jsonpath={.metadata.annotations.k8s-ee\\.io/pinned-at}',
      ])
    ).stdout;
    assert.ok(!Number.isNaN(Date.parse(stamped)), `pinned-at: ${stamped}`);
    await cluster.kubectl(['create', 'namespace', 'pins-pr-4', ...DEV]);
    const fourth = await cluster.kubectl(['label', 'namespace', 'pins-pr-4', 'preserve=true', ...DEV], {
      allowFail: true,
    });
    assert.notEqual(fourth.code, 0);
    assert.match(fourth.stderr, /at most 3 PR environments may be pinned at once; pinned now: .*pins-pr-1/);
  });
});
