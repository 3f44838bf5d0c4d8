// The real `k8s-ee webhook --no-cluster` process over HTTPS: verdicts, malformed bodies, certificate rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCA, issueServingCert } from '../certs/pki.ts';
import { noClusterWebhookArgs, startWebhookProcess, writeServingCert } from './testing/process.ts';
import { review } from './testing/review.ts';

interface Reply {
  status: number;
  body: string;
  issuer: string;
  /** The answer's Connection header. */
  connection: string;
}

/** One request (a POST unless told) on a connection of its own, or on `agent`'s. */
function request(
  port: number,
  ca: string,
  path: string,
  { method = 'POST', body = '', agent }: { method?: string; body?: string | Buffer; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        headers: { 'content-type': 'application/json' },
        agent: agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        // Read now: a connection closed after this answer has no socket left by its end.
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            issuer: String(peer.issuer?.CN ?? ''),
            connection: String(res.headers.connection ?? ''),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const post = (port: number, ca: string, path: string, body: string | Buffer, agent?: Agent): Promise<Reply> =>
  request(port, ca, path, { body, ...(agent ? { agent } : {}) });

const privilegedPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'evil', namespace: 'shop-pr-1' },
  spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
};

function malformedBodies(): (string | Buffer)[] {
  const valid = JSON.stringify(review(privilegedPod, 'Pod'));
  const bodies: (string | Buffer)[] = [
    '',
    '{',
    'null',
    '[]',
    '"x"',
    '42',
    'true',
    '{"kind":"AdmissionReview"}',
    '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}',
    '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}}',
    '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod","version":"v1","group":""},"operation":"CREATE","object":"not an object"}}',
    '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Deployment","version":"v1","group":"apps"},"operation":"CREATE","namespace":"shop-pr-1","object":{"spec":{"template":{"spec":{"containers":"nope"}}}}}}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
  ];
  for (let i = 0; i < 60; i++) bodies.push(valid.slice(0, Math.floor((valid.length * i) / 60)));
  for (let i = 0; i < 40; i++) bodies.push(randomBytes(1 + i * 37));
  for (let i = 0; i < 40; i++) {
    const mangled = JSON.parse(valid) as { request: Record<string, unknown> };
    const keys = ['object', 'kind', 'operation', 'userInfo', 'namespace', 'oldObject', 'subResource'];
    mangled.request[keys[i % keys.length] ?? 'object'] = [null, 7, 'x', [], { a: { b: [] } }][i % 5];
    bodies.push(JSON.stringify(mangled));
  }
  // Fields the admission line carries, of other types than the API server sends: answered, and logged as they are.
  for (const [key, value] of [
    ['userInfo', { username: 7 }],
    ['userInfo', { username: null, groups: 'x' }],
    ['userInfo', { username: ['a', { b: 'é"' }] }],
    ['name', null],
    ['namespace', null],
  ] as const) {
    const mangled = JSON.parse(valid) as { request: Record<string, unknown> };
    mangled.request[key] = value;
    bodies.push(JSON.stringify(mangled));
  }
  return bodies;
}

