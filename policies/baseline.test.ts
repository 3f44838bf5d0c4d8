import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  baselineHash,
  buildBaseline,
  buildBaselineWithHash,
  declaredDatabases,
  extraneous,
  missingOrStale,
  objectMatches,
  parseDeclaredDatabases,
  quotaHard,
  quotaStatusCurrent,
  SPEC_HASH_ANNOTATION,
  validateEnvironmentConfigMap,
} from './baseline.ts';
import { defaultConfig } from './config.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP } from './names.ts';

const config = defaultConfig();

test('buildBaseline: every object of section 2, named by BASELINE_NAMES, labelled as baseline and managed', () => {
  const objects = buildBaseline('shop-pr-42', [], config);
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'ResourceQuota/k8s-ee-quota',
      'LimitRange/k8s-ee-limits',
      'NetworkPolicy/k8s-ee-default-deny',
      'NetworkPolicy/k8s-ee-allow-same-namespace',
      'NetworkPolicy/k8s-ee-allow-dns',
      'NetworkPolicy/k8s-ee-allow-ingress-controller',
      'NetworkPolicy/k8s-ee-allow-monitoring',
      'NetworkPolicy/k8s-ee-allow-internet-egress',
    ],
  );
  assert.deepEqual(new Set(objects.map((o) => o.metadata.name)), new Set(Object.values(BASELINE_NAMES)));
  for (const o of objects) {
    assert.equal(o.metadata.namespace, 'shop-pr-42');
    assert.deepEqual(o.metadata.labels, {
      'app.kubernetes.io/managed-by': 'k8s-ee',
      'k8s-ee.io/baseline': 'true',
      'k8s-ee.io/managed': 'true',
      'k8s-ee.io/project': 'shop',
      'k8s-ee.io/pr': '42',
    });
    assert.match(o.metadata.annotations[SPEC_HASH_ANNOTATION] ?? '', /^[0-9a-f]{20}$/);
  }
});

test('quota: the configured base when no database is declared', () => {
  const [quota] = buildBaseline('shop-pr-1', [], config);
  assert.deepEqual(quota?.spec, {
    hard: {
      'requests.cpu': '300m',
      'requests.memory': '512Mi',
      'limits.cpu': '1',
      'limits.memory': '1Gi',
      'requests.storage': '1Gi',
      pods: '10',
      services: '8',
      persistentvolumeclaims: '6',
    },
  });
});

test('quota: base plus one increment per declared database (postgresql + redis)', () => {
  assert.deepEqual(quotaHard(['postgresql', 'redis'], config), {
    'requests.cpu': '450m', // 300m + 100m + 50m
    'requests.memory': '832Mi', // 512Mi + 256Mi + 64Mi
    'limits.cpu': '2', // 1 + 500m + 500m
    'limits.memory': '1664Mi', // 1Gi + 512Mi + 128Mi
    'requests.storage': '4Gi', // 1Gi + 2Gi + 1Gi
    pods: '14',
    services: '12',
    persistentvolumeclaims: '8',
  });
});

test('quota: a resource the base leaves unlimited stays unlimited; one the base sets grows', () => {
  const custom = defaultConfig();
  custom.quota.base = { requestsCpu: '1', secrets: 10 };
  custom.quota.perDatabase.redis = { requestsCpu: '250m', requestsMemory: '1Gi', secrets: 1 };
  assert.deepEqual(quotaHard(['redis'], custom), { 'requests.cpu': '1250m', secrets: '11' });
});

test('limit range: container default, defaultRequest and max from the config', () => {
  const limits = buildBaseline('shop-pr-1', [], config)[1];
  assert.deepEqual(limits?.spec, {
    limits: [
      {
        type: 'Container',
        default: { cpu: '200m', memory: '256Mi' },
        defaultRequest: { cpu: '50m', memory: '64Mi' },
        max: { cpu: '1', memory: '1Gi' },
      },
    ],
  });
});

