// The real `k8s-ee webhook --no-cluster` process over HTTPS: verdicts, malformed bodies, certificate rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCA, issueServingCert, type KeyPairPem } from '../certs/pki.ts';
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

async function issue(dir: string, name: string): Promise<KeyPairPem & { caPem: string }> {
  const now = new Date();
  const ca = await createCA({ commonName: name, now, validityDays: 2 });
  const serving = await issueServingCert(ca, {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityDays: 1,
  });
  writeFileSync(join(dir, 'tls.crt.new'), serving.certPem);
  writeFileSync(join(dir, 'tls.key.new'), serving.keyPem);
  // Replace both files the way a rotation does: each one atomically.
  renameSync(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  return { ...serving, caPem: ca.certPem };
}

function start(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      'cli/main.ts',
      'webhook',
      '--no-cluster',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls-cert',
      join(dir, 'tls.crt'),
      '--tls-key',
      join(dir, 'tls.key'),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, K8S_EE_LOG_LEVEL: 'warn' },
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`webhook exited early with ${code}: ${out}`)));
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
  return bodies;
}

test(
  'k8s-ee webhook --no-cluster: HTTPS verdicts, malformed bodies, certificate rotation, clean stop',
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-webhook-'));
    try {
      const first = await issue(dir, 'first-ca');
      const { child, port } = await start(dir);
      const denied = await post(port, first.caPem, '/validate', JSON.stringify(review(privilegedPod, 'Pod')));
      assert.equal(denied.status, 200);
      const verdict = JSON.parse(denied.body) as { response: { allowed: boolean; status: { message: string } } };
      assert.equal(verdict.response.allowed, false);
      assert.match(verdict.response.status.message, /spec\.containers\[0\]\.securityContext\.privileged/);

      for (const body of malformedBodies()) {
        const reply = await post(port, first.caPem, '/validate', body);
        assert.ok([200, 400, 413].includes(reply.status), `status ${reply.status} for ${String(body).slice(0, 80)}`);
        const parsed = JSON.parse(reply.body) as { kind: string; response: { allowed: boolean } };
        assert.equal(parsed.kind, 'AdmissionReview');
        if (reply.status !== 200) assert.equal(parsed.response.allowed, false);
      }
      assert.equal(child.exitCode, null, 'the process is still up after the malformed bodies');

      const second = await issue(dir, 'second-ca');
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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
