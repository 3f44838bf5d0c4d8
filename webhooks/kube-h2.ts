// HTTP/2 to the API server: every request and watch of one kubeHttp as a stream of one TLS connection, as client-go
// does. Over HTTP/1.1 each concurrent request (and each open watch) holds a TLS connection of its own: at 5,000 PR
// namespaces the webhook's reconciler kept up to 64 of them, ~125 KiB of memory each (issue 10). The connection is
// chosen by ALPN: a server that does not offer h2 is spoken to over HTTP/1.1 (kubeHttp's pool) from then on.
//
// The session is replaced when the server sends GOAWAY, when it closes, when its stream ids run low, and when it
// stops answering: after 30 s without a frame a PING is sent, and a session whose PING is not answered within 15 s
// is destroyed (every open stream fails, so watches restart on a new connection), as client-go's ReadIdleTimeout and
// PingTimeout do. An idle session does not keep the process alive; an open stream does.
import { connect as connectH2, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';

export interface TlsMaterial {
  ca?: ConnectionOptions['ca'];
  cert?: ConnectionOptions['cert'];
  key?: ConnectionOptions['key'];
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface H2Answer {
  status: number;
  body: Readable;
}

export interface H2Request {
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  payload?: string;
  /** The stream fails after this long without a frame (undefined: never, for a watch). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface H2Options {
  /** A session with no frame for this long is sent a PING. Default 30 s. */
  readIdleMs?: number;
  /** A PING unanswered for this long ends the session. Default 15 s. */
  pingTimeoutMs?: number;
}

export interface H2Client {
  /**
   * Sends one request over the session (opened on first use). Resolves 'http1' when the server did not choose h2
   * by ALPN: the caller sends this request, and the next ones, over HTTP/1.1.
   */
  send(req: H2Request): Promise<H2Answer | 'http1'>;
  close(): void;
}

// Client stream ids are odd and below 2^31: a session that has used half of them is replaced before it runs out.
const RETIRE_AT_STREAM_ID = 2 ** 30;

/** The TLS connection, with ALPN offering h2 and HTTP/1.1; resolves with the protocol the server chose. */
function openTls(base: URL, tls: TlsMaterial): Promise<TLSSocket> {
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const port = Number(base.port || 443);
  const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
  return new Promise((resolve, reject) => {
    const socket = connectTls({
      host,
      port,
      ...(servername ? { servername } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The session and its health check; sessions opened one at a time, the newest serving new requests. */
class H2Sessions implements H2Client {
  private readonly base: URL;
  private readonly tls: () => Promise<TlsMaterial>;
  private readonly readIdleMs: number;
  private readonly pingTimeoutMs: number;
  private current: Promise<ClientHttp2Session | 'http1'> | undefined;
  private currentSession: ClientHttp2Session | undefined;
  private closed = false;
  /** Open streams per session: a session with any keeps the process alive. */
  private readonly streams = new Map<ClientHttp2Session, number>();
  private readonly sessions = new Set<ClientHttp2Session>();

  constructor(base: URL, tls: () => Promise<TlsMaterial>, options: H2Options) {
    this.base = base;
    this.tls = tls;
    this.readIdleMs = options.readIdleMs ?? 30_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 15_000;
  }

  /** Sessions whose PING is awaited: one check at a time each. */
  private readonly checking = new WeakSet<ClientHttp2Session>();

  /** Sends a PING; a session that does not answer within pingTimeoutMs is destroyed (its streams fail). */
  private check(session: ClientHttp2Session): void {
    if (session.destroyed || session.closed || this.checking.has(session)) return;
    this.checking.add(session);
    const ms = this.pingTimeoutMs;
    const timer = setTimeout(
      () => session.destroy(new Error(`the API server did not answer a PING within ${ms} ms`)),
      ms,
    );
    timer.unref();
    const answered = (): void => {
      clearTimeout(timer);
      this.checking.delete(session);
    };
    if (!session.ping(answered)) answered();
  }

  /**
   * The health check: after readIdleMs without a frame, and whenever a stream of the session timed out or was given
   * up by its caller (a watch restarted for silence): a connection that froze without closing is found within
   * pingTimeoutMs, and what is retried goes to a new one instead of waiting on the frozen one.
   */
  private watchHealth(session: ClientHttp2Session): void {
    session.setTimeout(this.readIdleMs, () => this.check(session));
  }

  private forget(session: ClientHttp2Session): void {
    if (this.currentSession !== session) return;
    this.current = undefined;
    this.currentSession = undefined;
  }

  private async open(): Promise<ClientHttp2Session | 'http1'> {
    const socket = await openTls(this.base, await this.tls());
    if (this.closed) {
      // close() came while this connection was being made: it must not outlive the client.
      socket.destroy();
      throw new Error('the API client was closed');
    }
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      return 'http1';
    }
    const session = connectH2(this.base.origin, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
      maxSessionMemory: 32,
    });
    this.sessions.add(session);
    this.currentSession = session;
    session.on('error', () => undefined); // each open stream hears it too; the next request opens a new session
    session.on('goaway', () => this.forget(session));
    session.on('close', () => {
      this.forget(session);
      this.sessions.delete(session);
    });
    session.once('connect', () => session.setLocalWindowSize(8 << 20));
    session.unref();
    this.watchHealth(session);
    return session;
  }

  private async session(): Promise<ClientHttp2Session | 'http1'> {
    for (;;) {
      const attempt = (this.current ??= this.open());
      let session: ClientHttp2Session | 'http1';
      try {
        session = await attempt;
      } catch (error) {
        if (this.current === attempt) this.current = undefined; // the next request tries again
        throw error;
      }
      if (session === 'http1') return session;
      if (!session.closed && !session.destroyed) {
        if ((session.state.nextStreamID ?? 0) < RETIRE_AT_STREAM_ID) return session;
        session.close(); // its open streams finish; new ones go to a new session
      }
      this.forget(session);
    }
  }

  /** An open stream keeps the process alive; idle sessions do not. */
  private track(session: ClientHttp2Session, stream: ClientHttp2Stream): void {
    const streams = this.streams.get(session) ?? 0;
    if (streams === 0) session.ref();
    this.streams.set(session, streams + 1);
    stream.once('close', () => {
      const left = (this.streams.get(session) ?? 1) - 1;
      if (left > 0) return void this.streams.set(session, left);
      this.streams.delete(session);
      session.unref();
    });
  }

  async send(req: H2Request): Promise<H2Answer | 'http1'> {
    if (this.closed) throw new Error(`${req.method} ${req.path}: the API client was closed`);
    const session = await this.session();
    if (session === 'http1') return session;
    const stream = session.request(
      { ':method': req.method, ':path': req.path, ...req.headers },
      { endStream: req.payload === undefined },
    );
    this.track(session, stream);
    stream.on('error', () => undefined); // heard by whoever reads the answer; never an unhandled 'error'
    if (req.timeoutMs !== undefined) {
      const ms = req.timeoutMs;
      stream.setTimeout(ms, () => {
        stream.destroy(new Error(`${req.method} ${req.path}: no answer within ${ms} ms`));
        this.check(session);
      });
    }
    req.signal?.addEventListener('abort', () => this.check(session), { once: true });
    if (req.payload !== undefined) stream.end(req.payload);
    return answerOf(stream, req.signal);
  }

  close(): void {
    this.closed = true;
    this.streams.clear();
    this.current = undefined;
    this.currentSession = undefined;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }
}

/** Resolves with the status once the response headers arrive; rejects on a stream error or an abort. */
function answerOf(stream: ClientHttp2Stream, signal: AbortSignal | undefined): Promise<H2Answer> {
  return new Promise<H2Answer>((resolve, reject) => {
    const abort = (): void => {
      stream.close(constants.NGHTTP2_CANCEL);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    const failed = (error: Error): void => {
      signal?.removeEventListener('abort', abort);
      reject(error);
    };
    stream.once('error', failed);
    stream.once('response', (headers) => {
      signal?.removeEventListener('abort', abort);
      stream.removeListener('error', failed);
      resolve({ status: Number(headers[':status'] ?? 0), body: stream });
    });
  });
}

export function h2Client(base: URL, tls: () => Promise<TlsMaterial>, options: H2Options = {}): H2Client {
  return new H2Sessions(base, tls, options);
}
