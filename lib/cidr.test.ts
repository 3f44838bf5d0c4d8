import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covers, formatIPv6, isNonStandard, overlaps, parseCidr } from './cidr.ts';

const c = (text: string) => {
  const parsed = parseCidr(text);
  assert.ok(parsed, text);
  return parsed;
};

/**
 * What the Kubernetes 1.35 API server makes of each text: the range (as Go's net.IPNet prints it), its family,
 * whether GetWarningsForCIDR calls it non-standard, and whether it calls it ambiguous (bits after the prefix);
 * null when IsValidCIDRForLegacyField refuses it. Generated once with a Go program over k8s.io/utils/net
 * ParseCIDRSloppy and k8s.io/apimachinery/pkg/util/validation (v0.35.4), not written by hand.
 */
const API_SERVER: [string, [string, 'ipv4' | 'ipv6', boolean, boolean] | null][] = [
  ['10.0.0.0/8', ['10.0.0.0/8', 'ipv4', false, false]],
  ['010.0.0.0/8', ['10.0.0.0/8', 'ipv4', true, false]],
  ['10.0.0.0/08', ['10.0.0.0/8', 'ipv4', true, false]],
  ['010.000.000.000/008', ['10.0.0.0/8', 'ipv4', true, false]],
  ['0010.0.0.0/8', ['10.0.0.0/8', 'ipv4', true, false]],
  ['00000000010.0.0.0/8', ['10.0.0.0/8', 'ipv4', true, false]],
  ['10.1.2.3/8', ['10.0.0.0/8', 'ipv4', false, true]],
  ['192.168.001.000/24', ['192.168.1.0/24', 'ipv4', true, false]],
  ['0.0.0.0/0', ['0.0.0.0/0', 'ipv4', false, false]],
  ['00.0.0.0/0', ['0.0.0.0/0', 'ipv4', true, false]],
  ['10.0.0.0/00000000008', ['10.0.0.0/8', 'ipv4', true, false]],
  ['255.255.255.255/32', ['255.255.255.255/32', 'ipv4', false, false]],
  ['172.016.0.0/12', ['172.16.0.0/12', 'ipv4', true, false]],
  ['::ffff:10.0.0.0/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['::ffff:0.0.0.0/96', ['0.0.0.0/0', 'ipv4', true, false]],
  ['::ffff:a00:0/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['::FFFF:10.0.0.0/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['0:0:0:0:0:ffff:10.0.0.0/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['::ffff:010.0.0.0/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['::ffff:10.0.0.0/96', ['0.0.0.0/0', 'ipv4', true, true]],
  ['::ffff:10.0.0.0/100', ['0.0.0.0/4', 'ipv4', true, true]],
  ['::ffff:10.0.0.0/103', ['10.0.0.0/7', 'ipv4', true, false]],
  ['::ffff:10.1.2.3/104', ['10.0.0.0/8', 'ipv4', true, true]],
  ['::ffff:0:0/95', ['::fffe:0:0/95', 'ipv6', true, true]],
  ['::ffff:192.168.0.0/112', ['192.168.0.0/16', 'ipv4', true, false]],
  ['0000:0000:0000:0000:0000:ffff:0a00:0000/104', ['10.0.0.0/8', 'ipv4', true, false]],
  ['::/0', ['::/0', 'ipv6', false, false]],
  ['::0/0', ['::/0', 'ipv6', false, false]],
  ['0::0/0', ['::/0', 'ipv6', false, false]],
  ['fc00::/7', ['fc00::/7', 'ipv6', false, false]],
  ['FD00::/8', ['fd00::/8', 'ipv6', false, false]],
  ['fd00:0::/8', ['fd00::/8', 'ipv6', false, false]],
  ['0fd0::/8', ['f00::/8', 'ipv6', false, true]],
  ['0fd00::/8', ['fd00::/8', 'ipv6', true, false]],
  ['00000fd00::/8', ['fd00::/8', 'ipv6', true, false]],
  ['fe80::/10', ['fe80::/10', 'ipv6', false, false]],
  ['FE80:0:0:0:0:0:0:0/10', ['fe80::/10', 'ipv6', false, false]],
  ['::1/128', ['::1/128', 'ipv6', false, false]],
  ['0:0:0:0:0:0:0:1/128', ['::1/128', 'ipv6', false, false]],
  ['2001:db8::/32', ['2001:db8::/32', 'ipv6', false, false]],
  ['2000::/3', ['2000::/3', 'ipv6', false, false]],
  ['::10.0.0.0/104', ['::a00:0/104', 'ipv6', false, false]],
  ['64:ff9b::10.0.0.0/104', ['64:ff9b::a00:0/104', 'ipv6', false, false]],
  ['1:2:3:4:5:6:7:8/64', ['1:2:3:4::/64', 'ipv6', false, true]],
  ['1:2:3:4:5:6:7::/64', ['1:2:3:4::/64', 'ipv6', false, true]],
  ['::1:2:3:4:5:6:7/64', ['0:1:2:3::/64', 'ipv6', false, true]],
  ['1:2:3:4:5:6:1.2.3.4/128', ['1:2:3:4:5:6:102:304/128', 'ipv6', false, false]],
  ['1:2:3:4:5:6:01.2.3.4/128', ['1:2:3:4:5:6:102:304/128', 'ipv6', true, false]],
  ['1::1.2.3.4/128', ['1::102:304/128', 'ipv6', false, false]],
  ['fd00::1/8', ['fd00::/8', 'ipv6', false, true]],
  ['1:0:0:2:0:0:0:3/128', ['1:0:0:2::3/128', 'ipv6', false, false]],
  ['1:0:0:2:0:0:3:4/128', ['1::2:0:0:3:4/128', 'ipv6', false, false]],
  ['0:0:1:0:0:1:0:0/128', ['::1:0:0:1:0:0/128', 'ipv6', false, false]],
  ['::1', null],
  [' 10.0.0.0/8', null],
  ['10.0.0.0/8 ', null],
  ['10.0.0.0/+8', null],
  ['10.0.0.0/-0', null],
  ['0x0a.0.0.0/8', null],
  ['10/8', null],
  ['10.1/16', null],
  ['10.0.0.0/33', null],
  ['::/129', null],
  ['1.2.3.4.5/32', null],
  ['fe80::1%eth0/64', null],
  ['1::2::3/64', null],
  ['10.0.0.0/8/8', null],
  ['', null],
  ['/8', null],
  ['10.0.0.0/', null],
  ['256.0.0.0/8', null],
  ['1:2:3:4:5:1.2.3.4/128', null],
  ['::ffff:1.2.3.4:5/128', null],
  ['10.0.0.0/4294967304', null],
  ['١٠.0.0.0/8', null],
  [':::/0', null],
  [':1::/64', null],
  ['1:2:3:4:5:6:7:8:9/64', null],
  ['1:2:3:4:5:6:7:8::/64', null],
  ['12345::/16', null],
  ['1.2.3.4/32/', null],
  ['10.0.0.0\n/8', null],
  ['::ffff:1.2.3/104', null],
  ['1:2:3:4:5:6:7:1.2.3.4/128', null],
  ['10.0.0.0/8\u0000', null],
];

test('parses every notation exactly as the API server does (table generated from its own code)', () => {
  for (const [text, expected] of API_SERVER) {
    const parsed = parseCidr(text);
    if (expected === null) {
      assert.equal(parsed, undefined, JSON.stringify(text));
      continue;
    }
    assert.ok(parsed, JSON.stringify(text));
    const [canonical, family, nonStandard, ambiguous] = expected;
    assert.deepEqual(
      [parsed.canonical, parsed.family, isNonStandard(parsed), parsed.hostBits],
      [canonical, family, nonStandard, ambiguous],
      JSON.stringify(text),
    );
    assert.equal(`${parsed.address}/${parsed.prefix}`, canonical);
  }
});

test('leading zeros are decimal (never octal), IPv4-mapped networks are IPv4 ranges', () => {
  assert.deepEqual(c('010.0.0.0/8'), {
    address: '10.0.0.0',
    prefix: 8,
    family: 'ipv4',
    canonical: '10.0.0.0/8',
    leadingZeros: true,
    mapped: false,
    hostBits: false,
  });
  assert.equal(c('::ffff:10.0.0.0/104').canonical, '10.0.0.0/8');
  assert.equal(c('::ffff:0.0.0.0/96').canonical, '0.0.0.0/0');
  assert.equal(c('::ffff:0.0.0.0/96').mapped, true);
  assert.equal(c('10.0.0.0/8').leadingZeros || c('10.0.0.0/8').mapped || c('10.0.0.0/8').hostBits, false);
});

test('RFC 5952 text of IPv6 addresses', () => {
  const cases: [number[], string][] = [
    [[], '::'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0xfe, 0x80], 'fe80::'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0], '1:0:1:0:1:0:1:0'],
  ];
  for (const [bytes, text] of cases)
    assert.equal(formatIPv6([...bytes, ...new Array(16 - bytes.length).fill(0)]), text);
});

test('overlap and coverage of ranges, IPv4 and IPv6, mapped ranges as IPv4', () => {
  assert.equal(overlaps(c('0.0.0.0/0'), c('10.0.0.0/8')), true);
  assert.equal(overlaps(c('10.42.0.0/16'), c('10.0.0.0/8')), true);
  assert.equal(overlaps(c('8.8.8.8/32'), c('10.0.0.0/8')), false);
  assert.equal(overlaps(c('fd00::/8'), c('10.0.0.0/8')), false);
  assert.equal(overlaps(c('::ffff:10.0.0.0/104'), c('10.0.0.0/8')), true);
  assert.equal(overlaps(c('::ffff:0.0.0.0/96'), c('192.168.0.0/16')), true);
  assert.equal(overlaps(c('::/0'), c('fc00::/7')), true);
  assert.equal(overlaps(c('2000::/3'), c('fc00::/7')), false);
  assert.equal(overlaps(c('fe80::1/128'), c('fe80::/10')), true);
  assert.equal(covers(c('10.0.0.0/8'), c('10.42.0.0/16')), true);
  assert.equal(covers(c('10.42.0.0/16'), c('10.0.0.0/8')), false);
  assert.equal(covers(c('010.0.0.0/8'), c('10.0.0.0/8')), true);
  assert.equal(covers(c('fc00::/7'), c('fd00::/8')), true);
  assert.equal(covers(c('::ffff:0:0/96'), c('10.0.0.0/8')), true);
});
