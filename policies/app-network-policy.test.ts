import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsEgressRule, validateAppNetworkPolicy, pinnedNamespaceNames } from './app-network-policy.ts';
import { defaultConfig } from './config.ts';
import { BASELINE_NAMES } from './names.ts';
import { formatViolation } from './violation.ts';

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
    'spec.ingress[0].from[0].ipBlock',
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

const block = (ipBlock: unknown, direction: 'ingress' | 'egress' = 'egress') =>
  validateAppNetworkPolicy(
    policy({ [direction]: [{ [direction === 'egress' ? 'to' : 'from']: [{ ipBlock }] }] }),
    ns,
    config,
  );
const prefix = (direction: 'ingress' | 'egress') => `spec.${direction}[0].${direction === 'egress' ? 'to' : 'from'}[0]`;

test('address ranges: every notation the API server accepts that reaches a private range is refused', () => {
  const privateRanges = [
    '10.0.0.0/8',
    '10.42.0.0/16',
    '10.1.2.3/8',
    '10.1.2.3/32',
    '172.16.0.0/12',
    '172.31.255.255/32',
    '192.168.0.0/16',
    '169.254.169.254/32',
    '100.64.0.0/10',
    '0.0.0.0/0',
    '8.0.0.0/5',
    '010.0.0.0/8',
    '10.0.0.0/08',
    '010.000.000.000/008',
    '0010.0.0.0/8',
    '172.016.0.0/12',
    '192.168.001.000/24',
    '00.0.0.0/0',
    '::ffff:10.0.0.0/104',
    '::ffff:0.0.0.0/96',
    '::ffff:a00:0/104',
    '::FFFF:10.0.0.0/104',
    '0:0:0:0:0:ffff:10.0.0.0/104',
    '0000:0000:0000:0000:0000:ffff:0a00:0000/104',
    '::ffff:010.0.0.0/104',
    '::ffff:10.1.2.3/104',
    '::ffff:192.168.0.0/112',
    '::ffff:10.0.0.0/96',
    '::/0',
    '::0/0',
    '0::0/0',
    'fc00::/7',
    'fd00::/8',
    'FD00::/8',
    'fd12:3456:789a::/48',
    'fd00::1/128',
    '0fd00::/8',
    'fe80::/10',
    'FE80:0:0:0:0:0:0:0/10',
    'fe80::1/128',
    '::1/128',
    '0:0:0:0:0:0:0:1/128',
    '::/1',
    'f000::/4',
  ];
  for (const direction of ['egress'] as const) {
    for (const cidr of privateRanges) {
      const violations = block({ cidr }, direction);
      assert.ok(
        violations.some(
          (v) => v.path === `${prefix(direction)}.ipBlock.cidr` && /covers the private range/.test(v.message),
        ),
        `${direction} ${cidr}: ${JSON.stringify(violations)}`,
      );
    }
  }
});

test('address ranges: IPv6 follows the IPv4 rules; public ranges and closed private ranges pass', () => {
  const fine: unknown[] = [
    { cidr: '8.8.8.8/32' },
    { cidr: '203.0.113.0/24' },
    { cidr: '2001:db8::/32' },
    { cidr: '2000::/3' },
    { cidr: '2606:4700::6810:84e5/128' },
    { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'] },
    { cidr: '::/0', except: ['fc00::/7', 'fe80::/10', '::1/128'] },
    { cidr: '::/0', except: ['fc00::/7', 'FE80::/10', '0::1/128'] },
    { cidr: '10.0.0.0/7', except: ['10.0.0.0/8'] },
    { cidr: '11.0.0.0/8' },
  ];
  for (const ipBlock of fine) assert.deepEqual(block(ipBlock), [], JSON.stringify(ipBlock));
  const open = block({ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] });
  assert.equal(open.length, 1);
  assert.match(open[0]?.message ?? '', /172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 169\.254\.0\.0\/16, 100\.64\.0\.0\/10/);
  const v6 = block({ cidr: '::/0', except: ['fc00::/7'] });
  assert.match(v6[0]?.message ?? '', /::\/0 covers the private ranges fe80::\/10, ::1\/128/);
  assert.match(v6[0]?.fix ?? '', /2000::\/3/);
});

