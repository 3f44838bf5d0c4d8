import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { LABELS } from './names.ts';
import { defaultConfig } from './config.ts';
import {
  buildBaselineVap,
  buildManagedLabelVap,
  MANAGED_LABEL_VAP_NAME,
  requiredAtCreate,
  STAMP_PROBE_NAME,
  UNSTAMPED_BINDING_SUFFIX,
  VAP_NAME,
} from './vap.ts';
import { managedLabelVapYaml, vapYaml } from './vap-print.ts';

const described = (rules: { apiGroups?: string[]; resources?: string[]; operations?: string[] }[] = []): string[] =>
  rules
    .flatMap((r) =>
      (r.resources ?? []).map((res) => `${r.apiGroups?.[0] ?? '?'}/${res}:${(r.operations ?? []).join(',')}`),
    )
    .sort();

test('the policy judges CREATE of namespaces, pods, every pod controller and the stamp probe, bound with Deny', () => {
  const { policy, bindings } = buildBaselineVap();
  assert.deepEqual(
    described(policy.spec?.matchConstraints?.resourceRules),
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
      '/namespaces:CREATE',
    ].sort(),
  );
  assert.equal(policy.spec?.failurePolicy, 'Fail');
  assert.match(
    policy.spec?.validations?.[1]?.expression ?? '',
    new RegExp(`'${LABELS.baselineHash.replace(/\./g, '\\.')}' in namespaceObject\\.metadata\\.labels`),
  );
  // Of NetworkPolicies, only the gate's probe is judged: the baseline's own must be creatable before the stamp.
  assert.deepEqual(policy.spec?.matchConditions?.slice(1), [
    {
      name: 'pod-makers-and-the-stamp-probe',
      expression: `request.resource.resource != 'networkpolicies' || object.metadata.name == '${STAMP_PROBE_NAME}'`,
    },
  ]);
  for (const binding of bindings) {
    assert.equal(binding.spec?.policyName, VAP_NAME);
    assert.deepEqual(binding.spec?.validationActions, ['Deny']);
  }
});

test('two bindings: the namespaces everywhere, the pod makers and the probe only where the stamp is absent', () => {
  const { policy, bindings } = buildBaselineVap();
  const [namespaces, podMakers] = bindings;
  assert.equal(namespaces.metadata?.name, VAP_NAME);
  assert.deepEqual(described(namespaces.spec?.matchResources?.resourceRules), ['/namespaces:CREATE']);
  assert.equal(namespaces.spec?.matchResources?.namespaceSelector, undefined, 'a new namespace is judged by its name');
  assert.equal(podMakers.metadata?.name, `${VAP_NAME}${UNSTAMPED_BINDING_SUFFIX}`);
  assert.deepEqual(podMakers.spec?.matchResources?.namespaceSelector, {
    matchExpressions: [{ key: LABELS.baselineHash, operator: 'DoesNotExist' }],
  });
  // Between them, the bindings cover every rule of the policy, each rule once.
  assert.deepEqual(
    [
      ...described(namespaces.spec?.matchResources?.resourceRules),
      ...described(podMakers.spec?.matchResources?.resourceRules),
    ].sort(),
    described(policy.spec?.matchConstraints?.resourceRules),
  );
});

