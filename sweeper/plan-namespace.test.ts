// The sweeper's per-namespace rules (plan-namespace.ts), at their boundaries: when a namespace becomes an orphan
// (ttl, release gone, never deployed, PR closed), when a pin warns and expires, when Terminating counts as stuck.
// One millisecond before a limit nothing happens; at the limit it does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import { durationsOf, isTerminating, planPin, planRelease, planStuck, prReason, timeOf } from './plan-namespace.ts';
import type { NamespaceInfo, ReleaseRecord } from './types.ts';

const config = defaultConfig();
const d = durationsOf(config);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The default release grace (policies/config.ts). */
const GRACE = 30_000;
const DAY = 24 * HOUR;
const t0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const at = (ms: number): Date => new Date(ms);

const ns = (annotations: Record<string, string> = {}, extra: Partial<NamespaceInfo> = {}): NamespaceInfo => ({
  name: 'shop-pr-5',
  uid: 'u-5',
  labels: { 'k8s-ee.io/managed': 'true' },
  annotations,
  phase: 'Active',
  creationTimestamp: iso(t0),
  conditions: [],
  finalizers: [],
  ...extra,
});
const record = (revision: number, createdAt: number, status = 'deployed'): ReleaseRecord => ({
  release: 'shop',
  revision,
  status,
  createdAt: iso(createdAt),
});

describe('sweeper durations', () => {
  test('the configured durations are read; an unreadable one falls back to its documented default', () => {
    assert.deepEqual(d, {
      releaseGrace: GRACE,
      neverDeployedGrace: 30 * MINUTE,
      ttl: 7 * DAY,
      stuckAfter: 10 * MINUTE,
      pinMax: 48 * HOUR,
      pinWarn: HOUR,
    });
    const broken = defaultConfig();
    for (const key of ['releaseGrace', 'neverDeployedGrace', 'ttl', 'stuckAfter'] as const)
      broken.sweeper[key] = 'soon';
    broken.pins.maxDuration = 'forever';
    broken.pins.warnBefore = '';
    assert.deepEqual(durationsOf(broken), d);
  });

  test('timeOf: RFC 3339 read, anything else undefined', () => {
    assert.equal(timeOf(iso(t0)), t0);
    assert.equal(timeOf(''), undefined);
    assert.equal(timeOf(undefined), undefined);
    assert.equal(timeOf('yesterday'), undefined);
  });

  test('isTerminating: a deletion timestamp or the Terminating phase, either one', () => {
    assert.equal(isTerminating({ phase: 'Active' }), false);
    assert.equal(isTerminating({ phase: 'Terminating' }), true);
    assert.equal(isTerminating({ phase: 'Active', deletionTimestamp: iso(t0) }), true);
  });
});

