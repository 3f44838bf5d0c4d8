// Plain JSON requests to the API server, authenticated from a KubeConfig: over one HTTP/2 connection where the
// server offers h2 (webhooks/kube-h2.ts), else over a pool of keep-alive HTTP/1.1 connections.
// Why not client-node's generated clients here: their ObjectSerializer maps JSON through TypeScript field names
// (`from` becomes `_from`, `default` becomes `_default`), so an untyped object sent through them loses fields:
// a NetworkPolicy rule `from: [...]` would reach the API server as `{}`, which allows everything. The baseline is
// plain JSON end to end: built as JSON, applied as JSON, read and watched as JSON.
import type { Readable } from 'node:stream';
import { Agent as HttpAgent, request as httpRequest } from '../lib/node-http.ts';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeAccess } from '../lib/kube-access.ts';
import { h2Client, type H2Client, type TlsMaterial } from './kube-h2.ts';

export class KubeHttpError extends Error {
  readonly code: number;
  readonly body: unknown;
  /** The status and the API server's own message, without the request: `HTTP 403: secrets "x" is forbidden: …`. */
  readonly detail: string;
  constructor(method: string, path: string, code: number, body: unknown) {
    const message =
      (body as { message?: string } | null)?.message ?? (typeof body === 'string' ? body.slice(0, 200) : '');
    const detail = `HTTP ${code}${message ? `: ${message}` : ''}`;
    super(`${method} ${path}: ${detail}`);
    this.name = 'KubeHttpError';
    this.code = code;
    this.body = body;
    this.detail = detail;
  }
}

export interface KubeRequest {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Accept header (default application/json), e.g. a PartialObjectMetadataList for metadata-only lists. */
  accept?: string;
}

export interface KubeStreamRequest extends KubeRequest {
  /** Ends the stream (the promise then resolves). */
  signal: AbortSignal;
  /** Each newline-delimited JSON document of the answer, e.g. a watch event. */
  onObject(object: unknown): void;
}

export interface KubeHttp {
  request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: KubeRequest,
  ): Promise<T>;
  /**
   * A GET whose answer is a stream of JSON documents, one a line (a watch): resolves when the server ends it or
   * the signal aborts it, rejects on an HTTP error status (KubeHttpError) or a broken connection.
   */
  stream(path: string, options: KubeStreamRequest): Promise<void>;
  close(): void;
}

function readBody(res: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => {
      // Handed over, and let go here: a keep-alive socket can keep the last response (and so this closure) alive
      // until its next request, a whole list page of text per idle socket.
      const body = text;
      text = '';
      resolve(body);
    });
    res.on('error', reject);
  });
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
};

/** Hands each line of a newline-delimited JSON answer to onObject; resolves at its end or on abort. */
function readLines(res: Readable, req: KubeStreamRequest, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let pending = '';
    const stop = (): void => {
      res.destroy();
      resolve();
    };
    if (req.signal.aborted) return stop();
    req.signal.addEventListener('abort', stop, { once: true });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      try {
        while (nl >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line !== '' && !req.signal.aborted) req.onObject(JSON.parse(line));
          nl = pending.indexOf('\n');
        }
      } catch (error) {
        res.destroy(error as Error); // a line that is not JSON, or a handler that threw: the stream fails
      }
    });
    const done = (error?: Error): void => {
      req.signal.removeEventListener('abort', stop);
      if (error && !req.signal.aborted) reject(error);
      else resolve();
    };
    res.on('end', () => done());
    res.on('error', (error) => done(error));
    res.on('close', () => done(res.readableEnded ? undefined : new Error(`GET ${path}: connection closed`)));
  });
}

export interface KubeHttpOptions {
  timeoutMs?: number;
  maxSockets?: number;
  /** Called once per request sent (the sweeper counts its API requests). */
  onRequest?: (method: string, path: string) => void;
  /** false: HTTP/1.1 only, a connection per concurrent request (default: HTTP/2 where the server offers it). */
  http2?: boolean;
  /** The HTTP/2 connection's health check (webhooks/kube-h2.ts): defaults 30 s and 15 s. */
  readIdleMs?: number;
  pingTimeoutMs?: number;
}

interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  payload?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What answered: its status and its body to read (undefined when the signal aborted it first). */
type Answer = { status: number; body: Readable } | undefined;

const tlsOf = (opts: RequestOptions): TlsMaterial => ({
  ca: opts.ca,
  cert: opts.cert,
  key: opts.key,
  rejectUnauthorized: opts.rejectUnauthorized,
  servername: opts.servername,
});

