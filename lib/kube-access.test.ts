// The light kubeconfig reader: what it takes from a kubeconfig, and what it leaves to client-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadKubeAccess } from './kube-access.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

function kubeconfig(dir: string, cluster: object, user: object): string {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'other', cluster: { server: 'https://wrong:1' } },
        { name: 'c', cluster },
      ],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}

async function options(file: string): Promise<{ server: string | undefined; opts: RequestOptions }> {
  const access = await loadKubeAccess(file);
  const opts: RequestOptions = {};
  await access.applyToHTTPSOptions(opts);
  return { server: access.getCurrentCluster()?.server, opts };
}

test('client certificates inline, the CA as a file relative to the kubeconfig, the current context', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-access-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    const file = kubeconfig(
      dir,
      { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' },
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
    );
    const { server, opts } = await options(file);
    assert.equal(server, 'https://127.0.0.1:6443');
    assert.equal(String(opts.ca), 'CA');
    assert.equal(String(opts.cert), 'CERT');
    assert.deepEqual(opts.key, Buffer.from('KEY'));
    assert.equal(opts.servername, 'kubernetes');
    assert.equal(opts.headers, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bearer token, or a token file read again as it rotates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-access-'));
  try {
    const inline = await options(
      kubeconfig(dir, { server: 'https://h:1', 'insecure-skip-tls-verify': true }, { token: 't0' }),
    );
    assert.deepEqual(inline.opts.headers, { authorization: 'Bearer t0' });
    assert.equal(inline.opts.rejectUnauthorized, false);
    writeFileSync(join(dir, 'token'), 't1\n');
    const fromFile = await options(kubeconfig(dir, { server: 'https://h:1' }, { tokenFile: 'token' }));
    assert.deepEqual(fromFile.opts.headers, { authorization: 'Bearer t1' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugins and auth providers are left to client-node, which still reads the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-access-'));
  try {
    const file = kubeconfig(
      dir,
      { server: 'https://exec:1' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } },
    );
    const access = await loadKubeAccess(file);
    assert.equal(access.constructor.name, 'KubeConfig');
    assert.equal(access.getCurrentCluster()?.server, 'https://exec:1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a kubeconfig without a current cluster is an error that says what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-access-'));
  try {
    const file = join(dir, 'config');
    writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
    await assert.rejects(loadKubeAccess(file), /has no current cluster; set current-context/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
