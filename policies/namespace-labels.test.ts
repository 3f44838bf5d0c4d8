import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from './config.ts';
import { matchNamespace } from './namespace.ts';
import {
  mutateNamespace,
  pinAppears,
  requiredNamespaceLabels,
  validateNamespace,
  type NamespaceChange,
} from './namespace-labels.ts';

const config = defaultConfig();
const now = new Date('2026-11-25T12:00:00Z');
const ns = matchNamespace('shop-pr-42', config)!;
const dev = { username: 'dev@example.com', groups: ['system:authenticated'] };
const admin = { username: 'admin', groups: ['system:masters'] };

const namespace = (labels: Record<string, string> = {}, annotations?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'shop-pr-42', labels, ...(annotations ? { annotations } : {}) },
});

const change = (
  operation: 'CREATE' | 'UPDATE',
  object: ReturnType<typeof namespace>,
  oldObject?: unknown,
): NamespaceChange => ({ ns, operation, object, oldObject });

test('matchNamespace extracts project and PR number', () => {
  assert.deepEqual(matchNamespace('shop-pr-42', config), { name: 'shop-pr-42', project: 'shop', number: 42 });
  assert.deepEqual(matchNamespace('my-shop-pr-7', config), { name: 'my-shop-pr-7', project: 'my-shop', number: 7 });
  for (const name of ['shop-pr-0', 'shop-pr-', 'pr-42', 'shop-pr-42x', 'Shop-pr-1', 'kube-system', '', undefined])
    assert.equal(matchNamespace(name, config), undefined, String(name));
});

test('CREATE fills in every managed label and the created-at stamp', () => {
  const object = namespace();
  mutateNamespace(change('CREATE', object), config, now);
  assert.deepEqual(object.metadata.labels, requiredNamespaceLabels(ns, config));
  assert.equal(object.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(object.metadata.labels['k8s-ee.io/pr'], '42');
  assert.deepEqual(object.metadata.annotations, { 'k8s-ee.io/created-at': now.toISOString() });
});

test('mutation never overwrites what the manifest says; validation refuses the conflict', () => {
  const object = namespace({ 'pod-security.kubernetes.io/enforce': 'privileged' });
  mutateNamespace(change('CREATE', object), config, now);
  assert.equal(object.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  const violations = validateNamespace(change('CREATE', object), dev, config);
  assert.equal(violations.length, 1);
  assert.equal(violations[0]?.path, 'metadata.labels["pod-security.kubernetes.io/enforce"]');
  assert.match(violations[0]?.message ?? '', /"privileged".*restricted/);
});

test('UPDATE: removing or downgrading a managed label is refused, except for platform identities', () => {
  const old = namespace(requiredNamespaceLabels(ns, config));
  const removed = namespace({ ...requiredNamespaceLabels(ns, config) });
  delete removed.metadata.labels['k8s-ee.io/managed'];
  const downgraded = namespace({
    ...requiredNamespaceLabels(ns, config),
    'pod-security.kubernetes.io/enforce': 'baseline',
  });
  for (const object of [removed, downgraded]) {
    mutateNamespace(change('UPDATE', object, old), config, now);
    assert.equal(validateNamespace(change('UPDATE', object, old), dev, config).length, 1);
    assert.equal(
      validateNamespace(change('UPDATE', object, old), admin, config).length,
      1,
      'admins are not platform identities by default',
    );
    const platform = { ...config, platformIdentities: { users: [], groups: ['system:masters'] } };
    assert.deepEqual(validateNamespace(change('UPDATE', object, old), admin, platform), []);
  }
});

test('UPDATE adopts a namespace that predates k8s-ee and leaves unrelated edits alone', () => {
  const old = namespace({ team: 'a' });
  const object = namespace({ team: 'b' });
  mutateNamespace(change('UPDATE', object, old), config, now);
  assert.equal(object.metadata.labels['k8s-ee.io/managed'], 'true');
  assert.deepEqual(validateNamespace(change('UPDATE', object, old), dev, config), []);
  const stale = namespace({ ...requiredNamespaceLabels(ns, config), 'pod-security.kubernetes.io/warn': 'baseline' });
  const edited = namespace({ ...stale.metadata.labels, team: 'x' });
  assert.deepEqual(validateNamespace(change('UPDATE', edited, stale), dev, config), []);
});

test('pins: pinned-at is stamped when the pin appears, kept while it stays, dropped when it goes', () => {
  const labels = { ...requiredNamespaceLabels(ns, config), preserve: 'true' };
  const created = namespace(labels, { 'k8s-ee.io/pinned-at': '2030-01-01T00:00:00Z' });
  mutateNamespace(change('CREATE', created), config, now);
  assert.equal(created.metadata.annotations?.['k8s-ee.io/pinned-at'], now.toISOString());
  assert.equal(pinAppears(change('CREATE', created), config), true);

  const later = new Date('2026-11-26T12:00:00Z');
  const kept = namespace({ ...labels, team: 'x' }, {});
  mutateNamespace(change('UPDATE', kept, created), config, later);
  assert.equal(kept.metadata.annotations?.['k8s-ee.io/pinned-at'], now.toISOString());
  assert.equal(pinAppears(change('UPDATE', kept, created), config), false);

  const unpinned = namespace(requiredNamespaceLabels(ns, config), { 'k8s-ee.io/pinned-at': now.toISOString() });
  mutateNamespace(change('UPDATE', unpinned, created), config, later);
  assert.equal(unpinned.metadata.annotations?.['k8s-ee.io/pinned-at'], undefined);
});

test('pins: extending a pin by editing pinned-at is refused', () => {
  const labels = { ...requiredNamespaceLabels(ns, config), preserve: 'true' };
  const old = namespace(labels, { 'k8s-ee.io/pinned-at': now.toISOString() });
  const object = namespace(labels, { 'k8s-ee.io/pinned-at': '2026-11-30T00:00:00Z' });
  const violations = validateNamespace(change('UPDATE', object, old), dev, config);
  assert.deepEqual(
    violations.map((v) => [v.rule, v.path]),
    [['pins', 'metadata.annotations["k8s-ee.io/pinned-at"]']],
  );
});

test('the baseline stamp cannot be forged by a developer', () => {
  const object = namespace({ ...requiredNamespaceLabels(ns, config), 'k8s-ee.io/baseline-hash': 'abc' });
  const violations = validateNamespace(change('CREATE', object), dev, config);
  assert.deepEqual(
    violations.map((v) => v.path),
    ['metadata.labels["k8s-ee.io/baseline-hash"]'],
  );
  assert.deepEqual(validateNamespace(change('CREATE', object), { username: config.selfUser }, config), []);
});

test('CREATE: a label the manifest leaves out is a gap for the mutation, not a violation', () => {
  const object = namespace({ team: 'payments' });
  assert.deepEqual(validateNamespace(change('CREATE', object), dev, config), []);
});
