// Fail closed on shapes k8s-ee cannot judge (issue 11, class 6): for every kind the webhooks handle, each field the
// rules read is replaced by values of every other JSON type, and the real express app must never answer
// `allowed: true`; a refusal names the field. The well-formed object of each kind is allowed first, so every
// refusal below is the shape's doing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, type Server } from 'node:http';
import request from 'supertest';
import { silentLogger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import { defaultConfig } from '../policies/config.ts';
import { POD_LOCATIONS } from '../policies/pod-templates.ts';
import { mutateHandler, validateHandler } from './handlers.ts';
import { checkManifests } from './check.ts';
import { createApp } from './server.ts';
import type { HandlerContext, Operation } from './types.ts';

const NS = 'shop-pr-1';
const HOST = `${NS}.preview.example.com`;

/** The JSON type a rule expects at a path; every other type is tried there. */
type Expected = 'string' | 'boolean' | 'integer' | 'object' | 'array' | 'map';

const WRONG: Record<string, unknown> = {
  string: 'x',
  number: 7,
  boolean: true,
  object: { a: 'b' },
  array: ['x'],
  null: null,
};

function wrongValues(expected: Expected): [string, unknown][] {
  const fits: Record<Expected, string[]> = {
    string: ['string'],
    boolean: ['boolean'],
    integer: ['number'],
    object: ['object'],
    map: ['object'],
    array: ['array'],
  };
  return Object.entries(WRONG).filter(([type]) => !fits[expected].includes(type));
}

// ---- Well-formed objects of every handled kind, and the paths their rules read ----

const container = (name: string) => ({
  name,
  image: 'registry.example.com/app:1',
  securityContext: {
    allowPrivilegeEscalation: false,
    privileged: false,
    runAsNonRoot: true,
    runAsUser: 1000,
    procMount: 'Default',
    capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    seccompProfile: { type: 'RuntimeDefault' },
    appArmorProfile: { type: 'RuntimeDefault' },
    seLinuxOptions: { level: 's0:c1,c2' },
  },
  ports: [{ containerPort: 8080 }],
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  livenessProbe: { httpGet: { path: '/', port: 8080 } },
  readinessProbe: { tcpSocket: { port: 8080 } },
  lifecycle: { preStop: { httpGet: { path: '/stop', port: 8080 } } },
});

const podSpec = () => ({
  hostNetwork: false,
  hostPID: false,
  hostIPC: false,
  hostUsers: true,
  os: { name: 'linux' },
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 1000,
    runAsGroup: 1000,
    fsGroup: 1000,
    seccompProfile: { type: 'RuntimeDefault' },
    seLinuxOptions: { level: 's0:c1,c2' },
    sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }],
  },
  initContainers: [container('init')],
  containers: [container('app')],
  volumes: [{ name: 'tmp', emptyDir: {} }],
});

const podMetadata = () => ({
  labels: { app: 'web' },
  annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'runtime/default' },
});