/** One request over HTTP/1.1, on a connection of `agent`'s pool. */
function sendHttp1(sent: Sent, opts: RequestOptions, agent: HttpAgent | HttpsAgent, secure: boolean): Promise<Answer> {
  const send = secure ? httpsRequest : httpRequest;
  const { method, url, headers, payload, timeoutMs } = sent;
  const r = send(url, { method, headers, agent, auth: opts.auth, ...(timeoutMs ? { timeout: timeoutMs } : {}) });
  return new Promise<Answer>((resolve, reject) => {
    const abort = (): void => {
      r.destroy();
      resolve(undefined);
    };
    if (sent.signal?.aborted) return abort();
    sent.signal?.addEventListener('abort', abort, { once: true });
    r.on('timeout', () => r.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
    r.on('response', (res) => {
      sent.signal?.removeEventListener('abort', abort);
      resolve({ status: res.statusCode ?? 0, body: res });
    });
    r.on('error', (error) => (sent.signal?.aborted ? resolve(undefined) : reject(error)));
    r.end(payload);
  });
}

/** One request as a stream of the HTTP/2 session; 'http1' when the server does not speak h2. */
async function sendHttp2(client: H2Client, sent: Sent, opts: RequestOptions): Promise<Answer | 'http1'> {
  const headers = { ...sent.headers };
  if (opts.auth && !headers['authorization']) {
    headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  }
  try {
    return await client.send({
      method: sent.method,
      path: sent.url.pathname + sent.url.search,
      headers,
      ...(sent.payload !== undefined ? { payload: sent.payload } : {}),
      ...(sent.timeoutMs ? { timeoutMs: sent.timeoutMs } : {}),
      ...(sent.signal ? { signal: sent.signal } : {}),
    });
  } catch (error) {
    if (sent.signal?.aborted) return undefined;
    throw error;
  }
}

/** TLS material and auth headers, re-read per request (tokens from exec plugins and files rotate). */
async function authenticated(kc: KubeAccess): Promise<RequestOptions> {
  const opts: RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  return opts;
}

function urlOf(base: URL, path: string, query: KubeRequest['query']): URL {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

export function kubeHttp(kc: KubeAccess, options: KubeHttpOptions = {}): KubeHttp {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const secure = base.protocol === 'https:';
  let agent: HttpAgent | HttpsAgent | undefined;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const agentFor = (opts: RequestOptions): HttpAgent | HttpsAgent => {
    const pool = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    return (agent ??= secure ? new HttpsAgent({ ...tlsOf(opts), ...pool }) : new HttpAgent(pool));
  };
  let h2: H2Client | undefined =
    secure && options.http2 !== false
      ? h2Client(base, async () => tlsOf(await authenticated(kc)), {
          ...(options.readIdleMs !== undefined ? { readIdleMs: options.readIdleMs } : {}),
          ...(options.pingTimeoutMs !== undefined ? { pingTimeoutMs: options.pingTimeoutMs } : {}),
        })
      : undefined;

  const send = async (sent: Sent): Promise<Answer> => {
    const opts = await authenticated(kc);
    if (sent.signal?.aborted) return undefined;
    const headers: Record<string, string> = { ...(opts.headers as Record<string, string>), ...sent.headers };
    options.onRequest?.(sent.method, sent.url.pathname);
    if (h2) {
      const answer = await sendHttp2(h2, { ...sent, headers }, opts);
      if (answer !== 'http1') return answer;
      h2.close();
      h2 = undefined; // the server does not speak h2: HTTP/1.1 from now on
    }
    return sendHttp1({ ...sent, headers }, opts, agentFor(opts), secure);
  };

  const request = async <T>(method: string, path: string, req: KubeRequest = {}): Promise<T> => {
    const url = urlOf(base, path, req.query);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { accept: req.accept ?? 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      // Always: node sends a DELETE body without Content-Length or chunked framing, so the API server would
      // read the body (a uid precondition) as the start of the next request on the connection.
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const res = await send({ method, url, headers, ...(payload !== undefined ? { payload } : {}), timeoutMs });
    if (!res) throw new Error(`${method} ${url.pathname}: aborted`); // no signal here: cannot happen
    const body = parse(await readBody(res.body));
    if (res.status < 200 || res.status >= 300) throw new KubeHttpError(method, url.pathname, res.status, body);
    return body as T;
  };

  const stream = async (path: string, req: KubeStreamRequest): Promise<void> => {
    const url = urlOf(base, path, req.query);
    // No timeout: a watch is quiet for as long as nothing changes; the caller's idle timer ends it.
    const res = await send({
      method: 'GET',
      url,
      headers: { accept: req.accept ?? 'application/json' },
      signal: req.signal,
    });
    if (!res) return;
    if (res.status < 200 || res.status >= 300) {
      throw new KubeHttpError('GET', url.pathname, res.status, parse(await readBody(res.body)));
    }
    await readLines(res.body, req, url.pathname);
  };

  return {
    request,
    stream,
    close: () => {
      h2?.close();
      agent?.destroy();
    },
  };
}
