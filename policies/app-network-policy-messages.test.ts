// Every refusal of an app NetworkPolicy, word for word: the field it names and the fix it gives are what a
// developer sees in the denial. One row per kind of refusal; a change of wording shows here for review.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateAppNetworkPolicy } from './app-network-policy.ts';
import { defaultConfig } from './config.ts';
import type { Violation } from './violation.ts';

const config = defaultConfig();

const cases: [string, unknown, Violation[]][] = [
  [
    'an ingress rule without from',
    { ingress: [{}] },
    [
      {
        rule: 'network-policy',
        path: 'spec.ingress[0].from',
        message:
          'an ingress rule without "from" admits traffic from every namespace and address, including other PR environments',
        fix: 'list the peers: a podSelector for pods of this namespace, or the ingress controller\'s namespace by name (namespaceSelector.matchLabels["kubernetes.io/metadata.name"]: kube-system)',
      },
    ],
  ],
  [
    'an ingress peer selecting namespaces by other labels',
    { ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.ingress[0].from[0].namespaceSelector',
        message: 'selects namespaces by labels that other PR environments can match',
        fix: 'select namespaces by name: namespaceSelector.matchLabels["kubernetes.io/metadata.name"] one of shop-pr-42, kube-system, observability',
      },
    ],
  ],
  [
    'an egress peer selecting every namespace',
    { egress: [{ to: [{ namespaceSelector: {} }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].namespaceSelector',
        message: 'selects namespaces by labels that other PR environments can match',
        fix: 'select the destination namespace by name: namespaceSelector.matchLabels["kubernetes.io/metadata.name"]',
      },
    ],
  ],
  [
    'ingress from another PR environment',
    { ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop-pr-41' } } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.ingress[0].from[0].namespaceSelector',
        message: 'admits traffic from namespace "shop-pr-41"',
        fix: 'only shop-pr-42, kube-system, observability may send traffic into a PR environment; remove "shop-pr-41"',
      },
    ],
  ],
  [
    'egress into another PR environment',
    { egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop-pr-41' } } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].namespaceSelector',
        message: 'sends traffic into another PR environment ("shop-pr-41")',
        fix: 'PR environments are isolated from each other; remove "shop-pr-41"',
      },
    ],
  ],
  [
    'ingress by address, with exceptions',
    { ingress: [{ from: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.0/25'] } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.ingress[0].from[0].ipBlock',
        message:
          'admits traffic by address (ipBlock 203.0.113.0/24 (its exceptions included)): whatever has such an address gets in, other PR environments included wherever their pods or nodes are not in the private ranges; a PR environment admits only its own namespace, the ingress controller and monitoring, by namespace',
        fix: 'remove the ipBlock: visitors come through the ingress controller (namespace kube-system), which k8s-ee-allow-ingress-controller already admits, and monitoring (namespace observability) through k8s-ee-allow-monitoring; to name one of them yourself write namespaceSelector.matchLabels["kubernetes.io/metadata.name"]: kube-system',
      },
    ],
  ],
  [
    'ingress by address without a readable cidr',
    { ingress: [{ from: [{ ipBlock: { cidr: 7 } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.ingress[0].from[0].ipBlock',
        message:
          'admits traffic by address (ipBlock): whatever has such an address gets in, other PR environments included wherever their pods or nodes are not in the private ranges; a PR environment admits only its own namespace, the ingress controller and monitoring, by namespace',
        fix: 'remove the ipBlock: visitors come through the ingress controller (namespace kube-system), which k8s-ee-allow-ingress-controller already admits, and monitoring (namespace observability) through k8s-ee-allow-monitoring; to name one of them yourself write namespaceSelector.matchLabels["kubernetes.io/metadata.name"]: kube-system',
      },
    ],
  ],
  [
    'egress to a private range',
    { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.cidr',
        message: '10.0.0.0/8 covers the private range 10.0.0.0/8, where pods of other PR environments live',
        fix: 'add 10.0.0.0/8 to ipBlock.except, or use a podSelector for pods of this namespace',
      },
    ],
  ],
  [
    'egress to two private ranges',
    {
      egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }] }],
    },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.cidr',
        message:
          '0.0.0.0/0 covers the private ranges 169.254.0.0/16, 100.64.0.0/10, where pods of other PR environments live',
        fix: 'add 169.254.0.0/16, 100.64.0.0/10 to ipBlock.except, or use a podSelector for pods of this namespace',
      },
    ],
  ],
  [
    'egress to a private IPv6 range',
    { egress: [{ to: [{ ipBlock: { cidr: 'fc00::/7' } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.cidr',
        message: 'fc00::/7 covers the private range fc00::/7, where pods of other PR environments live',
        fix: 'add fc00::/7 to ipBlock.except (for the IPv6 internet, 2000::/3 stays clear of them), or use a podSelector for pods of this namespace',
      },
    ],
  ],
  [
    'except that is not a list',
    { egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: '10.0.0.0/8' } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.except',
        message: 'must be a list of CIDRs, got a string',
        fix: 'write a CIDR the API server accepts, such as 203.0.113.0/24 or 2001:db8::/32',
      },
    ],
  ],
  [
    'a cidr that is not a string',
    { egress: [{ to: [{ ipBlock: { cidr: 10 } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.cidr',
        message: 'must be a CIDR string, got a number',
        fix: 'write a CIDR the API server accepts, such as 203.0.113.0/24 or 2001:db8::/32',
      },
    ],
  ],
  [
    'a cidr the API server does not accept',
    { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0' } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to[0].ipBlock.cidr',
        message: '"10.0.0.0" is not an address range the API server accepts, so where it leads cannot be judged',
        fix: 'write a CIDR the API server accepts, such as 203.0.113.0/24 or 2001:db8::/32',
      },
    ],
  ],
  [
    'an egress rule without to',
    { egress: [{}] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to',
        message:
          'an egress rule without "to" opens every port to every destination, including other PR environments (their pods and Services) and the private ranges',
        fix: 'list the destinations in "to": a podSelector for pods of this namespace, a namespace by name (namespaceSelector.matchLabels["kubernetes.io/metadata.name"]), or an ipBlock outside the private ranges; DNS is already open through k8s-ee-allow-dns, the internet through k8s-ee-allow-internet-egress',
      },
    ],
  ],
  [
    'an egress rule without to, with ports',
    { egress: [{ ports: [{ port: 443 }, { port: 8000, endPort: 8080, protocol: 'UDP' }, { port: 'http' }, {}] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to',
        message:
          'an egress rule without "to" opens ports 443, 8000-8080, http, every port (TCP, UDP) to every destination, including other PR environments (their pods and Services) and the private ranges',
        fix: 'list the destinations in "to": a podSelector for pods of this namespace, a namespace by name (namespaceSelector.matchLabels["kubernetes.io/metadata.name"]), or an ipBlock outside the private ranges; DNS is already open through k8s-ee-allow-dns, the internet through k8s-ee-allow-internet-egress',
      },
    ],
  ],
  [
    'an egress rule without to, DNS ports only',
    { egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to',
        message:
          'an egress rule without "to" opens port 53 (UDP) to every destination, including other PR environments (their pods and Services) and the private ranges',
        fix: 'DNS is already open through k8s-ee-allow-dns, so remove this rule; to keep it, send it to the cluster DNS only: {"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}],"ports":[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53}]}',
      },
    ],
  ],
  [
    'an egress rule without to, a port of another type',
    { egress: [{ ports: [{ port: { x: 1 } }] }] },
    [
      {
        rule: 'network-policy',
        path: 'spec.egress[0].to',
        message:
          'an egress rule without "to" opens port {"x":1} (TCP) to every destination, including other PR environments (their pods and Services) and the private ranges',
        fix: 'list the destinations in "to": a podSelector for pods of this namespace, a namespace by name (namespaceSelector.matchLabels["kubernetes.io/metadata.name"]), or an ipBlock outside the private ranges; DNS is already open through k8s-ee-allow-dns, the internet through k8s-ee-allow-internet-egress',
      },
    ],
  ],
];

for (const [name, spec, expected] of cases) {
  test(`network-policy refusal, word for word: ${name}`, () => {
    assert.deepEqual(validateAppNetworkPolicy({ spec }, 'shop-pr-42', config), expected);
  });
}

test('network-policy refusal: without internet egress the fix does not offer it', () => {
  const off = defaultConfig();
  off.networkPolicy.internetEgress.enabled = false;
  assert.deepEqual(
    validateAppNetworkPolicy({ spec: { egress: [{}] } }, 'shop-pr-42', off).map((v) => v.fix),
    [
      'list the destinations in "to": a podSelector for pods of this namespace, a namespace by name (namespaceSelector.matchLabels["kubernetes.io/metadata.name"]), or an ipBlock outside the private ranges; DNS is already open through k8s-ee-allow-dns',
    ],
  );
});

test('network-policy: what passes without a word', () => {
  const byName = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
  const allowed: unknown[] = [
    // A public cidr written with host bits is read as its network (only an exception must be exact).
    { egress: [{ to: [{ ipBlock: { cidr: '203.0.113.7/24' } }] }] },
    // Egress to its own namespace, or to a namespace that is no PR environment.
    { egress: [{ to: [byName('shop-pr-42'), byName('shared-services')] }] },
    { ingress: [{ from: [byName('shop-pr-42'), byName('kube-system'), byName('observability')] }] },
  ];
  for (const spec of allowed)
    assert.deepEqual(validateAppNetworkPolicy({ spec }, 'shop-pr-42', config), [], JSON.stringify(spec));
  // An empty except list is no exception: the ingress refusal does not mention exceptions.
  const [ingress] = validateAppNetworkPolicy(
    { spec: { ingress: [{ from: [{ ipBlock: { cidr: '203.0.113.0/24', except: [] } }] }] } },
    'shop-pr-42',
    config,
  );
  assert.match(ingress?.message ?? '', /^admits traffic by address \(ipBlock 203\.0\.113\.0\/24\): /);
});
