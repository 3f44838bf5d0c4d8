import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { quotaHard } from './baseline.ts';
import { defaultConfig, type Config } from './config.ts';
import type { Obj } from './objects.ts';
import { quotaFit, type RenderedObject } from './quota-fit.ts';
import { chartName, valuesKeys } from './quota-hints.ts';

const config = defaultConfig();
const NS = 'shop-pr-42';
const helmLabels = (chart: string, component?: string) => ({
  'helm.sh/chart': chart,
  'app.kubernetes.io/managed-by': 'Helm',
  ...(component ? { 'app.kubernetes.io/component': component } : {}),
});
const res = (cpu: string, memory: string, limitCpu = cpu, limitMemory = memory) => ({
  requests: { cpu, memory },
  limits: { cpu: limitCpu, memory: limitMemory },
});

function deployment(name: string, replicas: number | undefined, resources?: unknown, labels = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      template: { spec: { containers: [{ name: 'c', ...(resources ? { resources } : {}) }] } },
    },
  };
}
function statefulSet(name: string, storage: string, resources: unknown, labels = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels },
    spec: {
      template: { spec: { containers: [{ name: 'db', resources }] } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { resources: { requests: { storage } } } }],
    },
  };
}
const service = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name } });
const environment = (databases: string): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'k8s-ee-environment' },
  data: { databases },
});
const rendered = (objects: Obj[]): RenderedObject[] => objects.map((object, id) => ({ object, original: object, id }));
const fit = (objects: Obj[], cfg: Config = config) => quotaFit(NS, rendered(objects), cfg);

