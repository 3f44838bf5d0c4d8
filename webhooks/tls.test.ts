// The reloading HTTPS server with real files and a real TLS client: a pair a verifying client would refuse is
// never swapped in (the current one keeps serving, a warning names the file, the reason and the dates, a counter
// counts it), a good one is, a rotation written file by file is not mistaken for a bad pair, and health() turns
// false when the served certificate itself leaves its validity (or its CA bundle stops trusting it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { X509Certificate } from 'node:crypto';
import { createLogger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import { createServedCertMetrics } from '../certs/metrics.ts';
import { createCA, issueServingCert, type KeyPairPem } from '../certs/pki.ts';
import { PAIR_REJECT_REASONS } from '../certs/served.ts';
import { signedCert } from '../certs/testing/signed.ts';
import { startReloadingServer, TlsPairError, type ReloadingServer } from './tls.ts';

const DAY = 86_400_000;
const at = (days: number): Date => new Date(Date.now() + days * DAY);
const serving = (ca: KeyPairPem, from: Date, days: number) =>
  issueServingCert(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], now: from, validityDays: days });

interface Setup {
  dir: string;
  files: { certFile: string; keyFile: string; caFile: string };
  logs: Array<Record<string, unknown>>;
  registry: ReturnType<typeof createRegistry>;
  tls: ReloadingServer;
  clock: { now: Date };
}

async function write(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

async function writePair(s: Pick<Setup, 'files'>, pair: KeyPairPem, caPem?: string): Promise<void> {
  if (caPem !== undefined) await write(s.files.caFile, caPem);
  await write(s.files.keyFile, pair.keyPem);
  await write(s.files.certFile, pair.certPem);
}

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  first: KeyPairPem,
  caPem: string,
): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-tls-'));
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
  await writePair({ files }, first, caPem);
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'info',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const registry = createRegistry();
  const clock = { now: new Date() };
  const metrics = createServedCertMetrics(registry, PAIR_REJECT_REASONS, () => tls.health().ok);
  const tls = await startReloadingServer((_req, res) => res.end('ok'), files, {
    log,
    now: () => clock.now,
    metrics,
    pollMs: 60_000, // the tests call reload() themselves
    settleMs: 50,
  });
  await new Promise<void>((resolve) => tls.server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await tls.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, files, logs, registry, tls, clock };
}

