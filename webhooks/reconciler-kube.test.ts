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
import { describeApiError, kubeBaselineClient } from './reconciler-kube.ts';

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