/** Paths below a pod spec that the Pod Security and default rules read. */
const POD_SPEC_PATHS: [string, Expected][] = [
  ['', 'object'],
  ['containers', 'array'],
  ['containers/0', 'object'],
  ['containers/0/name', 'string'],
  ['containers/0/securityContext', 'object'],
  ['containers/0/securityContext/privileged', 'boolean'],
  ['containers/0/securityContext/allowPrivilegeEscalation', 'boolean'],
  ['containers/0/securityContext/runAsNonRoot', 'boolean'],
  ['containers/0/securityContext/runAsUser', 'integer'],
  ['containers/0/securityContext/procMount', 'string'],
  ['containers/0/securityContext/capabilities', 'object'],
  ['containers/0/securityContext/capabilities/drop', 'array'],
  ['containers/0/securityContext/capabilities/drop/0', 'string'],
  ['containers/0/securityContext/capabilities/add', 'array'],
  ['containers/0/securityContext/capabilities/add/0', 'string'],
  ['containers/0/securityContext/seccompProfile', 'object'],
  ['containers/0/securityContext/seccompProfile/type', 'string'],
  ['containers/0/securityContext/appArmorProfile/type', 'string'],
  ['containers/0/securityContext/seLinuxOptions', 'object'],
  ['containers/0/securityContext/seLinuxOptions/type', 'string'],
  ['containers/0/securityContext/windowsOptions', 'object'],
  ['containers/0/securityContext/windowsOptions/hostProcess', 'boolean'],
  ['containers/0/ports', 'array'],
  ['containers/0/ports/0', 'object'],
  ['containers/0/ports/0/hostPort', 'integer'],
  ['containers/0/ports/0/containerPort', 'integer'],
  ['containers/0/resources', 'object'],
  ['containers/0/resources/requests', 'map'],
  ['containers/0/resources/limits', 'map'],
  ['containers/0/livenessProbe', 'object'],
  ['containers/0/livenessProbe/httpGet', 'object'],
  ['containers/0/livenessProbe/httpGet/host', 'string'],
  ['containers/0/readinessProbe/tcpSocket', 'object'],
  ['containers/0/startupProbe', 'object'],
  ['containers/0/lifecycle', 'object'],
  ['containers/0/lifecycle/preStop', 'object'],
  ['containers/0/lifecycle/postStart/httpGet/host', 'string'],
  ['initContainers', 'array'],
  ['initContainers/0', 'object'],
  ['initContainers/0/securityContext', 'object'],
  ['initContainers/0/securityContext/privileged', 'boolean'],
  ['ephemeralContainers', 'array'],
  ['hostNetwork', 'boolean'],
  ['hostPID', 'boolean'],
  ['hostIPC', 'boolean'],
  ['hostUsers', 'boolean'],
  ['os', 'object'],
  ['os/name', 'string'],
  ['securityContext', 'object'],
  ['securityContext/runAsNonRoot', 'boolean'],
  ['securityContext/runAsUser', 'integer'],
  ['securityContext/seccompProfile', 'object'],
  ['securityContext/seccompProfile/type', 'string'],
  ['securityContext/seLinuxOptions', 'object'],
  ['securityContext/seLinuxOptions/role', 'string'],
  ['securityContext/appArmorProfile/type', 'string'],
  ['securityContext/windowsOptions/hostProcess', 'boolean'],
  ['securityContext/sysctls', 'array'],
  ['securityContext/sysctls/0', 'object'],
  ['securityContext/sysctls/0/name', 'string'],
  ['volumes', 'array'],
  ['volumes/0', 'object'],
  ['volumes/0/name', 'string'],
  ['volumes/0/emptyDir', 'object'],
  ['volumes/0/hostPath', 'object'],
  ['volumes/0/nfs', 'object'],
  ['resources', 'object'],
];

const POD_METADATA_PATHS: [string, Expected][] = [
  ['labels', 'map'],
  ['labels/app', 'string'],
  ['annotations', 'map'],
  ['annotations/container.apparmor.security.beta.kubernetes.io~1app', 'string'],
];

const API_VERSIONS: Record<string, string> = {
  Pod: 'v1',
  PodTemplate: 'v1',
  ReplicationController: 'v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  Namespace: 'v1',
  ResourceQuota: 'v1',
  LimitRange: 'v1',
  ConfigMap: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  Service: 'v1',
  Ingress: 'networking.k8s.io/v1',
  HTTPRoute: 'gateway.networking.k8s.io/v1',
  GRPCRoute: 'gateway.networking.k8s.io/v1',
};

interface KindCase {
  kind: string;
  object: Record<string, unknown>;
  paths: [string, Expected][];
  /** The mutating webhook handles the kind too. */
  mutates: boolean;
}

type Json = Record<string, unknown>;

function setAt(target: Json, pointer: string, value: unknown): void {
  const keys = pointer
    .split('/')
    .filter((k) => k !== '')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = target;
  keys.forEach((key, i) => {
    const container = node as Record<string, unknown>;
    if (i === keys.length - 1) container[key] = value;
    else {
      container[key] ??= {};
      node = container[key];
    }
  });
}

const MAPS = new Set(['labels', 'annotations', 'matchLabels', 'data', 'binaryData', 'requests', 'limits']);

