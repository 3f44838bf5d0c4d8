// `k8s-ee certs` against the real API server: the Secrets, the caBundle injection, renewal and CA rotation,
// and the proof that matters: the API server itself calls a webhook served with the issued certificate,
// before and after a CA rotation (old and new CA both trusted during the overlap). Then `k8s-ee webhook` itself:
// it never serves a pair the API server would refuse, and says so when the one it serves expires.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { projectRoot } from '../local/cluster/paths.ts';
import { deleteNamespaces, getTestCluster, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { splitPemBundle } from '../certs/validity.ts';
import { createCA, isSignedBy, issueServingCert, type KeyPairPem } from '../certs/pki.ts';
import { signedCert } from '../certs/testing/signed.ts';
import { freePorts } from '../local/cluster/net.ts';
import { clusterWithNode } from '../local/harness/pods.ts';
import {
  installPlatform,
  PLATFORM_NAMESPACE,
  uninstallPlatform,
  type InstalledPlatform,
} from '../local/harness/platform.ts';
import { allowedAnswer } from '../webhooks/testing/review.ts';

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
const b64 = (text: string): string => Buffer.from(text).toString('base64');

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
        res.end(allowedAnswer(review.request.uid));
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

  test('ensure into a namespace that does not exist: exit 1, naming the call and what is missing', async () => {
    const result = await runCommand(
      process.execPath,
      [
        join(projectRoot, 'cli', 'main.ts'),
        'certs',
        'ensure',
        '--kubeconfig',
        cluster.kubeconfig,
        '--namespace',
        'k8s-ee-certs-e2e-missing',
      ],
      { allowFail: true },
    );
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stderr,
      /create Secret k8s-ee-certs-e2e-missing\/k8s-ee-tls(-ca)?: not found \(namespace missing/,
    );
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

// The webhook process itself (`k8s-ee webhook --tls-ca`), called by the real API server: a pair on disk that a
// verifying client would refuse is never served, whatever is wrong with it; the current one keeps answering the
// API server, each refusal is logged and counted; a served certificate that expires makes /readyz say so and the
// API server's calls fail until a good pair is written, which is then served without a restart.
describe('k8s-ee webhook serves only certificates clients accept, as the API server sees it', () => {
  const SERVED_NS = 'k8s-ee-certs-e2e-served';
  const SERVED_CONFIG = 'k8s-ee-certs-e2e-served';
  let cluster: TestCluster;
  let dir = '';
  let ca: KeyPairPem;
  const children: ChildProcess[] = [];

  const files = () => ({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') });
  const put = async (path: string, content: string): Promise<void> => {
    await writeFile(`${path}.tmp`, content);
    await rename(`${path}.tmp`, path);
  };
  /** As a rotation writes them: CA bundle, key, certificate. */
  const writePair = async (pair: KeyPairPem, caPem?: string): Promise<void> => {
    if (caPem !== undefined) await put(files().ca, caPem);
    await put(files().key, pair.keyPem);
    await put(files().cert, pair.certPem);
  };
  const serving = (issuer: KeyPairPem, from: Date, days: number) =>
    issueServingCert(issuer, { dnsNames: [], ipAddresses: ['127.0.0.1'], now: from, validityDays: days });
  const at = (days: number): Date => new Date(Date.now() + days * DAY);

  interface Started {
    port: number;
    metricsPort: number;
    logs: () => string;
    stop: () => Promise<number | null>;
  }
  const startWebhook = async (): Promise<Started> => {
    const [port, metricsPort] = await freePorts(2);
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'cli', 'main.ts'),
        'webhook',
        '--no-cluster',
        '--host=127.0.0.1',
        `--port=${String(port)}`,
        `--metrics-port=${String(metricsPort)}`,
        `--tls-cert=${files().cert}`,
        `--tls-key=${files().key}`,
        `--tls-ca=${files().ca}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, K8S_EE_LOG_LEVEL: 'info' } },
    );
    children.push(child);
    let logs = '';
    child.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!logs.includes('k8s-ee webhook listening')) {
      assert.ok(child.exitCode === null && Date.now() < deadline, `webhook did not start:\n${logs}`);
      await sleep(100);
    }
    return {
      port: port as number,
      metricsPort: metricsPort as number,
      logs: () => logs,
      stop: () => {
        child.kill('SIGTERM');
        return exited;
      },
    };
  };

  /** A fresh, verifying TLS connection (no kept-alive socket): status, body, and the certificate it was shown. */
  const verifiedGet = (port: number, path: string) =>
    new Promise<{ status: number; body: string; fingerprint: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, ca: readFileSync(files().ca), agent: false }, (res) => {
        let body = '';
        const fingerprint = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
      });
      req.on('error', reject);
      req.end();
    });
  const plain = async (metricsPort: number, path: string) => {
    const res = await fetch(`http://127.0.0.1:${String(metricsPort)}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const metricValue = async (metricsPort: number, series: string): Promise<number> => {
    const text = (await plain(metricsPort, '/metrics')).body;
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
  };

  const register = async (port: number, caBundle: string): Promise<void> => {
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: SERVED_CONFIG },
      webhooks: [
        {
          name: 'served.certs-e2e.k8s-ee.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
          clientConfig: { url: `https://127.0.0.1:${String(port)}/validate`, caBundle: b64(caBundle) },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': SERVED_NS } },
          objectSelector: { matchLabels: { 'k8s-ee-certs-e2e': 'served' } },
        },
      ],
    };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(config) });
  };
  const createConfigMap = (name: string) =>
    cluster.kubectl(['create', '-f', '-'], {
      allowFail: true,
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: SERVED_NS, labels: { 'k8s-ee-certs-e2e': 'served' } },
      }),
    });
  const called = (metricsPort: number) =>
    metricValue(
      metricsPort,
      'k8s_ee_admission_requests_total{route="validate",kind="ConfigMap",decision="allowed"}',
    ).then((v) => (Number.isNaN(v) ? 0 : v));
  /** The API server calls the webhook for this ConfigMap (failurePolicy Fail: it exists only if the call worked). */
  const admittedThroughWebhook = async (w: Started, name: string): Promise<void> => {
    const before = await called(w.metricsPort);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const result = await createConfigMap(name);
      if (result.code === 0) {
        assert.ok((await called(w.metricsPort)) > before, `${name}: created without the webhook being called`);
        return;
      }
      if (Date.now() > deadline)
        assert.fail(`ConfigMap ${name} was not admitted through the webhook: ${result.stderr}`);
      await sleep(300);
    }
  };

  before(async () => {
    cluster = await getTestCluster();
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-certs-served-'));
    ca = await createCA({ commonName: 'k8s-ee-certs-e2e-ca', now: at(-40), validityDays: 365 });
    await deleteNamespaces(cluster, [SERVED_NS]); // a run just before may have left it Terminating
    await cluster.kubectl(['create', 'namespace', SERVED_NS]);
  });

  after(async () => {
    await cluster.kubectl(['delete', 'validatingwebhookconfiguration', SERVED_CONFIG, '--ignore-not-found']);
    await cluster.kubectl(['delete', 'namespace', SERVED_NS, '--wait=false', '--ignore-not-found']);
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  test('bad pairs on disk are never served; the API server keeps calling the current one; a good one is swapped in', async () => {
    const first = await serving(ca, at(-1), 30);
    await writePair(first, ca.certPem);
    const w = await startWebhook();
    try {
      await register(w.port, ca.certPem);
      await admittedThroughWebhook(w, 'served-0');
      const firstPrint = new X509Certificate(first.certPem).fingerprint256;
      const otherCa = await createCA({ commonName: 'k8s-ee-certs-e2e-ca', now: at(-1), validityDays: 365 });
      const expiredCa = await createCA({ commonName: 'expired-ca', now: at(-60), validityDays: 20 });
      const bad: Array<[string, KeyPairPem, string | undefined]> = [
        ['expired', await serving(ca, at(-20), 10), undefined],
        ['not_yet_valid', await serving(ca, at(3), 30), undefined],
        [
          'ca_not_valid',
          await signedCert(expiredCa, {
            subject: 'CN=leaf',
            notBefore: at(-1),
            notAfter: at(30),
            ca: false,
            ipAddresses: ['127.0.0.1'],
          }),
          ca.certPem + expiredCa.certPem, // the bundle still trusts the served certificate
        ],
        ['untrusted', await serving(otherCa, at(-1), 30), ca.certPem],
        ['key_mismatch', { certPem: (await serving(ca, at(-1), 30)).certPem, keyPem: first.keyPem }, undefined],
        ['malformed', { certPem: 'not a certificate\n', keyPem: 'not a key\n' }, undefined],
      ];
      let i = 0;
      for (const [reason, pair, caPem] of bad) {
        i++;
        const series = `k8s_ee_cert_reload_rejected_total{reason="${reason}"}`;
        const before = await metricValue(w.metricsPort, series);
        await writePair(pair, caPem);
        const deadline = Date.now() + 15_000;
        while ((await metricValue(w.metricsPort, series)) <= before) {
          assert.ok(Date.now() < deadline, `${reason}: no rejection counted\n${w.logs()}`);
          await sleep(200);
        }
        const shown = await verifiedGet(w.port, '/healthz');
        assert.equal(
          shown.fingerprint,
          firstPrint,
          `${reason}: a fresh verifying client is still shown the first pair`,
        );
        assert.equal(shown.status, 200);
        assert.equal((await plain(w.metricsPort, '/readyz')).status, 200, `${reason}: still ready`);
        await admittedThroughWebhook(w, `served-${String(i)}`);
        // The webhook writes its logs in batches: a line may wait up to FLUSH_MS (lib/log.ts) before it shows.
        const warningOf = (): string | undefined =>
          w
            .logs()
            .split('\n')
            .find((l) => l.includes(`"reason":"${reason}"`));
        const logDeadline = Date.now() + 5_000;
        while (warningOf() === undefined && Date.now() < logDeadline) await sleep(50);
        const warning = warningOf();
        assert.ok(warning, `${reason}: a warning names the reason\n${w.logs()}`);
        assert.match(warning, /"level":40/);
        assert.ok(warning.includes(files().cert), `${reason}: the warning names the file`);
        assert.match(warning, /keeping the current certificate/);
      }

      const next = await serving(ca, at(-1), 60);
      await writePair(next, ca.certPem);
      const nextPrint = new X509Certificate(next.certPem).fingerprint256;
      const deadline = Date.now() + 15_000;
      while ((await verifiedGet(w.port, '/healthz')).fingerprint !== nextPrint) {
        assert.ok(Date.now() < deadline, `the good pair was not served:\n${w.logs()}`);
        await sleep(200);
      }
      await admittedThroughWebhook(w, 'served-next');
      const expiry = await metricValue(w.metricsPort, 'k8s_ee_served_cert_expiry_timestamp_seconds');
      assert.equal(expiry * 1000, new X509Certificate(next.certPem).validToDate.getTime());
    } finally {
      assert.equal(await w.stop(), 0, w.logs());
    }
  });

  test('a certificate that expires while served: /readyz 503 says why, the API server is refused, a good pair heals it', async () => {
    // Valid for 12 seconds from now (pki.ts back-dates notBefore by 5 minutes).
    const short = await serving(ca, new Date(), 12 / 86_400);
    const notAfter = new X509Certificate(short.certPem).validToDate.getTime();
    await writePair(short, ca.certPem);
    const w = await startWebhook();
    try {
      assert.equal((await plain(w.metricsPort, '/readyz')).status, 200, 'ready while the certificate is valid');
      assert.equal(await metricValue(w.metricsPort, 'k8s_ee_served_cert_valid'), 1);
      await sleep(Math.max(0, notAfter - Date.now()) + 1_500);
      const ready = await plain(w.metricsPort, '/readyz');
      assert.equal(ready.status, 503);
      assert.match(
        ready.body,
        /^not ready: the served certificate is refused by clients: .*tls\.crt: the certificate \(CN=127\.0\.0\.1\) expired at /,
      );
      assert.equal(await metricValue(w.metricsPort, 'k8s_ee_served_cert_valid'), 0);
      // The API server (a verifying client) refuses it: with failurePolicy Fail the create is rejected.
      await register(w.port, ca.certPem);
      await sleep(1_000);
      const refused = await createConfigMap('served-expired');
      assert.notEqual(refused.code, 0, 'the API server must not accept an expired webhook certificate');
      assert.match(refused.stderr, /failed calling webhook.*x509: certificate has expired/);

      const good = await serving(ca, at(-1), 30);
      await writePair(good, ca.certPem);
      const deadline = Date.now() + 15_000;
      while ((await plain(w.metricsPort, '/readyz')).status !== 200) {
        assert.ok(Date.now() < deadline, `not ready again after a good pair was written:\n${w.logs()}`);
        await sleep(200);
      }
      assert.equal(await metricValue(w.metricsPort, 'k8s_ee_served_cert_valid'), 1);
      await admittedThroughWebhook(w, 'served-healed');
    } finally {
      assert.equal(await w.stop(), 0, w.logs());
    }
  });
});