describe('sweeper release rules', () => {
  test('ttl: a namespace whose last deploy is older than the ttl is an orphan, from that instant on', () => {
    const records = [record(1, t0), record(2, t0 + HOUR, 'superseded'), record(3, t0 + 2 * HOUR)];
    const seen = ns({ 'k8s-ee.io/release-seen-at': iso(t0) });
    const deployedAt = t0 + 2 * HOUR;
    assert.deepEqual(planRelease(seen, records, d, at(deployedAt + 7 * DAY - 1)), { actions: [], reasons: [] });
    assert.deepEqual(planRelease(seen, records, d, at(deployedAt + 7 * DAY)).reasons, [
      { reason: 'ttl-expired', ageMs: 0, why: 'last deploy shop@v3 was 7d ago (ttl 7d)' },
    ]);
  });

  test('a live release: the namespace is marked as deployed once, and a release-gone mark is cleared', () => {
    const records = [record(1, t0)];
    const now = at(t0 + MINUTE);
    const verdict = planRelease(ns({ 'k8s-ee.io/release-gone-since': iso(t0) }), records, d, now);
    assert.deepEqual(verdict.actions, [
      {
        kind: 'mark-release-seen',
        target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'u-5' },
        reason: 'release-seen',
        message: 'live Helm release shop@v1(deployed): namespace marked as deployed',
        details: { releases: ['shop@v1(deployed)'] },
        patch: { annotations: { 'k8s-ee.io/release-seen-at': now.toISOString() } },
        bookkeeping: true,
      },
      {
        kind: 'clear-release-gone',
        target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'u-5' },
        reason: 'release-returned',
        message: 'live Helm release shop@v1(deployed) is back: release-gone mark removed',
        details: { releases: ['shop@v1(deployed)'] },
        patch: { annotations: { 'k8s-ee.io/release-gone-since': null } },
        bookkeeping: true,
      },
    ]);
    assert.deepEqual(planRelease(ns({ 'k8s-ee.io/release-seen-at': iso(t0) }), records, d, now).actions, []);
  });

  test('release gone after a deploy: marked at once, an orphan after the release grace exactly', () => {
    const deployed = ns({ 'k8s-ee.io/release-seen-at': iso(t0 + MINUTE) });
    const records = [record(1, t0, 'uninstalled')];
    const first = planRelease(deployed, records, d, at(t0 + 2 * MINUTE));
    assert.deepEqual(first.actions, [
      {
        kind: 'mark-release-gone',
        target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'u-5' },
        reason: 'release-gone',
        message: 'no live Helm release (shop uninstalled, history kept): deleted after 30s unless one returns',
        details: { since: iso(t0 + 2 * MINUTE), deployed: true, uninstalled: ['shop'] },
        patch: { annotations: { 'k8s-ee.io/release-gone-since': iso(t0 + 2 * MINUTE) } },
      },
    ]);
    assert.deepEqual(first.reasons, []);
    const marked = ns({
      'k8s-ee.io/release-seen-at': iso(t0 + MINUTE),
      'k8s-ee.io/release-gone-since': iso(t0 + HOUR),
    });
    assert.deepEqual(planRelease(marked, [], d, at(t0 + HOUR + GRACE - 1)), { actions: [], reasons: [] });
    assert.deepEqual(planRelease(marked, [], d, at(t0 + HOUR + GRACE)).reasons, [
      { reason: 'release-gone', ageMs: GRACE, why: 'no live Helm release for 30s (grace 30s)' },
    ]);
  });

  test('never deployed: an orphan 30 minutes after creation exactly; a seen-at from before creation does not count', () => {
    // A release-seen-at older than the namespace (left by a namespace of the same name) is no deploy of this one.
    const never = ns({ 'k8s-ee.io/release-seen-at': iso(t0 - HOUR), 'k8s-ee.io/release-gone-since': iso(t0) });
    assert.deepEqual(planRelease(never, [], d, at(t0 + 30 * MINUTE - 1)), { actions: [], reasons: [] });
    assert.deepEqual(planRelease(never, [], d, at(t0 + 30 * MINUTE)).reasons, [
      { reason: 'never-deployed', ageMs: 30 * MINUTE, why: 'never deployed, created 30m ago (grace 30m)' },
    ]);
    const fresh = planRelease(ns(), [], d, at(t0));
    assert.deepEqual(fresh.actions[0]?.reason, 'never-deployed');
    assert.equal(fresh.actions[0]?.message, 'no Helm release yet: deleted if none appears within 30m of creation');
    assert.deepEqual(fresh.actions[0]?.details, { since: iso(t0), deployed: false });
    assert.deepEqual(planRelease(ns(), undefined, d, at(t0 + DAY)), { actions: [], reasons: [] }, 'records unknown');
  });
});

describe('sweeper PR rule', () => {
  test('merged, closed and gone PRs are reasons with their age; open and unknown never are', () => {
    const closedAt = iso(t0);
    assert.deepEqual(prReason({ state: 'merged', ref: 'acme/shop#5', closedAt }, at(t0 + HOUR)), {
      reason: 'pr-merged',
      ageMs: HOUR,
      why: `acme/shop#5 was merged at ${closedAt}`,
    });
    assert.deepEqual(prReason({ state: 'closed', closedAt }, at(t0 + HOUR)), {
      reason: 'pr-closed',
      ageMs: HOUR,
      why: `the PR was closed at ${closedAt}`,
    });
    assert.deepEqual(prReason({ state: 'closed', ref: 'acme/shop#5' }, at(t0)), {
      reason: 'pr-closed',
      ageMs: 0,
      why: 'acme/shop#5 was closed',
    });
    assert.deepEqual(prReason({ state: 'gone', ref: 'acme/shop#5' }, at(t0)), {
      reason: 'pr-not-found',
      ageMs: 0,
      why: 'acme/shop#5 does not exist (404) while its repository answers',
    });
    // A closedAt in the future (clock skew) is age 0, never negative.
    assert.equal(prReason({ state: 'merged', closedAt: iso(t0 + HOUR) }, at(t0))?.ageMs, 0);
    assert.equal(prReason({ state: 'open' }, at(t0)), undefined);
    assert.equal(prReason({ state: 'unknown', detail: 'rate limited' }, at(t0)), undefined);
    assert.equal(prReason(undefined, at(t0)), undefined);
  });
});

