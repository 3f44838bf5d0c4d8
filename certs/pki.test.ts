import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA, issueClientCert, issueServingCert, isSignedBy } from './pki.ts';

const NOW = new Date();

interface Answer {
  status: number;
  body: string;
}

function get(url: string, ca: string, servername?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, servername, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function serve(key: string, cert: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({ key, cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('createCA', () => {
  it('makes a self-signed CA certificate with the given name and validity, and a PKCS#8 EC P-256 key', async () => {
    const ca = await createCA({ commonName: 'k8s-ee-ca', now: NOW, validityDays: 365 });
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.subject, 'CN=k8s-ee-ca');
    assert.equal(cert.issuer, 'CN=k8s-ee-ca');
    assert.equal(cert.ca, true);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const lifeDays = (cert.validToDate.getTime() - NOW.getTime()) / 86_400_000;
    assert.ok(Math.abs(lifeDays - 365) < 1 / 1440, `about 365 days, got ${lifeDays}`);
    assert.ok(cert.validFromDate.getTime() <= NOW.getTime());
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const key = createPrivateKey(ca.keyPem);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.checkPrivateKey(key));
  });

  it('refuses a non-positive validity', async () => {
    await assert.rejects(createCA({ commonName: 'x', now: NOW, validityDays: 0 }), /validityDays/);
  });

  it('gives each CA a distinct key and serial', async () => {
    const [a, b] = await Promise.all([
      createCA({ commonName: 'a', now: NOW, validityDays: 1 }),
      createCA({ commonName: 'a', now: NOW, validityDays: 1 }),
    ]);
    assert.notEqual(a.keyPem, b.keyPem);
    assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(b.certPem).serialNumber);
  });
});

describe('issueServingCert', () => {
  it('issues a leaf for the DNS names and IPs, signed by the CA, not a CA itself', async () => {
    const ca = await createCA({ commonName: 'k8s-ee-ca', now: NOW, validityDays: 365 });
    const leaf = await issueServingCert(ca, {
      dnsNames: ['k8s-ee.k8s-ee-system.svc', 'k8s-ee.k8s-ee-system.svc.cluster.local'],
      ipAddresses: ['127.0.0.1'],
      now: NOW,
      validityDays: 30,
    });
    const cert = new X509Certificate(leaf.certPem);
    assert.equal(cert.ca, false);
    assert.equal(cert.subject, 'CN=k8s-ee.k8s-ee-system.svc');
    assert.equal(cert.issuer, 'CN=k8s-ee-ca');
    assert.ok(isSignedBy(leaf.certPem, ca.certPem));
    assert.equal(cert.checkHost('k8s-ee.k8s-ee-system.svc'), 'k8s-ee.k8s-ee-system.svc');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('other.example.com'), undefined);
    assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
    assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
  });

  it('never outlives its CA', async () => {
    const ca = await createCA({ commonName: 'short', now: NOW, validityDays: 10 });
    const leaf = await issueServingCert(ca, { dnsNames: ['a'], ipAddresses: [], now: NOW, validityDays: 90 });
    assert.equal(new X509Certificate(leaf.certPem).validTo, new X509Certificate(ca.certPem).validTo);
  });

  it('refuses no names and a bad IP address', async () => {
    const ca = await createCA({ commonName: 'c', now: NOW, validityDays: 1 });
    await assert.rejects(
      issueServingCert(ca, { dnsNames: [], ipAddresses: [], now: NOW, validityDays: 1 }),
      /at least one/,
    );
    await assert.rejects(
      issueServingCert(ca, { dnsNames: [], ipAddresses: ['300.1.1.1'], now: NOW, validityDays: 1 }),
      /300\.1\.1\.1/,
    );
  });

  it('is not signed by another CA', async () => {
    const ca = await createCA({ commonName: 'one', now: NOW, validityDays: 1 });
    const other = await createCA({ commonName: 'two', now: NOW, validityDays: 1 });
    const leaf = await issueServingCert(ca, { dnsNames: ['a'], ipAddresses: [], now: NOW, validityDays: 1 });
    assert.equal(isSignedBy(leaf.certPem, other.certPem), false);
    assert.equal(isSignedBy('garbage', ca.certPem), false);
  });
});

