import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCorpus, rulesOf } from '../e2e/pss-corpus.ts';
import { defaultConfig, type Config } from './config.ts';
import { applyPodDefaults, applyPodSpecDefaults, applyPrLabels, KEEP_IMAGE_USER } from './pod-defaults.ts';
import { podTemplatesOf, withPodTemplates } from './pod-templates.ts';
import { checkRestricted } from './pss.ts';

type Obj = Record<string, unknown>;
const config = defaultConfig();
const mutation = config.mutation;
const ns = { name: 'shop-pr-42', project: 'shop', number: 42 };

/** A pod spec as developers write it before thinking about security. */
const typical = (): Obj => ({
  initContainers: [{ name: 'migrate', image: 'shop:1', command: ['migrate'] }],
  containers: [
    { name: 'web', image: 'shop:1', ports: [{ containerPort: 8080 }] },
    { name: 'worker', image: 'shop:1', resources: { requests: { cpu: '100m' } } },
  ],
});

describe('applyPodSpecDefaults makes a typical pod pass restricted', () => {
  test('fills exactly the missing fields, and the result passes', () => {
    const spec = typical();
    const changed = applyPodSpecDefaults(spec, mutation);
    assert.deepEqual(changed, [
      'securityContext.runAsNonRoot',
      'securityContext.seccompProfile',
      'initContainers[0].securityContext.allowPrivilegeEscalation',
      'initContainers[0].securityContext.capabilities.drop',
      'containers[0].securityContext.allowPrivilegeEscalation',
      'containers[0].securityContext.capabilities.drop',
      'containers[1].securityContext.allowPrivilegeEscalation',
      'containers[1].securityContext.capabilities.drop',
      'initContainers[0].resources',
      'containers[0].resources',
      'securityContext.runAsUser',
      'securityContext.runAsGroup',
      'securityContext.fsGroup',
    ]);
    assert.deepEqual(spec['securityContext'], {
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
    });
    assert.deepEqual((spec['containers'] as Obj[])[0], {
      name: 'web',
      image: 'shop:1',
      ports: [{ containerPort: 8080 }],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
    assert.deepEqual(checkRestricted(spec, {}, 'spec'), []);
  });

  test('is idempotent', () => {
    const spec = typical();
    applyPodSpecDefaults(spec, mutation);
    const once = structuredClone(spec);
    assert.deepEqual(applyPodSpecDefaults(spec, mutation), []);
    assert.deepEqual(spec, once);
  });

  test('through withPodTemplates, every kind passes and the original stays untouched', () => {
    const objects = [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: typical() },
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: typical() } } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', spec: { template: { metadata: {}, spec: typical() } } },
      { apiVersion: 'batch/v1', kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: typical() } } } } },
    ];
    for (const object of objects) {
      const before = JSON.stringify(object);
      const mutated = withPodTemplates(object, (spec, metadata) => applyPodDefaults(spec, metadata, ns, config));
      assert.equal(JSON.stringify(object), before);
      for (const t of podTemplatesOf(mutated)) {
        assert.deepEqual(checkRestricted(t.spec, t.metadata, t.specPath), [], `${object.kind} passes`);
        assert.deepEqual(t.metadata?.['labels'], { 'k8s-ee.io/project': 'shop', 'k8s-ee.io/pr': '42' });
      }
    }
  });

  test('a NET_BIND_SERVICE add is kept next to drop ALL', () => {
    const spec: Obj = {
      containers: [{ name: 'web', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }],
    };
    applyPodSpecDefaults(spec, mutation);
    assert.deepEqual((spec['containers'] as Obj[])[0]!['securityContext'], {
      capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
      allowPrivilegeEscalation: false,
    });
    assert.deepEqual(checkRestricted(spec, {}, 'spec'), []);
  });
});