/** `spec/containers/0/name` -> `spec.containers[0].name`, map keys as `labels["a/b"]`: how messages name fields. */
function fieldPath(pointer: string): string {
  const keys = pointer.split('/').map((k) => k.replace(/~1/g, '/'));
  return keys
    .map((key, i) => {
      if (/^[0-9]+$/.test(key)) return `[${key}]`;
      if (MAPS.has(keys[i - 1] ?? '')) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join('');
}

const join = (prefix: string, path: string) => (path === '' ? prefix : `${prefix}/${path}`);

/**
 * Pod, Deployment and CronJob are tried with every pod path; the other carriers share Deployment's template and
 * get every third path (all of them still get their own outer objects and metadata).
 */
const FULL_POD_PATHS = new Set(['Pod', 'Deployment', 'CronJob']);

function podCarrier(kind: string): KindCase {
  const location = POD_LOCATIONS[kind];
  assert.ok(location);
  const object: Json = { apiVersion: API_VERSIONS[kind], kind, metadata: { name: 'web', namespace: NS } };
  setAt(object, location.spec.join('/'), podSpec());
  setAt(object, location.metadata.join('/'), {
    ...(kind === 'Pod' ? { name: 'web', namespace: NS } : {}),
    ...podMetadata(),
  });
  if (kind !== 'Pod' && kind !== 'PodTemplate' && kind !== 'CronJob')
    setAt(object, 'spec/selector', kind === 'ReplicationController' ? { app: 'web' } : { matchLabels: { app: 'web' } });
  if (kind === 'CronJob') setAt(object, 'spec/schedule', '* * * * *');
  const specPrefix = location.spec.join('/');
  const metadataPrefix = location.metadata.join('/');
  // Every object on the way to the pod spec is read too.
  const outer: [string, Expected][] = location.spec
    .slice(0, -1)
    .map((_, i) => [location.spec.slice(0, i + 1).join('/'), 'object']);
  return {
    kind,
    object,
    mutates: true,
    paths: [
      ...outer,
      ...POD_SPEC_PATHS.filter((_, i) => FULL_POD_PATHS.has(kind) || i % 3 === 0).map(([p, t]): [string, Expected] => [
        join(specPrefix, p),
        t,
      ]),
      [metadataPrefix, 'object'],
      ...POD_METADATA_PATHS.map(([p, t]): [string, Expected] => [join(metadataPrefix, p), t]),
    ],
  };
}

const selectorByName = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

const OTHER_KINDS: KindCase[] = [
  {
    kind: 'Namespace',
    object: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS, labels: { team: 'a' }, annotations: { note: 'x' } },
    },
    mutates: true,
    paths: [
      ['metadata', 'object'],
      ['metadata/labels', 'map'],
      ['metadata/labels/team', 'string'],
      ['metadata/annotations', 'map'],
      ['metadata/annotations/note', 'string'],
    ],
  },
  {
    kind: 'NetworkPolicy',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'app', namespace: NS },
      spec: {
        podSelector: {},
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { app: 'web' } } },
              {
                namespaceSelector: selectorByName('kube-system'),
                podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['traefik'] }] },
              },
            ],
          },
        ],
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
          { to: [{ ipBlock: { cidr: '2000::/3' } }] },
        ],
      },
    },
    mutates: false,
    paths: [
      ['spec', 'object'],
      ['spec/podSelector', 'object'],
      ['spec/policyTypes', 'array'],
      ['spec/ingress', 'array'],
      ['spec/ingress/0', 'object'],
      ['spec/ingress/0/from', 'array'],
      ['spec/ingress/0/from/0', 'object'],
      ['spec/ingress/0/from/0/podSelector', 'object'],
      ['spec/ingress/0/from/0/podSelector/matchLabels', 'map'],
      ['spec/ingress/0/from/1/namespaceSelector', 'object'],
      ['spec/ingress/0/from/1/namespaceSelector/matchLabels', 'map'],
      ['spec/ingress/0/from/1/namespaceSelector/matchLabels/kubernetes.io~1metadata.name', 'string'],
      ['spec/ingress/0/from/1/podSelector/matchExpressions', 'array'],
      ['spec/ingress/0/from/1/podSelector/matchExpressions/0', 'object'],
      ['spec/ingress/0/from/1/podSelector/matchExpressions/0/key', 'string'],
      ['spec/ingress/0/from/1/podSelector/matchExpressions/0/operator', 'string'],
      ['spec/ingress/0/from/1/podSelector/matchExpressions/0/values', 'array'],
      ['spec/egress', 'array'],
      ['spec/egress/0', 'object'],
      ['spec/egress/0/to', 'array'],
      ['spec/egress/0/to/0', 'object'],
      ['spec/egress/0/to/0/ipBlock', 'object'],
      ['spec/egress/0/to/0/ipBlock/cidr', 'string'],
      ['spec/egress/0/to/0/ipBlock/except', 'array'],
      ['spec/egress/0/to/0/ipBlock/except/0', 'string'],
      ['spec/egress/1/to/0/ipBlock/cidr', 'string'],
    ],
  },
  {
    kind: 'Service',
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { type: 'ClusterIP', ports: [{ port: 80 }], externalIPs: [] },
    },
    mutates: false,
    paths: [
      ['spec', 'object'],
      ['spec/type', 'string'],
      ['spec/externalIPs', 'array'],
      ['spec/externalIPs/0', 'string'],
      ['spec/externalName', 'string'],
    ],
  },
  {
    kind: 'Service',
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: NS },
      spec: { type: 'ExternalName', externalName: 'db.example.com' },
    },
    mutates: false,
    paths: [
      ['spec/type', 'string'],
      ['spec/externalName', 'string'],
    ],
  },
  {
    kind: 'Ingress',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: NS },
      spec: {
        rules: [
          {
            host: HOST,
            http: {
              paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }],
            },
          },
        ],
        tls: [{ hosts: [HOST], secretName: 'tls' }],
      },
    },
    mutates: false,
    paths: [
      ['spec', 'object'],
      ['spec/rules', 'array'],
      ['spec/rules/0', 'object'],
      ['spec/rules/0/host', 'string'],
      ['spec/tls', 'array'],
      ['spec/tls/0', 'object'],
      ['spec/tls/0/hosts', 'array'],
      ['spec/tls/0/hosts/0', 'string'],
      ['spec/defaultBackend', 'object'],
    ],
  },
  ...['HTTPRoute', 'GRPCRoute'].map((kind): KindCase => ({
    kind,
    object: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind,
      metadata: { name: 'web', namespace: NS },
      spec: { parentRefs: [{ name: 'gw' }], hostnames: [HOST] },
    },
    mutates: false,
    paths: [
      ['spec', 'object'],
      ['spec/hostnames', 'array'],
      ['spec/hostnames/0', 'string'],
    ],
  })),
  {
    kind: 'ConfigMap',
    object: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'k8s-ee-environment', namespace: NS },
      data: { databases: 'postgresql,redis' },
    },
    mutates: false,
    paths: [
      ['metadata', 'object'],
      ['data', 'map'],
      ['data/databases', 'string'],
      ['binaryData', 'map'],
      ['binaryData/databases', 'string'],
    ],
  },
  ...['ResourceQuota', 'LimitRange'].map((kind): KindCase => ({
    kind,
    object: { apiVersion: 'v1', kind, metadata: { name: 'mine', namespace: NS }, spec: {} },
    mutates: false,
    paths: [['metadata', 'object']],
  })),
];

