import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import type { WebhookConfigRef } from './client.ts';
import { clockFrom, formatResult, managerOptions } from './command.ts';
import { syncCertFiles } from './files.ts';
import { MemoryCertsClient } from './memory-client.ts';
import { createCertMetrics } from './metrics.ts';
import { DEFAULT_POLICY, serviceDnsNames } from './plan.ts';
import { checkOnce, startCertWatcher } from './watch.ts';
import { ensureCerts } from './manager.ts';

const NS = 'k8s-ee-system';
const REF: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: 'k8s-ee' };
const T0 = new Date('2026-01-01T00:00:00Z');

const manager = {
  namespace: NS,
  secretName: 'k8s-ee-tls',
  caSecretName: 'k8s-ee-tls-ca',
  names: {
    commonName: 'k8s-ee.k8s-ee-system.svc',
    dnsNames: serviceDnsNames('k8s-ee', NS),
    ipAddresses: ['127.0.0.1'],
  },
  webhookConfigs: [REF],
  policy: DEFAULT_POLICY,
};

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'k8s-ee-certs-'));
}

describe('checkOnce', () => {
  it('writes the files, sets the expiry gauge, and rewrites a file only when it changed', async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const client = new MemoryCertsClient();
    client.addWebhookConfiguration(REF, ['a.k8s-ee.io']);
    const registry = createRegistry();
    const metrics = createCertMetrics(registry);
    const opts = { client, manager, certDir: dir, now: () => T0, log: silentLogger(), metrics };
    const result = await checkOnce(opts);
    assert.ok(result);
    assert.equal(await readFile(join(dir, 'tls.crt'), 'utf8'), result.serving.certPem);
    assert.equal(await readFile(join(dir, 'tls.key'), 'utf8'), result.serving.keyPem);
    assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), result.caBundle);
    assert.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
    const text = await registry.metrics();
    const expected = result.serving.notAfter.getTime() / 1000;
    assert.match(text, new RegExp(`k8s_ee_cert_expiry_timestamp_seconds\\{cert="serving"\\} ${expected}`));
    assert.match(text, /k8s_ee_cert_renewals_total\{cert="ca",action="create"\} 1/);
    const mtime = (await stat(join(dir, 'tls.crt'))).mtimeMs;
    assert.deepEqual(await syncCertFiles(dir, { ...result.serving, caBundle: result.caBundle }), []);
    assert.equal((await stat(join(dir, 'tls.crt'))).mtimeMs, mtime);
  });

  it('counts an API error and returns undefined instead of throwing', async () => {
    const client = new MemoryCertsClient();
    client.failNext = { method: 'readSecret', error: new Error('boom') };
    const registry = createRegistry();
    const result = await checkOnce({
      client,
      manager,
      now: () => T0,
      log: silentLogger(),
      metrics: createCertMetrics(registry),
    });
    assert.equal(result, undefined);
    assert.match(await registry.metrics(), /k8s_ee_cert_errors_total 1/);
  });
});

