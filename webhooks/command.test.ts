// The real `k8s-ee webhook --no-cluster` process over HTTPS: verdicts, malformed bodies, certificate rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
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
}

function post(port: number, ca: string, path: string, body: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca,
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const peer = (res.socket as TLSSocket).getPeerCertificate();
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            issuer: String(peer.issuer?.CN ?? ''),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

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
