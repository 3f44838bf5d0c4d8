import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PSS_LATEST_KNOWN_VERSION,
  PSS_RULES,
  UPSTREAM_REASONS,
  checkPodSecurity,
  checkRestricted,
  policyMinor,
} from './pss.ts';
import { metadataPathFor } from './pss-pod.ts';
import { formatViolations } from './violation.ts';

type Obj = Record<string, unknown>;

const okContainer = (name: string, extra: Obj = {}): Obj => ({
  name,
  image: 'registry.k8s.io/pause:3.10',
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  ...extra,
});

/** A restricted-compliant pod spec, changed by `tweak`. */
function pod(tweak: (spec: Obj) => void = () => undefined): Obj {
  const spec: Obj = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [okContainer('app')],
  };
  tweak(spec);
  return spec;
}

const sc = (spec: Obj): Obj => spec['securityContext'] as Obj;
const container = (spec: Obj, i = 0, field = 'containers'): Obj => (spec[field] as Obj[])[i]!;
const csc = (spec: Obj, i = 0, field = 'containers'): Obj => container(spec, i, field)['securityContext'] as Obj;

/** [rule, path] of each violation, for a Deployment's template. */
function found(spec: unknown, metadata?: unknown, version?: string): [string, string][] {
  return checkRestricted(spec, metadata, 'spec.template.spec', version).map((v) => [v.rule, v.path]);
}

const P = 'spec.template.spec';

