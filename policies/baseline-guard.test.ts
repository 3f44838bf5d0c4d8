import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBaselineObject, validateBaselineChange } from './baseline-guard.ts';
import { defaultConfig } from './config.ts';

const config = defaultConfig();
const dev = { username: 'dev@example.com', groups: ['system:authenticated'] };

test('baseline objects are known by kind and name', () => {
  assert.equal(isBaselineObject('ResourceQuota', 'k8s-ee-quota'), true);
  assert.equal(isBaselineObject('ResourceQuota', 'mine'), false);
  assert.equal(isBaselineObject('LimitRange', 'k8s-ee-limits'), true);
  assert.equal(isBaselineObject('NetworkPolicy', 'k8s-ee-default-deny'), true);
  assert.equal(isBaselineObject('NetworkPolicy', 'k8s-ee-anything'), true);
  assert.equal(isBaselineObject('NetworkPolicy', 'app'), false);
  assert.equal(isBaselineObject('ConfigMap', 'k8s-ee-quota'), false);
});

test('developers may not create, change or delete them', () => {
  for (const operation of ['CREATE', 'UPDATE', 'DELETE'] as const) {
    const v = validateBaselineChange(
      { kind: 'NetworkPolicy', name: 'k8s-ee-default-deny', operation, user: dev },
      config,
    );
    assert.equal(v.length, 1, operation);
    assert.equal(v[0]?.rule, 'baseline-objects');
  }
});

test('k8s-ee, platform identities, and the namespace controller during deletion may', () => {
  const change = (user: { username?: string; groups?: string[] }, operation: 'UPDATE' | 'DELETE') =>
    validateBaselineChange({ kind: 'ResourceQuota', name: 'k8s-ee-quota', operation, user }, config);
  assert.deepEqual(change({ username: config.selfUser }, 'UPDATE'), []);
  assert.equal(
    change({ username: 'admin', groups: ['system:masters'] }, 'UPDATE').length,
    1,
    'not a platform identity unless configured',
  );
  const withAdmins = { ...config, platformIdentities: { users: [], groups: ['system:masters'] } };
  assert.deepEqual(
    validateBaselineChange(
      {
        kind: 'ResourceQuota',
        name: 'k8s-ee-quota',
        operation: 'UPDATE',
        user: { username: 'admin', groups: ['system:masters'] },
      },
      withAdmins,
    ),
    [],
  );
  assert.deepEqual(change({ username: 'system:serviceaccount:kube-system:namespace-controller' }, 'DELETE'), []);
  assert.equal(change({ username: 'system:serviceaccount:kube-system:namespace-controller' }, 'UPDATE').length, 1);
});