describe('applyPodSpecDefaults never overrides an explicit value', () => {
  const rows: { name: string; spec: Obj; remaining: string[] }[] = [
    {
      name: 'privileged: true stays, and allowPrivilegeEscalation is not added next to it (the API would refuse the pair)',
      spec: { containers: [{ name: 'a', securityContext: { privileged: true } }] },
      remaining: ['pss:privilege-escalation', 'pss:privileged'],
    },
    {
      name: 'an added CAP_SYS_ADMIN gets no allowPrivilegeEscalation: false either',
      spec: { containers: [{ name: 'a', securityContext: { capabilities: { add: ['CAP_SYS_ADMIN'] } } }] },
      remaining: ['pss:capabilities', 'pss:privilege-escalation'],
    },
    {
      name: 'allowPrivilegeEscalation: true stays',
      spec: { containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: true } }] },
      remaining: ['pss:privilege-escalation'],
    },
    {
      name: 'an explicit drop list without ALL stays',
      spec: { containers: [{ name: 'a', securityContext: { capabilities: { drop: ['NET_RAW'] } } }] },
      remaining: ['pss:capabilities'],
    },
    {
      name: 'an explicit empty drop list stays',
      spec: { containers: [{ name: 'a', securityContext: { capabilities: { drop: [] } } }] },
      remaining: ['pss:capabilities'],
    },
    {
      name: 'runAsNonRoot: false stays',
      spec: { securityContext: { runAsNonRoot: false }, containers: [{ name: 'a' }] },
      remaining: ['pss:run-as-non-root'],
    },
    {
      name: 'a container runAsNonRoot: false stays under the pod default',
      spec: { containers: [{ name: 'a', securityContext: { runAsNonRoot: false } }] },
      remaining: ['pss:run-as-non-root'],
    },
    {
      name: 'seccomp Unconfined stays',
      spec: { securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [{ name: 'a' }] },
      remaining: ['pss:seccomp'],
    },
    {
      name: 'runAsUser: 0 stays',
      spec: { securityContext: { runAsUser: 0 }, containers: [{ name: 'a' }] },
      remaining: ['pss:run-as-user'],
    },
    {
      name: 'hostNetwork stays',
      spec: { hostNetwork: true, containers: [{ name: 'a' }] },
      remaining: ['pss:host-namespaces'],
    },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const spec = structuredClone(row.spec);
      applyPodSpecDefaults(spec, mutation);
      assert.deepEqual(rulesOf(checkRestricted(spec, {}, 'spec')), row.remaining);
    });
  }

  test('over the whole PSS corpus, defaults only ever remove violations', () => {
    let fixed = 0;
    for (const c of loadCorpus()) {
      const spec = structuredClone(c.pod.spec);
      applyPodSpecDefaults(spec, mutation);
      const after = rulesOf(checkRestricted(spec, c.pod.metadata, 'spec'));
      assert.deepEqual(
        after.filter((r) => !c.rules.includes(r)),
        [],
        `${c.name}: defaults introduced ${after.join(', ')}`,
      );
      if (c.expect === 'deny' && after.length === 0) fixed++;
    }
    assert.ok(fixed >= 10, `defaults fix the cases that only miss fields (fixed ${fixed})`);
  });
});

