import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuantity } from '../lib/quantity.ts';
import { quotaHard } from './baseline.ts';
import {
  capacityUse,
  capacityViolation,
  decideCapacity,
  oldestFirst,
  requestsOfQuota,
  type CapacityState,
  type EnvironmentUse,
} from './capacity.ts';
import { defaultConfig, type Config } from './config.ts';

const q = (text: string): bigint => parseQuantity(text)!;
const amounts = (cpu: string, memory: string) => ({ cpu: q(cpu), memory: q(memory) });
const NOW = Date.parse('2026-12-01T12:00:00Z');
const BASE = requestsOfQuota(quotaHard([], defaultConfig()));

function withCapacity(capacity: Partial<Config['capacity']>): Config {
  const config = defaultConfig();
  return { ...config, capacity: { ...config.capacity, ...capacity } };
}

function env(n: number, extra: Partial<EnvironmentUse> = {}): EnvironmentUse {
  return {
    namespace: `shop-pr-${n}`,
    requests: BASE,
    createdAt: new Date(NOW - n * 3_600_000).toISOString(),
    pinned: false,
    ...extra,
  };
}

const state = (environments: EnvironmentUse[], allocatable = amounts('4', '24Gi'), others = amounts('0', '0')) =>
  ({ environments, allocatable, others }) satisfies CapacityState;

describe('capacity: the count limit', () => {
  test('the fourth environment is refused with a maximum of 3; pinned ones count', () => {
    const config = withCapacity({ maxEnvironments: 3 });
    const three = [env(1), env(2, { pinned: true }), env(3)];
    assert.deepEqual(decideCapacity({ namespace: 'shop-pr-9', requests: BASE }, state(three.slice(0, 2)), config), {
      ok: true,
    });
    assert.deepEqual(decideCapacity({ namespace: 'shop-pr-9', requests: BASE }, state(three), config), {
      ok: false,
      shortfalls: [{ kind: 'count', limit: 3, running: 3 }],
    });
  });

  test('an environment that exists already is never refused by the count (it may grow)', () => {
    const config = withCapacity({ maxEnvironments: 3 });
    const grown = requestsOfQuota(quotaHard(['postgresql'], config));
    assert.deepEqual(
      decideCapacity({ namespace: 'shop-pr-2', requests: grown }, state([env(1), env(2), env(3)]), config),
      { ok: true },
    );
  });

  test('unset (null): no count limit', () => {
    const many = Array.from({ length: 30 }, (_, i) => env(i + 1));
    assert.deepEqual(decideCapacity({ namespace: 'shop-pr-99', requests: BASE }, state(many), defaultConfig()), {
      ok: true,
    });
  });
});

describe('capacity: the resources', () => {
  test('memory at overcommit 1: the quotas fit the allocatable minus the other pods, then the next is refused', () => {
    const config = withCapacity({ overcommit: { cpu: 100, memory: 1 } });
    // 4Gi allocatable, 1Gi requested by other pods: 3Gi for PR quotas, 6 base environments of 512Mi.
    const five = Array.from({ length: 5 }, (_, i) => env(i + 1));
    const s = (list: EnvironmentUse[]) => state(list, amounts('4', '4Gi'), amounts('100m', '1Gi'));
    assert.deepEqual(decideCapacity({ namespace: 'shop-pr-6', requests: BASE }, s(five), config), { ok: true });
    const verdict = decideCapacity({ namespace: 'shop-pr-7', requests: BASE }, s([...five, env(6)]), config);
    assert.deepEqual(verdict, {
      ok: false,
      shortfalls: [
        { kind: 'resource', resource: 'memory', need: q('512Mi'), free: 0n, budget: q('3Gi'), granted: q('3Gi') },
      ],
    });
  });

  test('the CPU overcommit multiplies what the nodes can give (2 cores × 4 = 8 cores = 26 base environments)', () => {
    const config = defaultConfig();
    const fits = Array.from({ length: 26 }, (_, i) => env(i + 1));
    const s = (list: EnvironmentUse[]) => state(list, amounts('2', '100Gi'));
    assert.equal(decideCapacity({ namespace: 'shop-pr-99', requests: BASE }, s(fits.slice(0, 25)), config).ok, true);
    const verdict = decideCapacity({ namespace: 'shop-pr-99', requests: BASE }, s(fits), config);
    assert.equal(verdict.ok, false);
    assert.deepEqual(!verdict.ok && verdict.shortfalls.map((x) => x.kind === 'resource' && x.resource), ['cpu']);
  });

  test('a growing environment is judged on its new quota instead of its old one', () => {
    const config = withCapacity({ overcommit: { cpu: 100, memory: 1 } });
    const s = state([env(1), env(2)], amounts('4', '1536Mi'));
    const grown = requestsOfQuota(quotaHard(['postgresql'], config)); // 768Mi
    assert.equal(decideCapacity({ namespace: 'shop-pr-2', requests: grown }, s, config).ok, true);
    const twice = requestsOfQuota(quotaHard(['postgresql', 'mongodb'], config)); // 1152Mi
    assert.equal(decideCapacity({ namespace: 'shop-pr-2', requests: twice }, s, config).ok, false);
  });

  test('without a known node the resources are not judged (only the count)', () => {
    const verdict = decideCapacity(
      { namespace: 'shop-pr-9', requests: amounts('100', '100Ti') },
      { environments: [env(1)], allocatable: undefined, others: amounts('0', '0') },
      defaultConfig(),
    );
    assert.deepEqual(verdict, { ok: true });
  });

  test('other pods requesting more than the nodes have leave nothing (never a negative budget)', () => {
    const use = capacityUse(state([env(1)], amounts('1', '1Gi'), amounts('2', '2Gi')), defaultConfig());
    assert.deepEqual(use, { budget: { cpu: 0n, memory: 0n }, granted: BASE, count: 1 });
  });

  test('requestsOfQuota reads requests.cpu and requests.memory (or cpu, memory); malformed counts as nothing', () => {
    assert.deepEqual(requestsOfQuota({ 'requests.cpu': '1500m', 'requests.memory': '1Gi' }), amounts('1500m', '1Gi'));
    assert.deepEqual(requestsOfQuota({ cpu: '2', memory: 'lots' }), { cpu: q('2'), memory: 0n });
    assert.deepEqual(requestsOfQuota(undefined), { cpu: 0n, memory: 0n });
  });
});