test('PR namespaces are selected by NAME (the configured pattern as RE2), never by a label the webhook adds', () => {
  const { policy } = buildBaselineVap();
  assert.equal(policy.spec?.matchConstraints?.namespaceSelector, undefined);
  const selection = policy.spec?.matchConditions?.[0];
  assert.equal(selection?.name, 'pr-namespace');
  const pattern = "'^(?P<project>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-pr-(?P<number>[1-9][0-9]*)$'";
  assert.equal(
    selection?.expression,
    `request.resource.resource == 'namespaces' ? object.metadata.name.matches(${pattern}) : request.namespace.matches(${pattern})`,
  );
  assert.doesNotMatch(JSON.stringify(policy), /\(\?</, 'RE2 has no (?<name> groups');
  assert.doesNotMatch(JSON.stringify(policy.spec?.matchConditions), new RegExp(LABELS.managed));
  const custom = buildBaselineVap(VAP_NAME, {
    ...defaultConfig(),
    namespacePattern: '^(?<project>shop)-pr-(?<number>[0-9]+)$',
  });
  assert.match(
    custom.policy.spec?.matchConditions?.[0]?.expression ?? '',
    /matches\('\^\(\?P<project>shop\)-pr-\(\?P<number>\[0-9\]\+\)\$'\)/,
  );
});

test('creating a PR namespace requires the managed and Pod Security labels (the webhook adds them)', () => {
  const { policy } = buildBaselineVap();
  const rule = policy.spec?.validations?.[0];
  assert.deepEqual(requiredAtCreate(defaultConfig()), {
    [LABELS.managed]: 'true',
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/audit': 'restricted',
    'pod-security.kubernetes.io/warn': 'restricted',
  });
  assert.ok(
    rule?.expression?.startsWith("request.resource.resource != 'namespaces' || (has(object.metadata.labels) && "),
  );
  for (const [key, value] of Object.entries(requiredAtCreate(defaultConfig())))
    assert.ok(
      rule?.expression?.includes(
        `'${key}' in object.metadata.labels && object.metadata.labels['${key}'] == '${value}'`,
      ),
      key,
    );
  assert.match(rule?.messageExpression ?? '', /metadata\.labels: .*\[vap:namespace-labels\]\. Fix: /);
  assert.equal(rule?.reason, 'Forbidden');
  // The stamp rule is not asked of the namespace itself.
  assert.ok(policy.spec?.validations?.[1]?.expression?.startsWith("request.resource.resource == 'namespaces' || ("));
});

test('vapYaml prints the policy and its bindings as YAML that reads back to the same data', () => {
  const docs = parseAllDocuments(vapYaml()).map((d) => d.toJS() as unknown);
  const { policy, bindings } = buildBaselineVap();
  assert.deepEqual(docs, [policy, ...bindings]);
  assert.deepEqual(
    parseAllDocuments(vapYaml('other')).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name),
    ['other', 'other', 'other-unstamped'],
  );
});

test('the guard of the managed label judges only namespace writes that carry it, and allows PR names and removal', () => {
  const { policy, binding } = buildManagedLabelVap();
  assert.equal(policy.metadata?.name, MANAGED_LABEL_VAP_NAME);
  assert.deepEqual(described(policy.spec?.matchConstraints?.resourceRules), ['/namespaces:CREATE,UPDATE']);
  assert.deepEqual(policy.spec?.matchConstraints?.objectSelector, { matchLabels: { [LABELS.managed]: 'true' } });
  assert.equal(policy.spec?.failurePolicy, 'Fail');
  const [rule] = policy.spec?.validations ?? [];
  // Allowed: no labels, the label gone (an UPDATE that removes it), another value, or a PR namespace's name.
  assert.equal(
    rule?.expression,
    "!has(object.metadata.labels) || !('k8s-ee.io/managed' in object.metadata.labels) || object.metadata.labels['k8s-ee.io/managed'] != 'true' || object.metadata.name.matches('^(?P<project>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-pr-(?P<number>[1-9][0-9]*)$')",
  );
  assert.match(
    rule?.messageExpression ?? '',
    /\[vap:managed-label\]\. .*Fix: remove the label \(kubectl label namespace ' \+ object\.metadata\.name \+ ' k8s-ee\.io\/managed-\)/,
  );
  assert.deepEqual(binding.spec, { policyName: MANAGED_LABEL_VAP_NAME, validationActions: ['Deny'] });
  const custom = buildManagedLabelVap(MANAGED_LABEL_VAP_NAME, {
    namespacePattern: '^(?<project>shop)-pr-(?<number>[0-9]+)$',
  });
  assert.match(custom.policy.spec?.validations?.[0]?.expression ?? '', /matches\('\^\(\?P<project>shop\)-pr-/);
  assert.deepEqual(
    parseAllDocuments(managedLabelVapYaml()).map((d) => d.toJS() as unknown),
    [policy, binding],
  );
});
