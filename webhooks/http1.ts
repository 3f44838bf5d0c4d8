// The webhook's HTTPS connections, served as HTTP/1.1 directly on the TLS socket: the narrow protocol its clients
// speak (the API server's admission calls: POST with Content-Length over keep-alive connections; kubelet probes,
// Prometheus and curl: GET and HEAD), parsed in one pass over the bytes, with no IncomingMessage, ServerResponse or
// stream machinery per request. node:http costs ~35 µs of CPU per request on the bench machine, more than the
// whole policy pipeline of a namespace review (issue 10's notes); the plain-HTTP metrics port keeps node:http.
//
// What it accepts, and what it answers otherwise (each refusal says what to send instead, then closes):
// - HTTP/1.1 or HTTP/1.0 requests, one at a time per connection (pipelined requests wait their turn, answered in
//   order); keep-alive by default on 1.1, `Connection: close` honoured;
// - bodies framed by Content-Length only: Transfer-Encoding gets 411, conflicting lengths 400, a body over the
//   limit 413 (without reading it); `Expect: 100-continue` gets its 100 before the body is read;
// - a request head of at most `maxHeaderBytes` (431 past it); a connection idle for `idleTimeoutMs` is closed.
import { STATUS_CODES } from '../lib/node-http.ts';
import type { Duplex } from 'node:stream';

/** Writes the answer to the request being served: status, content type and body (a HEAD gets no body). */
export type Reply = (status: number, contentType: string, body: string) => void;

/** Serves one request: its method, its path without the query, its body (empty without one). */
export type Exchange = (method: string, path: string, body: Buffer, reply: Reply) => void;

export interface Http1Options {
  /** Largest body read; a larger one is refused with 413 before it is read. */
  maxBodyBytes: number;
  /** Largest request line and headers together (default 16 KiB, as node:http). */
  maxHeaderBytes?: number;
  /** A connection with nothing to do for this long is closed (default 60 s, the keep-alive timeout). */
  idleTimeoutMs?: number;
}

export interface Http1Server {
  /** Serves a connection (a TLS socket once its handshake is done). */
  serve(socket: Socket): void;
  /**
   * Closes the idle connections now, and each busy one once its answer is written: how a server shuts down
   * without cutting a request short.
   */
  closeConnections(): void;
  /** Open connections (for tests and shutdown). */
  readonly connections: number;
}

/** A request that cannot be served as sent: answered with this status and message, then the connection closes. */
class Refusal {
  readonly status: number;
  readonly message: string;
  constructor(status: number, message: string) {
    this.status = status;
    this.message = message;
  }
}

interface Head {
  method: string;
  path: string;
  length: number;
  keepAlive: boolean;
  expectsContinue: boolean;
  /** Bytes of the request line and headers, with the blank line. */
  size: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VERSION = /^HTTP\/1\.([01])$/;

interface Headers {
  length: number | undefined;
  /** The Connection header's tokens, lowercase, comma-separated (with a leading comma). */
  connection: string;
  expect: string | undefined;
}

/** The headers the server reads, from the header lines (every line after the request line). */
function readHeaders(lines: readonly string[]): Headers | Refusal {
  const headers: Headers = { length: undefined, connection: '', expect: undefined };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) return new Refusal(400, `malformed header line: ${JSON.stringify(line)}`);
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
      if (Number.isNaN(n) || (headers.length !== undefined && headers.length !== n)) {
        return new Refusal(400, `invalid Content-Length ${JSON.stringify(value)}: send one length in bytes`);
      }
      headers.length = n;
    } else if (lower === 'transfer-encoding') {
      return new Refusal(411, 'Transfer-Encoding is not accepted: send the body with a Content-Length');
    } else if (lower === 'connection') headers.connection += `,${value.toLowerCase()}`;
    else if (lower === 'expect') headers.expect = value.toLowerCase();
  }
  return headers;
}

/** The method, target and minor version of a request line (`POST /mutate?timeout=10s HTTP/1.1`). */
function requestLine(line: string): { method: string; target: string; minor: string } | Refusal {
  const [method = '', target = '', version = '', extra] = line.split(' ');
  const minor = VERSION.exec(version)?.[1];
  if (extra !== undefined || !TOKEN.test(method) || !target.startsWith('/') || minor === undefined) {
    return new Refusal(400, 'malformed request line: send "METHOD /path HTTP/1.1"');
  }
  return { method, target, minor };
}

/** Reads the request line and headers that end at `end` (the index of the blank line's CRLF CRLF). */
function parseHead(buffer: Buffer, end: number): Head | Refusal {
  const lines = buffer.toString('latin1', 0, end).split('\r\n');
  const line = requestLine(lines[0] ?? '');
  if (line instanceof Refusal) return line;
  const { method, target, minor } = line;
  const headers = readHeaders(lines);
  if (headers instanceof Refusal) return headers;
  const { expect } = headers;
  if (expect !== undefined && expect !== '100-continue') {
    return new Refusal(417, `Expect: ${expect} is not supported (only 100-continue)`);
  }
  const tokens = headers.connection.split(',').map((t) => t.trim());
  const query = target.indexOf('?');
  return {
    method,
    path: query < 0 ? target : target.slice(0, query),
    length: headers.length ?? 0,
    keepAlive: minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive'),
    expectsContinue: expect === '100-continue',
    size: end + HEAD_END.length,
  };
}

