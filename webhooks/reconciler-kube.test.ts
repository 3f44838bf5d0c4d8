// The requests the client-node-free BaselineClient sends, seen by a small HTTP server: the exact JSON of the
// baseline (a NetworkPolicy's `from`, a LimitRange's `default` survive), apply vs merge patch, NotFound handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { buildBaseline } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { BASELINE_NAMES } from '../policies/names.ts';
import { describeApiError, kubeBaselineClient, writeBaselineObject } from './reconciler-kube.ts';

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
}

async function fakeServer(answer: (seen: Seen) => [number, unknown]) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (c: string) => (text += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const entry: Seen = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'],
        body: text ? (JSON.parse(text) as unknown) : undefined,
      };
      seen.push(entry);
      const [status, body] = answer(entry);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return {
    kc,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('apply sends the baseline object as JSON, unchanged, as a forced server-side apply by k8s-ee', async () => {
  const server = await fakeServer((s) => [200, s.body]);
  const client = kubeBaselineClient(server.kc);
  const objects = buildBaseline('shop-pr-5', [], defaultConfig());
  for (const o of objects) await client.apply(o);
  assert.equal(server.seen.length, objects.length);
  for (const [i, o] of objects.entries()) {
    const s = server.seen[i];
    assert.equal(s?.method, 'PATCH');
    assert.equal(s?.contentType, 'application/apply-patch+yaml');
    assert.deepEqual(s?.query, { fieldManager: 'k8s-ee', force: 'true' });
    assert.deepEqual(s?.body, o, `${o.kind}/${o.metadata.name} must reach the API server as built`);
  }
  assert.equal(server.seen[0]?.path, '/api/v1/namespaces/shop-pr-5/resourcequotas/k8s-ee-quota');
  assert.equal(
    server.seen[3]?.path,
    `/apis/networking.k8s.io/v1/namespaces/shop-pr-5/networkpolicies/${BASELINE_NAMES.allowSameNamespace}`,
  );
  const sameNs = server.seen[3]?.body as { spec: { ingress: { from: unknown[] }[] } };
  assert.deepEqual(sameNs.spec.ingress[0]?.from, [{ podSelector: {} }]);
  await server.close();
});

test('an absent object is created (POST by k8s-ee); one that exists after all is applied; leftovers get a replace', async () => {
  const objects = buildBaseline('shop-pr-5', [], defaultConfig());
  const [quota, limits] = objects;
  assert.ok(quota && limits);
  const exists = new Set([limits.metadata.name]);
  // The API server's answers: a create of what exists is 409; an apply stores what it is sent, except that a
  // field someone else set (a label here) survives it, as apply cannot take away fields it does not own.
  const server = await fakeServer((s) => {
    const body = s.body as { metadata: { name: string; labels: Record<string, string> } } | undefined;
    if (s.method === 'POST' && body && exists.has(body.metadata.name)) return [409, { kind: 'Status', code: 409 }];
    if (s.method === 'PATCH' && body) {
      return [
        200,
        {
          ...body,
          metadata: {
            ...body.metadata,
            resourceVersion: '7',
            labels: { ...body.metadata.labels, 'k8s-ee.io/baseline': 'no' },
          },
        },
      ];
    }
    return [s.method === 'POST' ? 201 : 200, s.body];
  });
  const client = kubeBaselineClient(server.kc);
  assert.deepEqual(await writeBaselineObject(client, quota, true), quota, 'created as sent');
  assert.deepEqual(
    server.seen.map((s) => [s.method, s.path, s.query]),
    [['POST', '/api/v1/namespaces/shop-pr-5/resourcequotas', { fieldManager: 'k8s-ee' }]],
  );
  assert.deepEqual(server.seen[0]?.body, quota);
  server.seen.length = 0;
  // Believed absent, but written meanwhile (by the gate, or the other replica): the create's 409 turns into the apply.
  await writeBaselineObject(client, limits, true);
  assert.deepEqual(
    server.seen.map((s) => [s.method, s.query]),
    [
      ['POST', { fieldManager: 'k8s-ee' }],
      ['PATCH', { fieldManager: 'k8s-ee', force: 'true' }],
      ['PUT', { fieldManager: 'k8s-ee' }],
    ],
    'the apply left a label the baseline does not set: the object is replaced',
  );
  assert.equal((server.seen[2]?.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion, '7');
  server.seen.length = 0;
  await writeBaselineObject(client, quota, false);
  assert.deepEqual(
    server.seen.map((s) => s.method),
    ['PATCH', 'PUT'],
    'an object known to exist is applied, never created',
  );
  await server.close();
});

test('a create refused for another reason than existence fails the write (no apply behind its back)', async () => {
  const server = await fakeServer(() => [403, { kind: 'Status', code: 403, message: 'forbidden: quota' }]);
  const client = kubeBaselineClient(server.kc);
  const [quota] = buildBaseline('shop-pr-5', [], defaultConfig());
  assert.ok(quota);
  await assert.rejects(writeBaselineObject(client, quota, true), (e: unknown) => describeApiError(e).includes('403'));
  assert.deepEqual(
    server.seen.map((s) => s.method),
    ['POST'],
  );
  await server.close();
});

test('the namespace stamp is a merge patch (never creates a namespace); reads of absent objects are undefined', async () => {
  const server = await fakeServer((s) =>
    s.method === 'PATCH' ? [200, {}] : [404, { kind: 'Status', code: 404, message: 'not found' }],
  );
  const client = kubeBaselineClient(server.kc);
  await client.stampNamespace('shop-pr-5', 'abc');
  assert.deepEqual(server.seen[0], {
    method: 'PATCH',
    path: '/api/v1/namespaces/shop-pr-5',
    query: { fieldManager: 'k8s-ee' },
    contentType: 'application/merge-patch+json',
    body: { metadata: { labels: { 'k8s-ee.io/baseline-hash': 'abc' } } },
  });
  assert.equal(await client.readEnvironment('shop-pr-5'), undefined);
  assert.equal(await client.readNamespace('shop-pr-5'), undefined);
  await client.remove('NetworkPolicy', 'shop-pr-5', BASELINE_NAMES.defaultDeny); // gone already: fine
  assert.equal(server.seen.at(-1)?.method, 'DELETE');
  await server.close();
});

test('API errors keep their status code and message', async () => {
  const server = await fakeServer(() => [
    403,
    { kind: 'Status', code: 403, message: 'namespaces "x" is forbidden: being terminated' },
  ]);
  const client = kubeBaselineClient(server.kc);
  const error = await client.listBaseline('x').catch((e: unknown) => e);
  assert.equal(describeApiError(error), 'HTTP 403: namespaces "x" is forbidden: being terminated');
  await server.close();
});
