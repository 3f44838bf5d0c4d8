// checkServingPair with certificates generated for chosen dates (nothing frozen in time): each way a verifying
// client would refuse a pair is refused here, with its reason and the dates, and a good pair passes.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { webcrypto } from 'node:crypto';
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

// Certificates made directly (any key, any issuer name, any authority key identifier), for the path search.
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
type Keys = webcrypto.CryptoKeyPair;
interface Made {
  cert: x509.X509Certificate;
  keys: Keys;
  certPem: string;
  keyPem: string;
}
const newKeys = (): Promise<Keys> => crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);

async function make(opts: {
  subject: string;
  /** Signs it; undefined: self-signed. */
  issuer?: Made;
  /** Its key pair; a new one by default. */
  keys?: Keys;
  ca: boolean;
  from: Date;
  to: Date;
  /** The authority key identifier written (hex); default the issuer's key id; null: none. */
  aki?: string | null;
}): Promise<Made> {
  const keys = opts.keys ?? (await newKeys());
  const signer = opts.issuer?.keys ?? keys;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.ca, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (opts.ca) extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true));
  const aki = opts.aki === undefined ? await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey) : opts.aki;
  if (aki !== null) extensions.push(typeof aki === 'string' ? new x509.AuthorityKeyIdentifierExtension(aki) : aki);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8)))
      .toString('hex')
      .replace(/^./, '1'),
    subject: opts.subject,
    issuer: opts.issuer?.cert.subject ?? opts.subject,
    notBefore: opts.from,
    notAfter: opts.to,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  const der = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    cert,
    keys,
    certPem: `${cert.toString('pem')}\n`,
    keyPem: `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`,
  };
}
const keyIdOf = (m: Made): string => {
  const ski = m.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  assert.ok(ski);
  return ski.keyId;
};

