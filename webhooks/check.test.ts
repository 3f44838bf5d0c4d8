import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { defaultConfig } from '../policies/config.ts';
import { checkManifests } from './check.ts';

const options = { namespace: 'shop-pr-42', config: defaultConfig(), now: new Date('2026-11-25T12:00:00Z') };

const goodDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: nginxinc/nginx-unprivileged:1.27
`;

const badManifests = `${goodDeployment}---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  ports: [{ port: 80 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  rules:
    - host: shop-pr-41.preview.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] }
---
apiVersion: v1
kind: Pod
metadata: { name: debug }
spec:
  hostNetwork: true
  containers:
    - name: c
      image: busybox
      securityContext: { privileged: true, runAsUser: 0 }
---
just a string
---
kind: ConfigMap
metadata: { name: x }
---
`;

test('a compliant deployment passes once the mutations are applied, as in the cluster', async () => {
  const result = await checkManifests(goodDeployment, options);
  assert.equal(result.problems, 0);
  assert.deepEqual(
    result.objects.map((o) => [o.kind, o.name, o.managed]),
    [['Deployment', 'web', true]],
  );
});

test('every problem is found, with object, document, line and field path', async () => {
  const result = await checkManifests(badManifests, options);
  const byObject = Object.fromEntries(result.objects.map((o) => [`${o.kind}/${o.name}#${o.document}`, o]));
  assert.deepEqual(
    byObject['Service/web#2']?.violations.map((v) => v.path),
    ['spec.type'],
  );
  assert.equal(byObject['Service/web#2']?.line, 14);
  assert.deepEqual(
    byObject['Ingress/web#3']?.violations.map((v) => v.path),
    ['spec.rules[0].host'],
  );
  const pod = byObject['Pod/debug#4']?.violations.map((v) => v.path) ?? [];
  assert.ok(pod.includes('spec.hostNetwork'), pod.join());
  assert.ok(pod.includes('spec.containers[0].securityContext.privileged'), pod.join());
  assert.ok(pod.includes('spec.containers[0].securityContext.runAsUser'), pod.join());
  const notObjects = result.objects.filter((o) => o.error);
  assert.deepEqual(
    notObjects.map((o) => [o.document, o.error?.replace(/:.*/, '')]),
    [
      [5, 'not a Kubernetes object'],
      [6, 'not a Kubernetes object'],
    ],
  );
  assert.match(notObjects[1]?.error ?? '', /apiVersion is missing/);
});

test('invalid YAML is reported by its position and the rest is still checked', async () => {
  const result = await checkManifests(
    `${goodDeployment}---\nkind: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n`,
    options,
  );
  assert.equal(result.objects[1]?.document, 2);
  assert.match(result.objects[1]?.error ?? '', /not valid YAML/);
  assert.equal(result.objects[2]?.violations[0]?.path, 'spec.type');
});

test('objects without a namespace are reported when no -n is given', async () => {
  const result = await checkManifests(goodDeployment, { config: defaultConfig(), now: new Date() });
  assert.match(result.objects[0]?.error ?? '', /has no namespace: pass -n NAMESPACE/);
});

test('the CLI prints each violation with its fix and exits 1; a clean input exits 0', () => {
  const cli = (input: string, args: string[]) =>
    spawnSync(process.execPath, ['cli/main.ts', 'check', ...args, '-'], { input, encoding: 'utf8' });
  const bad = cli(badManifests, ['-n', 'shop-pr-42']);
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stdout, /✗ Service\/web in shop-pr-42 \(document 2, line 14\): 1 problem/);
  assert.match(bad.stdout, /spec\.type: type NodePort opens the environment outside the ingress \[service-type\]/);
  assert.match(bad.stdout, /fix: use type ClusterIP/);
  assert.match(bad.stdout, /would be refused/);
  const good = cli(goodDeployment, ['-n', 'shop-pr-42']);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  const json = cli(badManifests, ['-n', 'shop-pr-42', '--output', 'json']);
  assert.equal(JSON.parse(json.stdout).problems > 3, true);
  const usage = cli('', ['--output', 'xml']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--output must be text or json/);
});

test('manifests are read as kubectl reads them (YAML 1.1): hostNetwork: yes is true', async () => {
  const pod =
    'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  hostNetwork: yes\n  containers: [{ name: c, image: nginx }]\n';
  const result = await checkManifests(pod, options);
  assert.ok(result.objects[0]?.violations.some((v) => v.path === 'spec.hostNetwork'));
});

test('input without any object is a problem: a failed helm template piped into check does not pass', async () => {
  for (const text of ['', '---\n', '# only a comment\n']) {
    const result = await checkManifests(text, options);
    assert.equal(result.problems, 1, JSON.stringify(text));
    assert.match(result.objects[0]?.error ?? '', /holds no Kubernetes object/);
  }
  const cli = spawnSync(process.execPath, ['cli/main.ts', 'check', '-n', 'shop-pr-42', '-'], {
    input: '',
    encoding: 'utf8',
  });
  assert.equal(cli.status, 1, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /no object to check/);
});

test('the quota: what the objects use of their namespace, and one problem per exceeded resource', async () => {
  const deployment = (replicas: number) =>
    goodDeployment.replace('spec:\n  selector', `spec:\n  replicas: ${replicas}\n  selector`);
  const fits = await checkManifests(deployment(2), options);
  assert.equal(fits.problems, 0);
  assert.deepEqual(fits.quotas[0]?.used['pods'], '2');
  assert.equal(fits.quotas[0]?.hard['limits.memory'], '1Gi');
  const over = await checkManifests(deployment(5), options);
  const quota = over.objects.find((o) => o.kind === 'ResourceQuota');
  assert.deepEqual(
    quota?.violations.map((v) => v.rule),
    ['quota:limits.memory'], // 5 x 200m of limits.cpu is exactly the quota's 1: that fits
  );
  assert.equal(quota?.namespace, 'shop-pr-42');
  assert.equal(quota?.document, 0);
  assert.match(quota?.violations[0]?.message ?? '', /Deployment\/web 5 x 256Mi = 1280Mi/);
  const cli = spawnSync(process.execPath, ['cli/main.ts', 'check', '-n', 'shop-pr-42', '-'], {
    input: deployment(5),
    encoding: 'utf8',
  });
  assert.equal(cli.status, 1);
  assert.match(cli.stdout, /✗ ResourceQuota\/k8s-ee-quota in shop-pr-42 \(the quota k8s-ee gives shop-pr-42: base/);
  assert.match(cli.stdout, /quota of shop-pr-42 \(base\), used\/allowed: requests.cpu 250m\/300m/);
  assert.match(cli.stdout, /0 of 1 objects would be refused, 1 quota exceeded \(1 problem\)/);
});

test('the environment ConfigMap in the input grows the quota, and the LimitRange maximum is checked per container', async () => {
  const environment =
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: k8s-ee-environment }\ndata: { databases: postgresql }\n---\n';
  const big = goodDeployment.replace(
    'image: nginxinc/nginx-unprivileged:1.27',
    'image: nginxinc/nginx-unprivileged:1.27\n          resources: { limits: { cpu: "2", memory: 128Mi } }',
  );
  const result = await checkManifests(environment + big, options);
  assert.deepEqual(result.quotas[0]?.databases, ['postgresql']);
  const web = result.objects.find((o) => o.kind === 'Deployment');
  assert.deepEqual(
    web?.violations.map((v) => [v.rule, v.path]),
    [
      ['limit-range:max', 'spec.template.spec.containers[0].resources.limits.cpu'],
      ['limit-range:max', 'spec.template.spec.containers[0].resources.requests.cpu'],
    ],
  );
});