test('network policies: deny all, then same namespace, DNS (UDP+TCP), ingress controller, monitoring, internet', () => {
  const spec = (name: string): unknown =>
    buildBaseline('shop-pr-1', [], config).find((o) => o.metadata.name === name)?.spec;
  assert.deepEqual(spec(BASELINE_NAMES.defaultDeny), { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  assert.deepEqual(spec(BASELINE_NAMES.allowSameNamespace), {
    podSelector: {},
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ podSelector: {} }] }],
    egress: [{ to: [{ podSelector: {} }] }],
  });
  assert.deepEqual(spec(BASELINE_NAMES.allowDns), {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
    ],
  });
  assert.deepEqual(spec(BASELINE_NAMES.allowIngressController), {
    podSelector: {},
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'traefik' } },
          },
        ],
      },
    ],
  });
  assert.deepEqual(spec(BASELINE_NAMES.allowMonitoring), {
    podSelector: {},
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: {} },
        ],
      },
    ],
  });
  assert.deepEqual(spec(BASELINE_NAMES.allowInternetEgress), {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [
      {
        to: [
          {
            ipBlock: {
              cidr: '0.0.0.0/0',
              except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'],
            },
          },
        ],
      },
    ],
  });
});

test('network policies: no internet egress policy when disabled; no except list when empty', () => {
  const off = defaultConfig();
  off.networkPolicy.internetEgress.enabled = false;
  assert.equal(
    buildBaseline('shop-pr-1', [], off).some((o) => o.metadata.name === BASELINE_NAMES.allowInternetEgress),
    false,
  );
  const open = defaultConfig();
  open.networkPolicy.internetEgress.exceptCidrs = [];
  const egress = buildBaseline('shop-pr-1', [], open).find(
    (o) => o.metadata.name === BASELINE_NAMES.allowInternetEgress,
  );
  assert.deepEqual(egress?.spec['egress'], [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }]);
});

test('baselineHash: a valid label value, the same across namespaces, different when the content differs', () => {
  const a = baselineHash(buildBaseline('shop-pr-1', ['redis'], config));
  assert.match(a, /^[0-9a-f]{20}$/);
  assert.equal(baselineHash(buildBaseline('web-pr-7', ['redis'], config)), a);
  assert.equal(baselineHash([...buildBaseline('shop-pr-1', ['redis'], config)].reverse()), a);
  assert.notEqual(baselineHash(buildBaseline('shop-pr-1', [], config)), a);
  assert.notEqual(baselineHash(buildBaseline('shop-pr-1', ['redis', 'minio'], config)), a);
  const changed = defaultConfig();
  changed.limitRange.max.cpu = '2';
  assert.notEqual(baselineHash(buildBaseline('shop-pr-1', ['redis'], changed)), a);
});

test('buildBaseline: namespaces on one configuration and set of databases share their specs, built once and frozen', () => {
  const own = defaultConfig();
  const a = buildBaseline('shop-pr-1', ['redis'], own);
  const b = buildBaseline('web-pr-7', ['redis'], own);
  a.forEach((object, i) => {
    assert.equal(object.spec, b[i]?.spec, `${object.kind}/${object.metadata.name}: one spec for both`);
    assert.notEqual(object.metadata, b[i]?.metadata, 'metadata is each namespace own');
    assert.ok(Object.isFrozen(object.spec));
  });
  assert.equal(b[0]?.metadata.namespace, 'web-pr-7');
  assert.equal(b[0]?.metadata.labels['k8s-ee.io/project'], 'web');
  assert.throws(() => {
    (a[0]?.spec['hard'] as Record<string, string>)['requests.cpu'] = '9'; // read-only, nested values too
  }, TypeError);
  assert.equal(buildBaselineWithHash('x-pr-2', ['redis'], own).hash, baselineHash(a));
  // Other databases, or another configuration object: built for them, not taken from the first.
  assert.notEqual(buildBaseline('shop-pr-1', [], own)[0]?.spec, a[0]?.spec);
  const other = defaultConfig();
  other.quota.base.requestsCpu = '500m';
  const hard = buildBaseline('shop-pr-1', [], other)[0]?.spec['hard'] as Record<string, string>;
  assert.equal(hard['requests.cpu'], '500m');
  assert.notEqual(buildBaselineWithHash('shop-pr-1', [], other).hash, buildBaselineWithHash('shop-pr-1', [], own).hash);
});

