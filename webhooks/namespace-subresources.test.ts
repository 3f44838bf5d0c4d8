// Issue 11, class 3: a namespace's finalize and status subresources store the labels and annotations they carry,
// so they are registered and judged like the namespace itself (labels, pins), for every such subresource.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import { mutateHandler, validateHandler } from './handlers.ts';
import { buildWebhookConfigurations, NAMESPACE_SUBRESOURCES } from './registration.ts';
import { request } from './testing/review.ts';
import type { ClusterServices, HandlerContext } from './types.ts';

const config = defaultConfig();
const NAME = 'shop-pr-7';
const labelled = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name: NAME,
    labels: requiredNamespaceLabels({ name: NAME, project: 'shop', number: 7 }, config),
    annotations: { 'k8s-ee.io/created-at': '2026-12-01T00:00:00.000Z' },
  },
  spec: { finalizers: ['kubernetes'] },
};

function context(pinned: string[] = []): HandlerContext {
  const cluster: ClusterServices = {
    pinnedNamespaces: () => Promise.resolve(pinned),
    reservePin: (_ns, limit) => Promise.resolve(pinned.length >= limit ? { ok: false, pinned } : { ok: true }),
    ensureBaseline: () => Promise.resolve({ ok: true }),
  };
  return { config, log: silentLogger(), now: () => new Date('2026-12-01T12:00:00Z'), cluster };
}

function edited(edit: (labels: Record<string, string>) => void): Record<string, unknown> {
  const copy = structuredClone(labelled);
  edit(copy.metadata.labels);
  return copy;
}

const subresources = NAMESPACE_SUBRESOURCES.map((r) => r.split('/')[1]!);

test('every namespace subresource that writes metadata is sent to both namespace webhooks, UPDATE only', () => {
  const { mutating, validating } = buildWebhookConfigurations({ url: 'https://127.0.0.1:1', caBundle: '', config });
  for (const hook of [mutating.webhooks?.[0], validating.webhooks?.[0]]) {
    const resources = (hook?.rules ?? []).flatMap((r) =>
      (r.resources ?? []).map((x) => `${x}:${(r.operations ?? []).join(',')}`),
    );
    assert.deepEqual(resources, ['namespaces:CREATE,UPDATE', 'namespaces/finalize:UPDATE', 'namespaces/status:UPDATE']);
  }
  assert.deepEqual(subresources, ['finalize', 'status']);
});

test('through finalize and status: removed or downgraded managed labels are refused, naming the label', async () => {
  const attempts: [string, Record<string, unknown>, RegExp][] = [
    [
      'enforce=privileged',
      edited((l) => (l['pod-security.kubernetes.io/enforce'] = 'privileged')),
      /pod-security\.kubernetes\.io\/enforce"\]: is "privileged".*\[managed-labels\]/s,
    ],
    ['managed removed', edited((l) => delete l['k8s-ee.io/managed']), /k8s-ee\.io\/managed"\]: was removed/],
    ['pr changed', edited((l) => (l['k8s-ee.io/pr'] = '8')), /k8s-ee\.io\/pr"\]: is "8"/],
    [
      'audit removed',
      edited((l) => delete l['pod-security.kubernetes.io/audit']),
      /pod-security\.kubernetes\.io\/audit"\]: was removed/,
    ],
  ];
  for (const subResource of subresources) {
    for (const [what, object, message] of attempts) {
      const decision = await validateHandler(
        request(object, 'Namespace', { operation: 'UPDATE', oldObject: labelled, subResource }),
        context(),
      );
      assert.equal(decision.allowed, false, `${subResource}: ${what}`);
      const text = decision.allowed
        ? ''
        : (decision.violations ?? []).map((v) => `${v.path}: ${v.message} [${v.rule}]`);
      assert.match(String(text), message, `${subResource}: ${what}`);
    }
    // The namespace controller's own finalize and status updates change no label: admitted.
    const untouched = await validateHandler(
      request({ ...structuredClone(labelled), spec: { finalizers: [] } }, 'Namespace', {
        operation: 'UPDATE',
        oldObject: labelled,
        subResource,
        username: 'system:serviceaccount:kube-system:namespace-controller',
      }),
      context(),
    );
    assert.deepEqual(untouched, { allowed: true }, subResource);
  }
});

test('through finalize and status: a fourth pin is refused, and a pin gets its pinned-at stamp', async () => {
  const pinned = ['a-pr-1', 'b-pr-2', 'c-pr-3'];
  for (const subResource of subresources) {
    const pin = edited((l) => (l['preserve'] = 'true'));
    const refused = await validateHandler(
      request(pin, 'Namespace', { operation: 'UPDATE', oldObject: labelled, subResource }),
      context(pinned),
    );
    assert.equal(refused.allowed, false, subResource);
    assert.match(refused.allowed ? '' : (refused.violations?.[0]?.message ?? ''), /at most 3 .*a-pr-1, b-pr-2, c-pr-3/);
    const mutated = await mutateHandler(
      request(pin, 'Namespace', { operation: 'UPDATE', oldObject: labelled, subResource }),
      context(),
    );
    const annotations = (mutated.allowed ? mutated.mutated : undefined) as { metadata: { annotations: object } };
    assert.equal(annotations.metadata.annotations['k8s-ee.io/pinned-at' as keyof object], '2026-12-01T12:00:00.000Z');
  }
});

test('status and scale of other kinds are still not judged', async () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: NAME }, spec: { hostNetwork: true } };
  const decision = await validateHandler(
    request(pod, 'Pod', { operation: 'UPDATE', oldObject: pod, subResource: 'status' }),
    context(),
  );
  assert.deepEqual(decision, { allowed: true });
});
