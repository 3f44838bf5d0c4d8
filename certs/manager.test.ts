import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { ConflictError, parseWebhookConfigRefs, type WebhookConfigRef } from './client.ts';
import { ensureCerts, type ManagerOptions } from './manager.ts';
import { MemoryCertsClient } from './memory-client.ts';
import { DEFAULT_POLICY, serviceDnsNames } from './plan.ts';
import { isSignedBy } from './pki.ts';
import { isValidAt, splitPemBundle } from './validity.ts';

const DAY = 86_400_000;
const T0 = new Date('2026-01-01T00:00:00Z');
const day = (n: number): Date => new Date(T0.getTime() + n * DAY);
const NS = 'k8s-ee-system';
const MUTATING: WebhookConfigRef = { kind: 'MutatingWebhookConfiguration', name: 'k8s-ee' };
const VALIDATING: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: 'k8s-ee' };

function options(overrides: Partial<ManagerOptions> = {}): ManagerOptions {
  return {
    namespace: NS,
    secretName: 'k8s-ee-tls',
    caSecretName: 'k8s-ee-tls-ca',
    names: { commonName: 'k8s-ee.k8s-ee-system.svc', dnsNames: serviceDnsNames('k8s-ee', NS), ipAddresses: [] },
    webhookConfigs: [MUTATING, VALIDATING],
    policy: DEFAULT_POLICY,
    ...overrides,
  };
}

function cluster(): MemoryCertsClient {
  const client = new MemoryCertsClient();
  client.addWebhookConfiguration(MUTATING, ['namespaces.k8s-ee.io', 'pods.k8s-ee.io']);
  client.addWebhookConfiguration(VALIDATING, ['namespaces.k8s-ee.io', 'pods.k8s-ee.io', 'objects.k8s-ee.io']);
  return client;
}

function secret(client: MemoryCertsClient, name: string): Record<string, string> {
  const s = client.secrets.get(`${NS}/${name}`);
  assert.ok(s, `Secret ${name} exists`);
  return s.data;
}

/** The CAs every webhook entry trusts, decoded; asserts that all entries agree. */
function injectedBundle(client: MemoryCertsClient): string {
  const bundles = new Set([...client.webhooks.values()].flat().map((e) => e.caBundle));
  assert.equal(bundles.size, 1, 'every webhook entry has the same caBundle');
  return Buffer.from([...bundles][0] ?? '', 'base64').toString('utf8');
}

function trustedBy(certPem: string, bundle: string): boolean {
  return splitPemBundle(bundle).some((ca) => isSignedBy(certPem, ca));
}

