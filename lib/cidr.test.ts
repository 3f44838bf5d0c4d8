import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covers, overlaps, parseCidr } from './cidr.ts';

const c = (text: string) => {
  const parsed = parseCidr(text);
  assert.ok(parsed, text);
  return parsed;
};

test('parses IPv4 and IPv6 CIDRs and refuses the rest', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.equal(parseCidr('fd00::/8')?.family, 'ipv6');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.1.1.1/8', 'x/8', '10.0.0.0/8/1', '::/129'])
    assert.equal(parseCidr(bad), undefined, bad);
});

test('overlap and coverage of ranges', () => {
  assert.equal(overlaps(c('0.0.0.0/0'), c('10.0.0.0/8')), true);
  assert.equal(overlaps(c('10.42.0.0/16'), c('10.0.0.0/8')), true);
  assert.equal(overlaps(c('8.8.8.8/32'), c('10.0.0.0/8')), false);
  assert.equal(overlaps(c('fd00::/8'), c('10.0.0.0/8')), false);
  assert.equal(covers(c('10.0.0.0/8'), c('10.42.0.0/16')), true);
  assert.equal(covers(c('10.42.0.0/16'), c('10.0.0.0/8')), false);
});
