import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldPath, SHAPED_KINDS, shapeViolations } from './shapes.ts';
import { POD_KINDS } from './pod-templates.ts';

test('every kind the webhooks judge has a shape, each pod carrier with its pod template', () => {
  for (const kind of POD_KINDS) assert.ok(SHAPED_KINDS.includes(kind), kind);
  for (const kind of ['Namespace', 'NetworkPolicy', 'Service', 'Ingress', 'HTTPRoute', 'GRPCRoute', 'ConfigMap'])
    assert.ok(SHAPED_KINDS.includes(kind), kind);
  assert.deepEqual(shapeViolations('Secret', 'anything'), []);
});

test('a field of the wrong type is named with its path, what it must be, and where the API defines it', () => {
  assert.deepEqual(shapeViolations('Pod', { spec: { containers: 'web' } }), [
    {
      rule: 'shape',
      path: 'spec.containers',
      message: 'must be a list, got a string: k8s-ee cannot judge an object it cannot read',
      fix: 'write it as the Kubernetes API defines it (kubectl explain pod.spec.containers)',
    },
  ]);
  const cron = shapeViolations('CronJob', {
    spec: {
      jobTemplate: { spec: { template: { spec: { containers: [{ securityContext: { privileged: 'true' } }] } } } },
    },
  });
  assert.equal(cron[0]?.path, 'spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged');
  assert.match(cron[0]?.message ?? '', /must be true or false, got a string/);
  assert.equal(shapeViolations('Deployment', { spec: {} })[0]?.path, 'spec.template');
  assert.match(shapeViolations('Deployment', { spec: {} })[0]?.message ?? '', /is missing/);
  assert.equal(
    shapeViolations('Namespace', { metadata: { labels: { 'k8s-ee.io/managed': true } } })[0]?.path,
    'metadata.labels["k8s-ee.io/managed"]',
  );
  assert.deepEqual(
    shapeViolations('Ingress', [], 'oldObject').map((v) => [v.path, v.message]),
    [['oldObject', 'must be an Ingress object, got a list: k8s-ee cannot judge what it cannot read']],
  );
});

test('null is refused where a rule reads a value; absent optional fields are fine', () => {
  assert.equal(shapeViolations('Pod', { spec: { containers: [{ name: 'a', securityContext: null }] } }).length, 1);
  assert.deepEqual(shapeViolations('Pod', { spec: { containers: [{ name: 'a' }] } }), []);
  assert.deepEqual(shapeViolations('Service', { metadata: { name: 'a' } }), []);
});

test('field paths as Kubernetes writes them', () => {
  assert.equal(
    fieldPath(['spec', 'containers', '0', 'ports', '1', 'hostPort']),
    'spec.containers[0].ports[1].hostPort',
  );
  assert.equal(fieldPath(['metadata', 'annotations', 'a.b/c']), 'metadata.annotations["a.b/c"]');
  assert.equal(fieldPath([]), '');
});
