import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { validateHandler } from './handlers.ts';
import type { AdmissionRequest, ClusterServices, HandlerContext } from './types.ts';

const configMap = (databases: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'k8s-ee-environment', namespace: 'shop-pr-5' },
  data: { databases },
});
const request = (object: unknown, dryRun = false): AdmissionRequest => ({
  uid: 'u',
  kind: { group: '', version: 'v1', kind: 'ConfigMap' },
  name: 'k8s-ee-environment',
  namespace: 'shop-pr-5',
  operation: 'CREATE',
  userInfo: { username: 'ci' },
  object,
  dryRun,
});

function context(answer: { ok: true } | { ok: false; reason: string }) {
  const calls: [string, unknown, boolean][] = [];
  const cluster: ClusterServices = {
    pinnedNamespaces: () => Promise.resolve([]),
    reservePin: () => Promise.resolve({ ok: true }),
    ensureBaseline: () => Promise.resolve({ ok: true }),
    ensureEnvironment: (ns, cm, { dryRun }) => {
      calls.push([ns, cm, dryRun]);
      return Promise.resolve(answer);
    },
  };
  const ctx: HandlerContext = { config: defaultConfig(), log: silentLogger(), now: () => new Date(), cluster };
  return { ctx, calls };
}

test('the environment ConfigMap is admitted once the gate has put its quota in place', async () => {
  const { ctx, calls } = context({ ok: true });
  const decision = await validateHandler(request(configMap('postgresql')), ctx);
  assert.equal(decision.allowed, true);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]?.[0], 'shop-pr-5');
  assert.deepEqual((calls[0]?.[1] as { data: unknown }).data, { databases: 'postgresql' });
  await validateHandler(request(configMap('redis'), true), ctx);
  assert.equal(calls[1]?.[2], true, 'dry-run is passed on');
});

test('when the quota cannot be put in place, the ConfigMap is refused with the reason and a retry hint', async () => {
  const { ctx } = context({ ok: false, reason: 'the API server timed out' });
  const decision = await validateHandler(request(configMap('postgresql')), ctx);
  assert.equal(decision.allowed, false);
  assert.match(decision.allowed ? '' : decision.message, /quota of shop-pr-5 .* the API server timed out.*retry/);
});

test('an invalid declaration is refused by its rule, and the gate is not asked', async () => {
  const { ctx, calls } = context({ ok: true });
  const decision = await validateHandler(request(configMap('oracle')), ctx);
  assert.equal(decision.allowed, false);
  assert.equal(calls.length, 0);
});
