import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { createAdmissionMetrics, DURATION_BUCKETS, RouteHistogram } from './metrics.ts';

/** The sample lines of an exposition (no HELP or TYPE), each with its labels sorted, as a sorted list. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([^{ ]+)(?:\{([^}]*)\})? (.+)$/.exec(line);
      assert.ok(m, `not a sample line: ${line}`);
      const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${m[1]}{${labels}} ${m[3]}`;
    })
    .sort();
}

test('counts fold into the registry when it is read, and keep adding up across reads', async () => {
  const registry = new Registry();
  const metrics = createAdmissionMetrics(registry);
  const mutate = metrics.route('mutate');
  const validate = metrics.route('validate');
  for (let i = 0; i < 3; i++) mutate.answered('Deployment', 'patched');
  validate.answered('Pod', 'denied');
  validate.violation('pss:privileged');
  validate.violation('pss:privileged');
  validate.violation('pss:capabilities');
  mutate.refused(413);
  let text = await registry.metrics();
  assert.match(text, /^k8s_ee_admission_requests_total\{route="mutate",kind="Deployment",decision="patched"\} 3$/m);
  assert.match(text, /^k8s_ee_admission_requests_total\{route="validate",kind="Pod",decision="denied"\} 1$/m);
  assert.match(text, /^k8s_ee_admission_violations_total\{rule="pss:privileged"\} 2$/m);
  assert.match(text, /^k8s_ee_admission_violations_total\{rule="pss:capabilities"\} 1$/m);
  assert.match(text, /^k8s_ee_admission_bad_requests_total\{route="mutate",status="413"\} 1$/m);
  mutate.answered('Deployment', 'patched');
  mutate.answered('Namespace', 'patched');
  text = await registry.metrics();
  assert.match(text, /^k8s_ee_admission_requests_total\{route="mutate",kind="Deployment",decision="patched"\} 4$/m);
  assert.match(text, /^k8s_ee_admission_requests_total\{route="mutate",kind="Namespace",decision="patched"\} 1$/m);
  // A read with nothing new changes nothing; the JSON form sees the same counts.
  const json = await registry.getMetricsAsJSON();
  const requests = json.find((m) => m.name === 'k8s_ee_admission_requests_total');
  assert.deepEqual(requests?.values.map((v) => [v.labels['kind'], v.value]).sort(), [
    ['Deployment', 4],
    ['Namespace', 1],
    ['Pod', 1],
  ]);
});

test('the in-flight gauge follows started and written requests, per route; each route shows from the start', async () => {
  const registry = new Registry();
  const metrics = createAdmissionMetrics(registry);
  const mutate = metrics.route('mutate');
  metrics.route('validate');
  const first = mutate.start();
  const second = mutate.start();
  let text = await registry.metrics();
  assert.match(text, /^k8s_ee_admission_in_flight\{route="mutate"\} 2$/m);
  assert.match(text, /^k8s_ee_admission_in_flight\{route="validate"\} 0$/m);
  assert.match(text, /^k8s_ee_admission_duration_seconds_count\{route="validate"\} 0$/m);
  first();
  text = await registry.metrics();
  assert.match(text, /^k8s_ee_admission_in_flight\{route="mutate"\} 1$/m);
  assert.match(text, /^k8s_ee_admission_duration_seconds_count\{route="mutate"\} 1$/m);
  second();
  text = await registry.metrics();
  assert.match(text, /^k8s_ee_admission_in_flight\{route="mutate"\} 0$/m);
  assert.match(text, /^k8s_ee_admission_duration_seconds_count\{route="mutate"\} 2$/m);
  assert.match(text, /^k8s_ee_admission_duration_seconds_bucket\{route="mutate",le="\+Inf"\} 2$/m);
});

test('the duration histogram exports exactly what prom-client’s own histogram does for the same observations', async () => {
  const observations: [string, number][] = [
    ['mutate', 0.0001],
    ['mutate', 0.0005], // on a bound: counted in it (le is "less or equal")
    ['mutate', 0.003],
    ['mutate', 0.7],
    ['mutate', 9], // above every bound: only +Inf
    ['validate', 0.02],
    ['validate', 0.02],
  ];
  const ours = new Registry();
  const histogram = new RouteHistogram('d_seconds', 'help', DURATION_BUCKETS);
  ours.registerMetric(histogram as never);
  const theirs = new Registry();
  const reference = new Histogram({
    name: 'd_seconds',
    help: 'help',
    labelNames: ['route'],
    buckets: [...DURATION_BUCKETS],
    registers: [theirs],
  });
  for (const [route, seconds] of observations) {
    histogram.observe(histogram.series(route), seconds);
    reference.observe({ route }, seconds);
  }
  assert.deepEqual(samples(await ours.metrics()), samples(await theirs.metrics()));
  ours.resetMetrics();
  assert.match(await ours.metrics(), /^d_seconds_count\{route="mutate"\} 0$/m);
});