describe('checkRestricted: one table row per control, compliant and not', () => {
  const rows: { name: string; spec: Obj; metadata?: Obj; expect: [string, string][] }[] = [
    { name: 'compliant pod', spec: pod(), expect: [] },
    {
      name: 'hostNetwork, hostPID, hostIPC',
      spec: pod((s) => Object.assign(s, { hostNetwork: true, hostPID: true, hostIPC: true })),
      expect: [
        ['pss:host-namespaces', `${P}.hostNetwork`],
        ['pss:host-namespaces', `${P}.hostPID`],
        ['pss:host-namespaces', `${P}.hostIPC`],
      ],
    },
    {
      name: 'host namespaces false',
      spec: pod((s) => Object.assign(s, { hostNetwork: false, hostPID: false })),
      expect: [],
    },
    {
      name: 'privileged container',
      spec: pod((s) => Object.assign(csc(s), { privileged: true })),
      expect: [['pss:privileged', `${P}.containers[0].securityContext.privileged`]],
    },
    { name: 'privileged false', spec: pod((s) => Object.assign(csc(s), { privileged: false })), expect: [] },
    {
      name: 'hostProcess on pod and container',
      spec: pod((s) => {
        Object.assign(sc(s), { windowsOptions: { hostProcess: true } });
        Object.assign(csc(s), { windowsOptions: { hostProcess: true } });
      }),
      expect: [
        ['pss:host-process', `${P}.securityContext.windowsOptions.hostProcess`],
        ['pss:host-process', `${P}.containers[0].securityContext.windowsOptions.hostProcess`],
      ],
    },
    {
      name: 'hostPath volume',
      spec: pod(
        (s) =>
          (s['volumes'] = [
            { name: 'a', emptyDir: {} },
            { name: 'b', hostPath: { path: '/' } },
          ]),
      ),
      expect: [['pss:host-path-volumes', `${P}.volumes[1].hostPath`]],
    },
    {
      name: 'restricted volume types',
      spec: pod(
        (s) =>
          (s['volumes'] = [
            { name: 'n', nfs: { server: 's', path: '/' } },
            { name: 'g', gitRepo: { repository: 'r' } },
          ]),
      ),
      expect: [
        ['pss:volume-types', `${P}.volumes[0].nfs`],
        ['pss:volume-types', `${P}.volumes[1].gitRepo`],
      ],
    },
    {
      name: 'allowed volume types and a volume with no source (the API defaults it to emptyDir)',
      spec: pod(
        (s) =>
          (s['volumes'] = [
            'configMap',
            'csi',
            'downwardAPI',
            'emptyDir',
            'ephemeral',
            'image',
            'persistentVolumeClaim',
            'projected',
            'secret',
          ]
            .map((type) => ({ name: type.toLowerCase(), [type]: {} }))
            .concat([{ name: 'bare' }])),
      ),
      expect: [],
    },
    {
      name: 'host port (0 is fine)',
      spec: pod(
        (s) =>
          (container(s)['ports'] = [
            { containerPort: 80, hostPort: 0 },
            { containerPort: 81, hostPort: 81 },
          ]),
      ),
      expect: [['pss:host-ports', `${P}.containers[0].ports[1].hostPort`]],
    },
    {
      name: 'hostNetwork makes containerPorts host ports (API defaulting), not for ephemeral containers',
      spec: pod((s) => {
        s['hostNetwork'] = true;
        container(s)['ports'] = [{ containerPort: 8080 }, { containerPort: 9090, hostPort: 9091 }];
        s['ephemeralContainers'] = [okContainer('debug', { ports: [{ containerPort: 7000 }] })];
      }),
      expect: [
        ['pss:host-namespaces', `${P}.hostNetwork`],
        ['pss:host-ports', `${P}.containers[0].ports[0].hostPort`],
        ['pss:host-ports', `${P}.containers[0].ports[1].hostPort`],
      ],
    },
    {
      name: 'probe and lifecycle hosts',
      spec: pod((s) =>
        Object.assign(container(s), {
          livenessProbe: { httpGet: { host: '1.2.3.4', port: 80 } },
          readinessProbe: { tcpSocket: { host: 'db', port: 5432 } },
          startupProbe: { httpGet: { host: '', port: 80 } },
          lifecycle: { postStart: { tcpSocket: { host: 'x', port: 1 } }, preStop: { httpGet: { host: 'y', port: 2 } } },
        }),
      ),
      expect: [
        ['pss:probe-host', `${P}.containers[0].livenessProbe.httpGet.host`],
        ['pss:probe-host', `${P}.containers[0].readinessProbe.tcpSocket.host`],
        ['pss:probe-host', `${P}.containers[0].lifecycle.postStart.tcpSocket.host`],
        ['pss:probe-host', `${P}.containers[0].lifecycle.preStop.httpGet.host`],
      ],
    },
    {
      name: 'AppArmor fields',
      spec: pod((s) => {
        Object.assign(sc(s), { appArmorProfile: { type: 'Unconfined' } });
        Object.assign(csc(s), { appArmorProfile: { type: 'Localhost', localhostProfile: 'p' } });
      }),
      expect: [['pss:apparmor', `${P}.securityContext.appArmorProfile.type`]],
    },
    {
      name: 'AppArmor profile without a type',
      spec: pod((s) => Object.assign(csc(s), { appArmorProfile: {} })),
      expect: [['pss:apparmor', `${P}.containers[0].securityContext.appArmorProfile.type`]],
    },
    {
      name: 'AppArmor annotations',
      spec: pod(),
      metadata: {
        annotations: {
          'container.apparmor.security.beta.kubernetes.io/app': 'unconfined',
          'container.apparmor.security.beta.kubernetes.io/b': 'runtime/default',
          'container.apparmor.security.beta.kubernetes.io/c': 'localhost/x',
          'container.apparmor.security.beta.kubernetes.io/d': '',
        },
      },
      expect: [
        ['pss:apparmor', 'spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]'],
      ],
    },
    {
      name: 'AppArmor: fields first, then the annotations sorted by key (non-strings ignored)',
      spec: pod((s) => Object.assign(csc(s), { appArmorProfile: { type: 'Unconfined' } })),
      metadata: {
        annotations: {
          'container.apparmor.security.beta.kubernetes.io/zeta': 'unconfined',
          'container.apparmor.security.beta.kubernetes.io/n': 42,
          'container.apparmor.security.beta.kubernetes.io/alpha': 'custom',
        },
      },
      expect: [
        ['pss:apparmor', `${P}.containers[0].securityContext.appArmorProfile.type`],
        ['pss:apparmor', 'spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/alpha]'],
        ['pss:apparmor', 'spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/zeta]'],
      ],
    },
    {
      name: 'SELinux type, user, role',
      spec: pod((s) => {
        Object.assign(sc(s), { seLinuxOptions: { type: 'spc_t', level: 's0' } });
        Object.assign(csc(s), { seLinuxOptions: { user: 'u', role: 'r', type: 'container_init_t' } });
      }),
      expect: [
        ['pss:selinux', `${P}.securityContext.seLinuxOptions.type`],
        ['pss:selinux', `${P}.containers[0].securityContext.seLinuxOptions.user`],
        ['pss:selinux', `${P}.containers[0].securityContext.seLinuxOptions.role`],
      ],
    },
    {
      name: 'procMount Unmasked, even in a user namespace',
      spec: pod((s) => {
        s['hostUsers'] = false;
        Object.assign(csc(s), { procMount: 'Unmasked' });
      }),
      expect: [['pss:proc-mount', `${P}.containers[0].securityContext.procMount`]],
    },
    { name: 'procMount Default', spec: pod((s) => Object.assign(csc(s), { procMount: 'Default' })), expect: [] },
    {
      name: 'sysctls outside the safe set',
      spec: pod((s) =>
        Object.assign(sc(s), {
          sysctls: [
            { name: 'net.ipv4.tcp_wmem', value: '1' },
            { name: 'kernel.msgmax', value: '1' },
          ],
        }),
      ),
      expect: [['pss:sysctls', `${P}.securityContext.sysctls[1].name`]],
    },
    {
      name: 'allowPrivilegeEscalation unset and true',
      spec: pod((s) => {
        s['initContainers'] = [okContainer('init')];
        delete csc(s, 0, 'initContainers')['allowPrivilegeEscalation'];
        Object.assign(csc(s), { allowPrivilegeEscalation: true });
      }),
      expect: [
        ['pss:privilege-escalation', `${P}.initContainers[0].securityContext.allowPrivilegeEscalation`],
        ['pss:privilege-escalation', `${P}.containers[0].securityContext.allowPrivilegeEscalation`],
      ],
    },
    {
      name: 'capabilities: no drop ALL, forbidden add',
      spec: pod((s) =>
        Object.assign(csc(s), { capabilities: { drop: ['NET_RAW'], add: ['NET_BIND_SERVICE', 'SYS_TIME'] } }),
      ),
      expect: [
        ['pss:capabilities', `${P}.containers[0].securityContext.capabilities.drop`],
        ['pss:capabilities', `${P}.containers[0].securityContext.capabilities.add`],
      ],
    },
    {
      name: 'capabilities: add NET_BIND_SERVICE',
      spec: pod((s) => Object.assign(csc(s), { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } })),
      expect: [],
    },
    {
      name: 'runAsNonRoot false on pod and container',
      spec: pod((s) => {
        Object.assign(sc(s), { runAsNonRoot: false });
        Object.assign(csc(s), { runAsNonRoot: false });
      }),
      expect: [
        ['pss:run-as-non-root', `${P}.securityContext.runAsNonRoot`],
        ['pss:run-as-non-root', `${P}.containers[0].securityContext.runAsNonRoot`],
      ],
    },
    {
      name: 'runAsNonRoot unset on pod, set by every container',
      spec: pod((s) => {
        delete sc(s)['runAsNonRoot'];
        s['initContainers'] = [okContainer('init')];
        Object.assign(csc(s), { runAsNonRoot: true });
        Object.assign(csc(s, 0, 'initContainers'), { runAsNonRoot: true });
      }),
      expect: [],
    },
    {
      name: 'runAsNonRoot unset on pod, missing on one container',
      spec: pod((s) => {
        delete sc(s)['runAsNonRoot'];
        s['containers'] = [okContainer('a', { securityContext: { ...csc(s), runAsNonRoot: true } }), okContainer('b')];
      }),
      expect: [['pss:run-as-non-root', `${P}.securityContext.runAsNonRoot`]],
    },
    {
      name: 'runAsUser 0 on pod and container',
      spec: pod((s) => {
        Object.assign(sc(s), { runAsUser: 0 });
        Object.assign(csc(s), { runAsUser: 0 });
      }),
      expect: [
        ['pss:run-as-user', `${P}.securityContext.runAsUser`],
        ['pss:run-as-user', `${P}.containers[0].securityContext.runAsUser`],
      ],
    },
    {
      name: 'seccomp unset everywhere',
      spec: pod((s) => delete sc(s)['seccompProfile']),
      expect: [['pss:seccomp', `${P}.securityContext.seccompProfile.type`]],
    },
    {
      name: 'seccomp Unconfined on container under a RuntimeDefault pod',
      spec: pod((s) => Object.assign(csc(s), { seccompProfile: { type: 'Unconfined' } })),
      expect: [['pss:seccomp', `${P}.containers[0].securityContext.seccompProfile.type`]],
    },
    {
      name: 'seccomp Unconfined on pod (containers inherit; one violation)',
      spec: pod((s) => Object.assign(sc(s), { seccompProfile: { type: 'Unconfined' } })),
      expect: [['pss:seccomp', `${P}.securityContext.seccompProfile.type`]],
    },
    {
      name: 'seccomp annotations are not checked at latest',
      spec: pod(),
      metadata: { annotations: { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' } },
      expect: [],
    },
  ];
  for (const row of rows) {
    test(row.name, () => assert.deepEqual(found(row.spec, row.metadata), row.expect));
  }
});

describe('checkRestricted: messages a developer can act on', () => {
  test('each violation names the container, the field and the fix', () => {
    const spec = pod(
      (s) =>
        (s['containers'] = [
          okContainer('app'),
          { name: 'sidecar', image: 'x', securityContext: { privileged: true } },
        ]),
    );
    const [first] = checkRestricted(spec, {}, 'spec.template.spec');
    assert.deepEqual(first, {
      rule: 'pss:privileged',
      path: 'spec.template.spec.containers[1].securityContext.privileged',
      message: 'container "sidecar" runs privileged (privileged: true), which disables almost every isolation',
      fix: 'remove securityContext.privileged (or set it to false)',
    });
  });

  test('the implicit runAsNonRoot and seccomp violations list the containers concerned', () => {
    const spec = { containers: [okContainer('web'), okContainer('worker')], initContainers: [okContainer('migrate')] };
    const text = formatViolations('Deployment shop-pr-1/web', checkRestricted(spec, undefined, 'spec.template.spec'));
    assert.match(text, /neither the pod nor containers "migrate", "web", "worker" set runAsNonRoot: true/);
    assert.match(text, /set securityContext\.seccompProfile\.type: RuntimeDefault at the pod level/);
  });

  test('an unnamed container is named by its path', () => {
    const [v] = checkRestricted(
      pod((s) => (s['containers'] = [{ image: 'x', securityContext: { capabilities: { drop: ['ALL'] } } }])),
      {},
      'spec',
    );
    assert.match(v!.message, /^unnamed container containers\[0\] /);
  });

  test('init and ephemeral containers are named as such, with their own paths', () => {
    const spec = pod((s) => {
      s['initContainers'] = [{ name: 'setup', securityContext: { allowPrivilegeEscalation: false } }];
      s['ephemeralContainers'] = [{ name: 'debug', securityContext: { capabilities: { drop: ['ALL'] } } }];
    });
    const violations = checkRestricted(spec, {}, 'spec');
    assert.deepEqual(
      violations.map((v) => [v.path, v.message.split(' does')[0]]),
      [
        ['spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation', 'ephemeral container "debug"'],
        ['spec.initContainers[0].securityContext.capabilities.drop', 'init container "setup"'],
      ],
    );
  });
});

describe('checkRestricted: Windows pods and user namespaces, as upstream since v1.25 and v1.35', () => {
  const windows = {
    os: { name: 'windows' },
    securityContext: { runAsNonRoot: true },
    containers: [{ name: 'app', image: 'w' }],
  };

  test('a Windows pod is exempt from seccomp, privilege escalation and capabilities', () => {
    assert.deepEqual(found(windows), []);
  });

  test('but not from runAsNonRoot', () => {
    assert.deepEqual(found({ ...windows, securityContext: {} }), [
      ['pss:run-as-non-root', `${P}.securityContext.runAsNonRoot`],
    ]);
  });

  test('before v1.25 the exemption did not exist', () => {
    assert.deepEqual(
      found(windows, undefined, 'v1.24').map(([rule]) => rule),
      ['pss:privilege-escalation', 'pss:capabilities', 'pss:seccomp'],
    );
  });

  test('os.name linux has no exemption', () => {
    assert.equal(found({ ...windows, os: { name: 'linux' } }).length, 3);
  });

  test('hostUsers: false relaxes runAsNonRoot and runAsUser from v1.35 on', () => {
    const userns = pod((s) => {
      s['hostUsers'] = false;
      Object.assign(sc(s), { runAsNonRoot: false, runAsUser: 0 });
    });
    assert.deepEqual(found(userns), []);
    assert.deepEqual(
      found(userns, undefined, 'v1.34').map(([rule]) => rule),
      ['pss:run-as-non-root', 'pss:run-as-user'],
    );
  });
});

describe('checkPodSecurity: versions and levels as upstream', () => {
  test('policy versions parse like upstream (unparsable means latest)', () => {
    assert.equal(policyMinor(undefined), Infinity);
    assert.equal(policyMinor('latest'), Infinity);
    assert.equal(policyMinor('v1.27'), 27);
    assert.equal(policyMinor('v1.0'), 0);
    assert.equal(policyMinor('1.27'), Infinity);
    assert.equal(policyMinor('v2.1'), Infinity);
  });

  test('a version newer than the newest known check evaluates like latest', () => {
    const spec = pod((s) => {
      s['hostUsers'] = false;
      Object.assign(sc(s), { runAsUser: 0 });
      container(s)['livenessProbe'] = { httpGet: { host: 'x', port: 1 } };
    });
    assert.deepEqual(found(spec, undefined, 'v1.99'), found(spec, undefined, 'latest'));
    assert.deepEqual(found(spec, undefined, PSS_LATEST_KNOWN_VERSION), found(spec));
    assert.equal(found(spec).length, 1);
  });

  test('sysctls allowed depend on the version', () => {
    const spec = pod((s) => Object.assign(sc(s), { sysctls: [{ name: 'net.ipv4.tcp_rmem', value: '1' }] }));
    assert.equal(found(spec, undefined, 'v1.31').length, 1);
    assert.equal(found(spec, undefined, 'v1.32').length, 0);
  });

  test('container_engine_t is allowed from v1.31', () => {
    const spec = pod((s) => Object.assign(sc(s), { seLinuxOptions: { type: 'container_engine_t' } }));
    assert.equal(found(spec, undefined, 'v1.30').length, 1);
    assert.equal(found(spec, undefined, 'v1.31').length, 0);
  });

  test('probe hosts are checked from v1.34', () => {
    const spec = pod((s) => (container(s)['livenessProbe'] = { httpGet: { host: 'x', port: 1 } }));
    assert.equal(found(spec, undefined, 'v1.33').length, 0);
    assert.equal(found(spec, undefined, 'v1.34').length, 1);
  });

  test('seccomp annotations are checked before v1.19 only', () => {
    const metadata = { annotations: { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' } };
    const spec = pod((s) => delete sc(s)['seccompProfile']);
    assert.deepEqual(found(spec, metadata, 'v1.18'), [
      ['pss:seccomp', 'spec.template.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]'],
    ]);
  });

  test('baseline allows what only restricted forbids, and checks added capabilities against the default set', () => {
    const spec = {
      containers: [{ name: 'a', securityContext: { capabilities: { add: ['CHOWN', 'NET_ADMIN'] } } }],
      volumes: [{ name: 'n', nfs: {} }],
    };
    assert.deepEqual(
      checkPodSecurity(spec, {}, 'spec', { level: 'baseline' }).map((v) => [v.rule, v.message]),
      [['pss:capabilities', 'container "a" adds "NET_ADMIN", beyond the default capability set']],
    );
  });

  test('baseline in v1.35 allows Unmasked /proc in a user namespace, restricted does not', () => {
    const spec = { hostUsers: false, containers: [{ name: 'a', securityContext: { procMount: 'Unmasked' } }] };
    assert.equal(checkPodSecurity(spec, {}, 'spec', { level: 'baseline' }).length, 0);
    assert.equal(checkPodSecurity(spec, {}, 'spec', { level: 'baseline', version: 'v1.34' }).length, 1);
  });
});

describe('checkRestricted: malformed input never throws', () => {
  const garbage: unknown[] = [
    undefined,
    null,
    42,
    'spec',
    [],
    { containers: 'nope' },
    { containers: [null, 7, 'x', []] },
    { securityContext: 'x', containers: [{ name: 'a', securityContext: [] }] },
    { containers: [{ name: 'a', securityContext: { capabilities: { drop: 'ALL', add: [1, null] } } }] },
    { containers: [{ name: 'a', ports: [null, { hostPort: '80' }], livenessProbe: 'x', lifecycle: { preStop: 3 } }] },
    { volumes: [null, 'x', { name: 1, hostPath: null }], securityContext: { sysctls: [null, { name: 5 }] } },
    { os: 'windows', hostUsers: 'false', hostNetwork: 'true' },
  ];
  for (const spec of garbage) {
    test(`spec ${JSON.stringify(spec)}`, () => {
      assert.doesNotThrow(() => checkRestricted(spec, 'metadata?', ''));
      assert.doesNotThrow(() => checkRestricted(spec, { annotations: 'x' }, 'spec'));
    });
  }

  test('values of the wrong type read as unset', () => {
    const spec = {
      securityContext: { runAsNonRoot: 'true', seccompProfile: 'RuntimeDefault' },
      containers: [
        { name: 'a', securityContext: { allowPrivilegeEscalation: 'false', capabilities: { drop: ['ALL'] } } },
      ],
    };
    assert.deepEqual(
      checkRestricted(spec, {}, 'spec').map((v) => v.rule),
      ['pss:privilege-escalation', 'pss:run-as-non-root', 'pss:seccomp'],
    );
  });

  test('no containers means nothing to hold against the pod level defaults', () => {
    assert.deepEqual(checkRestricted({ containers: [] }, {}, 'spec'), []);
  });

  test('null security contexts read as absent', () => {
    assert.deepEqual(
      checkRestricted({ securityContext: null, containers: [{ name: 'a', securityContext: null }] }, null, 'spec').map(
        (v) => v.rule,
      ),
      ['pss:privilege-escalation', 'pss:capabilities', 'pss:run-as-non-root', 'pss:seccomp'],
    );
  });
});

describe('paths and mappings', () => {
  test('the metadata path follows the spec path', () => {
    assert.equal(metadataPathFor('spec'), 'metadata');
    assert.equal(metadataPathFor(''), 'metadata');
    assert.equal(metadataPathFor('spec.template.spec'), 'spec.template.metadata');
    assert.equal(metadataPathFor('spec.jobTemplate.spec.template.spec'), 'spec.jobTemplate.spec.template.metadata');
    assert.equal(metadataPathFor('items[2].spec'), 'items[2].metadata');
  });

  test('a Pod at the root gets root paths', () => {
    assert.deepEqual(
      checkRestricted(
        pod((s) => (s['hostPID'] = true)),
        {},
        'spec',
      ).map((v) => v.path),
      ['spec.hostPID'],
    );
  });

  test('every upstream reason maps to known rules, and every rule has a reason', () => {
    const mapped = new Set(Object.values(UPSTREAM_REASONS).flat());
    assert.deepEqual(
      [...mapped].filter((r) => !(PSS_RULES as readonly string[]).includes(r)),
      [],
    );
    assert.deepEqual(
      PSS_RULES.filter((r) => !mapped.has(r)),
      [],
    );
  });
});

test('a compliant pod spec: every control answers with the one shared, frozen NONE (nothing allocated)', async () => {
  const baseline = await import('./pss-baseline.ts');
  const restricted = await import('./pss-restricted.ts');
  const { podView } = await import('./pss-pod.ts');
  const { NONE } = await import('./violation.ts');
  // Helpers of the controls, not controls; seccomp annotations are a control of policy versions before v1.19 only.
  const notControls = new Set([
    'refusedCapabilities',
    'hostPathViolation',
    'seccompTypeAllowed',
    'seccompAnnotations_1_0',
  ]);
  const spec = pod((s) => {
    s['initContainers'] = [okContainer('migrate', { securityContext: { ...csc(s), seLinuxOptions: { level: 's0' } } })];
    Object.assign(container(s), {
      ports: [{ containerPort: 8080 }],
      readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
      livenessProbe: { tcpSocket: { port: 8080 } },
      lifecycle: { preStop: { exec: { command: ['sleep', '1'] } } },
    });
    Object.assign(csc(s), { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, runAsUser: 10001 });
    Object.assign(sc(s), {
      sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }],
      appArmorProfile: { type: 'RuntimeDefault' },
    });
    s['volumes'] = [
      { name: 'tmp', emptyDir: {} },
      { name: 'config', configMap: { name: 'app' } },
    ];
  });
  const view = podView(spec, { annotations: { team: 'shop' } }, 'spec.template.spec');
  const controls = Object.entries({ ...baseline, ...restricted }).filter(
    ([name, value]) => typeof value === 'function' && !notControls.has(name),
  ) as [string, (p: typeof view) => unknown][];
  assert.ok(controls.length >= 25, `found ${controls.length} controls`);
  for (const [name, control] of controls) assert.equal(control(view), NONE, `${name} allocated a list for a clean pod`);
  assert.ok(Object.isFrozen(NONE), 'NONE cannot be written into by a caller');
  assert.deepEqual(checkRestricted(spec, {}, 'spec.template.spec'), [], 'and the pod spec is indeed compliant');
});
