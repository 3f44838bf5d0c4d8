// kubeHttp against a small HTTP server: what the API server receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { kubeHttp } from './reconciler-http.ts';

test('a DELETE carries its body (a uid precondition), and the next request on the connection is intact', async () => {
  const seen: { method: string; url: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      res.end('{"kind":"Status"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const http = kubeHttp({
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }),
    applyToHTTPSOptions: () => Promise.resolve(),
  });
  try {
    await http.request('DELETE', '/api/v1/namespaces/shop-pr-1', { body: { preconditions: { uid: 'u-1' } } });
    await http.request('GET', '/api/v1/namespaces/default/events/x');
    assert.deepEqual(seen, [
      { method: 'DELETE', url: '/api/v1/namespaces/shop-pr-1', body: '{"preconditions":{"uid":"u-1"}}' },
      { method: 'GET', url: '/api/v1/namespaces/default/events/x', body: '' },
    ]);
  } finally {
    http.close();
    server.close();
  }
});
