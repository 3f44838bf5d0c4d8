import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createCA, issueServingCert } from './pki.ts';
import { isValidAt, needsRenewal, notAfter, notBefore, renewalTime, splitPemBundle } from './validity.ts';

const DAY = 86_400_000;
const T0 = new Date('2026-03-01T00:00:00Z');
const at = (days: number): Date => new Date(T0.getTime() + days * DAY);

describe('validity', () => {
  let certPem = '';
  before(async () => {
    const ca = await createCA({ commonName: 'ca', now: T0, validityDays: 3650 });
    certPem = (await issueServingCert(ca, { dnsNames: ['a'], ipAddresses: [], now: T0, validityDays: 90 })).certPem;
  });

  it('notAfter is now + validity', () => {
    assert.equal(notAfter(certPem).toISOString(), at(90).toISOString());
    assert.ok(notBefore(certPem).getTime() <= T0.getTime());
  });

  it('renews at 2/3 of the life by default, and at any given fraction', () => {
    const table: Array<[number, boolean]> = [
      [0, false],
      [30, false],
      [59.9, false],
      [60.01, true],
      [89, true],
      [91, true],
    ];
    for (const [day, expected] of table) {
      assert.equal(needsRenewal(certPem, at(day), { renewAtFraction: 2 / 3 }), expected, `day ${day}`);
    }
    assert.equal(needsRenewal(certPem, at(44)), false);
    assert.equal(needsRenewal(certPem, at(46), { renewAtFraction: 0.5 }), true);
    const renewAt = renewalTime(certPem).getTime();
    assert.ok(Math.abs(renewAt - at(60).getTime()) < 5 * 60_000, 'about day 60 (notBefore is back-dated a little)');
  });

  it('a certificate not yet valid needs renewal (the clock went back)', () => {
    assert.equal(needsRenewal(certPem, at(-1)), true);
  });

  it('isValidAt follows the dates', () => {
    assert.equal(isValidAt(certPem, at(1)), true);
    assert.equal(isValidAt(certPem, at(91)), false);
    assert.equal(isValidAt(certPem, at(-1)), false);
  });

  it('refuses a bad fraction and a non-certificate with a clear error', () => {
    assert.throws(() => needsRenewal(certPem, T0, { renewAtFraction: 0 }), /renewAtFraction/);
    assert.throws(() => notAfter('hello'), /not a PEM certificate/);
  });

  it('splits a bundle into its certificates', () => {
    assert.deepEqual(splitPemBundle(''), []);
    const two = splitPemBundle(`${certPem}\n${certPem}`);
    assert.equal(two.length, 2);
    assert.equal(notAfter(two[1]!).getTime(), notAfter(certPem).getTime());
  });
});