test('address ranges: non-standard notation is refused with the form to write, and never closes a range', () => {
  const cases: [unknown, string, RegExp][] = [
    [{ cidr: '008.008.008.008/32' }, 'ipBlock.cidr', /leading zeros.*8\.8\.8\.8\/32/],
    [{ cidr: '8.8.8.8/032' }, 'ipBlock.cidr', /leading zeros/],
    [{ cidr: '::ffff:8.8.8.8/128' }, 'ipBlock.cidr', /IPv4-mapped.*8\.8\.8\.8\/32/],
    [{ cidr: '2001:00db8::/32' }, 'ipBlock.cidr', /leading zeros.*2001:db8::\/32/],
    [{ cidr: '0.0.0.0/0', except: ['010.0.0.0/8'] }, 'ipBlock.except[0]', /leading zeros/],
    [{ cidr: '0.0.0.0/0', except: ['::ffff:10.0.0.0/104'] }, 'ipBlock.except[0]', /IPv4-mapped/],
    [{ cidr: '0.0.0.0/0', except: ['10.1.2.3/8'] }, 'ipBlock.except[0]', /ambiguous/],
  ];
  for (const [ipBlock, field, message] of cases) {
    const violations = block(ipBlock);
    const found = violations.find((v) => v.path === `${prefix('egress')}.${field}`);
    assert.ok(found, `${JSON.stringify(ipBlock)}: ${JSON.stringify(violations)}`);
    assert.match(found.message, message);
    assert.match(found.fix, /^write "/);
  }
  // The refused exception does not count: 10.0.0.0/8 is still open.
  const refusedExcept = block({
    cidr: '0.0.0.0/0',
    except: ['010.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'],
  });
  assert.ok(refusedExcept.some((v) => v.path.endsWith('ipBlock.cidr') && /10\.0\.0\.0\/8/.test(v.message)));
});

test('address ranges: anything that cannot be read is refused, naming the field and the accepted form', () => {
  const unreadable: [unknown, string][] = [
    [{ cidr: '10.0.0.0' }, 'ipBlock.cidr'],
    [{ cidr: '::1' }, 'ipBlock.cidr'],
    [{ cidr: ' 10.0.0.0/8' }, 'ipBlock.cidr'],
    [{ cidr: '10/8' }, 'ipBlock.cidr'],
    [{ cidr: '0x0a.0.0.0/8' }, 'ipBlock.cidr'],
    [{ cidr: '10.1/16' }, 'ipBlock.cidr'],
    [{ cidr: '10.0.0.0/33' }, 'ipBlock.cidr'],
    [{ cidr: 'fe80::1%eth0/64' }, 'ipBlock.cidr'],
    [{ cidr: 'localhost/8' }, 'ipBlock.cidr'],
    [{ cidr: '' }, 'ipBlock.cidr'],
    [{}, 'ipBlock.cidr'],
    [{ cidr: 10 }, 'ipBlock.cidr'],
    [{ cidr: ['10.0.0.0/8'] }, 'ipBlock.cidr'],
    [{ cidr: null }, 'ipBlock.cidr'],
    [{ cidr: '0.0.0.0/0', except: '10.0.0.0/8' }, 'ipBlock.except'],
    [{ cidr: '0.0.0.0/0', except: ['10.0.0.0'] }, 'ipBlock.except[0]'],
    [{ cidr: '0.0.0.0/0', except: [8] }, 'ipBlock.except[0]'],
  ];
  for (const [ipBlock, field] of unreadable) {
    const violations = block(ipBlock);
    const found = violations.find((v) => v.path === `${prefix('egress')}.${field}`);
    assert.ok(found, `${JSON.stringify(ipBlock)}: ${JSON.stringify(violations)}`);
    assert.match(found.fix, /203\.0\.113\.0\/24 or 2001:db8::\/32/);
  }
});

test('an egress rule without "to" says which ports it opens to every destination, and the rule to write', () => {
  const dnsRule = JSON.stringify(dnsEgressRule(config));
  // [rule, what the message names, what the fix must say]
  const cases: [unknown, RegExp, RegExp][] = [
    [{ ports: [{ protocol: 'UDP', port: 53 }] }, /opens port 53 \(UDP\) to every destination/, /DNS is already open/],
    [
      {
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      /opens port 53 \(UDP, TCP\) to every destination/,
      /DNS is already open/,
    ],
    [{ ports: [{ port: 53 }] }, /opens port 53 \(TCP\)/, /DNS is already open/],
    [{ ports: [{ port: 443 }] }, /opens port 443 \(TCP\) to every destination/, /list the destinations/],
    [{ ports: [{ port: 53 }, { port: 443 }] }, /opens ports 53, 443 \(TCP\)/, /list the destinations/],
    [{ ports: [{ port: 53, endPort: 60 }] }, /opens port 53-60 \(TCP\)/, /list the destinations/],
    [{ ports: [{ port: 'dns' }] }, /opens port dns \(TCP\)/, /list the destinations/],
    [{ ports: [{ protocol: 'UDP' }] }, /opens port every port \(UDP\)/, /list the destinations/],
    [{}, /opens every port to every destination/, /list the destinations/],
    [{ to: [] }, /opens every port to every destination/, /list the destinations/],
  ];
  for (const [rule, message, fix] of cases) {
    const violations = validateAppNetworkPolicy(policy({ egress: [rule] }), ns, config);
    assert.equal(violations.length, 1, JSON.stringify(rule));
    const [v] = violations;
    assert.equal(v?.path, 'spec.egress[0].to');
    assert.match(v?.message ?? '', message, JSON.stringify(rule));
    assert.match(v?.message ?? '', /including other PR environments/);
    assert.match(v?.fix ?? '', fix, JSON.stringify(rule));
    if (fix.source === 'DNS is already open') {
      assert.ok(v?.fix.includes(BASELINE_NAMES.allowDns));
      assert.ok(v?.fix.includes(dnsRule), v?.fix);
    } else {
      assert.ok(v?.fix.includes(BASELINE_NAMES.allowInternetEgress), v?.fix);
    }
  }
});

test('the DNS rule the fix shows is the baseline one (kube-dns in kube-system) and passes', () => {
  assert.deepEqual(dnsEgressRule(config), {
    to: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ],
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ],
  });
  assert.deepEqual(validateAppNetworkPolicy(policy({ egress: [dnsEgressRule(config)] }), ns, config), []);
  const [v] = validateAppNetworkPolicy(policy({ egress: [{ ports: [{ protocol: 'UDP', port: 53 }] }] }), ns, config);
  assert.ok(v);
  const rule = JSON.parse(/send it to the cluster DNS only: (.*)$/.exec(v.fix)?.[1] ?? 'null') as unknown;
  assert.deepEqual(validateAppNetworkPolicy(policy({ egress: [rule] }), ns, config), []);
  // A configured DNS follows the configuration; without internet egress the fix does not promise it.
  const custom = defaultConfig();
  custom.networkPolicy.dns = { namespace: 'dns', podLabels: {}, ports: [5353] };
  custom.networkPolicy.internetEgress.enabled = false;
  const [c] = validateAppNetworkPolicy(policy({ egress: [{ ports: [{ port: 5353 }] }] }), ns, custom);
  assert.match(
    c?.fix ?? '',
    /"to":\[\{"namespaceSelector":\{"matchLabels":\{"kubernetes.io\/metadata.name":"dns"\}\}\}\]/,
  );
  const [o] = validateAppNetworkPolicy(policy({ egress: [{ ports: [{ port: 443 }] }] }), ns, custom);
  assert.doesNotMatch(o?.fix ?? '', /internet/);
});

