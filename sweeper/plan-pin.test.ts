// Issue 11, class 5: a pin's 48h count from the first pin of the namespace's life (k8s-ee.io/first-pinned-at),
// so unpinning and pinning again does not restart the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import { durationsOf, planPin } from './plan-namespace.ts';
import type { NamespaceInfo } from './types.ts';

const config = defaultConfig();
const d = durationsOf(config);
const HOUR = 3_600_000;
const t0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

const pinned = (annotations: Record<string, string>): NamespaceInfo => ({
  name: 'shop-pr-5',
  labels: { 'k8s-ee.io/managed': 'true', preserve: 'true' },
  annotations,
  phase: 'Active',
  creationTimestamp: iso(t0 - HOUR),
  conditions: [],
  finalizers: [],
});

test('a pin set again after an unpin expires 48h after the FIRST pin, not the latest', () => {
  // First pinned at t0, unpinned, pinned again at t0+40h: expires at t0+48h.
  const ns = pinned({ 'k8s-ee.io/first-pinned-at': iso(t0), 'k8s-ee.io/pinned-at': iso(t0 + 40 * HOUR) });
  assert.deepEqual(
    planPin(ns, config, d, new Date(t0 + 47.5 * HOUR)).actions.map((a) => a.kind),
    ['warn-pin'],
  );
  const expired = planPin(ns, config, d, new Date(t0 + 48 * HOUR));
  assert.equal(expired.protects, false);
  assert.deepEqual(
    expired.actions.map((a) => [a.kind, a.reason]),
    [['unpin', 'pin-expired']],
  );
  assert.equal(expired.actions[0]?.details?.['pinnedAt'], iso(t0));
  // The record outlives the pin: the unpin patch leaves it alone.
  assert.equal(Object.keys(expired.actions[0]?.patch?.annotations ?? {}).includes('k8s-ee.io/first-pinned-at'), false);
});

test('without a first-pinned-at (pins from before the record), pinned-at counts; a future record is not trusted', () => {
  const legacy = pinned({ 'k8s-ee.io/pinned-at': iso(t0) });
  assert.equal(planPin(legacy, config, d, new Date(t0 + 48 * HOUR)).actions[0]?.kind, 'unpin');
  const future = pinned({ 'k8s-ee.io/first-pinned-at': iso(t0 + 1000 * HOUR), 'k8s-ee.io/pinned-at': iso(t0) });
  assert.equal(planPin(future, config, d, new Date(t0 + 48 * HOUR)).actions[0]?.kind, 'unpin');
});

test('a pin with no trustworthy stamp at all is stamped now, first-pinned-at included', () => {
  const verdict = planPin(pinned({}), config, d, new Date(t0));
  assert.deepEqual(verdict.actions[0]?.patch?.annotations, {
    'k8s-ee.io/pinned-at': iso(t0),
    'k8s-ee.io/first-pinned-at': iso(t0),
  });
});

test('pin clock skew: a pinned-at up to 5 minutes ahead is trusted, further ahead it is stamped anew', () => {
  const MINUTE = 60_000;
  const now = new Date(t0);
  // 5 minutes ahead (another node's clock running fast): trusted as it is, so nothing is written.
  const slightly = planPin(pinned({ 'k8s-ee.io/pinned-at': iso(t0 + 5 * MINUTE) }), config, d, now);
  assert.deepEqual(slightly.actions, []);
  assert.equal(slightly.protects, true);
  // Just beyond: not trusted (it would extend the pin), so the pin is stamped with the sweeper's own now.
  for (const ahead of [5 * MINUTE + 1, 6 * MINUTE, 2 * HOUR]) {
    const beyond = planPin(pinned({ 'k8s-ee.io/pinned-at': iso(t0 + ahead) }), config, d, now);
    assert.deepEqual(
      beyond.actions.map((a) => [a.kind, a.reason, a.patch?.annotations?.['k8s-ee.io/pinned-at']]),
      [['stamp-pin', 'pin-stamp-invalid', iso(t0)]],
      `${ahead} ms ahead`,
    );
  }
  // A first-pinned-at beyond the skew is no stamp either: the pin is stamped now.
  const first = planPin(pinned({ 'k8s-ee.io/first-pinned-at': iso(t0 + 6 * MINUTE) }), config, d, now);
  assert.deepEqual(
    first.actions.map((a) => [a.kind, a.reason]),
    [['stamp-pin', 'pin-unstamped']],
  );
});
