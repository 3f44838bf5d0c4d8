// The reader of the API server's PodSecurity denials used by the differential e2e test (e2e/pss-upstream.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseUpstreamDenial, upstreamReasonsCoverRules } from '../e2e/pss-upstream.ts';

describe('parseUpstreamDenial', () => {
  test('reads every reason of a multi-reason denial, details with quotes and commas included', () => {
    const message =
      'pods "kitchen-sink" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostPID=true), ' +
      'privileged (container "agent" must not set securityContext.privileged=true), ' +
      'forbidden AppArmor profiles (container "agent" and annotation must not set AppArmor profiles "Unconfined", "x=\\"a (b)\\""), ' +
      'unrestricted capabilities (container "agent" must set securityContext.capabilities.drop=["ALL"]; container "agent" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add), ' +
      'restricted volume types (volume "root" uses restricted volume type "hostPath"), forbidden sysctls (kernel.sem, kernel.msgmax), runAsUser=0 (pod must not set runAsUser=0)';
    assert.deepEqual(parseUpstreamDenial(message), [
      'host namespaces',
      'privileged',
      'forbidden AppArmor profiles',
      'unrestricted capabilities',
      'restricted volume types',
      'forbidden sysctls',
      'runAsUser=0',
    ]);
  });

  test('a reason without detail, and an unknown reason, are still read', () => {
    assert.deepEqual(
      parseUpstreamDenial(
        'x: violates PodSecurity "restricted:v1.35": seccompProfile, brand new check (y), hostPort (z)',
      ),
      ['seccompProfile', 'brand new check', 'hostPort'],
    );
  });

  test('anything else is not a PodSecurity denial', () => {
    assert.deepEqual(parseUpstreamDenial('pods "x" is forbidden: error looking up service account ns/default'), []);
  });
});

describe('upstreamReasonsCoverRules', () => {
  test('agreement, including restricted volume types standing for hostPath', () => {
    assert.equal(
      upstreamReasonsCoverRules(['restricted volume types', 'hostPort'], ['pss:host-path-volumes', 'pss:host-ports']),
      undefined,
    );
  });

  test('names the gaps both ways', () => {
    assert.equal(
      upstreamReasonsCoverRules(['privileged'], ['pss:seccomp']),
      'upstream reports privileged and we report no matching rule; we report pss:seccomp and upstream gives no such reason',
    );
    assert.equal(
      upstreamReasonsCoverRules(['brand new check'], []),
      'upstream reasons we have no mapping for: brand new check',
    );
  });
});