const CASES: KindCase[] = [...Object.keys(POD_LOCATIONS).map(podCarrier), ...OTHER_KINDS];

// ---- The real app, one server for all requests ----

function review(kind: string, operation: Operation, object: unknown, extra: Json = {}): Json {
  const [group, version] = (API_VERSIONS[kind] ?? 'v1').includes('/')
    ? (API_VERSIONS[kind] ?? '').split('/')
    : ['', API_VERSIONS[kind] ?? 'v1'];
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `shape-${Math.random().toString(36).slice(2)}`,
      kind: { group, version, kind },
      name: kind === 'Namespace' ? NS : 'web',
      namespace: NS,
      operation,
      userInfo: { username: 'dev@example.com', groups: ['system:authenticated'] },
      ...(object === undefined ? {} : { object }),
      ...extra,
    },
  };
}

describe('fail closed on shapes k8s-ee cannot judge', () => {
  let server: Server;
  const agent = new Agent({ keepAlive: true });
  before(() => {
    const context: HandlerContext = {
      config: defaultConfig(),
      log: silentLogger(),
      now: () => new Date('2026-11-25T12:00:00Z'),
    };
    const routes = [
      { path: '/mutate', name: 'mutate', handler: mutateHandler },
      { path: '/validate', name: 'validate', handler: validateHandler },
    ];
    server = createServer(
      createApp({
        routes,
        context,
        registry: createRegistry(),
        maxBodyBytes: 1 << 20,
        ready: () => true,
      }),
    ).listen(0);
  });
  after(() => {
    agent.destroy();
    server.close();
  });

  async function answer(route: '/mutate' | '/validate', body: Json) {
    const res = await request(server).post(route).agent(agent).send(body);
    return res.body.response as { allowed: boolean; status?: { message: string } };
  }

  const routesOf = (c: KindCase) => (c.mutates ? (['/validate', '/mutate'] as const) : (['/validate'] as const));
  const named = (c: KindCase) => ({
    ...c.object,
    metadata: { ...(c.object['metadata'] as Json), name: c.kind === 'Namespace' ? NS : 'web' },
  });

  test('the well-formed object of every handled kind is allowed (so each refusal below is the shape)', async () => {
    for (const c of CASES)
      for (const route of routesOf(c)) {
        const res = await answer(route, review(c.kind, 'CREATE', named(c)));
        assert.equal(res.allowed, true, `${c.kind} ${route}: ${res.status?.message}`);
      }
  });

  test('every field the rules read, in every other JSON type, is refused and named', async (t) => {
    let reviews = 0;
    for (const c of CASES) {
      for (const [path, expected] of c.paths) {
        for (const [type, value] of wrongValues(expected)) {
          const object = structuredClone(named(c));
          setAt(object, path, value);
          for (const route of routesOf(c)) {
            const res = await answer(route, review(c.kind, 'CREATE', object));
            reviews += 1;
            assert.equal(res.allowed, false, `${c.kind} ${path} as ${type} via ${route} was allowed`);
            const field = fieldPath(path);
            assert.ok(res.status?.message.includes(`${field}`), `${c.kind} ${path} as ${type}: ${res.status?.message}`);
          }
        }
      }
    }
    assert.ok(reviews > 1000, `${reviews} malformed reviews`);
    t.diagnostic(`${reviews} malformed reviews of ${new Set(CASES.map((c) => c.kind)).size} kinds, none allowed`);
  });

  test('an object (or old object) that is not an object at all, or calls itself another kind, is refused', async () => {
    let reviews = 0;
    for (const c of CASES) {
      const variants: [string, unknown, Json][] = [
        ...Object.entries(WRONG)
          .filter(([type]) => type !== 'object')
          .flatMap(([type, value]): [string, unknown, Json][] => [
            [`object ${type}`, value, {}],
            [`oldObject ${type} on UPDATE`, named(c), { operation: 'UPDATE', oldObject: value }],
          ]),
        ['no object on CREATE', undefined, {}],
        ['no old object on UPDATE', named(c), { operation: 'UPDATE' }],
        ['another kind', { ...named(c), kind: c.kind === 'ConfigMap' ? 'Secret' : 'ConfigMap' }, {}],
        ['another apiVersion', { ...named(c), apiVersion: 'example.com/v1' }, {}],
        ['another name', { ...named(c), metadata: { ...(named(c)['metadata'] as Json), name: 'other' } }, {}],
      ];
      for (const [label, object, extra] of variants) {
        const operation = (extra['operation'] as Operation | undefined) ?? 'CREATE';
        for (const route of routesOf(c)) {
          const body = review(c.kind, operation, object, extra);
          const res = await answer(route, body);
          reviews += 1;
          assert.equal(res.allowed, false, `${c.kind} ${label} via ${route} was allowed`);
          assert.match(res.status?.message ?? '', /\[shape\]/, `${c.kind} ${label}: ${res.status?.message}`);
        }
      }
    }
    assert.ok(reviews > 200, `${reviews} malformed reviews`);
  });

  test('a DELETE of a kind guarded by name, without a name, is refused', async () => {
    for (const kind of ['ResourceQuota', 'LimitRange', 'NetworkPolicy']) {
      const body = review(kind, 'DELETE', undefined);
      delete (body['request'] as Json)['name'];
      const res = await answer('/validate', body);
      assert.equal(res.allowed, false, kind);
      assert.match(res.status?.message ?? '', /metadata\.name: is unknown/);
    }
  });

  test('request fields that say what is judged must be strings', async () => {
    const c = CASES[0];
    assert.ok(c);
    for (const [key, value] of [
      ['namespace', 7],
      ['name', ['web']],
      ['subResource', {}],
      ['dryRun', 'yes'],
    ] as const) {
      const body = review(c.kind, 'CREATE', named(c), { [key]: value });
      const res: { status: number; body: { response: { allowed: boolean; status: { message: string } } } } =
        await request(server).post('/validate').send(body);
      assert.equal(res.status, 400, key);
      assert.equal(res.body.response.allowed, false);
      assert.match(res.body.response.status.message, new RegExp(`request\\.${key} must be`));
    }
  });
});

test('k8s-ee check reads null as unset, as the API server does, and still refuses wrong types', async () => {
  const manifest = (resources: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${NS}
  annotations:
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext:
      containers:
        - name: web
          image: nginx
          resources: ${resources}
`;
  const options = { config: defaultConfig(), now: new Date('2026-11-25T12:00:00Z') };
  const fine = await checkManifests(manifest(''), options);
  assert.deepEqual(
    fine.objects.filter((o) => o.kind === 'Deployment').map((o) => o.violations),
    [[]],
  );
  const wrong = await checkManifests(manifest('"256Mi"'), options);
  const paths = wrong.objects.flatMap((o) => o.violations.map((v) => `${v.rule} ${v.path}`));
  assert.deepEqual(paths, ['shape spec.template.spec.containers[0].resources']);
});
