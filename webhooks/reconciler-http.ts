// Plain JSON requests to the API server, authenticated from a KubeConfig, over one keep-alive connection pool.
// Why not client-node's generated clients here: their ObjectSerializer maps JSON through TypeScript field names
// (`from` becomes `_from`, `default` becomes `_default`), so an untyped object sent through them loses fields:
// a NetworkPolicy rule `from: [...]` would reach the API server as `{}`, which allows everything. The baseline is
// plain JSON end to end: built as JSON, applied as JSON, read and watched as JSON.
import type { IncomingMessage } from 'node:http';
import { Agent as HttpAgent, request as httpRequest } from '../lib/node-http.ts';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeAccess } from '../lib/kube-access.ts';

export class KubeHttpError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(method: string, path: string, code: number, body: unknown) {
    const message =
      (body as { message?: string } | null)?.message ?? (typeof body === 'string' ? body.slice(0, 200) : '');
    super(`${method} ${path}: HTTP ${code}${message ? `: ${message}` : ''}`);
    this.name = 'KubeHttpError';
    this.code = code;
    this.body = body;
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

function readBody(res: IncomingMessage): Promise<string> {
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
function readLines(res: IncomingMessage, req: KubeStreamRequest, path: string): Promise<void> {
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
    res.on('close', () => done(res.complete ? undefined : new Error(`GET ${path}: connection closed`)));
  });
}

export interface KubeHttpOptions {
  timeoutMs?: number;
  maxSockets?: number;
  /** Called once per request sent (the sweeper counts its API requests). */
  onRequest?: (method: string, path: string) => void;
}

export function kubeHttp(kc: KubeAccess, options: KubeHttpOptions = {}): KubeHttp {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const secure = base.protocol === 'https:';
  let agent: HttpAgent | HttpsAgent | undefined;
  const timeoutMs = options.timeoutMs ?? 15_000;

  /** TLS material and auth headers, re-read per request (tokens from exec plugins and files rotate). */
  const authenticated = async (): Promise<RequestOptions> => {
    const opts: RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    if (!agent) {
      const tls = {
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: opts.rejectUnauthorized,
        servername: opts.servername,
      };
      const pool = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
      agent = secure ? new HttpsAgent({ ...tls, ...pool }) : new HttpAgent(pool);
    }
    return { headers: opts.headers, auth: opts.auth, agent };
  };

  const request = async <T>(method: string, path: string, req: KubeRequest = {}): Promise<T> => {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const auth = await authenticated();
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = {
      ...(auth.headers as Record<string, string>),
      accept: req.accept ?? 'application/json',
    };
    options.onRequest?.(method, url.pathname);
    if (payload !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      // Always: node sends a DELETE body without Content-Length or chunked framing, so the API server would
      // read the body (a uid precondition) as the start of the next request on the connection.
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = secure ? httpsRequest : httpRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = send(url, { method, headers, agent: auth.agent, auth: auth.auth, timeout: timeoutMs }, resolve);
      r.on('timeout', () => r.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
      r.on('error', reject);
      r.end(payload);
    });
    const body = parse(await readBody(res));
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeHttpError(method, url.pathname, status, body);
    return body as T;
  };

  const stream = async (path: string, req: KubeStreamRequest): Promise<void> => {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const auth = await authenticated();
    if (req.signal.aborted) return;
    const headers = { ...(auth.headers as Record<string, string>), accept: req.accept ?? 'application/json' };
    options.onRequest?.('GET', url.pathname);
    const send = secure ? httpsRequest : httpRequest;
    // No socket timeout: a watch is quiet for as long as nothing changes; the caller's idle timer ends it.
    const r = send(url, { method: 'GET', headers, agent: auth.agent, auth: auth.auth });
    const res = await new Promise<IncomingMessage | undefined>((resolve, reject) => {
      const abort = (): void => {
        r.destroy();
        resolve(undefined);
      };
      req.signal.addEventListener('abort', abort, { once: true });
      r.on('response', (response) => {
        req.signal.removeEventListener('abort', abort);
        resolve(response);
      });
      r.on('error', (error) => (req.signal.aborted ? resolve(undefined) : reject(error)));
      r.end();
    });
    if (!res) return;
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      throw new KubeHttpError('GET', url.pathname, status, parse(await readBody(res)));
    }
    await readLines(res, req, url.pathname);
  };

  return { request, stream, close: () => agent?.destroy() };
}