describe('capacity: the refusal message', () => {
  const config = withCapacity({ maxEnvironments: 3 });
  const running = [
    env(1, { lastDeploy: { release: 'shop-pr-1', revision: 4, at: new Date(NOW - 600_000).toISOString() } }),
    env(5, { pinned: true, pinnedUntil: '2026-12-02T10:00:00.000Z' }),
    env(3),
  ];

  test('lists the environments oldest first, with age, last deploy, pin and reservation, and how to free one', () => {
    const verdict = decideCapacity({ namespace: 'shop-pr-9', requests: BASE }, state(running), config);
    assert.equal(verdict.ok, false);
    const v = capacityViolation({ namespace: 'shop-pr-9', requests: BASE }, verdict, running, config, NOW);
    assert.equal(v.rule, 'capacity');
    assert.equal(v.path, 'metadata.name');
    assert.equal(
      v.message,
      [
        'no room for PR environment shop-pr-9:',
        '  - at most 3 PR environments may exist at once (capacity.maxEnvironments) and 3 do',
        'PR environments now, oldest first:',
        '  1. shop-pr-5 (age 5h, no Helm release, pinned until 2026-12-02T10:00:00.000Z, reserves 300m CPU, 512Mi)',
        '  2. shop-pr-3 (age 3h, no Helm release, not pinned, reserves 300m CPU, 512Mi)',
        '  3. shop-pr-1 (age 1h, last deploy shop-pr-1 v4 10m ago, not pinned, reserves 300m CPU, 512Mi)',
      ].join('\n'),
    );
    assert.match(v.fix, /^free one: helm uninstall <release> -n shop-pr-5 /);
    assert.match(v.fix, /unpin one \(kubectl label namespace shop-pr-5 preserve-\)/);
    assert.match(v.fix, /then run this deploy again/);
  });

  test('names the release to uninstall when the oldest has one, and the resource that is short', () => {
    const tight = { ...config, capacity: { maxEnvironments: null, overcommit: { cpu: 1, memory: 1 } } };
    const two = [running[0]!, running[2]!];
    const verdict = decideCapacity({ namespace: 'shop-pr-9', requests: BASE }, state(two, amounts('4', '1Gi')), tight);
    assert.equal(verdict.ok, false);
    const v = capacityViolation({ namespace: 'shop-pr-9', requests: BASE }, verdict, two, tight, NOW);
    assert.match(
      v.message,
      /its quota reserves 512Mi of requests\.memory, but none is free: PR environments may reserve 1024Mi \(the nodes' allocatable minus other pods' requests, × overcommit 1\) and reserve 1024Mi already/,
    );
    assert.match(v.fix, /^free one: helm uninstall <release> -n shop-pr-3/);
    const growing = capacityViolation(
      { namespace: 'shop-pr-1', requests: BASE, grows: true },
      verdict,
      two,
      tight,
      NOW,
    );
    assert.match(growing.message, /^shop-pr-1 cannot grow its quota/);
    assert.doesNotMatch(growing.message, /1\. shop-pr-1 /);
    assert.equal(growing.path, 'data');
    assert.match(growing.fix, /declare fewer databases/);
  });

  test('oldestFirst puts unknown creation times last', () => {
    const list = [
      { namespace: 'b' },
      { namespace: 'a', createdAt: '2026-01-02T00:00:00Z' },
      { namespace: 'c', createdAt: '2026-01-01T00:00:00Z' },
    ];
    assert.deepEqual(
      oldestFirst(list).map((e) => e.namespace),
      ['c', 'a', 'b'],
    );
  });
});
