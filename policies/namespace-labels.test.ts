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

const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(now.getTime() + ms);

test('the first pin of the namespace life is recorded once; unpinning and pinning again keeps it', () => {
  const base = requiredNamespaceLabels(ns, config);
  const first = namespace({ ...base, preserve: 'true' });
  mutateNamespace(change('UPDATE', first, namespace(base)), config, now);
  assert.equal(first.metadata.annotations?.['k8s-ee.io/first-pinned-at'], now.toISOString());
  // Unpinned an hour later: pinned-at goes, first-pinned-at stays.
  const unpinned = namespace(base, { ...first.metadata.annotations });
  mutateNamespace(change('UPDATE', unpinned, first), config, at(HOUR));
  assert.deepEqual(unpinned.metadata.annotations, { 'k8s-ee.io/first-pinned-at': now.toISOString() });
  // Pinned again: a new pinned-at, the same first-pinned-at, even when the manifest leaves it out or forges it.
  for (const annotations of [undefined, { 'k8s-ee.io/first-pinned-at': at(40 * HOUR).toISOString() }]) {
    const again = namespace({ ...base, preserve: 'true' }, annotations);
    mutateNamespace(change('UPDATE', again, unpinned), config, at(2 * HOUR));
    assert.equal(again.metadata.annotations?.['k8s-ee.io/first-pinned-at'], now.toISOString());
    assert.equal(again.metadata.annotations?.['k8s-ee.io/pinned-at'], at(2 * HOUR).toISOString());
    assert.deepEqual(validateNamespace(change('UPDATE', again, unpinned), dev, config, at(2 * HOUR)), []);
  }
});

test('a pin does not come back once maxDuration from the first pin has passed; the record cannot be forged', () => {
  const base = requiredNamespaceLabels(ns, config);
  const old = namespace(base, { 'k8s-ee.io/first-pinned-at': now.toISOString() });
  const again = namespace({ ...base, preserve: 'true' }, { 'k8s-ee.io/first-pinned-at': now.toISOString() });
  assert.deepEqual(validateNamespace(change('UPDATE', again, old), dev, config, at(47 * HOUR)), []);
  const late = validateNamespace(change('UPDATE', again, old), dev, config, at(48 * HOUR));
  assert.equal(late.length, 1);
  assert.equal(late[0]?.rule, 'pins');
  assert.equal(late[0]?.path, 'metadata.labels["preserve"]');
  assert.match(
    late[0]?.message ?? '',
    /first pinned at 2026-11-25T12:00:00\.000Z .* 48h in its life \(unpinning does not restart the clock\)/,
  );
  assert.match(late[0]?.fix ?? '', /remove preserve=true/);
  // Forged or removed by hand: refused (a mutation that did not run does not open a way around).
  const forged = namespace(base, { 'k8s-ee.io/first-pinned-at': at(100 * HOUR).toISOString() });
  const removed = namespace(base);
  for (const object of [forged, removed]) {
    const v = validateNamespace(change('UPDATE', object, old), dev, config, at(HOUR));
    assert.deepEqual(
      v.map((x) => [x.rule, x.path]),
      [['pins', 'metadata.annotations["k8s-ee.io/first-pinned-at"]']],
    );
  }
  const forgedAtCreate = namespace(base, { 'k8s-ee.io/first-pinned-at': at(100 * HOUR).toISOString() });
  assert.equal(validateNamespace(change('CREATE', forgedAtCreate), dev, config, now).length, 1);
  // k8s-ee (and platform identities) may write it: the sweeper stamps pins set while the webhook was away.
  assert.deepEqual(validateNamespace(change('UPDATE', forged, old), { username: config.selfUser }, config, now), []);
});

test('the pin label with any other spelling is refused, naming the accepted value', () => {
  const base = requiredNamespaceLabels(ns, config);
  for (const value of ['True', 'TRUE', 'yes', '1', 'on', 'true ', 'false']) {
    for (const operation of ['CREATE', 'UPDATE'] as const) {
      const object = namespace({ ...base, preserve: value });
      const v = validateNamespace(change(operation, object, namespace(base)), dev, config, now);
      assert.deepEqual(
        v.map((x) => [x.rule, x.path]),
        [['pins', 'metadata.labels["preserve"]']],
        `${operation} preserve=${value}`,
      );
      assert.match(v[0]?.message ?? '', new RegExp(`is "${value}", but a pin is preserve=true exactly`));
      assert.match(v[0]?.fix ?? '', /set preserve=true to pin the namespace, or remove the label/);
    }
  }
  // A value the namespace already had is not this change's doing.
  const old = namespace({ ...base, preserve: 'yes' });
  assert.deepEqual(validateNamespace(change('UPDATE', namespace({ ...base, preserve: 'yes' }), old), dev, config), []);
});
