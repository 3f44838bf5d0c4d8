import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuantity } from '../lib/quantity.ts';
import { defaultConfig } from './config.ts';
import {
  containerLimits,
  effectiveContainer,
  limitRangeViolations,
  podContainers,
  podResources,
  type Amounts,
} from './pod-resources.ts';

const q = (text: string): bigint => parseQuantity(text) ?? -1n;
const lr = containerLimits(defaultConfig().limitRange); // 50m/64Mi requests, 200m/256Mi limits, max 1/1Gi
const amounts = (cpu: string, memory: string): Amounts => ({ cpu: q(cpu), memory: q(memory) });

describe('effectiveContainer: the API server defaulting, then the LimitRange', () => {
  const rows: { name: string; resources?: unknown; requests: Amounts; limits: Amounts; defaulted: string[] }[] = [
    {
      name: 'no resources: every amount from the LimitRange',
      requests: amounts('50m', '64Mi'),
      limits: amounts('200m', '256Mi'),
      defaulted: ['limits.cpu', 'requests.cpu', 'limits.memory', 'requests.memory'],
    },
    {
      name: 'a limit without a request: the request is the limit (not the LimitRange default)',
      resources: { limits: { cpu: '100m', memory: '32Mi' } },
      requests: amounts('100m', '32Mi'),
      limits: amounts('100m', '32Mi'),
      defaulted: [],
    },
    {
      name: 'a request without a limit: the LimitRange default limit',
      resources: { requests: { cpu: '10m', memory: '1Gi' } },
      requests: amounts('10m', '1Gi'),
      limits: amounts('200m', '256Mi'),
      defaulted: ['limits.cpu', 'limits.memory'],
    },
    {
      name: 'malformed amounts count as unset',
      resources: { requests: { cpu: 'lots' }, limits: 'x' },
      requests: amounts('50m', '64Mi'),
      limits: amounts('200m', '256Mi'),
      defaulted: ['limits.cpu', 'requests.cpu', 'limits.memory', 'requests.memory'],
    },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const c = effectiveContainer({ name: 'c', resources: row.resources }, 'containers[0]', lr);
      assert.deepEqual(c.requests, row.requests);
      assert.deepEqual(c.limits, row.limits);
      assert.deepEqual(c.defaulted, row.defaulted);
    });
  }

  test('a LimitRange with only max defaults limits and requests to it, as the API server does', () => {
    const onlyMax = containerLimits({ max: { cpu: '1', memory: '1Gi' } });
    assert.deepEqual(onlyMax.default, amounts('1', '1Gi'));
    assert.deepEqual(onlyMax.defaultRequest, amounts('1', '1Gi'));
  });
});

describe('podResources: the effective pod amount', () => {
  const res = (cpu: string, memory: string) => ({ requests: { cpu, memory }, limits: { cpu, memory } });
  test('app containers add up; an init container counts only when it is larger', () => {
    const spec = {
      initContainers: [{ name: 'migrate', resources: res('500m', '64Mi') }],
      containers: [
        { name: 'a', resources: res('100m', '100Mi') },
        { name: 'b', resources: res('100m', '100Mi') },
      ],
    };
    const pod = podResources(spec, podContainers(spec, lr));
    assert.deepEqual(pod.requests, amounts('500m', '200Mi'));
  });

  test('sidecars (init containers that keep running) add to the app and to the init containers after them', () => {
    const spec = {
      initContainers: [
        { name: 'proxy', restartPolicy: 'Always', resources: res('100m', '50Mi') },
        { name: 'migrate', resources: res('300m', '10Mi') },
      ],
      containers: [{ name: 'a', resources: res('100m', '100Mi') }],
    };
    const pod = podResources(spec, podContainers(spec, lr));
    assert.deepEqual(pod.requests, amounts('400m', '150Mi'));
  });

  test('pod-level resources decide when set', () => {
    const spec = { resources: { requests: { cpu: '1' } }, containers: [{ name: 'a', resources: res('100m', '1Mi') }] };
    assert.deepEqual(podResources(spec, podContainers(spec, lr)).requests, amounts('1', '1Mi'));
  });

  test('bad input gives zero, not an exception', () => {
    assert.deepEqual(podResources({ containers: 'x' }, podContainers({ containers: 'x' }, lr)).requests, {
      cpu: 0n,
      memory: 0n,
    });
  });
});

describe('limitRangeViolations', () => {
  test('above the maximum: limit and request, each with the path and the maximum', () => {
    const c = effectiveContainer(
      { name: 'big', resources: { requests: { memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } } },
      'containers[0]',
      lr,
    );
    const found = limitRangeViolations(c, 'spec.template.spec', lr);
    assert.deepEqual(
      found.map((v) => [v.rule, v.path]),
      [
        ['limit-range:max', 'spec.template.spec.containers[0].resources.limits.cpu'],
        ['limit-range:max', 'spec.template.spec.containers[0].resources.requests.cpu'],
        ['limit-range:max', 'spec.template.spec.containers[0].resources.limits.memory'],
        ['limit-range:max', 'spec.template.spec.containers[0].resources.requests.memory'],
      ],
    );
    assert.match(found[0]?.message ?? '', /is limited to 2 cpu, above the namespace's LimitRange maximum of 1/);
  });

  test('a request above the default limit it gets', () => {
    const c = effectiveContainer({ name: 'c', resources: { requests: { cpu: '500m' } } }, 'containers[0]', lr);
    const found = limitRangeViolations(c, 'spec', lr);
    assert.deepEqual(
      found.map((v) => v.rule),
      ['limit-range:default-limit'],
    );
    assert.match(found[0]?.fix ?? '', /set resources.limits.cpu to at least 500m \(at most 1\)/);
  });

  test('a container within the range has none', () => {
    const c = effectiveContainer({ name: 'c' }, 'containers[0]', lr);
    assert.deepEqual(limitRangeViolations(c, 'spec', lr), []);
  });
});