test(
  'k8s-ee webhook --no-cluster: HTTPS verdicts, malformed bodies, certificate rotation, clean stop',
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
    try {
      const first = await writeServingCert(dir, 'first-ca');
      const logFile = join(dir, 'webhook.log');
      const { child, port } = await startWebhookProcess(dir, { logLevel: 'info', logFile });
      const denied = await post(port, first.caPem, '/validate', JSON.stringify(review(privilegedPod, 'Pod')));
      assert.equal(denied.status, 200);
      const verdict = JSON.parse(denied.body) as { response: { allowed: boolean; status: { message: string } } };
      assert.equal(verdict.response.allowed, false);
      assert.match(verdict.response.status.message, /spec\.containers\[0\]\.securityContext\.privileged/);

      let answered = 1;
      for (const body of malformedBodies()) {
        const reply = await post(port, first.caPem, '/validate', body);
        assert.ok([200, 400, 413].includes(reply.status), `status ${reply.status} for ${String(body).slice(0, 80)}`);
        const parsed = JSON.parse(reply.body) as { kind: string; response: { allowed: boolean } };
        assert.equal(parsed.kind, 'AdmissionReview');
        if (reply.status !== 200) assert.equal(parsed.response.allowed, false);
        else answered++;
      }
      assert.equal(child.exitCode, null, 'the process is still up after the malformed bodies');

      const second = await writeServingCert(dir, 'second-ca');
      let issuer = '';
      for (let i = 0; i < 50 && issuer !== 'second-ca'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        issuer = await post(port, second.caPem, '/mutate', JSON.stringify(review(privilegedPod, 'Pod'))).then(
          (r) => r.issuer,
          () => '',
        );
      }
      assert.equal(issuer, 'second-ca', 'the rotated certificate is served without a restart');

      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      // The log is one JSON object a line (after the plain listening line), each answered review's among them.
      const lines = readFileSync(logFile, 'utf8')
        .trimEnd()
        .split('\n')
        .filter((line) => !line.startsWith('k8s-ee webhook listening on '))
        .map((line) => JSON.parse(line) as { msg: string; user?: unknown; level: number });
      const admissions = lines.filter((line) => line.msg.startsWith('admission') && !line.msg.includes('refused'));
      assert.ok(admissions.length >= answered, `${admissions.length} admission lines for ${answered} answers`);
      assert.ok(admissions.some((line) => line.user === 7) && admissions.some((line) => line.user === null));
      assert.deepEqual(
        lines.filter(
          (line) => line.level >= 40 && !/^(admission request refused|running with --no-cluster)/.test(line.msg),
        ),
        [],
        'no warning but the refusals',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('k8s-ee webhook refuses to start with a pair clients would refuse: one line on stderr, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
  try {
    const now = Date.now();
    const day = 86_400_000;
    const ca = await createCA({ commonName: 'ca', now: new Date(now - 30 * day), validityDays: 365 });
    const other = await createCA({ commonName: 'other', now: new Date(now - day), validityDays: 365 });
    const issue = (fromDays: number, days: number) =>
      issueServingCert(ca, {
        dnsNames: [],
        ipAddresses: ['127.0.0.1'],
        now: new Date(now + fromDays * day),
        validityDays: days,
      });
    const good = await issue(-1, 30);
    const cases: Array<[string, { cert: string; key: string; ca: string }]> = [
      ['expired', { ...(await issue(-20, 10).then((p) => ({ cert: p.certPem, key: p.keyPem }))), ca: ca.certPem }],
      ['not_yet_valid', { ...(await issue(2, 10).then((p) => ({ cert: p.certPem, key: p.keyPem }))), ca: ca.certPem }],
      ['key_mismatch', { cert: good.certPem, key: (await issue(-1, 30)).keyPem, ca: ca.certPem }],
      ['malformed', { cert: 'not a certificate', key: good.keyPem, ca: ca.certPem }],
      ['untrusted', { cert: good.certPem, key: good.keyPem, ca: other.certPem }],
    ];
    for (const [reason, files] of cases) {
      writeFileSync(join(dir, 'tls.crt'), files.cert);
      writeFileSync(join(dir, 'tls.key'), files.key);
      writeFileSync(join(dir, 'ca.crt'), files.ca);
      const result = spawnSync(
        process.execPath,
        ['cli/main.ts', ...noClusterWebhookArgs(dir), '--tls-ca', join(dir, 'ca.crt')],
        { encoding: 'utf8', timeout: 30_000, env: { ...process.env, K8S_EE_LOG_LEVEL: 'error' } },
      );
      assert.equal(result.status, 1, `${reason}: ${result.stderr}`);
      assert.equal(result.stdout, '', `${reason}: never listened`);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${reason}: one line\n${result.stderr}`);
      assert.match(
        lines[0] ?? '',
        new RegExp(
          `^k8s-ee: webhook: refusing to start, the TLS certificate would be refused by clients \\(${reason}\\): `,
        ),
      );
      assert.ok(lines[0]?.includes(dir), `${reason}: names the file`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Resolves with the exit code and when (performance.now()) the process exited. */
function exitOf(child: ChildProcess): Promise<{ code: number | null; at: number }> {
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, at: performance.now() })));
}

/** /readyz, asked on a new connection every 20 ms until it is no longer 200 (for at most a second). */
async function untilNotReady(port: number, ca: string): Promise<Reply> {
  let ready = await request(port, ca, '/readyz', { method: 'GET' });
  for (let i = 0; i < 50 && ready.status === 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    ready = await request(port, ca, '/readyz', { method: 'GET' });
  }
  return ready;
}

test(
  'on SIGTERM the webhook serves on for --shutdown-delay: /readyz 503, each answer closes its connection, then exit 0',
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let child: ChildProcess | undefined;
    try {
      const { caPem: ca } = await writeServingCert(dir, 'drain-ca');
      const started = await startWebhookProcess(dir, { shutdownDelay: '3s' });
      child = started.child;
      const { port } = started;
      const body = JSON.stringify(review(privilegedPod, 'Pod'));
      const before = await post(port, ca, '/validate', body, agent);
      assert.equal(before.status, 200);
      assert.equal(before.connection, 'keep-alive');
      assert.equal((await request(port, ca, '/readyz', { method: 'GET' })).status, 200);

      const exit = exitOf(child);
      const signalled = performance.now();
      child.kill('SIGTERM');
      // A new connection is still served: /readyz says why it is not ready.
      const ready = await untilNotReady(port, ca);
      assert.equal(ready.status, 503);
      assert.match(ready.body, /^not ready: shutting down \(SIGTERM\)/);
      // The kept connection's next review is answered, and closes it.
      const during = await post(port, ca, '/validate', body, agent);
      assert.equal(during.status, 200);
      assert.equal(JSON.parse(during.body).response.allowed, false);
      assert.equal(during.connection, 'close');
      assert.equal(child.exitCode, null, 'still serving within the delay');

      const { code, at } = await exit;
      assert.equal(code, 0);
      const ms = at - signalled;
      assert.ok(ms >= 2_900, `exited ${Math.round(ms)} ms after SIGTERM, before its 3 s delay`);
    } finally {
      agent.destroy();
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a second signal during the delay, or SIGINT, stops the webhook at once', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
  try {
    const { caPem: ca } = await writeServingCert(dir, 'stop-ca');
    for (const signals of [['SIGTERM', 'SIGTERM'], ['SIGTERM', 'SIGINT'], ['SIGINT']] as const) {
      const { child, port } = await startWebhookProcess(dir, { shutdownDelay: '5m' });
      const exit = exitOf(child);
      child.kill(signals[0]);
      if (signals[1]) {
        assert.equal((await untilNotReady(port, ca)).status, 503, `${signals[0]}: not draining`);
        child.kill(signals[1]);
      }
      const signalled = performance.now();
      const { code, at } = await exit;
      const ms = at - signalled;
      assert.equal(code, 0, signals.join(' then '));
      assert.ok(ms < 30_000, `${signals.join(' then ')}: exited ${Math.round(ms)} ms after the last signal`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--shutdown-delay that is not a duration is refused with what to give instead', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
  try {
    for (const value of ['5', 'soon', '-1s', '11m']) {
      const result = spawnSync(process.execPath, ['cli/main.ts', ...noClusterWebhookArgs(dir, value)], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, K8S_EE_LOG_LEVEL: 'error' },
      });
      assert.equal(result.status, 2, `${value}: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(`webhook: --shutdown-delay "${value}" is not a duration of at most 10m \\(e\\.g\\. 5s`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