// The same, installed from the chart as users run it (with a node): a bad pair written into a webhook pod's /certs
// (the in-memory volume the certs container keeps in step with the Secret) is never served.
const inCluster = await clusterWithNode();
describe('k8s-ee from the chart: a bad pair in a webhook pod’s /certs is not served', { skip: inCluster.skip }, () => {
  let cluster: TestCluster;
  let platform: InstalledPlatform | undefined;

  before(async () => {
    cluster = inCluster.cluster as TestCluster;
    platform = await installPlatform({
      cluster,
      previewDomain: 'certs.e2e.test',
      // Only this file's namespaces; the certs container checks rarely, so it does not restore the files mid-test.
      values: {
        config: { namespacePattern: '^(?<project>certs)-pr-(?<number>[1-9][0-9]*)$' },
        certs: { watchInterval: '1h' },
      },
      probeNamespace: 'certs-pr-99',
    });
  });

  after(async () => {
    await (platform?.uninstall() ?? uninstallPlatform(cluster));
  });

  test('expired, untrusted and mismatched pairs are refused, counted and logged; the API server keeps calling the pod', async () => {
    const installed = platform as InstalledPlatform;
    const pods = (await installed.pods()).filter((p) => p['status']?.['phase'] === 'Running');
    const pod = String(pods[0]?.['metadata']?.['name']);
    const exec = (args: string[], input?: string) =>
      cluster.kubectl(['-n', PLATFORM_NAMESPACE, 'exec', '-i', pod, '-c', 'certs', '--', ...args], {
        ...(input === undefined ? {} : { input }),
      });
    const read = async (file: string) =>
      (await exec(['node', '-e', `process.stdout.write(require('fs').readFileSync('/certs/${file}', 'utf8'))`])).stdout;
    const writeFiles = (pair: { key: string; cert: string }) =>
      exec(
        [
          'node',
          '-e',
          "const f=require('fs');const p=JSON.parse(f.readFileSync(0,'utf8'));for(const [n,file] of [['key','tls.key'],['cert','tls.crt']]){f.writeFileSync('/certs/.'+file,p[n]);f.renameSync('/certs/.'+file,'/certs/'+file)}",
        ],
        JSON.stringify(pair),
      );
    const served = await read('tls.crt');
    const servedKey = await read('tls.key');
    // Another CA's certificate, and an expired one from a CA the test makes: neither leads to ca.crt or is current.
    const otherCa = await createCA({ commonName: 'k8s-ee-ca', now: new Date(Date.now() - DAY), validityDays: 30 });
    const foreign = await issueServingCert(otherCa, {
      dnsNames: ['k8s-ee.k8s-ee-system.svc'],
      ipAddresses: [],
      now: new Date(),
      validityDays: 10,
    });
    const expired = await issueServingCert(otherCa, {
      dnsNames: ['k8s-ee.k8s-ee-system.svc'],
      ipAddresses: [],
      now: new Date(Date.now() - 20 * DAY),
      validityDays: 1,
    });
    const attempts: Array<[string, { key: string; cert: string }]> = [
      ['untrusted', { key: foreign.keyPem, cert: foreign.certPem }],
      ['expired', { key: expired.keyPem, cert: expired.certPem }],
      ['key_mismatch', { key: foreign.keyPem, cert: served }],
      ['malformed', { key: servedKey, cert: 'garbage\n' }],
    ];
    const rejected = async (reason: string) => {
      const text = await installed.metrics(pod, 8080);
      const m = new RegExp(`^k8s_ee_cert_reload_rejected_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
      return Number(m?.[1] ?? Number.NaN);
    };
    for (const [reason, pair] of attempts) {
      const before = await rejected(reason);
      await writeFiles(pair);
      const deadline = Date.now() + 20_000;
      while ((await rejected(reason)) <= before) {
        assert.ok(Date.now() < deadline, `${reason}: not counted\n${await installed.logs()}`);
        await sleep(500);
      }
      const text = await installed.metrics(pod, 8080);
      assert.match(text, /^k8s_ee_served_cert_valid 1$/m, `${reason}: the served certificate is still good`);
      const ready = await cluster.kubectl([
        '-n',
        PLATFORM_NAMESPACE,
        'get',
        'pod',
        pod,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      assert.equal(ready.stdout, 'True', `${reason}: the pod stays ready`);
      // The API server still calls the webhook (through the Service, TLS verified with the injected caBundle).
      const dry = await cluster.kubectl(['create', 'namespace', 'certs-pr-98', '--dry-run=server', '-o', 'json']);
      const labels =
        (JSON.parse(dry.stdout) as { metadata: { labels?: Record<string, string> } }).metadata.labels ?? {};
      assert.equal(labels['k8s-ee.io/project'], 'certs', `${reason}: the namespace was mutated by the webhook`);
    }
    const logs = (await cluster.kubectl(['-n', PLATFORM_NAMESPACE, 'logs', pod, '-c', 'webhook'])).stdout;
    for (const [reason] of attempts) {
      assert.match(logs, new RegExp(`"reason":"${reason}".*TLS files changed but were not loaded`), reason);
    }
    await writeFiles({ key: servedKey, cert: served }); // leave the pod as it was
  });
});
