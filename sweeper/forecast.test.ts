// The forecast solves the planner's rules for the time: the planner deletes the namespace from that time on, and
// not a second before. Each case is checked against the planner itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import { forecastExpiry } from './forecast.ts';
import { plan } from './planner.ts';
import { SWEEPER_ANNOTATIONS as SA, type NamespaceInfo, type PrInfo, type ReleaseRecord } from './types.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const config = defaultConfig();

function ns(
  annotations: Record<string, string>,
  labels: Record<string, string> = {},
  created = ago(3 * DAY),
): NamespaceInfo {
  return {
    name: 'shop-pr-1',
    uid: 'uid-1',
    labels: { 'k8s-ee.io/managed': 'true', ...labels },
    annotations,
    phase: 'Active',
    creationTimestamp: created,
    conditions: [],
    finalizers: ['kubernetes'],
  };
}
const rel = (agoMs: number, status = 'deployed', revision = 3): ReleaseRecord => ({
  release: 'shop',
  revision,
  status,
  createdAt: ago(agoMs),
});

const deletesAt = (n: NamespaceInfo, records: ReleaseRecord[], prs: Record<string, PrInfo>, at: number): boolean =>
  plan(
    { namespaces: [n], releases: { [n.name]: records }, prs, volumes: undefined, nodes: undefined },
    config,
    new Date(at),
  ).some((a) => a.kind === 'delete-namespace');

const pinned = { preserve: 'true' };
const cases: { name: string; ns: NamespaceInfo; records: ReleaseRecord[]; pr?: PrInfo; reason: string; at: string }[] =
  [
    {
      name: 'deployed 2 days ago: the TTL (7d) after the last deploy',
      ns: ns({ [SA.releaseSeenAt]: ago(2 * DAY) }),
      records: [rel(3 * DAY, 'superseded', 2), rel(2 * DAY)],
      reason: 'ttl-expired',
      at: new Date(NOW.getTime() + 5 * DAY).toISOString(),
    },
    {
      name: 'uninstalled 10 s ago: the release grace (30s) from when the sweeper saw it gone',
      ns: ns({ [SA.releaseSeenAt]: ago(DAY), [SA.releaseGoneSince]: ago(10_000) }),
      records: [],
      reason: 'release-gone',
      at: new Date(NOW.getTime() + 20_000).toISOString(),
    },
    {
      name: 'never deployed, created 10 minutes ago: 30 minutes from creation',
      ns: ns({ [SA.releaseGoneSince]: ago(10 * MIN) }, {}, ago(10 * MIN)),
      records: [],
      reason: 'never-deployed',
      at: new Date(NOW.getTime() + 20 * MIN).toISOString(),
    },
    {
      name: 'pinned 2 hours ago with the TTL passed: the end of the pin (48h)',
      ns: ns({ [SA.releaseSeenAt]: ago(9 * DAY), 'k8s-ee.io/pinned-at': ago(2 * HOUR) }, pinned),
      records: [rel(8 * DAY)],
      reason: 'pin-expiry',
      at: new Date(NOW.getTime() + 46 * HOUR).toISOString(),
    },
    {
      name: 'pinned, deployed an hour ago: the TTL, later than the pin',
      ns: ns({ [SA.releaseSeenAt]: ago(HOUR), 'k8s-ee.io/pinned-at': ago(HOUR) }, pinned),
      records: [rel(HOUR)],
      reason: 'ttl-expired',
      at: new Date(NOW.getTime() + 7 * DAY - HOUR).toISOString(),
    },
  ];

describe('forecast: when the sweeper will delete an environment', () => {
  for (const c of cases) {
    test(c.name, () => {
      const f = forecastExpiry(c.ns, c.records, c.pr, config, NOW);
      assert.equal(f.reason, c.reason);
      assert.equal(f.expiresAt, c.at);
      const at = Date.parse(c.at);
      assert.equal(deletesAt(c.ns, c.records, {}, at - 1000), false, 'the planner keeps it a second before');
      assert.equal(deletesAt(c.ns, c.records, {}, at), true, 'and deletes it from then on');
    });
  }

  test('a closed PR: now (the sweeper deletes at its next run), named before the TTL', () => {
    const pr: PrInfo = { state: 'closed', ref: 'acme/shop#1', closedAt: ago(HOUR) };
    const n = ns({ [SA.releaseSeenAt]: ago(DAY) });
    const f = forecastExpiry(n, [rel(DAY)], pr, config, NOW);
    assert.deepEqual(f, { expiresAt: ago(HOUR), reason: 'pr-closed', why: `acme/shop#1 was closed at ${ago(HOUR)}` });
    assert.equal(deletesAt(n, [rel(DAY)], { [n.name]: pr }, NOW.getTime()), true);
  });

  test('the pin is reported while pinned; without release records the time is unknown', () => {
    const n = ns({ 'k8s-ee.io/first-pinned-at': ago(10 * HOUR), 'k8s-ee.io/pinned-at': ago(HOUR) }, pinned);
    assert.deepEqual(forecastExpiry(n, undefined, undefined, config, NOW), {
      why: 'unknown: the Helm release records could not be read',
      pinnedUntil: new Date(NOW.getTime() + 38 * HOUR).toISOString(),
    });
  });
});
