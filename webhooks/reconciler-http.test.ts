// kubeHttp against a small HTTP server: what the API server receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { kubeHttp, type KubeHttp } from './reconciler-http.ts';

/** A kubeHttp client of `server`, which it starts listening on a free port of 127.0.0.1. */
async function clientOf(server: Server): Promise<KubeHttp> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return kubeHttp({
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }),
    applyToHTTPSOptions: () => Promise.resolve(),
  });
}

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
  const http = await clientOf(server);
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

test('stream: JSON lines split across chunks, an error status, a line that is not JSON, an abort', async () => {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const kind = url.searchParams.get('case');
    if (kind === 'gone') {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","code":410,"message":"too old resource version"}');
    } else if (kind === 'events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => res.end('IFIED","object":{"metadata":{"name":"a"}}}\n\n'), 20);
    } else if (kind === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"type":"ADDED","object":{}}\nnot json\n');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"BOOKMARK","object":{}}\n'); // then silent, until the client aborts
    }
  });
  const http = await clientOf(server);
  const read = async (kind: string, signal = new AbortController().signal): Promise<string[]> => {
    const seen: string[] = [];
    await http.stream('/api/v1/namespaces', {
      query: { watch: true, case: kind },
      signal,
      onObject: (o) => seen.push((o as { type: string }).type),
    });
    return seen;
  };
  try {
    assert.deepEqual(await read('events'), ['ADDED', 'MODIFIED']);
    await assert.rejects(read('gone'), (e: { code?: number; message: string }) => {
      assert.equal(e.code, 410);
      assert.match(e.message, /too old resource version/);
      return true;
    });
    await assert.rejects(read('garbage'), SyntaxError);
    const controller = new AbortController();
    const silent = read('silent', controller.signal);
    setTimeout(() => controller.abort(), 50);
    assert.deepEqual(await silent, ['BOOKMARK']);
  } finally {
    http.close();
    server.closeAllConnections();
    server.close();
  }
});

test('answers of any size read whole: characters split across chunks, a page of ~300 KB, one after another', async () => {
  // A page of ~300 KB, many chunks, whose multi-byte characters fall across the chunk boundaries, then a small answer
  // and an error's body: each read back exactly, none mixed with the last, in turn and at once.
  const names = Array.from({ length: 3000 }, (_, i) => `ns-${i}-é😀ü-${'x'.repeat(i % 50)}`);
  const page = JSON.stringify({ items: names.map((name) => ({ metadata: { name } })) });
  const bytes = Buffer.from(page);
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/small') return res.end('{"kind":"Namespace","metadata":{"name":"ü"}}');
    if (req.url === '/missing') {
      res.statusCode = 404;
      return res.end('{"kind":"Status","code":404,"message":"namespaces \\"ø\\" not found"}');
    }
    // Odd-sized writes, so that some cut a character's bytes in two.
    let at = 0;
    const next = (): void => {
      if (at >= bytes.length) return void res.end();
      res.write(bytes.subarray(at, (at += 7919)));
      setImmediate(next);
    };
    next();
  });
  const http = await clientOf(server);
  try {
    for (let round = 0; round < 2; round++) {
      const list = await http.request<{ items: { metadata: { name: string } }[] }>('GET', '/page');
      assert.deepEqual(
        list.items.map((i) => i.metadata.name),
        names,
      );
      assert.deepEqual(await http.request('GET', '/small'), { kind: 'Namespace', metadata: { name: 'ü' } });
    }
    await assert.rejects(http.request('GET', '/missing'), /HTTP 404: namespaces "ø" not found/);
    const [a, b] = await Promise.all([http.request('GET', '/page'), http.request('GET', '/small')]);
    assert.equal(JSON.stringify(a), page);
    assert.deepEqual(b, { kind: 'Namespace', metadata: { name: 'ü' } });
  } finally {
    http.close();
    server.close();
  }
});
