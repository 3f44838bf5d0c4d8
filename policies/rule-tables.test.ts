// The tables and small rules other checks stand on: which PSS checks a level runs at a version (and which
// baseline checks restricted replaces), how a policy version is read, which names are managed namespaces, and
// what the baseline guard tells whoever touches a baseline object. Each bug here would silently weaken a check.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateBaselineChange, isBaselineObject } from './baseline-guard.ts';
import { defaultConfig } from './config.ts';
import { celString, matchNamespace } from './namespace.ts';
import { PSS_LATEST_KNOWN_VERSION, PSS_RULES, UPSTREAM_REASONS, checkPodSecurity, policyMinor } from './pss.ts';

const config = defaultConfig();

const okContainer = (extra: Record<string, unknown> = {}) => ({
  name: 'app',
  image: 'registry.k8s.io/pause:3.10',
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, ...extra },
});
const restrictedPod = (podSc: Record<string, unknown>, containerSc: Record<string, unknown> = {}) => ({
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, ...podSc },
  containers: [okContainer(containerSc)],
});
const rulesAt = (spec: unknown, level: 'baseline' | 'restricted', version?: string) =>
  checkPodSecurity(spec, undefined, 'spec', { level, ...(version ? { version } : {}) }).map(
    (v) => `${v.rule} ${v.path}`,
  );

describe('PSS check registry', () => {
  test('restricted replaces the baseline check it tightens: one violation per field, not two', () => {
    assert.deepEqual(rulesAt(restrictedPod({ seccompProfile: { type: 'Unconfined' } }), 'restricted'), [
      'pss:seccomp spec.securityContext.seccompProfile.type',
    ]);
    assert.deepEqual(
      rulesAt(restrictedPod({}, { capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } }), 'restricted'),
      ['pss:capabilities spec.containers[0].securityContext.capabilities.add'],
    );
    assert.deepEqual(rulesAt(restrictedPod({}, { procMount: 'Unmasked' }), 'restricted', 'v1.35'), [
      'pss:proc-mount spec.containers[0].securityContext.procMount',
    ]);
    // Before v1.19 restricted has no seccomp check of its own: baseline's (annotations only) still runs.
    assert.deepEqual(rulesAt(restrictedPod({ seccompProfile: { type: 'Unconfined' } }), 'restricted', 'v1.18'), []);
  });

  test('checks come in upstream order: baseline ids sorted, then restricted ids sorted', () => {
    const spec = {
      hostNetwork: true,
      securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }], seLinuxOptions: { type: 'spc_t' } },
      containers: [
        { name: 'app', image: 'x', securityContext: { privileged: true, procMount: 'Unmasked', runAsUser: 0 } },
      ],
    };
    assert.deepEqual(
      rulesAt(spec, 'restricted').map((r) => r.split(' ')[0]),
      [
        // baseline: hostNamespaces, privileged, seLinuxOptions, sysctls (procMount is replaced at v1.35)
        'pss:host-namespaces',
        'pss:privileged',
        'pss:selinux',
        'pss:sysctls',
        // restricted: allowPrivilegeEscalation, capabilities_restricted, procMount_restricted, runAsNonRoot, …
        'pss:privilege-escalation',
        'pss:capabilities',
        'pss:proc-mount',
        'pss:run-as-non-root',
        'pss:run-as-user',
        'pss:seccomp',
      ],
    );
  });

  test('versioned checks: the sysctls allowed grow with the policy version', () => {
    const pod = (name: string) => restrictedPod({ sysctls: [{ name, value: '1' }] });
    // net.ipv4.ip_local_reserved_ports is allowed from v1.27, net.ipv4.tcp_keepalive_time from v1.29.
    assert.deepEqual(rulesAt(pod('net.ipv4.ip_local_reserved_ports'), 'baseline', 'v1.26'), [
      'pss:sysctls spec.securityContext.sysctls[0].name',
    ]);
    assert.deepEqual(rulesAt(pod('net.ipv4.ip_local_reserved_ports'), 'baseline', 'v1.27'), []);
    assert.deepEqual(rulesAt(pod('net.ipv4.tcp_keepalive_time'), 'baseline', 'v1.28'), [
      'pss:sysctls spec.securityContext.sysctls[0].name',
    ]);
    assert.deepEqual(rulesAt(pod('net.ipv4.tcp_keepalive_time'), 'baseline', 'v1.29'), []);
    assert.deepEqual(rulesAt(pod('kernel.shm_rmid_forced'), 'baseline', 'v1.0'), []);
  });

  test('policyMinor: "v1.N" exactly; anything else is latest', () => {
    assert.equal(policyMinor('v1.0'), 0);
    assert.equal(policyMinor('v1.27'), 27);
    assert.equal(policyMinor('v1.100'), 100);
    for (const other of [undefined, 'latest', '', 'v1.27.1', 'xv1.27', 'v1.027', 'v1.2a', 'v2.0'])
      assert.equal(policyMinor(other), Number.POSITIVE_INFINITY, String(other));
    assert.equal(PSS_LATEST_KNOWN_VERSION, 'v1.35');
  });

  test('every upstream reason maps to rules we report, and every rule has a reason', () => {
    for (const [reason, rules] of Object.entries(UPSTREAM_REASONS)) {
      assert.ok(rules.length > 0, reason);
      for (const rule of rules) assert.ok((PSS_RULES as readonly string[]).includes(rule), `${reason}: ${rule}`);
    }
    const covered = new Set(Object.values(UPSTREAM_REASONS).flat());
    assert.deepEqual(
      PSS_RULES.filter((r) => !covered.has(r)),
      [],
    );
    assert.deepEqual(UPSTREAM_REASONS['non-default capabilities'], ['pss:capabilities']);
    assert.deepEqual(UPSTREAM_REASONS['forbidden AppArmor profile'], ['pss:apparmor']);
    assert.deepEqual(UPSTREAM_REASONS['hostPath volumes'], ['pss:host-path-volumes']);
  });
});