test('missingOrStale: absent objects and objects whose spec hash differs; extraneous: baseline objects no longer wanted', () => {
  const desired = buildBaseline('shop-pr-1', ['redis'], config);
  const live = buildBaseline('shop-pr-1', [], config).map((o) => ({ kind: o.kind, metadata: o.metadata }));
  live.splice(2, 1); // default-deny deleted
  assert.deepEqual(
    missingOrStale(desired, live).map((o) => o.metadata.name),
    [BASELINE_NAMES.quota, BASELINE_NAMES.defaultDeny],
  );
  assert.deepEqual(missingOrStale(desired, desired), []);

  const noInternet = defaultConfig();
  noInternet.networkPolicy.internetEgress.enabled = false;
  const appPolicy = { kind: 'NetworkPolicy', metadata: { name: 'app-allow-web', labels: { app: 'web' } } };
  const stale = extraneous(buildBaseline('shop-pr-1', [], noInternet), [...desired, appPolicy]);
  assert.deepEqual(
    stale.map((o) => o.metadata?.name),
    [BASELINE_NAMES.allowInternetEgress],
  );
});

test('quotaStatusCurrent: compares amounts, not spellings', () => {
  assert.equal(
    quotaStatusCurrent({ 'requests.memory': '1Gi', pods: '10' }, { 'requests.memory': '1024Mi', pods: '10' }),
    true,
  );
  assert.equal(
    quotaStatusCurrent({ 'requests.memory': '1Gi', pods: '12' }, { 'requests.memory': '1Gi', pods: '10' }),
    false,
  );
  assert.equal(quotaStatusCurrent({ pods: '10' }, { pods: '10', services: '5' }), false);
  assert.equal(quotaStatusCurrent({ pods: '10' }, undefined), false);
});

test('parseDeclaredDatabases: commas and/or whitespace, duplicates once, canonical order, unknown names kept apart', () => {
  const cases: [string | undefined, string[], string[]][] = [
    [undefined, [], []],
    ['', [], []],
    ['postgresql', ['postgresql'], []],
    ['redis, postgresql', ['postgresql', 'redis'], []],
    ['redis\npostgresql redis,,minio', ['postgresql', 'redis', 'minio'], []],
    ['mysql, redis, PostgreSQL, mysql', ['redis'], ['mysql', 'PostgreSQL']],
  ];
  for (const [text, databases, unknown] of cases) {
    assert.deepEqual(parseDeclaredDatabases(text), { databases, unknown }, JSON.stringify(text));
  }
});

const envConfigMap = (data: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: 'shop-pr-1' },
  data,
  ...extra,
});

test('declaredDatabases: read from the environment ConfigMap only', () => {
  assert.deepEqual(declaredDatabases(envConfigMap({ databases: 'postgresql,redis' })), {
    databases: ['postgresql', 'redis'],
    unknown: [],
  });
  assert.deepEqual(
    declaredDatabases({ kind: 'ConfigMap', metadata: { name: 'other' }, data: { databases: 'redis' } }),
    { databases: [], unknown: [] },
  );
  assert.deepEqual(declaredDatabases(undefined), { databases: [], unknown: [] });
});

test('environment ConfigMap kind check: only a ConfigMap (or an object without kind) named k8s-ee-environment declares', () => {
  // A Secret or any other kind of that name is no environment declaration: it neither grows the quota nor is judged.
  for (const kind of ['Secret', 'configmap', 'ConfigMapList', '']) {
    const other = { ...envConfigMap({ databases: 'postgresql,oracle' }), kind };
    assert.deepEqual(declaredDatabases(other), { databases: [], unknown: [] }, kind);
    assert.deepEqual(validateEnvironmentConfigMap(other), [], kind);
  }
  // An object without kind still counts: only a kind that says otherwise rules it out.
  const { kind: _kind, ...kindless } = envConfigMap({ databases: 'postgresql,oracle' });
  assert.deepEqual(declaredDatabases(kindless), { databases: ['postgresql'], unknown: ['oracle'] });
  assert.deepEqual(
    validateEnvironmentConfigMap(kindless).map((v) => v.path),
    ['data.databases'],
  );
});

