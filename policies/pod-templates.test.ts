import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { POD_KINDS, carriesPods, podTemplatesOf, withPodTemplates } from './pod-templates.ts';

const spec = (name: string): Record<string, unknown> => ({ containers: [{ name, image: 'x' }] });
const template = (name: string) => ({ metadata: { labels: { app: name } }, spec: spec(name) });

describe('podTemplatesOf', () => {
  const rows: { object: unknown; specPath: string; metadataPath: string }[] = [
    {
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: spec('p') },
      specPath: 'spec',
      metadataPath: 'metadata',
    },
    {
      object: { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: template('d') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'apps/v1', kind: 'StatefulSet', spec: { template: template('s') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'apps/v1', kind: 'DaemonSet', spec: { template: template('ds') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', spec: { template: template('rs') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'v1', kind: 'ReplicationController', spec: { template: template('rc') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'batch/v1', kind: 'Job', spec: { template: template('j') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    {
      object: { apiVersion: 'batch/v1', kind: 'CronJob', spec: { jobTemplate: { spec: { template: template('c') } } } },
      specPath: 'spec.jobTemplate.spec.template.spec',
      metadataPath: 'spec.jobTemplate.spec.template.metadata',
    },
    {
      object: { apiVersion: 'v1', kind: 'PodTemplate', template: template('t') },
      specPath: 'template.spec',
      metadataPath: 'template.metadata',
    },
    {
      object: { kind: 'Deployment', spec: { template: template('no-api-version') } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
  ];
  for (const row of rows) {
    const kind = (row.object as { kind: string }).kind;
    test(`${kind}: ${row.specPath}`, () => {
      const [found, ...rest] = podTemplatesOf(row.object);
      assert.equal(rest.length, 0);
      assert.equal(found?.kind, kind);
      assert.equal(found?.specPath, row.specPath);
      assert.equal(found?.metadataPath, row.metadataPath);
      assert.ok(Array.isArray(found?.spec['containers']));
    });
  }

  test('returns the object’s own spec (no copy) and the metadata when present', () => {
    const object = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: template('d') } };
    const [found] = podTemplatesOf(object);
    assert.equal(found?.spec, object.spec.template.spec);
    assert.equal(found?.metadata, object.spec.template.metadata);
  });

  test('a List yields the templates of its items, with item paths', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: template('d') } },
        { apiVersion: 'v1', kind: 'Pod', spec: spec('p') },
      ],
    };
    assert.deepEqual(
      podTemplatesOf(list).map((t) => [t.kind, t.specPath, t.metadataPath]),
      [
        ['Deployment', 'items[1].spec.template.spec', 'items[1].spec.template.metadata'],
        ['Pod', 'items[2].spec', 'items[2].metadata'],
      ],
    );
  });

  const none: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a string', 'Pod'],
    ['an array', [{ kind: 'Pod', spec: {} }]],
    ['a ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', data: {} }],
    ['a Deployment without spec', { apiVersion: 'apps/v1', kind: 'Deployment' }],
    [
      'a Deployment whose template spec is a string',
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: 'x' } } },
    ],
    ['a Pod whose spec is an array', { apiVersion: 'v1', kind: 'Pod', spec: [] }],
    [
      'a CRD reusing the kind Deployment',
      { apiVersion: 'example.com/v1', kind: 'Deployment', spec: { template: template('x') } },
    ],
    ['a Job in the wrong group', { apiVersion: 'apps/v1', kind: 'Job', spec: { template: template('x') } }],
    ['kind with a prototype name', { kind: 'toString', spec: {} }],
    ['a List whose items is not an array', { kind: 'List', items: { a: 1 } }],
  ];
  for (const [what, object] of none) {
    test(`no templates in ${what}, and no throw`, () => assert.deepEqual(podTemplatesOf(object), []));
  }

  test('metadata is undefined when the template has none', () => {
    const [found] = podTemplatesOf({ apiVersion: 'batch/v1', kind: 'Job', spec: { template: { spec: spec('j') } } });
    assert.equal(found?.metadata, undefined);
  });

  test('carriesPods tells the kinds apart, malformed or not', () => {
    assert.equal(carriesPods({ apiVersion: 'apps/v1', kind: 'Deployment' }), true);
    assert.equal(carriesPods({ apiVersion: 'v1', kind: 'Service' }), false);
    assert.equal(carriesPods(null), false);
    assert.deepEqual([...POD_KINDS].sort(), [
      'CronJob',
      'DaemonSet',
      'Deployment',
      'Job',
      'Pod',
      'PodTemplate',
      'ReplicaSet',
      'ReplicationController',
      'StatefulSet',
    ]);
  });
});