describe('quotaFit: the quota and what the objects use of it', () => {
  test("the quota is the reconciler's: the base plus the databases the environment ConfigMap declares", () => {
    assert.deepEqual(fit([]).hard, quotaHard([], config));
    const withDb = fit([environment('postgresql, redis')]);
    assert.deepEqual(withDb.databases, ['postgresql', 'redis']);
    assert.deepEqual(withDb.hard, quotaHard(['postgresql', 'redis'], config));
  });

  test('replicas x the pod amounts, LimitRange defaults for containers without resources, volumes and counts', () => {
    const result = fit([
      environment('postgresql'),
      deployment('web', 2),
      statefulSet('db', '1Gi', res('100m', '128Mi', '500m', '512Mi')),
      service('web'),
      service('db'),
    ]);
    assert.deepEqual(result.used, {
      'requests.cpu': '200m', // 2 x 50m + 100m
      'requests.memory': '256Mi', // 2 x 64Mi + 128Mi
      'limits.cpu': '900m', // 2 x 200m + 500m
      'limits.memory': '1Gi', // 2 x 256Mi + 512Mi
      'requests.storage': '1Gi',
      pods: '3',
      services: '2',
      persistentvolumeclaims: '1',
    });
    assert.deepEqual(result.problems, []);
    const web = result.usage.find((u) => u.name === 'web' && u.kind === 'Deployment');
    assert.deepEqual(web?.defaulted.sort(), ['limits.cpu', 'limits.memory', 'requests.cpu', 'requests.memory']);
  });

  test('replicas by kind: absent is 1, 0 is 0, Jobs run min(parallelism, completions), a CronJob one Job', () => {
    const job = (spec: Obj): Obj => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: `job-${JSON.stringify(spec).length}` },
      spec: { ...spec, template: { spec: { containers: [{ name: 'c' }] } } },
    });
    const cronJob: Obj = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { jobTemplate: { spec: { parallelism: 2, template: { spec: { containers: [{ name: 'c' }] } } } } },
    };
    const result = fit([
      deployment('one', undefined),
      deployment('none', 0),
      job({ parallelism: 3, completions: 2 }),
      job({}),
      cronJob,
    ]);
    assert.deepEqual(
      result.usage.map((u) => [u.kind, u.replicas]),
      [
        ['Deployment', 1],
        ['Deployment', 0],
        ['Job', 2],
        ['Job', 1],
        ['CronJob', 2],
      ],
    );
    assert.equal(result.used['pods'], '6');
  });

  test('helm test hooks are not part of the install', () => {
    const testPod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-test-connection', annotations: { 'helm.sh/hook': 'test' } },
      spec: { containers: [{ name: 'wget' }] },
    };
    assert.equal(fit([testPod]).used['pods'], '0');
  });

  test('a bare Pod meets the LimitRange before the mutation: its resources are read as written', () => {
    const written: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{}] } };
    const mutated: Obj = {
      ...written,
      spec: { containers: [{ resources: { requests: { cpu: '5' }, limits: { cpu: '5' } } }] },
    };
    const result = quotaFit(NS, [{ object: mutated, original: written, id: 0 }], config);
    assert.equal(result.used['requests.cpu'], '50m');
  });

  test('generic ephemeral volumes are PVCs of every replica', () => {
    const d = deployment('cache', 2);
    const spec = ((d['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
    spec['volumes'] = [
      {
        name: 'scratch',
        ephemeral: { volumeClaimTemplate: { spec: { resources: { requests: { storage: '1Gi' } } } } },
      },
    ];
    const result = fit([d]);
    assert.equal(result.used['persistentvolumeclaims'], '2');
    assert.equal(result.problems[0]?.rule, 'quota:requests.storage');
  });

  test("when the quota counts ConfigMaps and Secrets, the namespace's own ones count too", () => {
    const cfg = structuredClone(config);
    cfg.quota.base.configMaps = 1;
    cfg.quota.base.secrets = 5;
    const result = fit([environment('')], cfg);
    assert.equal(result.used['configmaps'], '2'); // the environment and kube-root-ca.crt
    assert.equal(result.used['secrets'], '1'); // the Helm release record
    assert.equal(result.problems[0]?.rule, 'quota:configmaps');
    assert.match(result.problems[0]?.message ?? '', /ConfigMap\/kube-root-ca\.crt/);
  });
});

describe('quotaFit: one problem per exceeded resource, naming the biggest users and the fix', () => {
  test('the app chart: values keys of the app and of its databases', () => {
    const result = fit([
      environment('mongodb'),
      deployment('shop', 6, res('50m', '64Mi', '300m', '256Mi'), helmLabels('k8s-ee-app-0.1.0')),
      statefulSet(
        'shop-mongodb',
        '1Gi',
        res('50m', '256Mi', '500m', '768Mi'),
        helmLabels('k8s-ee-app-0.1.0', 'mongodb'),
      ),
    ]);
    assert.deepEqual(
      result.problems.map((p) => [p.rule, p.path]),
      [
        ['quota:limits.cpu', 'spec.hard[limits.cpu]'],
        ['quota:limits.memory', 'spec.hard[limits.memory]'],
      ],
    );
    const cpu = result.problems[0]!;
    assert.match(cpu.message, /need 2300m of limits.cpu, the quota \(base \+ mongodb\) allows 1500m/);
    assert.match(cpu.message, /most: Deployment\/shop 6 x 300m = 1800m, StatefulSet\/shop-mongodb 500m/);
    assert.match(
      cpu.fix,
      /^free at least 800m: Deployment\/shop: lower limits.cpu \(values: resources.limits.cpu\), or fewer replicas \(values: replicas\)/,
    );
    assert.match(
      cpu.fix,
      /StatefulSet\/shop-mongodb: lower limits.cpu \(values: databases.mongodb.resources.limits.cpu\), or drop it if this PR does not need it \(databases.mongodb.enabled=false\)/,
    );
    assert.match(cpu.fix, /raise the quota/);
  });

  test('another Helm chart gets the helm create convention, said as such; plain objects get the field', () => {
    const result = fit([
      deployment('podinfo', 3, res('100m', '64Mi'), helmLabels('podinfo-6.7.0')),
      deployment('plain', 1, res('100m', '64Mi')),
    ]);
    const cpu = result.problems.find((p) => p.rule === 'quota:requests.cpu');
    assert.ok(cpu, JSON.stringify(result.problems));
    assert.match(
      cpu.fix,
      /Deployment\/podinfo: lower requests.cpu \(values: resources.requests.cpu\), or fewer replicas \(values: replicaCount\)/,
    );
    assert.match(cpu.fix, /Deployment\/plain: lower requests.cpu of its containers/);
    assert.match(cpu.fix, /values keys of podinfo by the helm create convention/);
  });

  test('limits that come from the LimitRange default say so', () => {
    const result = fit([deployment('web', 5)]);
    const memory = result.problems.find((p) => p.rule === 'quota:limits.memory');
    assert.match(memory?.fix ?? '', /its containers declare no limits.memory, so they get the default/);
  });

  test('object counts: services over the base', () => {
    const result = fit([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => service(`s${i}`)));
    assert.deepEqual(
      result.problems.map((p) => p.rule),
      ['quota:services'],
    );
    assert.match(result.problems[0]!.message, /need 9 of services, the quota \(base, no databases declared\) allows 8/);
  });

  test('LimitRange refusals are given per object id', () => {
    const result = fit([deployment('ok', 1), deployment('huge', 1, res('2', '64Mi'))]);
    assert.deepEqual([...result.limitViolations.keys()], [1]);
    assert.equal(result.limitViolations.get(1)?.[0]?.path, 'spec.template.spec.containers[0].resources.limits.cpu');
  });
});

test('chartName and valuesKeys', () => {
  assert.equal(chartName('k8s-ee-app-0.1.0'), 'k8s-ee-app');
  assert.equal(chartName('nginx-v1.2.3-rc.1'), 'nginx');
  assert.equal(chartName('weird'), 'weird');
  assert.equal(valuesKeys({ app: 'x' }), undefined);
  assert.equal(valuesKeys({ 'app.kubernetes.io/managed-by': 'Helm' })?.chart, 'the chart');
});