describe('managed namespace names', () => {
  test('the pattern decides, within the 63 characters of a namespace name and with a PR number from 1', () => {
    assert.deepEqual(matchNamespace('shop-pr-7', config), { name: 'shop-pr-7', project: 'shop', number: 7 });
    const long = `${'a'.repeat(57)}-pr-1`; // 62 characters
    assert.equal(matchNamespace(`${long}`, config)?.number, 1);
    assert.equal(matchNamespace(`${long}0`, config)?.number, 10, '63 characters');
    assert.equal(matchNamespace(`${long}00`, config), undefined, '64 characters');
    for (const name of [undefined, '', 'shop-pr-0', 'shop-pr-', 'shop', 'shop-pr-99999999999999999999'])
      assert.equal(matchNamespace(name, config), undefined, String(name));
    // The compiled pattern is per configuration: another pattern gives other answers.
    const other = { namespacePattern: '^(?<project>[a-z]+)-(?<number>[0-9]+)$' };
    assert.deepEqual(matchNamespace('shop-7', other), { name: 'shop-7', project: 'shop', number: 7 });
    assert.equal(matchNamespace('shop-pr-7', other), undefined);
    assert.equal(matchNamespace('shop-7', config), undefined);
  });

  test('celString escapes backslashes and quotes', () => {
    assert.equal(celString("a\\b'c"), "'a\\\\b\\'c'");
  });
});

describe('baseline guard', () => {
  const dev = { username: 'dev@example.com', groups: ['system:authenticated'] };
  test('the refusal names the object, who, what, and where the setting really comes from', () => {
    const refusal = (kind: string, name: string, operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT') =>
      validateBaselineChange({ kind, name, operation, user: dev }, config);
    assert.deepEqual(refusal('ResourceQuota', 'k8s-ee-quota', 'UPDATE'), [
      {
        rule: 'baseline-objects',
        path: 'metadata.name',
        message:
          'ResourceQuota/k8s-ee-quota is a baseline object managed by k8s-ee; user "dev@example.com" may not change it',
        fix: 'quotas come from the k8s-ee configuration (quota.base, quota.perDatabase) and the databases your k8s-ee-environment ConfigMap declares; ask the platform team to change them',
      },
    ]);
    assert.match(refusal('LimitRange', 'k8s-ee-limits', 'DELETE')[0]?.fix ?? '', /^container defaults and maxima come/);
    assert.equal(
      refusal('NetworkPolicy', 'k8s-ee-default-deny', 'CREATE')[0]?.fix,
      'write your own NetworkPolicy under a name that does not start with "k8s-ee-"',
    );
    assert.deepEqual(refusal('LimitRange', 'team-limits', 'DELETE'), []);
    assert.deepEqual(refusal('ConfigMap', 'k8s-ee-quota', 'DELETE'), []);
    assert.equal(isBaselineObject('NetworkPolicy', undefined), false);
    assert.equal(isBaselineObject('NetworkPolicy', ''), false);
  });
});