test('ingress by address is refused whatever the range; the fix names the ingress controller and monitoring', () => {
  const cases: unknown[] = [
    { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'] },
    { cidr: '::/0', except: ['fc00::/7', 'fe80::/10', '::1/128'] },
    { cidr: '2000::/3' },
    { cidr: '203.0.113.0/24' },
    { cidr: '8.8.8.8/32' },
    { cidr: '10.42.0.0/16' },
    { cidr: '010.0.0.0/8' },
    { cidr: 'not a range' },
    {},
  ];
  for (const ipBlock of cases) {
    const violations = block(ipBlock, 'ingress');
    assert.equal(violations.length, 1, JSON.stringify(violations));
    const [v] = violations;
    assert.equal(v?.path, 'spec.ingress[0].from[0].ipBlock');
    assert.match(v?.message ?? '', /admits traffic by address/);
    assert.match(v?.message ?? '', /only its own namespace, the ingress controller and monitoring/);
    assert.match(v?.fix ?? '', /k8s-ee-allow-ingress-controller/);
    assert.match(v?.fix ?? '', /namespace kube-system/);
    assert.match(v?.fix ?? '', /namespace observability/);
  }
  // Beside an allowed peer in the same rule, only the ipBlock is refused.
  assert.deepEqual(paths({ ingress: [{ from: [byName('kube-system'), { ipBlock: { cidr: '0.0.0.0/0' } }] }] }), [
    'spec.ingress[0].from[1].ipBlock',
  ]);
  // The formatted line a developer reads names the range.
  const [v] = block({ cidr: '203.0.113.0/24' }, 'ingress');
  assert.match(formatViolation(v!), /ipBlock 203\.0\.113\.0\/24/);
});

test('NetworkPolicy except closes a private range only when it covers all of it, not when it merely overlaps', () => {
  const others = ['172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'];
  // Half of 10.0.0.0/8 excepted, or a range inside it: 10.128.0.0/9 (other PR environments' pods) stays reachable.
  for (const partial of ['10.0.0.0/9', '10.42.0.0/16', '10.0.0.1/32']) {
    const open = block({ cidr: '0.0.0.0/0', except: [partial, ...others] });
    assert.deepEqual(
      open.map((v) => [v.path, v.message]),
      [
        [
          `${prefix('egress')}.ipBlock.cidr`,
          '0.0.0.0/0 covers the private range 10.0.0.0/8, where pods of other PR environments live',
        ],
      ],
      partial,
    );
    assert.equal(open[0]?.fix, 'add 10.0.0.0/8 to ipBlock.except, or use a podSelector for pods of this namespace');
  }
  // Each exception must cover a whole private range alone: two halves are refused (on the safe side); a larger
  // exception closes it.
  assert.equal(block({ cidr: '0.0.0.0/0', except: ['10.0.0.0/9', '10.128.0.0/9', ...others] }).length, 1);
  assert.deepEqual(block({ cidr: '0.0.0.0/0', except: ['8.0.0.0/5', ...others] }), []);
  // A range that only touches a private range (no exceptions at all) is refused as well.
  assert.equal(block({ cidr: '10.255.255.0/24' }).length, 1);
});

test('namespace selector pinned by name: only the In operator pins; NotIn, Exists, DoesNotExist select others', () => {
  const expr = (operator: string, values?: string[]) => ({
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator, ...(values ? { values } : {}) }],
    },
  });
  for (const peer of [expr('NotIn', [ns]), expr('NotIn', ['kube-system']), expr('Exists'), expr('DoesNotExist')]) {
    const operator = peer.namespaceSelector.matchExpressions[0]?.operator;
    assert.equal(pinnedNamespaceNames(peer.namespaceSelector), undefined, operator);
    assert.deepEqual(paths({ ingress: [{ from: [peer] }] }), ['spec.ingress[0].from[0].namespaceSelector'], operator);
    assert.deepEqual(paths({ egress: [{ to: [peer] }] }), ['spec.egress[0].to[0].namespaceSelector'], operator);
  }
  assert.deepEqual(paths({ ingress: [{ from: [expr('In', [ns])] }] }), []);
  // matchLabels and an In expression together: only the names both allow.
  assert.deepEqual(
    pinnedNamespaceNames({
      matchLabels: { 'kubernetes.io/metadata.name': 'a' },
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a', 'b'] }],
    }),
    ['a'],
  );
  // An expression on another label does not pin; values that are not strings are no names.
  assert.equal(pinnedNamespaceNames({ matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] }), undefined);
  assert.deepEqual(
    pinnedNamespaceNames({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [1, 'a'] }],
    }),
    ['a'],
  );
});
