import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1MutatingWebhook, V1ValidatingWebhook } from '@kubernetes/client-node';
import { defaultConfig } from '../policies/config.ts';
import { LABELS } from '../policies/names.ts';
import { buildWebhookConfigurations, byNameEntry } from './registration.ts';

const config = defaultConfig();
const built = buildWebhookConfigurations({
  url: 'https://127.0.0.1:9443',
  caBundle: 'PEM',
  config,
  excludeNamespaces: ['k8s-ee-system'],
  selfUser: 'system:serviceaccount:k8s-ee-system:k8s-ee',
});
const all: (V1MutatingWebhook | V1ValidatingWebhook)[] = [
  ...(built.mutating.webhooks ?? []),
  ...(built.validating.webhooks ?? []),
];
const byName = new Map(all.map((w) => [w.name, w]));
const namespaced = all.filter((w) => w.namespaceSelector && !w.name.includes('.by-name.'));

test('byNameEntry inserts by-name after the purpose', () => {
  assert.equal(byNameEntry('pods.validate.k8s-ee.io'), 'pods.by-name.validate.k8s-ee.io');
  assert.equal(byNameEntry('environment.validate.k8s-ee.io'), 'environment.by-name.validate.k8s-ee.io');
});

test('every namespaced purpose is registered twice, the pair alike but for how it selects namespaces', () => {
  assert.deepEqual(namespaced.map((w) => w.name).sort(), [
    'baseline.validate.k8s-ee.io',
    'environment.validate.k8s-ee.io',
    'exposure.validate.k8s-ee.io',
    'pods.mutate.k8s-ee.io',
    'pods.validate.k8s-ee.io',
  ]);
  assert.equal(all.length, 2 + 2 * namespaced.length, 'two namespace entries and a pair per namespaced purpose');
  for (const labelled of namespaced) {
    const twin = byName.get(byNameEntry(labelled.name));
    assert.ok(twin, `${labelled.name} has its by-name twin`);
    const { name: _a, namespaceSelector: _b, matchConditions: conditionsL, ...restL } = labelled;
    const { name: _c, namespaceSelector: _d, matchConditions: conditionsB, ...restB } = twin;
    assert.deepEqual(restB, restL, `${labelled.name}: same rules, endpoint, policies`);
    // The by-name twin adds the PR-namespace condition in front of the purpose's own (if any); the labelled one
    // runs no CEL unless its purpose has a condition of its own.
    assert.deepEqual(conditionsB?.slice(1), conditionsL ?? [], labelled.name);
    assert.equal(conditionsB?.[0]?.name, 'pr-namespace');
    assert.match(conditionsB?.[0]?.expression ?? '', /^request\.namespace\.matches\('\^\(\?P<project>/);
    assert.match(conditionsB?.[0]?.expression ?? '', /!\(request\.namespace in \['kube-system', 'k8s-ee-system'\]\)$/);
    assert.ok(!(conditionsL ?? []).some((c) => c.name === 'pr-namespace'), labelled.name);
  }
  // The purposes without a condition of their own evaluate no CEL at all in a labelled namespace.
  for (const name of ['pods.mutate.k8s-ee.io', 'pods.validate.k8s-ee.io', 'exposure.validate.k8s-ee.io'])
    assert.equal(byName.get(name)?.matchConditions, undefined, name);
});

test('the two selectors split every namespace by the managed label, and both skip the excluded ones', () => {
  const excluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'k8s-ee-system'] };
  for (const labelled of namespaced) {
    assert.deepEqual(labelled.namespaceSelector, {
      matchExpressions: [{ key: LABELS.managed, operator: 'In', values: ['true'] }, excluded],
    });
    assert.deepEqual(byName.get(byNameEntry(labelled.name))?.namespaceSelector, {
      matchExpressions: [{ key: LABELS.managed, operator: 'NotIn', values: ['true'] }, excluded],
    });
  }
});

test('the namespace webhooks select the namespace by its name in CEL, once each', () => {
  for (const name of ['namespaces.mutate.k8s-ee.io', 'namespaces.validate.k8s-ee.io']) {
    const hook = byName.get(name);
    assert.equal(hook?.namespaceSelector, undefined, name);
    assert.equal(byName.get(byNameEntry(name)), undefined, name);
    assert.match(hook?.matchConditions?.[0]?.expression ?? '', /^object\.metadata\.name\.matches\(/);
    assert.equal(hook?.matchConditions?.[1]?.name, 'not-k8s-ee-itself');
  }
});