/** The Date header's value, computed once a second (as node:http does). */
let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

function response(status: number, contentType: string, body: string, keepAlive: boolean, head: boolean): string {
  const start =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\ncontent-type: ${contentType}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\ndate: ${httpDate()}\r\n` +
    (keepAlive ? 'connection: keep-alive\r\n\r\n' : 'connection: close\r\n\r\n');
  return head ? start : start + body;
}

const TEXT = 'text/plain; charset=utf-8';

type Socket = Duplex & { setTimeout?(ms: number): unknown; setNoDelay?(noDelay?: boolean): unknown };

/** What every connection of one server shares. */
interface ServerState {
  exchange: Exchange;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  idleTimeoutMs: number;
  open: Set<Connection>;
  closing: boolean;
}

/** One connection's requests, served one at a time. */
class Connection {
  private buffer: Buffer | undefined;
  /** The request being served (its answer not yet written), if any. */
  private busy = false;
  private continued = false;
  private ended = false;
  private readonly socket: Socket;
  private readonly server: ServerState;

  constructor(socket: Socket, server: ServerState) {
    this.socket = socket;
    this.server = server;
    // Each answer is one write: sent at once (as node:http does), never held back by Nagle's algorithm.
    socket.setNoDelay?.(true);
    socket.setTimeout?.(server.idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => {
      // The client has sent all it will: what is being answered is still answered, then the connection ends.
      this.ended = true;
      if (!this.busy) socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => server.open.delete(this));
  }

  private received(chunk: Buffer): void {
    const buffer = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk]);
    this.buffer = buffer;
    // A client that keeps sending while its request is answered gets no room past one more request's worth.
    if (this.busy) {
      if (buffer.length > this.server.maxHeaderBytes + this.server.maxBodyBytes) this.socket.destroy();
    } else this.next();
  }

  /** Serves the next complete request in the buffer, if there is one. */
  private next(): void {
    const buffer = this.buffer;
    if (buffer === undefined || this.socket.destroyed) return;
    const end = buffer.indexOf(HEAD_END);
    const { maxHeaderBytes, maxBodyBytes } = this.server;
    if ((end < 0 ? buffer.length : end + HEAD_END.length) > maxHeaderBytes) {
      return this.refuse(new Refusal(431, `request line and headers exceed ${maxHeaderBytes} bytes`));
    }
    if (end < 0) return;
    const head = parseHead(buffer, end);
    if (head instanceof Refusal) return this.refuse(head);
    if (head.length > maxBodyBytes) {
      return this.refuse(
        new Refusal(413, `request body of ${head.length} bytes exceeds the limit of ${maxBodyBytes} bytes`),
      );
    }
    const total = head.size + head.length;
    if (buffer.length < total) {
      if (head.expectsContinue && !this.continued) {
        this.continued = true;
        this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      return;
    }
    // A request that arrived whole in one read is served from that read's own bytes, without a copy.
    const body = buffer.subarray(head.size, total);
    this.buffer = buffer.length === total ? undefined : buffer.subarray(total);
    this.continued = false;
    this.busy = true;
    let answered = false;
    this.server.exchange(head.method, head.path, body, (status, contentType, text) => {
      if (answered) return;
      answered = true;
      // Decided when the answer goes: a shutdown that began meanwhile closes the connection after it.
      const keepAlive = head.keepAlive && !this.server.closing;
      this.answer(response(status, contentType, text, keepAlive, head.method === 'HEAD'), keepAlive);
    });
  }

  private answer(text: string, keepAlive: boolean): void {
    this.busy = false;
    if (this.socket.destroyed) return;
    if (!keepAlive || this.server.closing) {
      this.socket.end(text);
      return;
    }
    this.socket.write(text);
    if (this.buffer !== undefined) this.next();
    // A client that has sent all it will gets the answers to what it sent, then the end.
    if (!this.busy && this.ended) this.socket.end();
  }

  private refuse(refusal: Refusal): void {
    this.buffer = undefined;
    this.busy = true; // nothing more is read from this connection
    this.socket.end(response(refusal.status, TEXT, `${refusal.message}\n`, false, false));
  }

  /** Shutdown: an idle connection closes now, a busy one once its answer is written (answer() sees `closing`). */
  close(): void {
    if (!this.busy) this.socket.end();
  }
}

export function createHttp1Server(exchange: Exchange, options: Http1Options): Http1Server {
  const state: ServerState = {
    exchange,
    maxBodyBytes: options.maxBodyBytes,
    maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    open: new Set(),
    closing: false,
  };
  return {
    serve(socket) {
      if (state.closing) {
        socket.destroy();
        return;
      }
      state.open.add(new Connection(socket, state));
    },
    closeConnections() {
      state.closing = true;
      for (const connection of state.open) connection.close();
    },
    get connections() {
      return state.open.size;
    },
  };
}
