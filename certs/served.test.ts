// checkServingPair with certificates generated for chosen dates (nothing frozen in time): each way a verifying
// client would refuse a pair is refused here, with its reason and the dates, and a good pair passes.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from '@peculiar/x509';
import { createCA, issueServingCert, type KeyPairPem } from './pki.ts';
import { signedCert } from './testing/signed.ts';
import { checkServingPair, datesProblem, inspectPair } from './served.ts';

const DAY = 86_400_000;
const NAMES = { cert: '/certs/tls.crt', key: '/certs/tls.key', ca: '/certs/ca.crt' };
const now = new Date();
const at = (days: number): Date => new Date(now.getTime() + days * DAY);
const serving = (ca: KeyPairPem, from: Date, days: number) =>
  issueServingCert(ca, { dnsNames: ['k8s-ee.k8s-ee-system.svc'], ipAddresses: [], now: from, validityDays: days });

describe('checkServingPair', () => {
  it('accepts a current pair signed by the bundle; the window is the leaf narrowed by its CA', async () => {
    const ca = await createCA({ commonName: 'ca', now: at(-10), validityDays: 30 });
    const pair = await serving(ca, at(-1), 90);
    const verdict = await checkServingPair({ ...pair, caPem: ca.certPem }, NAMES, now);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    assert.equal(verdict.pair.trustChecked, true);
    assert.equal(verdict.pair.path.length, 2);
    // The leaf was clamped to the CA; both end together.
    assert.equal(verdict.pair.window.notAfter.getTime(), new x509.X509Certificate(ca.certPem).notAfter.getTime());
    assert.equal(verdict.pair.window.notBefore.getTime(), verdict.pair.leaf.notBefore.getTime());
  });

  it('refuses an expired leaf, naming the file and its dates', async () => {
    const ca = await createCA({ commonName: 'ca', now: at(-100), validityDays: 365 });
    const pair = await serving(ca, at(-10), 5);
    const verdict = await checkServingPair({ ...pair, caPem: ca.certPem }, NAMES, now);
    assert.equal(verdict.ok, false);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'expired');
    assert.match(verdict.message, /^\/certs\/tls\.crt: the certificate \(CN=k8s-ee\.k8s-ee-system\.svc\) expired at /);
    assert.equal(verdict.notAfter?.getTime(), new x509.X509Certificate(pair.certPem).notAfter.getTime());
    assert.ok(verdict.message.includes(String(verdict.notAfter?.toISOString())));
  });

  it('an expired leaf of an unknown CA is "expired", as the API server (Go) reports it', async () => {
    const ours = await createCA({ commonName: 'ours', now: at(-100), validityDays: 365 });
    const theirs = await createCA({ commonName: 'theirs', now: at(-100), validityDays: 365 });
    const pair = await serving(theirs, at(-20), 5);
    const verdict = await checkServingPair({ ...pair, caPem: ours.certPem }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'expired');
    const current = await checkServingPair({ ...(await serving(theirs, at(-1), 5)), caPem: ours.certPem }, NAMES, now);
    assert.ok(!current.ok);
    assert.equal(current.reason, 'untrusted');
  });

  it('refuses a leaf that is not valid yet', async () => {
    const ca = await createCA({ commonName: 'ca', now: at(-1), validityDays: 365 });
    const pair = await serving(ca, at(2), 30);
    const verdict = await checkServingPair({ ...pair, caPem: ca.certPem }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'not_yet_valid');
    assert.match(verdict.message, /is not valid until \d{4}-/);
  });

  it('refuses a key that is not the certificate’s', async () => {
    const ca = await createCA({ commonName: 'ca', now, validityDays: 30 });
    const a = await serving(ca, now, 10);
    const b = await serving(ca, now, 10);
    const verdict = await checkServingPair({ certPem: a.certPem, keyPem: b.keyPem, caPem: ca.certPem }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'key_mismatch');
    assert.match(verdict.message, /^\/certs\/tls\.key is not the private key of the certificate in \/certs\/tls\.crt/);
  });

  it('refuses garbage: no PEM, a broken PEM body, a broken key', async () => {
    const ca = await createCA({ commonName: 'ca', now, validityDays: 30 });
    const pair = await serving(ca, now, 10);
    const broken = `-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`;
    const cases: Array<[string, string, RegExp]> = [
      ['hello', pair.keyPem, /tls\.crt holds no PEM certificate/],
      [broken, pair.keyPem, /tls\.crt holds a certificate that is not valid X\.509/],
      [
        pair.certPem,
        '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
        /tls\.key is not a PEM private key/,
      ],
      [pair.certPem, '', /tls\.key is not a PEM private key/],
    ];
    for (const [certPem, keyPem, message] of cases) {
      const verdict = await checkServingPair({ certPem, keyPem, caPem: ca.certPem }, NAMES, now);
      assert.ok(!verdict.ok);
      assert.equal(verdict.reason, 'malformed');
      assert.match(verdict.message, message);
    }
  });

  it('refuses a leaf of another CA, and any leaf when the bundle holds no certificate', async () => {
    const ours = await createCA({ commonName: 'k8s-ee-ca', now, validityDays: 30 });
    const theirs = await createCA({ commonName: 'k8s-ee-ca', now, validityDays: 30 }); // same name, other key
    const pair = await serving(theirs, now, 10);
    const verdict = await checkServingPair({ ...pair, caPem: ours.certPem }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'untrusted');
    assert.match(verdict.message, /is not signed by any CA in \/certs\/ca\.crt/);
    const garbage = await checkServingPair({ ...pair, caPem: 'garbage' }, NAMES, now);
    assert.ok(!garbage.ok);
    assert.equal(garbage.reason, 'untrusted');
    assert.match(garbage.message, /ca\.crt holds no PEM certificate/);
  });

  it('refuses a current leaf whose CA has expired or is not valid yet', async () => {
    const expiredCa = await createCA({ commonName: 'old-ca', now: at(-30), validityDays: 20 });
    const leaf = await signedCert(expiredCa, { subject: 'CN=leaf', notBefore: at(-1), notAfter: at(30), ca: false });
    const verdict = await checkServingPair({ ...leaf, caPem: expiredCa.certPem }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'ca_not_valid');
    assert.match(verdict.message, /its issuer CN=old-ca in \/certs\/ca\.crt expired at /);

    const futureCa = await createCA({ commonName: 'future-ca', now: at(3), validityDays: 20 });
    const early = await signedCert(futureCa, { subject: 'CN=leaf', notBefore: at(-1), notAfter: at(30), ca: false });
    const v2 = await checkServingPair({ ...early, caPem: futureCa.certPem }, NAMES, now);
    assert.ok(!v2.ok);
    assert.equal(v2.reason, 'ca_not_valid');
    assert.match(v2.message, /is not valid until /);
  });

  it('follows intermediates from the certificate file and checks their dates too', async () => {
    const root = await createCA({ commonName: 'root', now: at(-10), validityDays: 365 });
    const mid = await signedCert(root, { subject: 'CN=mid', notBefore: at(-5), notAfter: at(60), ca: true });
    const leaf = await signedCert(mid, { subject: 'CN=leaf', notBefore: at(-1), notAfter: at(90), ca: false });
    const chainPem = leaf.certPem + mid.certPem;
    const ok = await checkServingPair({ certPem: chainPem, keyPem: leaf.keyPem, caPem: root.certPem }, NAMES, now);
    assert.ok(ok.ok, ok.ok ? '' : ok.message);
    assert.deepEqual(
      ok.pair.path.map((c) => c.subject),
      ['CN=leaf', 'CN=mid', 'CN=root'],
    );
    assert.equal(ok.pair.window.notAfter.getTime(), new x509.X509Certificate(mid.certPem).notAfter.getTime());
    const missing = await checkServingPair({ ...leaf, caPem: root.certPem }, NAMES, now);
    assert.ok(!missing.ok);
    assert.equal(missing.reason, 'untrusted', 'without the intermediate there is no path');
    const late = await checkServingPair({ certPem: chainPem, keyPem: leaf.keyPem, caPem: root.certPem }, NAMES, at(61));
    assert.ok(!late.ok);
    assert.equal(late.reason, 'ca_not_valid');
  });

  it('during a CA rotation the bundle holds both CAs (same name): leaves of either pass', async () => {
    const oldCa = await createCA({ commonName: 'k8s-ee-ca', now: at(-200), validityDays: 365 });
    const newCa = await createCA({ commonName: 'k8s-ee-ca', now, validityDays: 365 });
    const bundle = newCa.certPem + oldCa.certPem;
    for (const ca of [oldCa, newCa]) {
      const pair = await serving(ca, now, 30);
      const verdict = await checkServingPair({ ...pair, caPem: bundle }, NAMES, now);
      assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    }
  });

  it('without a CA bundle only the pair and the leaf dates are checked', async () => {
    const ca = await createCA({ commonName: 'ca', now, validityDays: 30 });
    const pair = await serving(ca, now, 10);
    for (const caPem of [undefined, '', '  \n']) {
      const verdict = await checkServingPair({ ...pair, caPem }, NAMES, now);
      assert.ok(verdict.ok);
      assert.equal(verdict.pair.trustChecked, false);
      assert.equal(verdict.pair.path.length, 1);
    }
  });

  it('a pair served since it was good expires while served: datesProblem says so at the later time', async () => {
    const ca = await createCA({ commonName: 'ca', now, validityDays: 30 });
    const pair = await serving(ca, now, 2);
    const inspected = await inspectPair({ ...pair, caPem: ca.certPem }, NAMES);
    assert.ok(inspected.ok);
    assert.equal(datesProblem(inspected.pair, at(1), NAMES), undefined);
    assert.equal(datesProblem(inspected.pair, at(3), NAMES)?.reason, 'expired');
  });
});
