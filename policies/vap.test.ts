import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { LABELS } from './names.ts';
import { buildBaselineVap, STAMP_PROBE_NAME, VAP_NAME } from './vap.ts';
import { vapYaml } from './vap-print.ts';

test('the policy judges CREATE of pods, every pod controller and the stamp probe in managed namespaces, bound with Deny', () => {
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
      'networking.k8s.io/networkpolicies:CREATE',
    ],
  );
  assert.deepEqual(policy.spec?.matchConstraints?.namespaceSelector, { matchLabels: { [LABELS.managed]: 'true' } });
  assert.equal(policy.spec?.failurePolicy, 'Fail');
  assert.match(
    policy.spec?.validations?.[0]?.expression ?? '',
    new RegExp(`'${LABELS.baselineHash.replace(/\./g, '\\.')}' in namespaceObject\\.metadata\\.labels`),
  );
  // Of NetworkPolicies, only the gate's probe is judged: the baseline's own must be creatable before the stamp.
  assert.deepEqual(policy.spec?.matchConditions, [
    {
      name: 'pod-makers-and-the-stamp-probe',
      expression: `request.resource.resource != 'networkpolicies' || object.metadata.name == '${STAMP_PROBE_NAME}'`,
    },
  ]);
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
