import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { LABELS } from './names.ts';
import { buildBaselineVap, VAP_NAME } from './vap.ts';
import { vapYaml } from './vap-print.ts';

test('the policy judges CREATE of pods and every pod controller in managed namespaces, bound with Deny', () => {
  const { policy, binding } = buildBaselineVap();
  const rules = policy.spec?.matchConstraints?.resourceRules ?? [];
  assert.deepEqual(
    rules
      .flatMap((r) =>
        (r.resources ?? []).map((res) => `${r.apiGroups?.[0] ?? '?'}/${res}:${(r.operations ?? []).join(',')}`),
      )
      .sort(),
    [
      '/pods:CREATE',
      '/replicationcontrollers:CREATE',
      'apps/daemonsets:CREATE',
      'apps/deployments:CREATE',
      'apps/replicasets:CREATE',
      'apps/statefulsets:CREATE',
      'batch/cronjobs:CREATE',
      'batch/jobs:CREATE',
    ],
  );
  assert.deepEqual(policy.spec?.matchConstraints?.namespaceSelector, { matchLabels: { [LABELS.managed]: 'true' } });
  assert.equal(policy.spec?.failurePolicy, 'Fail');
  assert.match(
    policy.spec?.validations?.[0]?.expression ?? '',
    new RegExp(`'${LABELS.baselineHash.replace(/\./g, '\\.')}' in namespaceObject\\.metadata\\.labels`),
  );
  assert.equal(binding.spec?.policyName, VAP_NAME);
  assert.deepEqual(binding.spec?.validationActions, ['Deny']);
});

test('vapYaml prints both objects as YAML that reads back to the same data', () => {
  const docs = parseAllDocuments(vapYaml()).map((d) => d.toJS() as unknown);
  const { policy, binding } = buildBaselineVap();
  assert.deepEqual(docs, [policy, binding]);
  assert.deepEqual(
    parseAllDocuments(vapYaml('other')).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name),
    ['other', 'other'],
  );
});
