import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, configFromYaml, mergeConfig } from './config-load.ts';
import { defaultConfig } from './config.ts';

test('an empty file gives the defaults', () => {
  assert.deepEqual(configFromYaml(''), defaultConfig());
});

test('defaults follow the PRD', () => {
  const config = defaultConfig();
  assert.equal(config.quota.base.requestsCpu, '300m');
  assert.equal(config.quota.base.requestsMemory, '512Mi');
  assert.deepEqual(Object.keys(config.quota.perDatabase).sort(), [
    'mariadb',
    'minio',
    'mongodb',
    'postgresql',
    'redis',
  ]);
  assert.equal(config.pins.maxPinned, 3);
  assert.equal(config.pins.maxDuration, '48h');
  assert.equal(config.previewDomain, 'preview.example.com');
});

test('fields merge over the defaults', () => {
  const config = configFromYaml('previewDomain: pr.acme.dev\nquota:\n  base:\n    requestsCpu: 500m\n');
  assert.equal(config.previewDomain, 'pr.acme.dev');
  assert.equal(config.quota.base.requestsCpu, '500m');
  assert.equal(config.quota.base.requestsMemory, '512Mi');
});

test('every problem is reported with its field path', () => {
  const text =
    'quota:\n  base:\n    requestsCpu: 3 cores\n    podz: 3\npins:\n  maxPinned: -1\nsweeper:\n  ttl: 7 days\n';
  assert.throws(
    () => configFromYaml(text, 'k8s-ee.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.problems.map((p) => p.path).sort();
      assert.deepEqual(paths, ['pins.maxPinned', 'quota.base.podz', 'quota.base.requestsCpu', 'sweeper.ttl']);
      assert.match(err.message, /quota\.base\.requestsCpu: expected a Kubernetes quantity/);
      assert.match(err.message, /quota\.base\.podz: unknown field/);
      assert.match(err.message, /^k8s-ee\.yaml: invalid configuration/);
      return true;
    },
  );
});

test('semantic checks: the pattern must compile and name its groups', () => {
  assert.throws(
    () => configFromYaml('namespacePattern: "^(.*)-pr-([0-9]+)$"'),
    /namespacePattern: must have named groups/,
  );
  assert.throws(
    () => configFromYaml('namespacePattern: "^(?<project>[a-z+)-pr-(?<number>[0-9]+)$"'),
    /not a valid regular expression/,
  );
  assert.throws(() => configFromYaml('pins:\n  warnBefore: 3d\n'), /pins\.warnBefore: must be shorter/);
});

test("one run reports every problem: the schema's and the semantic ones together", () => {
  const text = [
    'namespacePattern: "^(.*)-pr-([0-9]+)$"', // semantic: no named groups
    'previewDomain: "Not A Domain"', // schema
    'pins:',
    '  warnBefore: 3d', // semantic: not shorter than maxDuration
    '  maxPinnd: 3', // schema: unknown field
    'sweeper:',
    '  schedule: "61 * * * *"', // semantic: not a cron expression
    '  diskSchedule: 5', // schema: wrong type (not judged again as a cron expression)
    'networkPolicy:',
    '  internetEgress:',
    '    exceptCidrs: ["10.0.0.0/33", 7]', // semantic (not a CIDR) and schema (not a string)
  ].join('\n');
  assert.throws(
    () => configFromYaml(text),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems.map((p) => p.path).sort(), [
        'namespacePattern',
        'networkPolicy.internetEgress.exceptCidrs.0',
        'networkPolicy.internetEgress.exceptCidrs.1',
        'pins.maxPinnd',
        'pins.warnBefore',
        'previewDomain',
        'sweeper.diskSchedule',
        'sweeper.schedule',
      ]);
      assert.match(err.message, /namespacePattern: must have named groups/);
      assert.match(err.message, /sweeper\.schedule: "61 \* \* \* \*" is not a valid cron expression/);
      return true;
    },
  );
});

test('a field of the wrong type is reported once, and the semantic checks do not trip over it', () => {
  for (const text of ['sweeper: 5', 'pins: []', 'networkPolicy:\n  internetEgress: "all"', 'namespacePattern: 7']) {
    assert.throws(
      () => configFromYaml(text),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1,
      text,
    );
  }
});

test('YAML that does not parse, or is not a mapping, is reported', () => {
  assert.throws(() => configFromYaml('quota: [unclosed'), /not valid YAML/);
  assert.throws(() => configFromYaml('- a\n- b\n'), /expected a mapping of fields/);
});

test('arrays replace, objects merge', () => {
  const merged = mergeConfig({ a: [1, 2], b: { c: 1, d: 2 } }, { a: [3], b: { d: 4 } });
  assert.deepEqual(merged, { a: [3], b: { c: 1, d: 4 } });
});

test('cron schedules are checked when the file is loaded', () => {
  assert.throws(
    () => configFromYaml("sweeper:\n  schedule: '*/5 * * *'\n"),
    /sweeper\.schedule: expected a cron expression of 5 or 6 fields/,
  );
  assert.throws(
    () => configFromYaml("sweeper:\n  diskSchedule: '61 * * * *'\n"),
    /sweeper\.diskSchedule: "61 \* \* \* \*" is not a valid cron expression/,
  );
  assert.equal(configFromYaml("sweeper:\n  schedule: '*/10 * * * * *'\n").sweeper.schedule, '*/10 * * * * *');
});

test('private ranges must be CIDRs in plain notation; the cluster domain must be a DNS name', () => {
  const text = [
    'clusterDomain: "Cluster Local"',
    'networkPolicy:',
    '  internetEgress:',
    '    exceptCidrs: ["10.0.0.0/8", "fd00::/8", "010.0.0.0/8", "10.1.0.0/8", "::ffff:a00:0/104", "1.2.3.4/40"]',
  ].join('\n');
  assert.throws(
    () => configFromYaml(text),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      // The schema's problem and the CIDRs' together, in one run.
      assert.deepEqual(
        err.problems.map((p) => p.path),
        ['clusterDomain', ...[2, 3, 4, 5].map((i) => `networkPolicy.internetEgress.exceptCidrs.${i}`)],
      );
      return true;
    },
  );
  assert.throws(
    () => configFromYaml(text.replace('"Cluster Local"', 'k8s.acme.internal')),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.problems.map((p) => p.path),
        [2, 3, 4, 5].map((i) => `networkPolicy.internetEgress.exceptCidrs.${i}`),
      );
      assert.match(err.message, /"010\.0\.0\.0\/8" is not in plain notation: write "10\.0\.0\.0\/8"/);
      assert.match(err.message, /"1\.2\.3\.4\/40" is not a CIDR/);
      return true;
    },
  );
  assert.equal(configFromYaml('clusterDomain: k8s.acme.internal').clusterDomain, 'k8s.acme.internal');
  assert.equal(defaultConfig().clusterDomain, 'cluster.local');
});