describe('sweeper stuck rule', () => {
  test('Terminating counts as stuck after 10 minutes exactly, reported with finalizers and blocking conditions', () => {
    const terminating = ns(
      {},
      {
        phase: 'Terminating',
        deletionTimestamp: iso(t0),
        finalizers: ['kubernetes'],
        conditions: [
          { type: 'NamespaceContentRemaining', status: 'True', message: 'Some resources are remaining: pods.' },
          { type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain' },
          { type: 'NamespaceDeletionDiscoveryFailure', status: 'False', message: 'all good' },
        ],
      },
    );
    assert.equal(planStuck(terminating, d, at(t0 + 10 * MINUTE - 1)), undefined);
    assert.deepEqual(planStuck(terminating, d, at(t0 + 10 * MINUTE)), {
      kind: 'report-stuck',
      target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'u-5' },
      reason: 'stuck-terminating',
      message:
        'Terminating for 10m (limit 10m); finalizers: kubernetes; NamespaceContentRemaining: Some resources are remaining: pods.; NamespaceFinalizersRemaining: SomeFinalizersRemain; finalizers are not removed by k8s-ee',
      details: {
        terminatingSeconds: 600,
        finalizers: ['kubernetes'],
        conditions: [
          'NamespaceContentRemaining: Some resources are remaining: pods.',
          'NamespaceFinalizersRemaining: SomeFinalizersRemain',
        ],
      },
    });
    const bare = ns(
      {},
      { phase: 'Terminating', deletionTimestamp: iso(t0), conditions: [{ type: 'X', status: 'True' }] },
    );
    assert.equal(
      planStuck(bare, d, at(t0 + HOUR))?.message,
      'Terminating for 1h (limit 10m); finalizers: none; X:; finalizers are not removed by k8s-ee',
    );
    assert.equal(planStuck(ns(), d, at(t0 + DAY)), undefined, 'not being deleted');
  });
});

describe('sweeper pin rule', () => {
  const pinned = (annotations: Record<string, string>): NamespaceInfo =>
    ns(annotations, { labels: { 'k8s-ee.io/managed': 'true', preserve: 'true' } });

  test('a pin warns 1 hour before it expires exactly, once per pin, and says when', () => {
    const p = pinned({ 'k8s-ee.io/pinned-at': iso(t0) });
    assert.deepEqual(planPin(p, config, d, at(t0 + 47 * HOUR - 1)).actions, []);
    const warn = planPin(p, config, d, at(t0 + 47 * HOUR));
    assert.deepEqual(warn, {
      actions: [
        {
          kind: 'warn-pin',
          target: { kind: 'Namespace', name: 'shop-pr-5', uid: 'u-5' },
          reason: 'pin-expiring',
          message: `pin preserve=true expires in 1h (at ${iso(t0 + 48 * HOUR)})`,
          details: { pinnedAt: iso(t0), expiresAt: iso(t0 + 48 * HOUR) },
          patch: { annotations: { 'k8s-ee.io/pin-warned-at': iso(t0 + 47 * HOUR) } },
        },
      ],
      protects: true,
      ageMs: 47 * HOUR,
    });
    // Warned for this pin already: no second warning. A warning from an earlier pin does not count.
    const warned = pinned({ 'k8s-ee.io/pinned-at': iso(t0), 'k8s-ee.io/pin-warned-at': iso(t0) });
    assert.deepEqual(planPin(warned, config, d, at(t0 + 47 * HOUR)).actions, []);
    const earlier = pinned({ 'k8s-ee.io/pinned-at': iso(t0), 'k8s-ee.io/pin-warned-at': iso(t0 - 1) });
    assert.equal(planPin(earlier, config, d, at(t0 + 47 * HOUR)).actions[0]?.kind, 'warn-pin');
  });

  test('an expired pin is removed with what happened; a stamp-less pin is stamped with its expiry', () => {
    const expired = planPin(pinned({ 'k8s-ee.io/pinned-at': iso(t0) }), config, d, at(t0 + 50 * HOUR));
    assert.deepEqual(expired.actions[0]?.message, 'pin preserve=true expired (pinned 2d2h ago, limit 2d): removed');
    assert.deepEqual(expired.actions[0]?.details, {
      pinnedAt: iso(t0),
      expiresAt: iso(t0 + 48 * HOUR),
      label: 'preserve',
    });
    const unstamped = planPin(pinned({}), config, d, at(t0));
    assert.equal(unstamped.actions[0]?.message, 'pinned with no pinned-at stamp: treated as pinned now, expires in 2d');
    assert.deepEqual(unstamped.actions[0]?.details, { pinnedAt: iso(t0), expiresAt: iso(t0 + 48 * HOUR) });
    const garbled = planPin(pinned({ 'k8s-ee.io/pinned-at': 'tuesday' }), config, d, at(t0));
    assert.equal(
      garbled.actions[0]?.message,
      'pinned with untrustworthy pinned-at stamp "tuesday": treated as pinned now, expires in 2d',
    );
    // Exactly at the clock-skew bound the stamp is still trusted.
    assert.deepEqual(planPin(pinned({ 'k8s-ee.io/pinned-at': iso(t0 + 5 * MINUTE) }), config, d, at(t0)).actions, []);
  });
});