describe('withPodTemplates', () => {
  test('changes a copy, never the original: the spec and metadata are its own, what is below them is shared', () => {
    const original = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: template('d') } };
    const frozen = JSON.stringify(original);
    const changed = withPodTemplates(original, (s, m) => {
      s['hostNetwork'] = false;
      delete s['containers'];
      m['labels'] = { ...(m['labels'] as object), extra: 'yes' };
      m['name'] = 'renamed';
    });
    assert.equal(JSON.stringify(original), frozen);
    assert.deepEqual(changed.spec.template.spec, { hostNetwork: false });
    assert.deepEqual(changed.spec.template.metadata, { labels: { app: 'd', extra: 'yes' }, name: 'renamed' });
    // Untouched subtrees below the spec are the original's own objects (copy-on-write is the change's part).
    const untouched = withPodTemplates(original, () => undefined);
    assert.equal(untouched.spec.template.spec['containers'], original.spec.template.spec['containers']);
    assert.equal(untouched.spec.template.metadata.labels, original.spec.template.metadata.labels);
  });

  test('creates missing template metadata so labels can be added', () => {
    const cron = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      spec: { jobTemplate: { spec: { template: { spec: spec('c') } } } },
    };
    const changed = withPodTemplates(cron, (_s, m) => (m['labels'] = { a: 'b' }));
    assert.deepEqual((changed.spec.jobTemplate.spec.template as Record<string, unknown>)['metadata'], {
      labels: { a: 'b' },
    });
  });

  test('creates metadata for items of a List too', () => {
    const list = { kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', spec: spec('p') }] };
    const changed = withPodTemplates(list, (_s, m, where) => (m['name'] = where.metadataPath));
    assert.deepEqual((changed.items[0] as Record<string, unknown>)['metadata'], { name: 'items[0].metadata' });
  });

  test('passes where the template is, and skips objects without one', () => {
    const seen: string[] = [];
    withPodTemplates({ apiVersion: 'v1', kind: 'Pod', spec: spec('p') }, (_s, _m, where) => seen.push(where.specPath));
    withPodTemplates({ apiVersion: 'v1', kind: 'Service', spec: {} }, (_s, _m, where) => seen.push(where.specPath));
    withPodTemplates(
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { metadata: 'bad', spec: {} } } },
      (_s, _m, where) => seen.push(where.specPath),
    );
    assert.deepEqual(seen, ['spec']);
  });

  test('copies only the pod templates and the way to them; the rest is shared with the original', () => {
    const original = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { a: 'b' } },
      spec: { selector: { matchLabels: { app: 'web' } }, template: template('web') },
    };
    const changed = withPodTemplates(original, (s) => (s['hostNetwork'] = false));
    assert.equal(changed.metadata, original.metadata);
    assert.equal(changed.spec.selector, original.spec.selector);
    assert.notEqual(changed.spec, original.spec);
    assert.notEqual(changed.spec.template.spec, original.spec.template.spec);
    assert.equal(original.spec.template.spec['hostNetwork'], undefined);
  });

  test('in a List, every item changed and none of the originals', () => {
    const list = {
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Pod', metadata: { labels: { a: '1' } }, spec: spec('p') },
        { apiVersion: 'v1', kind: 'ConfigMap', data: { k: 'v' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: spec('d') } } },
      ],
    };
    const frozen = JSON.stringify(list);
    const changed = withPodTemplates(list, (_s, m) => (m['labels'] = { ...(m['labels'] as object), x: 'y' }));
    assert.equal(JSON.stringify(list), frozen);
    assert.deepEqual(
      changed.items.map((i) => (i as { metadata?: unknown }).metadata),
      [{ labels: { a: '1', x: 'y' } }, undefined, undefined],
    );
    assert.deepEqual((changed.items[2] as { spec: { template: unknown } }).spec.template, {
      spec: spec('d'),
      metadata: { labels: { x: 'y' } },
    });
    assert.equal(changed.items[1], list.items[1]);
  });

  test('returns an equal copy when nothing changes', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: spec('p') };
    const copy = withPodTemplates(pod, () => undefined);
    assert.notEqual(copy, pod);
    assert.deepEqual(copy, pod);
  });
});