describe('the path to the bundle (signatures, not names)', () => {
  it('leaf → intermediate → root with only the root in the bundle: the path, the issuer flags, the window', async () => {
    const root = await make({ subject: 'CN=root, O=k8s-ee', ca: true, from: at(-10), to: at(365) });
    const mid = await make({ subject: 'CN=mid, O=k8s-ee', issuer: root, ca: true, from: at(-5), to: at(60) });
    const leaf = await make({ subject: 'CN=leaf', issuer: mid, ca: false, from: at(-1), to: at(90) });
    const texts = { certPem: leaf.certPem + mid.certPem, keyPem: leaf.keyPem, caPem: root.certPem };
    const verdict = await checkServingPair(texts, NAMES, now);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    assert.deepEqual(
      verdict.pair.path.map((c) => [c.subject, c.issuer, c.notBefore.getTime(), c.notAfter.getTime()]),
      [leaf, mid, root].map((m, i) => [m.cert.subject, i > 0, m.cert.notBefore.getTime(), m.cert.notAfter.getTime()]),
    );
    assert.deepEqual(verdict.pair.window, { notBefore: leaf.cert.notBefore, notAfter: mid.cert.notAfter });
    assert.equal(verdict.pair.fingerprint, Buffer.from(await leaf.cert.getThumbprint('SHA-256')).toString('hex'));
    // The root in the certificate file as well changes nothing; the intermediate in the bundle ends the path there.
    const withRoot = await checkServingPair({ ...texts, certPem: texts.certPem + root.certPem }, NAMES, now);
    assert.ok(withRoot.ok);
    assert.equal(withRoot.pair.path.length, 3);
    const midTrusted = await checkServingPair({ ...texts, caPem: mid.certPem + root.certPem }, NAMES, now);
    assert.ok(midTrusted.ok);
    assert.deepEqual(
      midTrusted.pair.path.map((c) => c.subject),
      ['CN=leaf', 'CN=mid, O=k8s-ee'],
    );
  });

  it('a leaf of another CA with the bundle CA’s name and key identifier is untrusted: the signature decides', async () => {
    const ours = await make({ subject: 'CN=k8s-ee-ca', ca: true, from: at(-10), to: at(365) });
    const theirs = await make({ subject: 'CN=k8s-ee-ca', ca: true, from: at(-10), to: at(365) });
    for (const aki of [keyIdOf(ours), null]) {
      const leaf = await make({ subject: 'CN=leaf', issuer: theirs, aki, ca: false, from: at(-1), to: at(30) });
      assert.equal(leaf.cert.issuer, ours.cert.subject);
      const verdict = await checkServingPair({ ...leaf, caPem: ours.certPem }, NAMES, now);
      assert.ok(!verdict.ok);
      assert.equal(verdict.reason, 'untrusted');
      assert.equal(
        verdict.message,
        `/certs/tls.crt: the certificate (CN=leaf, issued by CN=k8s-ee-ca, valid ${leaf.cert.notBefore.toISOString()} to ${leaf.cert.notAfter.toISOString()}) is not signed by any CA in /certs/ca.crt, so clients that trust /certs/ca.crt refuse it`,
      );
      assert.deepEqual([verdict.notBefore, verdict.notAfter], [leaf.cert.notBefore, leaf.cert.notAfter]);
    }
  });

  it('an expired intermediate (leaf and root current) is ca_not_valid, with the intermediate’s name and dates', async () => {
    const root = await make({ subject: 'CN=root', ca: true, from: at(-100), to: at(365) });
    const mid = await make({ subject: 'CN=mid', issuer: root, ca: true, from: at(-90), to: at(-3) });
    const leaf = await make({ subject: 'CN=leaf', issuer: mid, ca: false, from: at(-1), to: at(30) });
    const verdict = await checkServingPair(
      { certPem: leaf.certPem + mid.certPem, keyPem: leaf.keyPem, caPem: root.certPem },
      NAMES,
      now,
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'ca_not_valid');
    assert.equal(
      verdict.message,
      `/certs/tls.crt: its issuer CN=mid in /certs/ca.crt expired at ${mid.cert.notAfter.toISOString()} (valid ${mid.cert.notBefore.toISOString()} to ${mid.cert.notAfter.toISOString()}; now ${now.toISOString()})`,
    );
    assert.deepEqual([verdict.notBefore, verdict.notAfter], [mid.cert.notBefore, mid.cert.notAfter]);
    // Without `now`, inspectPair accepts the structure; the window is empty (it ends before it starts).
    const inspected = await inspectPair(
      { certPem: leaf.certPem + mid.certPem, keyPem: leaf.keyPem, caPem: root.certPem },
      NAMES,
    );
    assert.ok(inspected.ok);
    assert.equal(inspected.pair.window.notAfter.getTime(), mid.cert.notAfter.getTime());
  });

  it('a self-signed leaf that is itself in the bundle is trusted as it is (a path of one)', async () => {
    const self = await make({ subject: 'CN=pinned', ca: false, from: at(-1), to: at(30) });
    const verdict = await checkServingPair({ ...self, caPem: self.certPem }, NAMES, now);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    assert.equal(verdict.pair.trustChecked, true);
    assert.deepEqual(
      verdict.pair.path.map((c) => [c.subject, c.issuer]),
      [['CN=pinned', false]],
    );
    const other = await make({ subject: 'CN=pinned', ca: false, from: at(-1), to: at(30) });
    const refused = await checkServingPair({ ...self, caPem: other.certPem }, NAMES, now);
    assert.ok(!refused.ok);
    assert.equal(refused.reason, 'untrusted');
  });

  it('a stale copy of the CA in the certificate file does not hide the bundle’s CA (same name, same key)', async () => {
    const keys = await newKeys();
    const stale = await make({ subject: 'CN=k8s-ee-ca', keys, ca: true, from: at(-400), to: at(-35) });
    const renewed = await make({ subject: 'CN=k8s-ee-ca', keys, ca: true, from: at(-40), to: at(300) });
    const leaf = await make({ subject: 'CN=leaf', issuer: renewed, ca: false, from: at(-1), to: at(30) });
    const verdict = await checkServingPair(
      { certPem: leaf.certPem + stale.certPem, keyPem: leaf.keyPem, caPem: renewed.certPem },
      NAMES,
      now,
    );
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    assert.deepEqual(
      verdict.pair.path.map((c) => c.notAfter.getTime()),
      [leaf.cert.notAfter.getTime(), renewed.cert.notAfter.getTime()],
    );
  });

  it('intermediates that sign each other end in untrusted, not a loop', async () => {
    const root = await make({ subject: 'CN=root', ca: true, from: at(-10), to: at(365) });
    const aKeys = await newKeys();
    const a0 = await make({ subject: 'CN=a', keys: aKeys, ca: true, from: at(-10), to: at(365) });
    const b = await make({ subject: 'CN=b', issuer: a0, ca: true, from: at(-10), to: at(365) });
    const a = await make({ subject: 'CN=a', keys: aKeys, issuer: b, ca: true, from: at(-10), to: at(365) });
    const leaf = await make({ subject: 'CN=leaf', issuer: a, ca: false, from: at(-1), to: at(30) });
    const verdict = await checkServingPair(
      { certPem: leaf.certPem + a.certPem + b.certPem, keyPem: leaf.keyPem, caPem: root.certPem },
      NAMES,
      now,
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'untrusted');
  });

  it('a path longer than 10 certificates is not followed', async () => {
    const root = await make({ subject: 'CN=root', ca: true, from: at(-10), to: at(365) });
    const chainOf = async (intermediates: number): Promise<{ certPem: string; keyPem: string; caPem: string }> => {
      let issuer = root;
      const mids: Made[] = [];
      for (let i = 0; i < intermediates; i++) {
        issuer = await make({ subject: `CN=mid${String(i)}`, issuer, ca: true, from: at(-5), to: at(300) });
        mids.unshift(issuer);
      }
      const leaf = await make({ subject: 'CN=leaf', issuer, ca: false, from: at(-1), to: at(30) });
      return { certPem: [leaf, ...mids].map((m) => m.certPem).join(''), keyPem: leaf.keyPem, caPem: root.certPem };
    };
    const ten = await checkServingPair(await chainOf(8), NAMES, now);
    assert.ok(ten.ok, ten.ok ? '' : ten.message);
    assert.equal(ten.pair.path.length, 10);
    const eleven = await checkServingPair(await chainOf(9), NAMES, now);
    assert.ok(!eleven.ok);
    assert.equal(eleven.reason, 'untrusted');
  });

  it('dates after 2049 (GeneralizedTime) read as before', async () => {
    const ca = await make({ subject: 'CN=ca', ca: true, from: at(-1), to: new Date('2070-03-04T05:06:07Z') });
    const leaf = await make({
      subject: 'CN=leaf',
      issuer: ca,
      ca: false,
      from: at(-1),
      to: new Date('2060-01-02T03:04:05Z'),
    });
    const verdict = await checkServingPair({ ...leaf, caPem: ca.certPem }, NAMES, now);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
    assert.deepEqual(
      verdict.pair.path.map((c) => c.notAfter.toISOString()),
      ['2060-01-02T03:04:05.000Z', '2070-03-04T05:06:07.000Z'],
    );
  });

  it('a bundle with a broken certificate is untrusted, naming the bundle', async () => {
    const ca = await make({ subject: 'CN=ca', ca: true, from: at(-1), to: at(30) });
    const leaf = await make({ subject: 'CN=leaf', issuer: ca, ca: false, from: at(-1), to: at(30) });
    const broken = `-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`;
    const verdict = await checkServingPair({ ...leaf, caPem: ca.certPem + broken }, NAMES, now);
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'untrusted');
    assert.match(verdict.message, /^\/certs\/ca\.crt holds a certificate that is not valid X\.509: /);
  });
});