describe('applyPodSpecDefaults: Windows, resources, users, malformed input', () => {
  test('a Windows pod gets only runAsNonRoot (the API forbids the other fields there)', () => {
    const spec: Obj = {
      os: { name: 'windows' },
      containers: [{ name: 'a', resources: { limits: { memory: '1Gi' } } }],
    };
    const changed = applyPodSpecDefaults(spec, mutation);
    assert.deepEqual(changed, ['securityContext.runAsNonRoot']);
    assert.deepEqual(checkRestricted(spec, {}, 'spec'), []);
  });

  test('resources: declared ones stay; ephemeral containers and pod-level resources get none', () => {
    const spec: Obj = {
      containers: [
        { name: 'limits-only', resources: { limits: { cpu: '1' } } },
        { name: 'empty', resources: {} },
        { name: 'claims', resources: { claims: [{ name: 'gpu' }] } },
      ],
      ephemeralContainers: [{ name: 'debug' }],
    };
    applyPodSpecDefaults(spec, mutation);
    const resources = (spec['containers'] as Obj[]).map((c) => c['resources']);
    assert.deepEqual(resources, [
      { limits: { cpu: '1' } },
      { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      { claims: [{ name: 'gpu' }], requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    ]);
    assert.equal((spec['ephemeralContainers'] as Obj[])[0]!['resources'], undefined);
    const podLevel: Obj = { resources: { limits: { memory: '1Gi' } }, containers: [{ name: 'a' }] };
    applyPodSpecDefaults(podLevel, mutation);
    assert.equal((podLevel['containers'] as Obj[])[0]!['resources'], undefined);
  });

  test('the default resources are copies, not shared with the config', () => {
    const spec: Obj = { containers: [{ name: 'a' }] };
    applyPodSpecDefaults(spec, mutation);
    const requests = ((spec['containers'] as Obj[])[0]!['resources'] as Obj)['requests'] as Obj;
    requests['cpu'] = '9';
    assert.equal(mutation.defaultResources.requests.cpu, '50m');
  });

  const users = (runAsUser: number, runAsGroup: number, fsGroup: number): Config['mutation'] => ({
    ...mutation,
    runAsUser,
    runAsGroup,
    fsGroup,
  });
  const base = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  const userRows: { name: string; spec: Obj; mutation?: Config['mutation']; expect: Obj }[] = [
    {
      name: 'a pod that names no user gets the configured user, group and fsGroup (65532 by default)',
      spec: { containers: [{ name: 'a' }] },
      expect: { ...base, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
    },
    {
      name: 'other configured ids',
      spec: { containers: [{ name: 'a' }] },
      mutation: users(10001, 10002, 10003),
      expect: { ...base, runAsUser: 10001, runAsGroup: 10002, fsGroup: 10003 },
    },
    {
      name: 'runAsNonRoot alone proves nothing without the image: the user is still filled',
      spec: { securityContext: { runAsNonRoot: true }, containers: [{ name: 'a' }] },
      expect: { ...base, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
    },
    {
      name: 'an explicit pod runAsUser keeps the pod as written (no group or fsGroup added either)',
      spec: { securityContext: { runAsUser: 1000 }, containers: [{ name: 'a' }] },
      expect: { runAsUser: 1000, ...base },
    },
    {
      name: 'runAsUser in every container is explicit too',
      spec: {
        initContainers: [{ name: 'i', securityContext: { runAsUser: 7 } }],
        containers: [{ name: 'a', securityContext: { runAsUser: 5 } }],
      },
      expect: base,
    },
    {
      name: 'runAsUser in some containers only: the pod level covers the others',
      spec: {
        initContainers: [{ name: 'i' }],
        containers: [{ name: 'a', securityContext: { runAsUser: 5 } }],
      },
      expect: { ...base, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
    },
    {
      name: 'explicit group and fsGroup stay next to a filled user',
      spec: { securityContext: { runAsGroup: 3000, fsGroup: 0 }, containers: [{ name: 'a' }] },
      expect: { runAsGroup: 3000, fsGroup: 0, ...base, runAsUser: 65532 },
    },
    {
      name: 'runAsUser: 0 in the config turns all three off',
      spec: { containers: [{ name: 'a' }] },
      mutation: users(0, 10002, 10003),
      expect: base,
    },
    {
      name: 'a group or fsGroup of 0 in the config turns that key off',
      spec: { containers: [{ name: 'a' }] },
      mutation: users(10001, 0, 0),
      expect: { ...base, runAsUser: 10001 },
    },
  ];
  for (const row of userRows) {
    test(`user defaults: ${row.name}`, () => {
      const spec = structuredClone(row.spec);
      applyPodSpecDefaults(spec, row.mutation ?? mutation);
      assert.deepEqual(spec['securityContext'], row.expect);
      assert.deepEqual(checkRestricted(spec, {}, 'spec'), []);
    });
  }

  test('user defaults: the keep-image-user annotation opts a workload out; nothing else does', () => {
    const optedOut: Obj = { containers: [{ name: 'a' }] };
    applyPodDefaults(optedOut, { annotations: { [KEEP_IMAGE_USER]: 'true' } }, ns, config);
    assert.deepEqual(optedOut['securityContext'], base);
    const otherValue: Obj = { containers: [{ name: 'a' }] };
    applyPodDefaults(otherValue, { annotations: { [KEEP_IMAGE_USER]: 'yes' } }, ns, config);
    assert.equal((otherValue['securityContext'] as Obj)['runAsUser'], 65532);
    const template = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      spec: { template: { metadata: { annotations: { [KEEP_IMAGE_USER]: 'true' } }, spec: { containers: [{}] } } },
    };
    const mutated = withPodTemplates(template, (s, m) => applyPodDefaults(s, m, ns, config));
    const sc = podTemplatesOf(mutated)[0]?.spec['securityContext'] as Obj;
    assert.equal(sc['runAsUser'], undefined);
  });

  const garbage: unknown[] = [undefined, null, 'spec', 7, [], { containers: 'x' }, { containers: [null, 'x', 3] }];
  for (const spec of garbage) {
    test(`does not throw on ${JSON.stringify(spec)}`, () =>
      assert.doesNotThrow(() => applyPodSpecDefaults(spec, mutation)));
  }

  test('a malformed securityContext or capabilities is left as written', () => {
    const spec: Obj = {
      securityContext: 'x',
      containers: [
        { name: 'a', securityContext: { capabilities: 'ALL' } },
        { name: 'b', securityContext: [] },
      ],
    };
    applyPodSpecDefaults(spec, mutation);
    assert.equal(spec['securityContext'], 'x');
    assert.deepEqual(
      (spec['containers'] as Obj[]).map((c) => c['securityContext']),
      [{ capabilities: 'ALL', allowPrivilegeEscalation: false }, []],
    );
  });

  test('null fields count as unset', () => {
    const spec: Obj = {
      securityContext: null,
      containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: null, capabilities: null } }],
    };
    applyPodSpecDefaults(spec, mutation);
    assert.deepEqual(checkRestricted(spec, {}, 'spec'), []);
  });
});

describe('PR labels', () => {
  test('applyPrLabels sets both labels and keeps the others', () => {
    const metadata: Obj = { labels: { app: 'web', 'k8s-ee.io/pr': '7' } };
    assert.deepEqual(applyPrLabels(metadata, ns), [
      'metadata.labels[k8s-ee.io/project]',
      'metadata.labels[k8s-ee.io/pr]',
    ]);
    assert.deepEqual(metadata['labels'], { app: 'web', 'k8s-ee.io/pr': '42', 'k8s-ee.io/project': 'shop' });
    assert.deepEqual(applyPrLabels(metadata, ns), []);
  });

  test('creates labels when absent, leaves malformed metadata alone', () => {
    const metadata: Obj = {};
    applyPrLabels(metadata, ns);
    assert.deepEqual(metadata, { labels: { 'k8s-ee.io/project': 'shop', 'k8s-ee.io/pr': '42' } });
    const bad: Obj = { labels: 'x' };
    assert.deepEqual(applyPrLabels(bad, ns), []);
    assert.deepEqual(applyPrLabels('metadata', ns), []);
  });

  test('applyPodDefaults labels only in a managed namespace', () => {
    const metadata: Obj = {};
    const changed: string[] = [];
    applyPodDefaults({ containers: [{ name: 'a' }] }, metadata, undefined, config, changed);
    assert.deepEqual(metadata, {});
    assert.ok(changed.length > 0 && changed.every((p) => !p.startsWith('metadata')));
  });
});

describe('copy-on-write: the defaults never write into what they may share with the original', () => {
  // Every pod of the PSS corpus (pod and container security contexts, capabilities, resources, Windows, init and
  // ephemeral containers) as a Pod and as a Deployment's template: the original stays as it was, and the result
  // is exactly that of the same defaults applied in place to a deep copy.
  for (const c of loadCorpus()) {
    test(`${c.file}: ${c.name}`, () => {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: c.pod.metadata ?? {}, spec: c.pod.spec };
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: { template: { metadata: c.pod.metadata, spec: c.pod.spec } },
      };
      for (const object of [pod, deployment]) {
        const before = JSON.stringify(object);
        const mutated = withPodTemplates(object, (spec, metadata) => applyPodDefaults(spec, metadata, ns, config));
        assert.equal(JSON.stringify(object), before, 'the original is unchanged');
        const inPlace = structuredClone(object);
        for (const t of podTemplatesOf(inPlace)) {
          const metadata = t.metadata ?? {};
          // Recording the paths set (as tools do) changes nothing in what is set.
          applyPodDefaults(t.spec, metadata, ns, config, []);
          if (!t.metadata) (inPlace as { spec: { template: Obj } }).spec.template['metadata'] = metadata;
        }
        assert.deepEqual(mutated, inPlace);
      }
    });
  }
});
