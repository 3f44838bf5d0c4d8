import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../policies/config.ts';
import { ownNamespace } from './reconciler.ts';

test('the Lease lives in k8s-ee own namespace: environment first, then the ServiceAccount user name', () => {
  const config = defaultConfig();
  assert.equal(ownNamespace(config, {}), 'k8s-ee-system');
  assert.equal(ownNamespace(config, { POD_NAMESPACE: 'platform' }), 'platform');
  assert.equal(ownNamespace(config, { K8S_EE_NAMESPACE: 'ee', POD_NAMESPACE: 'platform' }), 'ee');
  assert.equal(ownNamespace({ selfUser: 'alice' }, {}), 'default');
});