test('validateEnvironmentConfigMap: unknown names refused with the list of known ones; other objects ignored', () => {
  assert.deepEqual(validateEnvironmentConfigMap(envConfigMap({ databases: 'postgresql redis' })), []);
  assert.deepEqual(validateEnvironmentConfigMap(envConfigMap({})), []);
  assert.deepEqual(
    validateEnvironmentConfigMap({ kind: 'ConfigMap', metadata: { name: 'app' }, data: { databases: 'oracle' } }),
    [],
  );
  assert.deepEqual(validateEnvironmentConfigMap(envConfigMap({ databases: 'postgresql, oracle, cassandra' })), [
    {
      rule: 'environment-databases',
      path: 'data.databases',
      message: 'unknown databases "oracle", "cassandra" in ConfigMap k8s-ee-environment',
      fix: 'use only the known names (lowercase, separated by commas): postgresql, mariadb, mongodb, redis, minio',
    },
  ]);
  const binary = validateEnvironmentConfigMap(envConfigMap({}, { binaryData: { databases: 'cmVkaXM=' } }));
  assert.deepEqual(
    binary.map((v) => v.path),
    ['binaryData.databases'],
  );
});

test('objectMatches: equal amounts match; changed or extra spec fields, lost labels or annotations are drift', () => {
  const [quota, limits, deny] = buildBaseline('shop-pr-1', [], config);
  assert.ok(quota && limits && deny);
  const copy = <T>(o: T): T => structuredClone(o);
  assert.equal(objectMatches(quota, copy(quota)), true);
  const respelled = copy(quota);
  respelled.spec = {
    hard: { ...(quota.spec['hard'] as Record<string, string>), 'requests.memory': '0.5Gi', 'limits.memory': '1024Mi' },
  };
  assert.equal(objectMatches(quota, respelled), true);
  const raised = copy(quota);
  raised.spec = { hard: { ...(quota.spec['hard'] as Record<string, string>), 'requests.cpu': '3' } };
  assert.equal(objectMatches(quota, raised), false);
  const extraRule = copy(deny);
  extraRule.spec['ingress'] = [{}];
  assert.equal(objectMatches(deny, extraRule), false);
  const unlabelled = copy(deny);
  delete unlabelled.metadata.labels['k8s-ee.io/baseline'];
  assert.equal(objectMatches(deny, unlabelled), false);
  const withServerFields = {
    metadata: { ...deny.metadata, uid: 'u', resourceVersion: '9', labels: { ...deny.metadata.labels, extra: 'x' } },
    spec: deny.spec,
  };
  assert.equal(objectMatches(deny, withServerFields), true);
  const limitsRespelled = copy(limits);
  limitsRespelled.spec = {
    limits: [
      {
        type: 'Container',
        default: { cpu: '0.2', memory: '256Mi' },
        defaultRequest: { cpu: '50m', memory: '64Mi' },
        max: { cpu: '1000m', memory: '1Gi' },
      },
    ],
  };
  assert.equal(objectMatches(limits, limitsRespelled), true);
  assert.equal(objectMatches(limits, undefined), false);
});

test('objectMatches: one live spec object judged against other desired objects, of its kind or another', () => {
  const [quota, limits] = buildBaseline('shop-pr-1', [], config);
  const [bigger] = buildBaseline('shop-pr-2', ['postgresql'], config); // a larger quota
  assert.ok(quota && limits && bigger);
  const live = structuredClone(quota); // one object, as the reconciler shares one live spec between namespaces
  assert.equal(objectMatches(quota, live), true);
  assert.equal(objectMatches(quota, live), true, 'the same answer again');
  assert.equal(objectMatches({ ...bigger, metadata: quota.metadata }, live), false, 'another desired spec: drift');
  assert.equal(objectMatches(limits, { metadata: limits.metadata, spec: live.spec }), false, 'another kind');
  assert.equal(objectMatches(quota, live), true);
});
