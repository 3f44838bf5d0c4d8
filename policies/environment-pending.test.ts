import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildBaseline, quotaHard } from './baseline.ts';
import { defaultConfig } from './config.ts';
import {
  baselineForNewEnvironment,
  desiredBaseline,
  PENDING_DATABASES,
  PENDING_MS,
  PENDING_UNTIL,
  pendingOf,
} from './environment-pending.ts';

const config = defaultConfig();
const NS = 'shop-pr-9';
const NOW = Date.parse('2026-12-01T12:00:00Z');
const environment = (databases: string) => ({
  kind: 'ConfigMap',
  metadata: { name: 'k8s-ee-environment' },
  data: { databases },
});
const quota = (annotations: Record<string, string>) => [
  { kind: 'ResourceQuota', metadata: { name: 'k8s-ee-quota', annotations } },
];
const pendingQuota = (databases: string, untilMs: number) =>
  quota({ [PENDING_DATABASES]: databases, [PENDING_UNTIL]: new Date(untilMs).toISOString() });

describe('pendingOf', () => {
  test('counts until its deadline, known databases only', () => {
    assert.deepEqual(pendingOf(pendingQuota('redis,postgresql,nope', NOW + 1000), NOW), {
      databases: ['postgresql', 'redis'],
      until: NOW + 1000,
    });
    assert.equal(pendingOf(pendingQuota('redis', NOW), NOW), undefined, 'expired');
    assert.equal(pendingOf(pendingQuota('redis', NOW + 3 * PENDING_MS), NOW), undefined, 'too far ahead');
    assert.equal(pendingOf(quota({ [PENDING_DATABASES]: 'redis' }), NOW), undefined, 'no deadline');
    assert.equal(pendingOf([], NOW), undefined);
  });
});

describe('desiredBaseline: the stored declaration, plus a pending one while it counts', () => {
  test('without a pending declaration: exactly buildBaseline of the stored ConfigMap', () => {
    const desired = desiredBaseline(NS, environment('postgresql'), [], config, NOW);
    assert.deepEqual(desired.objects, buildBaseline(NS, ['postgresql'], config));
    assert.equal(desired.recheckAt, undefined);
  });

  test('a pending declaration that adds databases grows the quota, is carried on, and says when to look again', () => {
    const live = pendingQuota('postgresql,redis', NOW + 5000);
    const desired = desiredBaseline(NS, environment('postgresql'), live, config, NOW);
    assert.deepEqual(desired.databases, ['postgresql', 'redis']);
    assert.deepEqual(desired.objects[0]?.spec, { hard: quotaHard(['postgresql', 'redis'], config) });
    assert.equal(desired.objects[0]?.metadata.annotations[PENDING_DATABASES], 'postgresql,redis');
    assert.equal(desired.recheckAt, NOW + 5000);
  });

  test('once stored (or expired), the ConfigMap alone decides', () => {
    const stored = desiredBaseline(NS, environment('postgresql,redis'), pendingQuota('redis', NOW + 5000), config, NOW);
    assert.deepEqual(stored.objects, buildBaseline(NS, ['postgresql', 'redis'], config));
    const expired = desiredBaseline(NS, environment(''), pendingQuota('redis', NOW - 1), config, NOW);
    assert.deepEqual(expired.databases, []);
  });
});

describe('baselineForNewEnvironment', () => {
  const live = [] as const;
  test('nothing to do when the new ConfigMap declares no database the quota lacks (a shrink waits for the store)', () => {
    const request = (stored: string, incoming: string) => ({
      namespace: NS,
      stored: environment(stored),
      incoming: environment(incoming),
      live,
    });
    assert.equal(baselineForNewEnvironment(request('postgresql,redis', 'redis'), config, NOW), undefined);
    assert.equal(baselineForNewEnvironment(request('', ''), config, NOW), undefined);
  });

  test('a first declaration: the union, pending until now + PENDING_MS', () => {
    const desired = baselineForNewEnvironment(
      { namespace: NS, stored: undefined, incoming: environment('postgresql, mariadb, mongodb, redis, minio'), live },
      config,
      NOW,
    );
    assert.deepEqual(desired?.databases, ['postgresql', 'mariadb', 'mongodb', 'redis', 'minio']);
    const quotaObject = desired?.objects[0];
    assert.equal(quotaObject?.metadata.annotations[PENDING_UNTIL], new Date(NOW + PENDING_MS).toISOString());
    assert.deepEqual(quotaObject?.spec['hard'], quotaHard(desired?.databases ?? [], config));
    assert.equal(
      desired?.hash,
      desiredBaseline(NS, environment('postgresql,mariadb,mongodb,redis,minio'), [], config, NOW).hash,
    );
  });

  test('an update that adds one keeps the stored ones and a still pending one', () => {
    const desired = baselineForNewEnvironment(
      {
        namespace: NS,
        stored: environment('postgresql'),
        incoming: environment('postgresql,minio'),
        live: pendingQuota('redis', NOW + 1000),
      },
      config,
      NOW,
    );
    assert.deepEqual(desired?.databases, ['postgresql', 'redis', 'minio']);
    assert.equal(desired?.objects[0]?.metadata.annotations[PENDING_DATABASES], 'postgresql,redis,minio');
  });
});

describe('pending declaration: where it is read from, and its bounds', () => {
  test('the annotation names are a contract with quotas already in clusters', () => {
    assert.equal(PENDING_DATABASES, 'k8s-ee.io/pending-databases');
    assert.equal(PENDING_UNTIL, 'k8s-ee.io/pending-until');
    assert.equal(PENDING_MS, 30_000);
  });

  test('only our quota carries it: the same annotations elsewhere, or on a quota of another name, count for nothing', () => {
    const annotations = { [PENDING_DATABASES]: 'redis', [PENDING_UNTIL]: new Date(NOW + 1000).toISOString() };
    const elsewhere = [
      { kind: 'LimitRange', metadata: { name: 'k8s-ee-quota', annotations } },
      { kind: 'ResourceQuota', metadata: { name: 'team-quota', annotations } },
      { kind: 'ResourceQuota' },
    ];
    assert.equal(pendingOf(elsewhere, NOW), undefined);
    assert.deepEqual(pendingOf([...elsewhere, ...quota(annotations)], NOW)?.databases, ['redis']);
    assert.equal(pendingOf([{ kind: 'ResourceQuota', metadata: { name: 'k8s-ee-quota' } }], NOW), undefined);
  });

  test('a deadline exactly twice PENDING_MS ahead still counts; one millisecond more does not', () => {
    assert.equal(pendingOf(pendingQuota('redis', NOW + 2 * PENDING_MS), NOW)?.until, NOW + 2 * PENDING_MS);
    assert.equal(pendingOf(pendingQuota('redis', NOW + 2 * PENDING_MS + 1), NOW), undefined);
    assert.deepEqual(pendingOf(pendingQuota('', NOW + 1000), NOW)?.databases, []);
  });

  test('a pending declaration that adds nothing to the stored one sets no recheck', () => {
    const live = pendingQuota('redis', NOW + 1000);
    const desired = desiredBaseline(NS, environment('redis,postgresql'), live, config, NOW);
    assert.deepEqual(desired.databases, ['postgresql', 'redis']);
    assert.equal('recheckAt' in desired, false);
    const adding = desiredBaseline(NS, environment('postgresql'), live, config, NOW);
    assert.equal(adding.recheckAt, NOW + 1000);
  });
});