describe('ensureCerts', () => {
  it('creates the CA and serving Secrets and injects the caBundle into every entry of every configuration', async () => {
    const client = cluster();
    const result = await ensureCerts(client, options(), T0);
    const ca = secret(client, 'k8s-ee-tls-ca');
    const serving = secret(client, 'k8s-ee-tls');
    assert.deepEqual(Object.keys(serving).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.deepEqual(Object.keys(ca).sort(), ['tls.crt', 'tls.key']);
    assert.equal(serving['ca.crt'], ca['tls.crt']);
    assert.ok(isSignedBy(serving['tls.crt']!, ca['tls.crt']!));
    const leaf = new X509Certificate(serving['tls.crt']!);
    for (const name of serviceDnsNames('k8s-ee', NS)) assert.equal(leaf.checkHost(name), name);
    assert.equal(injectedBundle(client), ca['tls.crt']);
    assert.deepEqual(client.writes, [
      'secret k8s-ee-system/k8s-ee-tls-ca',
      'webhook MutatingWebhookConfiguration/k8s-ee',
      'webhook ValidatingWebhookConfiguration/k8s-ee',
      'secret k8s-ee-system/k8s-ee-tls',
    ]);
    assert.equal(result.ca.action.action, 'create');
    assert.equal(result.serving.action.action, 'issue');
    assert.equal(result.serving.notAfter.toISOString(), day(90).toISOString());
    assert.deepEqual(
      result.webhooks.map((w) => w.status),
      ['patched', 'patched'],
    );
    assert.equal(client.secrets.get(`${NS}/k8s-ee-tls`)?.type, 'kubernetes.io/tls');
  });

  it('is idempotent: a second run writes nothing', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const writes = client.writes.length;
    const again = await ensureCerts(client, options(), day(1));
    assert.equal(client.writes.length, writes);
    assert.deepEqual(again.actions, []);
    assert.deepEqual(
      again.webhooks.map((w) => w.status),
      ['unchanged', 'unchanged'],
    );
  });

  it('re-issues the serving certificate at 2/3 of its life, keeping the CA and the caBundle', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const first = secret(client, 'k8s-ee-tls')['tls.crt'];
    await ensureCerts(client, options(), day(59));
    assert.equal(secret(client, 'k8s-ee-tls')['tls.crt'], first, 'day 59: not yet');
    const writes = client.writes.length;
    const result = await ensureCerts(client, options(), day(61));
    assert.notEqual(secret(client, 'k8s-ee-tls')['tls.crt'], first);
    assert.deepEqual(
      client.writes.slice(writes),
      ['secret k8s-ee-system/k8s-ee-tls'],
      'only the serving Secret changes',
    );
    assert.equal(result.ca.action.action, 'keep');
    assert.match(
      result.actions.join('\n'),
      /issued serving certificate \(serving certificate passed 2\/3 of its life\)/,
    );
  });

  it('rotates the CA at 2/3 of its life with the old CA kept in the bundle until it expires', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const oldCa = secret(client, 'k8s-ee-tls-ca')['tls.crt']!;
    const oldServing = secret(client, 'k8s-ee-tls')['tls.crt']!;
    const writes = client.writes.length;
    const result = await ensureCerts(client, options(), day(244));
    const newCa = secret(client, 'k8s-ee-tls-ca')['tls.crt']!;
    assert.notEqual(newCa, oldCa);
    assert.equal(result.ca.action.action, 'rotate');
    assert.equal(secret(client, 'k8s-ee-tls-ca')['retired.crt'], oldCa);
    const bundle = injectedBundle(client);
    assert.deepEqual(splitPemBundle(bundle), [newCa, oldCa], 'new CA first, old CA kept');
    assert.equal(secret(client, 'k8s-ee-tls')['ca.crt'], bundle);
    assert.ok(trustedBy(oldServing, bundle), 'a pod still serving the old certificate stays trusted');
    assert.ok(isSignedBy(secret(client, 'k8s-ee-tls')['tls.crt']!, newCa));
    assert.deepEqual(
      client.writes.slice(writes),
      [
        'secret k8s-ee-system/k8s-ee-tls-ca',
        'webhook MutatingWebhookConfiguration/k8s-ee',
        'webhook ValidatingWebhookConfiguration/k8s-ee',
        'secret k8s-ee-system/k8s-ee-tls',
      ],
      'the bundle is injected before a certificate of the new CA is served',
    );
    await ensureCerts(client, options(), day(366));
    assert.deepEqual(splitPemBundle(injectedBundle(client)), [newCa], 'the old CA leaves the bundle once expired');
    assert.equal(secret(client, 'k8s-ee-tls-ca')['retired.crt'], undefined);
  });

  it('keeps every served certificate trusted while the clock runs for three years', async () => {
    const client = cluster();
    let served = '';
    for (let d = 0; d <= 3 * 365; d += 3) {
      const result = await ensureCerts(client, options(), day(d));
      const bundle = injectedBundle(client);
      // The certificate a slow pod may still serve (the previous one) and the current one are both trusted.
      if (served) assert.ok(trustedBy(served, bundle) && isValidAt(served, day(d)), `day ${d}: previous cert trusted`);
      served = result.serving.certPem;
      assert.ok(trustedBy(served, bundle) && isValidAt(served, day(d)), `day ${d}: current cert trusted and valid`);
    }
  });

  it('injects into a configuration created later, and reports it missing meanwhile', async () => {
    const client = new MemoryCertsClient();
    const first = await ensureCerts(client, options(), T0);
    assert.deepEqual(
      first.webhooks.map((w) => w.status),
      ['not-found', 'not-found'],
    );
    client.addWebhookConfiguration(MUTATING, ['a.k8s-ee.io']);
    client.addWebhookConfiguration(VALIDATING, ['b.k8s-ee.io']);
    const second = await ensureCerts(client, options(), day(1));
    assert.deepEqual(
      second.webhooks.map((w) => w.status),
      ['patched', 'patched'],
    );
    assert.equal(injectedBundle(client), secret(client, 'k8s-ee-tls-ca')['tls.crt']);
  });

  it('repairs a caBundle reset by a chart upgrade', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    client.addWebhookConfiguration(MUTATING, ['namespaces.k8s-ee.io', 'pods.k8s-ee.io', 'new.k8s-ee.io'], '');
    const result = await ensureCerts(client, options(), day(1));
    assert.deepEqual(
      result.webhooks.map((w) => w.status),
      ['patched', 'unchanged'],
    );
    assert.equal(injectedBundle(client), secret(client, 'k8s-ee-tls-ca')['tls.crt']);
  });

  it('recreates an unusable CA Secret and re-issues the serving certificate', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const rv = client.secrets.get(`${NS}/k8s-ee-tls-ca`)!.resourceVersion;
    await client.writeSecret(NS, 'k8s-ee-tls-ca', { type: 'Opaque', labels: {}, data: { 'tls.crt': 'garbage' } }, rv);
    const result = await ensureCerts(client, options(), day(1));
    assert.equal(result.ca.action.action, 'create');
    assert.match(result.actions[0] ?? '', /CA Secret unusable: tls\.crt is not a PEM certificate/);
    assert.ok(isSignedBy(secret(client, 'k8s-ee-tls')['tls.crt']!, secret(client, 'k8s-ee-tls-ca')['tls.crt']!));
  });

  it('re-issues when the names change or the serving Secret was damaged', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const renamed = options({
      names: { commonName: 'x', dnsNames: ['webhook.k8s-ee-system.svc'], ipAddresses: ['127.0.0.1'] },
    });
    const result = await ensureCerts(client, renamed, day(1));
    assert.match(result.actions.join('\n'), /names not covered: webhook\.k8s-ee-system\.svc, 127\.0\.0\.1/);
    const rv = client.secrets.get(`${NS}/k8s-ee-tls`)!.resourceVersion;
    const damaged = { ...secret(client, 'k8s-ee-tls'), 'tls.key': secret(client, 'k8s-ee-tls-ca')['tls.key']! };
    await client.writeSecret(NS, 'k8s-ee-tls', { type: 'kubernetes.io/tls', labels: {}, data: damaged }, rv);
    const repaired = await ensureCerts(client, renamed, day(2));
    assert.match(repaired.actions.join('\n'), /tls\.key is missing or does not match tls\.crt/);
  });

  it('rotate: forces a new serving certificate, and with the CA a new CA while the old stays trusted', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    const ca = secret(client, 'k8s-ee-tls-ca')['tls.crt']!;
    const serving = secret(client, 'k8s-ee-tls')['tls.crt']!;
    await ensureCerts(client, options({ forceServing: true }), day(1));
    assert.notEqual(secret(client, 'k8s-ee-tls')['tls.crt'], serving);
    assert.equal(secret(client, 'k8s-ee-tls-ca')['tls.crt'], ca);
    await ensureCerts(client, options({ forceServing: true, forceCA: true }), day(2));
    assert.notEqual(secret(client, 'k8s-ee-tls-ca')['tls.crt'], ca);
    assert.deepEqual(splitPemBundle(injectedBundle(client))[1], ca);
  });

  it('retries after a conflict with another writer, without rotating twice', async () => {
    const client = cluster();
    await ensureCerts(client, options(), T0);
    client.failNext = { method: 'patchWebhookBundles', error: new ConflictError('changed') };
    const result = await ensureCerts(client, options({ forceServing: true, forceCA: true }), day(1));
    assert.match(result.actions.join('\n'), /conflict \(changed\); reading again/);
    assert.equal(result.actions.filter((a) => a.startsWith('rotated CA')).length, 1);
    const bundle = splitPemBundle(injectedBundle(client));
    assert.equal(bundle.length, 2, 'the new CA and the original one');
  });

  it('two replicas starting at once agree on one CA and one serving certificate', async () => {
    const client = cluster();
    const [a, b] = await Promise.all([ensureCerts(client, options(), T0), ensureCerts(client, options(), T0)]);
    assert.equal(a.ca.certPem, b.ca.certPem);
    const created = [...a.actions, ...b.actions].filter((x) => x.startsWith('created CA'));
    assert.equal(created.length, 1, 'one CA created; the other replica read it after its conflict');
    assert.equal(secret(client, 'k8s-ee-tls')['tls.crt'], (await ensureCerts(client, options(), T0)).serving.certPem);
    assert.ok(isSignedBy(secret(client, 'k8s-ee-tls')['tls.crt']!, a.ca.certPem));
  });

  it('passes API errors through (the caller retries), writing nothing half-way', async () => {
    const client = cluster();
    client.failNext = { method: 'readSecret', error: new Error('connection refused') };
    await assert.rejects(ensureCerts(client, options(), T0), /connection refused/);
    assert.deepEqual(client.writes, []);
  });
});

describe('parseWebhookConfigRefs', () => {
  it('reads bare names as both kinds and prefixed names as one', () => {
    assert.deepEqual(parseWebhookConfigRefs('k8s-ee, validating/k8s-ee-vap'), [
      MUTATING,
      VALIDATING,
      { kind: 'ValidatingWebhookConfiguration', name: 'k8s-ee-vap' },
    ]);
    assert.deepEqual(parseWebhookConfigRefs(''), []);
    assert.throws(() => parseWebhookConfigRefs('webhook/x'), /"webhook\/x": prefix must be/);
    assert.throws(() => parseWebhookConfigRefs('bad_name'), /not a valid object name/);
  });
});
