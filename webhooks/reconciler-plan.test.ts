import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baselineHash, buildBaseline } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { baselineForNewEnvironment, PENDING_MS } from '../policies/environment-pending.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import { isNoop, planNamespace, type NamespaceState } from './reconciler-plan.ts';

const config = defaultConfig();
const NS = 'shop-pr-3';
const REQUIRED = requiredNamespaceLabels({ name: NS, project: 'shop', number: 3 }, config);
const names = (objects: { kind: string; metadata?: { name?: string } }[]): string[] =>
  objects.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`);
const env = (databases: string): unknown => ({
  kind: 'ConfigMap',
  metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: NS },
  data: { databases },
});

function complete(databases: ('postgresql' | 'redis')[] = []): NamespaceState {
  const desired = buildBaseline(NS, databases, config);
  return {
    name: NS,
    labels: { ...REQUIRED, [LABELS.baselineHash]: baselineHash(desired) },
    terminating: false,
    environment: databases.length ? env(databases.join(',')) : undefined,
    live: structuredClone(desired),
  };
}

test('a new namespace: apply everything, stamp, no repairs', () => {
  const plan = planNamespace({ name: NS, labels: {}, terminating: false, environment: undefined, live: [] }, config);
  assert.deepEqual(names(plan?.apply ?? []), names(buildBaseline(NS, [], config)));
  assert.equal(plan?.stamp, true);
  assert.deepEqual(plan?.repairs, []);
  assert.equal(plan?.hash, baselineHash(buildBaseline(NS, [], config)));
});

test('a complete, current baseline: nothing to do', () => {
  const plan = planNamespace(complete(['redis']), config);
  assert.ok(plan && isNoop(plan));
});

test('managed labels that drifted are restored, whoever removed them; others are left alone', () => {
  const state = complete();
  const labels: Record<string, string> = {
    ...state.labels,
    'pod-security.kubernetes.io/enforce': 'privileged',
    team: 'a',
  };
  delete labels['k8s-ee.io/managed'];
  delete labels['k8s-ee.io/pr'];
  const plan = planNamespace({ ...state, labels }, config);
  assert.deepEqual(plan?.labels, {
    'k8s-ee.io/managed': 'true',
    'k8s-ee.io/pr': '3',
    'pod-security.kubernetes.io/enforce': 'restricted',
  });
  assert.ok(plan && !isNoop(plan));
  assert.deepEqual(plan.apply, []);
  // A namespace that slipped in without any label (created while the webhooks were away) gets all of them.
  const bare = planNamespace({ name: NS, labels: {}, terminating: false, environment: undefined, live: [] }, config);
  assert.deepEqual(bare?.labels, REQUIRED);
  assert.deepEqual(planNamespace(complete(), config)?.labels, {});
});

test('a deleted or edited object is re-applied and counted as a repair of its kind', () => {
  const state = complete();
  const live = state.live.filter((o) => o.metadata?.name !== BASELINE_NAMES.defaultDeny);
  const quota = live.find((o) => o.kind === 'ResourceQuota');
  assert.ok(quota);
  quota.spec = { hard: { pods: '1000' } };
  const plan = planNamespace({ ...state, live }, config);
  assert.deepEqual(names(plan?.apply ?? []), ['ResourceQuota/k8s-ee-quota', 'NetworkPolicy/k8s-ee-default-deny']);
  assert.deepEqual(plan?.repairs, ['ResourceQuota', 'NetworkPolicy']);
  assert.equal(plan?.stamp, false);
});

test('a database added to the declaration: the quota is updated (not a repair) and the namespace restamped', () => {
  const state = { ...complete(['postgresql']), environment: env('postgresql, redis') };
  const plan = planNamespace(state, config);
  assert.deepEqual(names(plan?.apply ?? []), ['ResourceQuota/k8s-ee-quota']);
  assert.deepEqual(plan?.apply[0]?.spec, buildBaseline(NS, ['postgresql', 'redis'], config)[0]?.spec);
  assert.deepEqual(plan?.repairs, []);
  assert.equal(plan?.stamp, true);
});

test('unknown databases are reported and ignored', () => {
  const plan = planNamespace({ ...complete(['redis']), environment: env('redis, oracle') }, config);
  assert.ok(plan && isNoop(plan));
  assert.deepEqual(plan.unknownDatabases, ['oracle']);
});

test('internet egress switched off: its policy is removed; an app object carrying the label is left alone', () => {
  const off = defaultConfig();
  off.networkPolicy.internetEgress.enabled = false;
  const state = complete();
  const appPolicy = {
    kind: 'NetworkPolicy',
    metadata: { name: 'my-app-policy', labels: { [LABELS.baselineObject]: 'true' } },
    spec: {},
  };
  const plan = planNamespace({ ...state, live: [...state.live, appPolicy] }, off);
  assert.deepEqual(names(plan?.remove ?? []), ['NetworkPolicy/k8s-ee-allow-internet-egress']);
  assert.deepEqual(plan?.apply, []);
  assert.equal(plan?.stamp, true);
});

test('unmanaged and terminating namespaces get no plan', () => {
  assert.equal(planNamespace({ ...complete(), name: 'kube-system' }, config), undefined);
  assert.equal(planNamespace({ ...complete(), terminating: true }, config), undefined);
});

test('a quota grown for a ConfigMap not stored yet is not shrunk back while its pending declaration counts', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  const grown = baselineForNewEnvironment(
    { namespace: NS, stored: undefined, incoming: env('postgresql,redis'), live: [] },
    config,
    now,
  );
  assert.ok(grown);
  const state: NamespaceState = {
    name: NS,
    labels: { ...REQUIRED, [LABELS.baselineHash]: grown.hash },
    terminating: false,
    environment: undefined, // the reconciler has not seen the ConfigMap yet
    live: structuredClone(grown.objects),
    now: now + 100,
  };
  const plan = planNamespace(state, config);
  assert.ok(plan && isNoop(plan), JSON.stringify(plan));
  assert.equal(plan.recheckAt, now + PENDING_MS);
  // Past its deadline with the ConfigMap never stored (refused after all): back to the stored declaration.
  const later = planNamespace({ ...state, now: now + PENDING_MS }, config);
  assert.deepEqual(later?.apply[0]?.spec, buildBaseline(NS, [], config)[0]?.spec);
  // Stored meanwhile: nothing to do, nothing to recheck.
  const stored = planNamespace({ ...state, environment: env('postgresql,redis'), now: now + PENDING_MS }, config);
  assert.ok(stored && isNoop(stored));
  assert.equal(stored.recheckAt, undefined);
});
