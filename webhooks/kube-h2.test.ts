// kubeHttp over HTTP/2 (webhooks/kube-h2.ts) against small TLS servers: one connection for many requests and
// watches, the fallback to HTTP/1.1 when the server offers no h2, a new session after GOAWAY, and a session that
// stops answering ended by the PING check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createCA, issueServingCert } from '../certs/pki.ts';
import { kubeHttp } from './reconciler-http.ts';
import { h2Client } from './kube-h2.ts';
import type { KubeAccess } from '../lib/kube-access.ts';

const now = new Date();
const ca = await createCA({ commonName: 'kube-h2 test CA', now, validityDays: 1 });
const serving = await issueServingCert(ca, {
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
  now,
  validityDays: 1,
});
const tls = { cert: serving.certPem, key: serving.keyPem };

function access(server: Server, token = 't0k3n'): KubeAccess {
  const { port } = server.address() as AddressInfo;
  return {
    getCurrentCluster: () => ({ server: `https://127.0.0.1:${port}` }),
    applyToHTTPSOptions: (opts) => {
      opts.ca = ca.certPem;
      opts.headers = { ...opts.headers, authorization: `Bearer ${token}` };
      return Promise.resolve();
    },
  };
}

const listening = async <S extends Server>(server: S): Promise<S> => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
};

function readAll(stream: ServerHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('end', () => resolve(text));
  });
}

async function h2Server(
  handle: (stream: ServerHttp2Stream, headers: Record<string, string>, body: string) => void,
): Promise<Http2SecureServer & { sessions: number }> {
  const server = Object.assign(createSecureServer({ ...tls, allowHTTP1: false }), { sessions: 0 });
  server.on('session', () => (server.sessions += 1));
  server.on('stream', (stream, headers) => {
    void readAll(stream).then((body) => handle(stream, headers as Record<string, string>, body));
  });
  return listening(server);
}

const json = (stream: ServerHttp2Stream, status: number, body: unknown): void => {
  if (stream.destroyed) return;
  stream.respond({ ':status': status, 'content-type': 'application/json' });
  stream.end(JSON.stringify(body));
};

test('h2: requests and their bodies, the token, error statuses, 40 at once on one connection', async () => {
  const seen: string[] = [];
  const server = await h2Server((stream, headers, body) => {
    seen.push(`${headers[':method']} ${headers[':path']} ${headers['authorization']} ${body}`);
    if (headers[':path']?.includes('missing'))
      json(stream, 404, { kind: 'Status', message: 'namespaces "x" not found' });
    else json(stream, 200, { kind: 'Namespace', path: headers[':path'] });
  });
  const http = kubeHttp(access(server));
  try {
    const got = await http.request<{ path: string }>('DELETE', '/api/v1/namespaces/shop-pr-1', {
      body: { preconditions: { uid: 'u-1' } },
      query: { dryRun: 'All' },
    });
    assert.equal(got.path, '/api/v1/namespaces/shop-pr-1?dryRun=All');
    assert.equal(
      seen[0],
      'DELETE /api/v1/namespaces/shop-pr-1?dryRun=All Bearer t0k3n {"preconditions":{"uid":"u-1"}}',
    );
    await assert.rejects(http.request('GET', '/api/v1/namespaces/missing'), (e: { code?: number; message: string }) => {
      assert.equal(e.code, 404);
      assert.match(e.message, /GET \/api\/v1\/namespaces\/missing: HTTP 404: namespaces "x" not found/);
      return true;
    });
    const many = await Promise.all(
      Array.from({ length: 40 }, (_, i) => http.request<{ path: string }>('GET', `/api/v1/namespaces/n-${i}`)),
    );
    assert.deepEqual(
      many.map((m) => m.path),
      Array.from({ length: 40 }, (_, i) => `/api/v1/namespaces/n-${i}`),
    );
    assert.equal(server.sessions, 1, 'every request went over the one HTTP/2 connection');
  } finally {
    http.close();
    server.close();
  }
});

test('h2: a watch streams JSON lines across frames beside requests, and ends on abort', async () => {
  const server = await h2Server((stream, headers) => {
    if (!headers[':path']?.includes('watch=true')) return json(stream, 200, { kind: 'List', items: [] });
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
    setTimeout(() => !stream.destroyed && stream.write('IFIED","object":{"metadata":{"name":"a"}}}\n'), 20);
  });
  const http = kubeHttp(access(server));
  const controller = new AbortController();
  const types: string[] = [];
  try {
    const watching = http.stream('/api/v1/namespaces', {
      query: { watch: true },
      signal: controller.signal,
      onObject: (o) => {
        types.push((o as { type: string }).type);
        if (types.length === 2) controller.abort();
      },
    });
    const list = await http.request<{ kind: string }>('GET', '/api/v1/namespaces');
    assert.equal(list.kind, 'List');
    await watching;
    assert.deepEqual(types, ['ADDED', 'MODIFIED']);
    assert.equal(server.sessions, 1);
  } finally {
    http.close();
    server.close();
  }
});

