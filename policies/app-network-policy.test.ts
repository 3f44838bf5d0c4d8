import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateAppNetworkPolicy, pinnedNamespaceNames } from './app-network-policy.ts';
import { defaultConfig } from './config.ts';

const config = defaultConfig();
const ns = 'shop-pr-42';
const policy = (spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'app' },
  spec,
});
const byName = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
const paths = (spec: unknown) => validateAppNetworkPolicy(policy(spec), ns, config).map((v) => v.path);

test('namespace selectors pinned by name', () => {
  assert.deepEqual(pinnedNamespaceNames({ matchLabels: { 'kubernetes.io/metadata.name': 'a' } }), ['a']);
  assert.deepEqual(
    pinnedNamespaceNames({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a', 'b'] }],
    }),
    ['a', 'b'],
  );
  assert.equal(pinnedNamespaceNames({}), undefined);
  assert.equal(pinnedNamespaceNames({ matchLabels: { team: 'a' } }), undefined);
});

test('allowed: same-namespace pods, the ingress controller, monitoring, internet egress without private ranges', () => {
  assert.deepEqual(
    paths({
      podSelector: {},
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: { app: 'web' } } },
            byName('kube-system'),
            byName('observability'),
            byName(ns),
          ],
        },
      ],
      egress: [
        {
          to: [
            {
              ipBlock: {
                cidr: '0.0.0.0/0',
                except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'],
              },
            },
          ],
        },
        { to: [byName('shared-services')] },
      ],
    }),
    [],
  );
});

test('refused: open ingress, any-namespace selectors, other PR namespaces, private ranges', () => {
  assert.deepEqual(paths({ ingress: [{}] }), ['spec.ingress[0].from']);
  assert.deepEqual(paths({ ingress: [{ from: [{ namespaceSelector: {} }] }] }), [
    'spec.ingress[0].from[0].namespaceSelector',
  ]);
  assert.deepEqual(paths({ ingress: [{ from: [byName('shop-pr-41')] }] }), [
    'spec.ingress[0].from[0].namespaceSelector',
  ]);
  assert.deepEqual(paths({ ingress: [{ from: [{ ipBlock: { cidr: '10.42.0.0/16' } }] }] }), [
    'spec.ingress[0].from[0].ipBlock.cidr',
  ]);
  assert.deepEqual(paths({ egress: [{ ports: [{ port: 443 }] }] }), ['spec.egress[0].to']);
  assert.deepEqual(paths({ egress: [{ to: [byName('shop-pr-41')] }] }), ['spec.egress[0].to[0].namespaceSelector']);
  assert.deepEqual(paths({ egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] }), [
    'spec.egress[0].to[0].namespaceSelector',
  ]);
  assert.deepEqual(paths({ egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] }).length, 1);
});

test('every violation of a policy is reported at once, with a fix', () => {
  const violations = validateAppNetworkPolicy(
    policy({ ingress: [{}, { from: [byName('other-pr-1')] }], egress: [{}] }),
    ns,
    config,
  );
  assert.equal(violations.length, 3);
  for (const v of violations) assert.ok(v.fix.length > 10);
});