/** The certificate a TLS client is shown now (no verification: we look at what is served). */
function peerFingerprint(tls: ReloadingServer): Promise<string> {
  const { port } = tls.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

async function metric(registry: Setup['registry'], name: string): Promise<string> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

describe('startReloadingServer', () => {
  it('refuses to start with a pair clients would refuse, saying which and why', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-tls-'));
    try {
      const ca = await createCA({ commonName: 'ca', now: at(-30), validityDays: 365 });
      const other = await createCA({ commonName: 'other', now: at(-1), validityDays: 365 });
      const good = await serving(ca, at(-1), 30);
      const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
      const cases: Array<[string, KeyPairPem, string, RegExp]> = [
        ['expired', await serving(ca, at(-20), 10), ca.certPem, /expired at/],
        ['not_yet_valid', await serving(ca, at(1), 10), ca.certPem, /not valid until/],
        [
          'key_mismatch',
          { certPem: good.certPem, keyPem: (await serving(ca, at(-1), 30)).keyPem },
          ca.certPem,
          /not the private key/,
        ],
        ['malformed', { certPem: 'garbage', keyPem: good.keyPem }, ca.certPem, /holds no PEM certificate/],
        ['untrusted', good, other.certPem, /not signed by any CA in .*ca\.crt/],
      ];
      for (const [reason, pair, caPem, message] of cases) {
        await writePair({ files }, pair, caPem);
        await assert.rejects(
          startReloadingServer(() => undefined, files, {
            log: createLogger({ level: 'silent' }),
            now: () => new Date(),
          }),
          (err: unknown) => {
            assert.ok(err instanceof TlsPairError, String(err));
            assert.equal(err.rejection.reason, reason);
            assert.match(err.message, message);
            assert.ok(!err.message.includes('\n'), 'one line');
            return true;
          },
        );
      }
      await rm(files.certFile);
      await assert.rejects(
        startReloadingServer(() => undefined, files, { log: createLogger({ level: 'silent' }), now: () => new Date() }),
        /tls\.crt: cannot read the certificate \(ENOENT\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps serving the current pair when a bad one appears; counts and logs each; swaps in a good one', async (t) => {
    const ca = await createCA({ commonName: 'ca', now: at(-30), validityDays: 365 });
    const first = await serving(ca, at(-1), 30);
    const s = await setup(t, first, ca.certPem);
    assert.equal(await peerFingerprint(s.tls), fingerprint(first.certPem));
    const other = await createCA({ commonName: 'other', now: at(-1), validityDays: 365 });
    const expiredCa = await createCA({ commonName: 'old', now: at(-60), validityDays: 20 });
    const bad: Array<[string, KeyPairPem, string]> = [
      ['expired', await serving(ca, at(-20), 10), ca.certPem],
      ['not_yet_valid', await serving(ca, at(2), 10), ca.certPem],
      ['key_mismatch', { certPem: (await serving(ca, at(-1), 30)).certPem, keyPem: first.keyPem }, ca.certPem],
      [
        'malformed',
        { certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', keyPem: first.keyPem },
        ca.certPem,
      ],
      ['untrusted', await serving(other, at(-1), 30), ca.certPem],
      ['expired', await serving(expiredCa, at(-50), 10), expiredCa.certPem + ca.certPem],
    ];
    for (const [reason, pair, caPem] of bad) {
      s.logs.length = 0;
      await writePair(s, pair, caPem);
      assert.equal(await s.tls.reload(), false, reason);
      assert.equal(await peerFingerprint(s.tls), fingerprint(first.certPem), `${reason}: the first pair still serves`);
      assert.deepEqual(s.tls.health(), { ok: true });
      const warn = s.logs.find((l) => l['level'] === 40);
      assert.ok(warn, `${reason}: a warning`);
      assert.equal(warn['reason'], reason);
      assert.equal(warn['certFile'], s.files.certFile);
      assert.match(String(warn['msg']), new RegExp(`not loaded \\(${reason}\\).*keeping the current certificate`));
      if (reason !== 'malformed') assert.match(String(warn['notAfter']), /^\d{4}-\d\d-\d\dT/);
      // The same files seen again are not counted again.
      assert.equal(await s.tls.reload(), false);
    }
    const counts = await metric(s.registry, 'k8s_ee_cert_reload_rejected_total{');
    assert.match(counts, /reason="expired"} 2/);
    for (const reason of ['not_yet_valid', 'key_mismatch', 'malformed', 'untrusted']) {
      assert.match(counts, new RegExp(`reason="${reason}"} 1`));
    }
    assert.match(counts, /reason="unreadable"} 0/);

    const next = await serving(ca, at(-1), 60);
    await writePair(s, next, ca.certPem);
    assert.equal(await s.tls.reload(), true);
    assert.equal(await peerFingerprint(s.tls), fingerprint(next.certPem));
    const expiry = await metric(s.registry, 'k8s_ee_served_cert_expiry_timestamp_seconds ');
    assert.equal(Number(expiry.split(' ')[1]), new X509Certificate(next.certPem).validToDate.getTime() / 1000);
  });

  it('a rotation written file by file (CA bundle, key, certificate) is served without a rejection', async (t) => {
    const oldCa = await createCA({ commonName: 'k8s-ee-ca', now: at(-200), validityDays: 365 });
    const first = await serving(oldCa, at(-1), 30);
    const s = await setup(t, first, oldCa.certPem);
    const newCa = await createCA({ commonName: 'k8s-ee-ca', now: new Date(), validityDays: 365 });
    const next = await serving(newCa, new Date(), 30);
    await write(s.files.caFile, newCa.certPem + oldCa.certPem);
    assert.equal(await s.tls.reload(), false, 'only the bundle changed');
    assert.deepEqual(s.tls.health(), { ok: true });
    await write(s.files.keyFile, next.keyPem);
    const reloading = s.tls.reload(); // sees the new key with the old certificate
    await sleep(10);
    await write(s.files.certFile, next.certPem);
    assert.equal(await reloading, true);
    assert.equal(await peerFingerprint(s.tls), fingerprint(next.certPem));
    assert.match(await metric(s.registry, 'k8s_ee_cert_reload_rejected_total{reason="key_mismatch"}'), / 0$/);
    assert.equal(s.logs.filter((l) => l['level'] === 40).length, 0, JSON.stringify(s.logs));
  });

  it('a pair refused as not yet valid is looked at again at its notBefore, without a file change', async (t) => {
    const ca = await createCA({ commonName: 'ca', now: at(-30), validityDays: 365 });
    const first = await serving(ca, at(-1), 30);
    const s = await setup(t, first, ca.certPem);
    const soon = new Date(s.clock.now.getTime() + 1_000);
    const early = await signedCert(ca, {
      subject: 'CN=early',
      notBefore: soon,
      notAfter: at(30),
      ca: false,
      ipAddresses: ['127.0.0.1'],
    });
    await writePair(s, early);
    assert.equal(await s.tls.reload(), false);
    assert.match(await metric(s.registry, 'k8s_ee_cert_reload_rejected_total{reason="not_yet_valid"}'), / 1$/);
    s.clock.now = new Date(soon.getTime() + 5_000); // time passes; the files stay as they are
    const deadline = Date.now() + 10_000;
    while ((await peerFingerprint(s.tls)) !== fingerprint(early.certPem)) {
      assert.ok(Date.now() < deadline, 'the early pair was not served once valid');
      await sleep(200);
    }
    assert.deepEqual(s.tls.health(), { ok: true });
  });

  it('health and k8s_ee_served_cert_valid turn false once the served certificate expires, with the reason', async (t) => {
    const ca = await createCA({ commonName: 'ca', now: at(-30), validityDays: 365 });
    const first = await serving(ca, at(-1), 2);
    const s = await setup(t, first, ca.certPem);
    assert.deepEqual(s.tls.health(), { ok: true });
    assert.match(await metric(s.registry, 'k8s_ee_served_cert_valid'), /k8s_ee_served_cert_valid 1/);
    s.clock.now = at(3);
    const health = s.tls.health();
    assert.equal(health.ok, false);
    assert.match(
      health.ok ? '' : health.message,
      /^the served certificate is refused by clients: .*tls\.crt: the certificate \(CN=localhost\) expired at /,
    );
    assert.match(await metric(s.registry, 'k8s_ee_served_cert_valid'), /k8s_ee_served_cert_valid 0/);
    // An expired replacement does not help; a current one does.
    await writePair(s, await serving(ca, at(-10), 1), ca.certPem);
    assert.equal(await s.tls.reload(), false);
    assert.equal(s.tls.health().ok, false);
    await writePair(s, await serving(ca, at(2), 30), ca.certPem);
    assert.equal(await s.tls.reload(), true);
    assert.deepEqual(s.tls.health(), { ok: true });
  });

  it('health turns false when the CA bundle on disk no longer trusts the served certificate', async (t) => {
    const ca = await createCA({ commonName: 'ca', now: at(-30), validityDays: 365 });
    const first = await serving(ca, at(-1), 30);
    const s = await setup(t, first, ca.certPem);
    const other = await createCA({ commonName: 'other', now: at(-1), validityDays: 365 });
    await write(s.files.caFile, other.certPem);
    assert.equal(await s.tls.reload(), false);
    const health = s.tls.health();
    assert.equal(health.ok, false);
    assert.match(health.ok ? '' : health.message, /not signed by any CA in .*ca\.crt/);
    assert.equal(await peerFingerprint(s.tls), fingerprint(first.certPem));
  });
});