describe('startCertWatcher', () => {
  it('is ready only once the caBundle is injected, and picks up a rotation done by another replica', async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const client = new MemoryCertsClient();
    const metrics = createCertMetrics(createRegistry());
    const watcher = startCertWatcher({
      client,
      manager,
      certDir: dir,
      intervalMs: 3_600_000,
      now: () => T0,
      log: silentLogger(),
      metrics,
    });
    t.after(() => watcher.stop());
    await watcher.check();
    assert.equal(watcher.ready(), false, 'the webhook configuration does not exist yet');
    assert.equal(watcher.readiness(), 'caBundle not injected yet: ValidatingWebhookConfiguration/k8s-ee not found');
    client.addWebhookConfiguration(REF, ['a.k8s-ee.io']);
    await watcher.check();
    assert.equal(watcher.ready(), true);
    // Another replica rotates the serving certificate; this one follows on its next check.
    const other = await ensureCerts(client, { ...manager, forceServing: true }, T0);
    await watcher.check();
    assert.equal(await readFile(join(dir, 'tls.crt'), 'utf8'), other.serving.certPem);
  });

  it('retries soon while a webhook configuration is missing, then settles on the interval', async (t) => {
    const client = new MemoryCertsClient();
    const watcher = startCertWatcher({
      client,
      manager,
      intervalMs: 3_600_000,
      retryMs: 20,
      now: () => T0,
      log: silentLogger(),
      metrics: createCertMetrics(createRegistry()),
    });
    t.after(() => watcher.stop());
    await watcher.check();
    assert.equal(watcher.ready(), false);
    client.addWebhookConfiguration(REF, ['a.k8s-ee.io']);
    const deadline = Date.now() + 5000;
    while (!watcher.ready()) {
      assert.ok(Date.now() < deadline, 'the watcher injected the caBundle on its own');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    let reads = 0;
    const read = client.readSecret.bind(client);
    client.readSecret = (namespace, name) => {
      reads++;
      return read(namespace, name);
    };
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(reads, 0, 'no more checks until the interval');
  });

  it('is not ready once the certificate has expired and cannot be renewed', async (t) => {
    const client = new MemoryCertsClient();
    client.addWebhookConfiguration(REF, ['a.k8s-ee.io']);
    let now = T0;
    const watcher = startCertWatcher({
      client,
      manager,
      intervalMs: 3_600_000,
      now: () => now,
      log: silentLogger(),
      metrics: createCertMetrics(createRegistry()),
    });
    t.after(() => watcher.stop());
    await watcher.check();
    assert.equal(watcher.ready(), true);
    now = new Date(T0.getTime() + 100 * 86_400_000);
    assert.equal(watcher.ready(), false);
    assert.match(
      String(watcher.readiness()),
      /^the serving certificate is outside its validity \(.* to .*; now 2026-04-11T/,
    );
  });
});

describe('command helpers', () => {
  it('derives the options from the flags', () => {
    const values = {
      namespace: 'platform',
      secret: 'tls',
      service: 'hook',
      'webhook-configs': 'mutating/m',
      'dns-names': 'a.example.com',
      'ip-addresses': '127.0.0.1',
      validity: '30d',
      'ca-validity': '2h',
      interval: '1m',
      port: '0',
      output: 'text',
      ca: true,
      'dry-run': false,
      help: false,
    };
    const opts = managerOptions(values, 'rotate');
    assert.equal(opts.caSecretName, 'tls-ca');
    assert.deepEqual(opts.names.dnsNames, [...serviceDnsNames('hook', 'platform'), 'a.example.com']);
    assert.deepEqual(opts.webhookConfigs, [{ kind: 'MutatingWebhookConfiguration', name: 'm' }]);
    assert.equal(opts.policy.servingValidityDays, 30);
    assert.equal(opts.policy.caValidityDays, 2 / 24);
    assert.equal(opts.forceServing, true);
    assert.equal(opts.forceCA, true);
    assert.throws(
      () => managerOptions({ ...values, validity: 'soon' }, 'ensure'),
      /--validity "soon" is not a duration/,
    );
  });

  it('--now sets the clock and refuses what is not RFC 3339', () => {
    const clock = clockFrom('2030-05-01T12:00:00Z');
    assert.ok(Math.abs(clock().getTime() - Date.parse('2030-05-01T12:00:00Z')) < 5000);
    assert.throws(() => clockFrom('tomorrow'), /--now "tomorrow" is not an RFC 3339 time/);
  });

  it('prints what was done and warns about a missing configuration', async () => {
    const client = new MemoryCertsClient();
    const result = await ensureCerts(client, manager, T0);
    const text = formatResult(result, 'text');
    assert.match(text, /^created CA \(no CA Secret\)$/m);
    assert.match(text, /warning: ValidatingWebhookConfiguration\/k8s-ee not found/);
    const json = JSON.parse(formatResult(result, 'json')) as { serving: { notAfter: string; action: string } };
    assert.equal(json.serving.action, 'issue');
    assert.equal(json.serving.notAfter, '2026-04-01T00:00:00.000Z');
  });
});