test('h2: a server without h2 is spoken to over HTTP/1.1, from the first request on', async () => {
  const protocols: string[] = [];
  const server = await listening(
    createHttpsServer(tls, (req, res) => {
      protocols.push(`${req.httpVersion} ${req.method} ${req.url} ${req.headers.authorization}`);
      res.setHeader('content-type', 'application/json');
      res.end('{"kind":"Namespace"}');
    }),
  );
  const http = kubeHttp(access(server));
  try {
    assert.deepEqual(await http.request('GET', '/api/v1/namespaces/a'), { kind: 'Namespace' });
    assert.deepEqual(await http.request('GET', '/api/v1/namespaces/b'), { kind: 'Namespace' });
    assert.deepEqual(protocols, [
      '1.1 GET /api/v1/namespaces/a Bearer t0k3n',
      '1.1 GET /api/v1/namespaces/b Bearer t0k3n',
    ]);
  } finally {
    http.close();
    server.closeAllConnections();
    server.close();
  }
});

test('h2: after the server sends GOAWAY the next request opens a new session', async () => {
  const server = await h2Server((stream) => {
    json(stream, 200, { kind: 'Status' });
    stream.session?.goaway(); // e.g. an API server shutting down gracefully, or its --goaway-chance
  });
  const http = kubeHttp(access(server));
  try {
    await http.request('GET', '/api/v1/namespaces/a');
    await new Promise((r) => setTimeout(r, 50));
    await http.request('GET', '/api/v1/namespaces/b');
    assert.equal(server.sessions, 2);
  } finally {
    http.close();
    server.close();
  }
});

test('h2: a request unanswered within its timeout fails and says so', async () => {
  const server = await h2Server(() => undefined); // never answers
  const http = kubeHttp(access(server), { timeoutMs: 100 });
  try {
    await assert.rejects(
      http.request('GET', '/api/v1/namespaces/slow'),
      /GET \/api\/v1\/namespaces\/slow: no answer within 100 ms/,
    );
  } finally {
    http.close();
    server.close();
  }
});

test('h2: a connection that goes silent is ended by the PING check, and the next request reconnects', async () => {
  // A TLS server that chooses h2 and then says nothing: no SETTINGS, no answer to PING, as a dead peer behind a
  // connection that was never closed.
  const sockets: TLSSocket[] = [];
  const server = await listening(
    createTlsServer({ ...tls, ALPNProtocols: ['h2'] }, (socket) => {
      sockets.push(socket);
      socket.on('data', () => undefined);
    }),
  );
  const { port } = server.address() as AddressInfo;
  const client = h2Client(new URL(`https://127.0.0.1:${port}`), () => Promise.resolve({ ca: ca.certPem }), {
    readIdleMs: 100,
    pingTimeoutMs: 100,
  });
  try {
    const started = performance.now();
    await assert.rejects(client.send({ method: 'GET', path: '/api/v1/namespaces', headers: {} }), /PING within 100 ms/);
    assert.ok(performance.now() - started < 5_000);
    await assert.rejects(client.send({ method: 'GET', path: '/api/v1/namespaces', headers: {} }), /PING within 100 ms/);
    assert.equal(sockets.length, 2, 'the second request opened a new connection');
  } finally {
    client.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('h2: a request in flight keeps the process alive, an idle session does not', async () => {
  const server = await h2Server((stream) => setTimeout(() => json(stream, 200, { kind: 'Namespace' }), 300));
  const { port } = server.address() as AddressInfo;
  // A child process whose only work is one request: it must wait for the answer, then exit by itself.
  const script = `
    import { h2Client } from ${JSON.stringify(new URL('./kube-h2.ts', import.meta.url).href)};
    const client = h2Client(new URL('https://127.0.0.1:${port}'), () => Promise.resolve({ ca: ${JSON.stringify(ca.certPem)} }));
    const answer = await client.send({ method: 'GET', path: '/api/v1/namespaces/a', headers: {} });
    let text = '';
    answer.body.setEncoding('utf8');
    answer.body.on('data', (c) => (text += c));
    answer.body.on('end', () => console.log(answer.status, text));
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const started = performance.now();
  const hung = setTimeout(() => child.kill('SIGKILL'), 10_000); // an idle session holding the process would hang it
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(hung);
  try {
    assert.equal(code, 0, out);
    assert.equal(out.trim(), '200 {"kind":"Namespace"}');
    assert.ok(performance.now() - started < 10_000, 'it exited once the answer was read');
  } finally {
    server.close();
  }
});

test('h2: a client closed while its first connection is being made leaves no connection open', async () => {
  let connections = 0;
  let open = 0;
  const server = await h2Server((stream) => json(stream, 200, {}));
  const http = kubeHttp(access(server));
  server.on('connection', (socket: Socket) => {
    connections += 1;
    open += 1;
    socket.once('close', () => (open -= 1));
    http.close(); // the TCP connection is there, its TLS handshake not done
  });
  try {
    await assert.rejects(http.request('GET', '/version'), /closed/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(connections, 1, 'the connection was being made');
    assert.equal(open, 0, 'and it was closed, not left open');
  } finally {
    server.close();
  }
});