describe('TLS handshake through node:https', () => {
  it('a client trusting only the CA connects by IP and by DNS name', async (t) => {
    const ca = await createCA({ commonName: 'k8s-ee-ca', now: NOW, validityDays: 365 });
    const leaf = await issueServingCert(ca, {
      dnsNames: ['localhost', 'k8s-ee.k8s-ee-system.svc'],
      ipAddresses: ['127.0.0.1'],
      now: NOW,
      validityDays: 30,
    });
    const server = await serve(leaf.keyPem, leaf.certPem);
    t.after(() => server.close());
    assert.deepEqual(await get(`https://127.0.0.1:${server.port}/`, ca.certPem), { status: 200, body: 'ok' });
    const bySni = await get(`https://127.0.0.1:${server.port}/`, ca.certPem, 'k8s-ee.k8s-ee-system.svc');
    assert.equal(bySni.body, 'ok');
  });

  it('a client trusting another CA, or a name not in the certificate, is refused', async (t) => {
    const ca = await createCA({ commonName: 'k8s-ee-ca', now: NOW, validityDays: 365 });
    const other = await createCA({ commonName: 'other', now: NOW, validityDays: 365 });
    const leaf = await issueServingCert(ca, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      now: NOW,
      validityDays: 1,
    });
    const server = await serve(leaf.keyPem, leaf.certPem);
    t.after(() => server.close());
    await assert.rejects(get(`https://127.0.0.1:${server.port}/`, other.certPem), /certificate/i);
    await assert.rejects(
      get(`https://127.0.0.1:${server.port}/`, ca.certPem, 'evil.example.com'),
      /altnames|Hostname/i,
    );
  });

  it('a bundle holding an old and a new CA trusts leaves of both (rotation overlap)', async (t) => {
    const oldCa = await createCA({ commonName: 'old', now: NOW, validityDays: 365 });
    const newCa = await createCA({ commonName: 'new', now: NOW, validityDays: 365 });
    const bundle = oldCa.certPem + newCa.certPem; // PEMs end with a newline, so they concatenate
    assert.ok(oldCa.certPem.endsWith('\n') && oldCa.keyPem.endsWith('\n'));
    for (const ca of [oldCa, newCa]) {
      const leaf = await issueServingCert(ca, { dnsNames: [], ipAddresses: ['127.0.0.1'], now: NOW, validityDays: 1 });
      const server = await serve(leaf.keyPem, leaf.certPem);
      t.after(() => server.close());
      assert.equal((await get(`https://127.0.0.1:${server.port}/`, bundle)).body, 'ok');
    }
  });

  it('an expired certificate is refused by the client', async (t) => {
    const past = new Date(Date.now() - 10 * 86_400_000);
    const ca = await createCA({ commonName: 'ca', now: past, validityDays: 365 });
    const leaf = await issueServingCert(ca, { dnsNames: [], ipAddresses: ['127.0.0.1'], now: past, validityDays: 1 });
    const server = await serve(leaf.keyPem, leaf.certPem);
    t.after(() => server.close());
    await assert.rejects(get(`https://127.0.0.1:${server.port}/`, ca.certPem), /expired/i);
  });
});

test('client certificates carry the user as CN and the group as O, for client auth only', async () => {
  const now = new Date('2026-11-25T12:00:00Z');
  const ca = await createCA({ commonName: 'client-ca', now, validityDays: 10 });
  const client = await issueClientCert(ca, {
    commonName: 'k8s-ee-admin',
    organization: 'system:masters',
    now,
    validityDays: 1,
  });
  const cert = new X509Certificate(client.certPem);
  assert.match(cert.subject, /CN=k8s-ee-admin/);
  assert.match(cert.subject, /O=system:masters/);
  assert.equal(cert.checkIssued(new X509Certificate(ca.certPem)), true);
  assert.equal(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), true, 'clientAuth');
  assert.equal(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), false, 'not serverAuth');
});
