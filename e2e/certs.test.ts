// `k8s-ee certs` against the real API server: the Secrets, the caBundle injection, renewal and CA rotation,
// and the proof that matters: the API server itself calls a webhook served with the issued certificate,
// before and after a CA rotation (old and new CA both trusted during the overlap).
import assert from 'node:assert/strict';
import { spawn, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { projectRoot } from '../local/cluster/paths.ts';
import { getTestCluster, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { splitPemBundle } from '../certs/validity.ts';
import { isSignedBy } from '../certs/pki.ts';

const NS = 'k8s-ee-certs-e2e';
const TARGET_NS = 'k8s-ee-certs-e2e-target';
const CONFIG = 'k8s-ee-certs-e2e';
const DAY = 86_400_000;

interface SecretJson {
  type: string;
  data: Record<string, string>;
}

interface WebhookConfigJson {
  webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }>;
}

const decode = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');

/** `k8s-ee certs watch` for this test's namespace and webhook configuration, checking every second. */
function spawnWatch(kubeconfig: string, extra: string[], stdio: StdioOptions) {
  const args = ['certs', 'watch', '--kubeconfig', kubeconfig, '--namespace', NS];
  args.push('--webhook-configs', `validating/${CONFIG}`, '--ip-addresses', '127.0.0.1', '--interval', '1s', ...extra);
  return spawn(process.execPath, [join(projectRoot, 'cli', 'main.ts'), ...args], { stdio });
}

describe('k8s-ee certs on a real API server', () => {
  let cluster: TestCluster;
  let certDir = '';
  let calls = 0;
  let server: Server | undefined;
  let port = 0;

  const certs = (args: string[]) =>
    runCommand(
      process.execPath,
      [
        join(projectRoot, 'cli', 'main.ts'),
        'certs',
        ...args,
        '--kubeconfig',
        cluster.kubeconfig,
        '--namespace',
        NS,
        '--webhook-configs',
        `validating/${CONFIG}`,
        '--ip-addresses',
        '127.0.0.1',
        '--cert-dir',
        certDir,
      ],
      { allowFail: true },
    );

  const getJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as T;
  const secret = (name: string) => getJson<SecretJson>(['-n', NS, 'get', 'secret', name]);
  const injected = async (): Promise<string[]> => {
    const config = await getJson<WebhookConfigJson>(['get', 'validatingwebhookconfiguration', CONFIG]);
    return config.webhooks.map((w) => decode(w.clientConfig.caBundle));
  };

  /** An HTTPS admission webhook that allows everything, served with the files `certs` wrote. */
  const serve = async (): Promise<void> => {
    const key = readFileSync(join(certDir, 'tls.key'));
    const cert = readFileSync(join(certDir, 'tls.crt'));
    if (server) {
      server.setSecureContext({ key, cert });
      return;
    }
    server = createHttpsServer({ key, cert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls++;
        const review = JSON.parse(body) as { request: { uid: string } };
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, allowed: true },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };

  /** Creates a ConfigMap the webhook must see (failurePolicy Fail): succeeds only if the API server trusts it. */
  const admittedThroughWebhook = async (name: string): Promise<void> => {
    const before = calls;
    server?.closeAllConnections(); // a fresh TLS handshake, not a kept-alive connection
    const deadline = Date.now() + 15_000;
    for (;;) {
      const manifest = JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: TARGET_NS, labels: { 'k8s-ee-certs-e2e': 'probe' } },
      });
      const result = await cluster.kubectl(['apply', '-f', '-'], { input: manifest, allowFail: true });
      if (result.code === 0 && calls > before) return;
      // The API server picks up a changed webhook configuration within a moment; retry briefly.
      if (Date.now() > deadline)
        assert.fail(`ConfigMap ${name} was not admitted through the webhook: ${result.stderr}`);
      await sleep(300);
    }
  };

  before(async () => {
    cluster = await getTestCluster();
    certDir = await mkdtemp(join(tmpdir(), 'k8s-ee-certs-e2e-'));
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl(['create', 'namespace', TARGET_NS]);
  });

  after(async () => {
    await cluster.kubectl(['delete', 'validatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
    await cluster.kubectl(['delete', 'namespace', NS, TARGET_NS, '--wait=false', '--ignore-not-found']);
    server?.closeAllConnections();
    server?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  test('ensure before the webhook configuration exists: Secrets written, a warning, exit 0', async () => {
    // Issued "61 days ago" (--now), so the renewal point (2/3 of 90 days) has passed in real time.
    const result = await certs(['ensure', '--now', new Date(Date.now() - 61 * DAY).toISOString()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /created CA \(no CA Secret\)/);
    assert.match(result.stdout, /warning: ValidatingWebhookConfiguration\/k8s-ee-certs-e2e not found/);
    const serving = await secret('k8s-ee-tls');
    const ca = await secret('k8s-ee-tls-ca');
    assert.equal(serving.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(serving.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.ok(isSignedBy(decode(serving.data['tls.crt']), decode(ca.data['tls.crt'])));
    assert.equal(await readFile(join(certDir, 'tls.crt'), 'utf8'), decode(serving.data['tls.crt']));
  });

  test('ensure injects the caBundle once the configuration exists; the API server calls the webhook over TLS', async () => {
    await serve();
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: CONFIG },
      webhooks: ['a', 'b'].map((n) => ({
        name: `${n}.certs-e2e.k8s-ee.io`,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${port}/validate` },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': TARGET_NS } },
        objectSelector: { matchLabels: { 'k8s-ee-certs-e2e': 'probe' } },
      })),
    };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(config) });
    const result = await certs(['ensure', '--now', new Date(Date.now() - 61 * DAY).toISOString()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /injected caBundle into ValidatingWebhookConfiguration\/k8s-ee-certs-e2e/);
    const ca = decode((await secret('k8s-ee-tls-ca')).data['tls.crt']);
    assert.deepEqual(await injected(), [ca, ca]);
    await admittedThroughWebhook('probe-1');
    const again = await certs(['ensure', '--now', new Date(Date.now() - 60 * DAY).toISOString()]);
    assert.match(again.stdout, /^certificates are up to date$/m, 'idempotent');
  });

  test('ensure --dry-run says what is due and changes nothing', async () => {
    const before = (await secret('k8s-ee-tls')).data['tls.crt'];
    const result = await certs(['ensure', '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /\(dry run\) issued serving certificate \(serving certificate passed 2\/3 of its life\)/,
    );
    assert.match(result.stdout, /\(dry run\) would write Secret k8s-ee-certs-e2e\/k8s-ee-tls$/m);
    assert.equal((await secret('k8s-ee-tls')).data['tls.crt'], before);
  });

  test('ensure at 2/3 of the life re-issues the serving certificate; the webhook keeps working', async () => {
    const before = decode((await secret('k8s-ee-tls')).data['tls.crt']);
    const result = await certs(['ensure']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /issued serving certificate \(serving certificate passed 2\/3 of its life\)/);
    assert.notEqual(decode((await secret('k8s-ee-tls')).data['tls.crt']), before);
    await serve();
    await admittedThroughWebhook('probe-2');
  });

  test('rotate --ca: both CAs trusted during the overlap, old and new serving certificates both admitted', async () => {
    const oldCa = decode((await secret('k8s-ee-tls-ca')).data['tls.crt']);
    const result = await certs(['rotate', '--ca']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rotated CA \(rotation requested\)/);
    const newCa = decode((await secret('k8s-ee-tls-ca')).data['tls.crt']);
    assert.notEqual(newCa, oldCa);
    for (const bundle of await injected()) assert.deepEqual(splitPemBundle(bundle), [newCa, oldCa]);
    // The server still has the certificate of the old CA (a pod that has not reloaded yet): still trusted.
    await admittedThroughWebhook('probe-3');
    await serve(); // now the certificate of the new CA
    assert.ok(isSignedBy(readFileSync(join(certDir, 'tls.crt'), 'utf8'), newCa));
    await admittedThroughWebhook('probe-4');
  });

  test('watch: ready once in place, expiry gauge on /metrics, repairs a wiped caBundle, stops on SIGTERM', async () => {
    const child = spawnWatch(cluster.kubeconfig, ['--cert-dir', certDir, '--port', '0'], ['ignore', 'pipe', 'pipe']);
    let logs = '';
    child.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      // --port 0 serves nothing: readiness is checked through the caBundle repair instead.
      const patch = JSON.stringify([
        { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from('bogus').toString('base64') },
      ]);
      await cluster.kubectl(['patch', 'validatingwebhookconfiguration', CONFIG, '--type=json', '-p', patch]);
      const ca = decode((await secret('k8s-ee-tls-ca')).data['tls.crt']);
      const deadline = Date.now() + 20_000;
      while (!(await injected())[0]?.startsWith(ca)) {
        assert.ok(Date.now() < deadline, `watch did not repair the caBundle:\n${logs}`);
        await sleep(250);
      }
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, logs);
    assert.match(logs, /injected caBundle into ValidatingWebhookConfiguration\/k8s-ee-certs-e2e/);
  });

  test('watch serves /readyz and the expiry gauge', async () => {
    const healthPort = 20_000 + Math.floor(Math.random() * 20_000);
    const child = spawnWatch(cluster.kubeconfig, ['--port', String(healthPort)], 'ignore');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 20_000;
      let ready = 0;
      while (ready !== 200) {
        assert.ok(Date.now() < deadline, 'watch never became ready');
        ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (ready !== 200) await sleep(200);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      const serving = /k8s_ee_cert_expiry_timestamp_seconds\{cert="serving"\} (\d+)/.exec(metrics);
      assert.ok(serving, metrics);
      const notAfter = Number(serving[1]) * 1000;
      assert.ok(
        notAfter > Date.now() + 80 * DAY && notAfter < Date.now() + 91 * DAY,
        `serving notAfter ${new Date(notAfter).toISOString()}`,
      );
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
