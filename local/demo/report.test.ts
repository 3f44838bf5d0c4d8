import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addedPaths, errorText, namespaceMarks, objectNames } from './report.ts';

test('addedPaths lists the leaves a mutation added, not those it kept or changed', () => {
  const before = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
  const after = {
    metadata: { labels: { app: 'web', 'k8s-ee.io/pr': '1' } },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'web', image: 'nginx:changed', securityContext: { capabilities: { drop: ['ALL'] } } }],
    },
  };
  assert.deepEqual(addedPaths(before, after), [
    'metadata.labels.k8s-ee.io/pr="1"',
    'spec.securityContext.runAsNonRoot=true',
    'spec.securityContext.seccompProfile.type="RuntimeDefault"',
    'spec.containers[0].securityContext.capabilities.drop[0]="ALL"',
  ]);
  assert.deepEqual(addedPaths(after, after), []);
});

test('namespaceMarks keeps only k8s-ee and PodSecurity labels and annotations, sorted', () => {
  const ns = {
    metadata: {
      labels: {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'kubernetes.io/metadata.name': 'x',
        'k8s-ee.io/pr': '1',
      },
      annotations: { 'k8s-ee.io/created-at': 't', 'meta.helm.sh/release-name': 'x' },
    },
  };
  assert.deepEqual(namespaceMarks(ns), [
    'label k8s-ee.io/pr=1',
    'label pod-security.kubernetes.io/enforce=restricted',
    'annotation k8s-ee.io/created-at=t',
  ]);
  assert.deepEqual(namespaceMarks({}), []);
});

test('objectNames and errorText', () => {
  assert.deepEqual(
    objectNames([
      { kind: 'resourcequota', list: { items: [{ metadata: { name: 'q' } }] } },
      { kind: 'limitrange', list: {} },
    ]),
    ['resourcequota/q'],
  );
  assert.equal(errorText('\n a\nb\nc\n', 2), 'a\nb');
});
