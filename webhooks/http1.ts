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
// - a request head of at most `maxHeaderBytes` (431 past it); a connection idle for `idleTimeoutMs` is closed, and
//   each answer on a kept connection says after how long (`keep-alive: timeout=N`), so that the client closes first.
import { STATUS_CODES } from '../lib/node-http.ts';
import type { Duplex } from 'node:stream';

/** Writes the answer to the request being served: status, content type and body, text or bytes (a HEAD gets none). */
export type Reply = (status: number, contentType: string, body: string | Buffer) => void;

/** Serves one request: its method, its path without the query, its body (empty without one). */
export type Exchange = (method: string, path: string, body: Buffer, reply: Reply) => void;

export interface Http1Options {
  /** Largest body read; a larger one is refused with 413 before it is read. */
  maxBodyBytes: number;
  /** Largest request line and headers together (default 16 KiB, as node:http). */
  maxHeaderBytes?: number;
  /**
   * A connection with nothing to do for this long is closed, up to a quarter later (default IDLE_TIMEOUT_MS). Each
   * answer on a kept connection says so (`keep-alive: timeout=` its whole seconds, as node:http's server does), and
   * clients that read the hint close first: undici, and node:http's Agent when it has a timeout of its own, a
   * second or two before it.
   */
  idleTimeoutMs?: number;
}

/**
 * How long a kept connection may stay idle by default: longer than the 90 s for which the API server keeps its idle
 * webhook connections (client-go's transport takes Go's default IdleConnTimeout), so that the API server is the one
 * to close them. A server that closes first races the request the API server may be writing on that connection at
 * that moment: Go retries a POST only when none of it was written, so the admission call fails with `EOF` and, where
 * the webhook's failurePolicy is Fail, the user's request with it (linkerd/linkerd2#14096 is that failure, with a
 * server that closed idle connections after 2 s). The same race, with a node:http Agent sending bursts a little
 * after a server's idle timeout and no hint: 170 of 2,544 requests lost to ECONNRESET (a scratch run, the timeout
 * at 40 ms to make the race frequent). Clients that read the hint (undici; node:http's Agent when it has a timeout
 * of its own) close first instead.
 */
export const IDLE_TIMEOUT_MS = 120_000;

export interface Http1Server {
  /** Serves a connection (a TLS socket once its handshake is done). */
  serve(socket: Socket): void;
  /**
   * Closes the idle connections now, and each busy one once its answer is written: how a server shuts down
   * without cutting a request short.
   */
  closeConnections(): void;
  /**
   * From now on each answer closes its connection after it (`connection: close`), while new connections are still
   * served: how a replica that is leaving its Service moves its clients to the others without refusing one (a
   * client that reconnects is routed elsewhere once the Service no longer lists this replica).
   */
  drain(): void;
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

/** 1 for the characters of an RFC 9110 token (a method, a header name), by char code below 128. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
}

// The head is read in place, by indexes into one latin1 string of it: no array of lines or words, no regular
// expression, no slice but the method (when not one of the usual ones) and the path. Each piece a request's head was
// cut into was garbage, and garbage is what sets the webhook's p99 at low load: the young generation is collected
// every so many kilobytes allocated, and the review that meets a collection waits for it (issue 10's notes).

/** Whether text[from, to) is a token (a method, a header name: no space, no colon, no control character). */
function isToken(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (TOKEN_CHAR[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Whether text[from, to) is `name` (lowercase ASCII) in any case. */
function isName(text: string, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = text.charCodeAt(from + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20; // A-Z to a-z
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09;

/** text[from, to) without the spaces and tabs around it, as [start, end). */
function trimmed(text: string, from: number, to: number): [number, number] {
  while (from < to && isSpace(text.charCodeAt(from))) from++;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
  return [from, to];
}

/** Whether the comma-separated list text[from, to) has `name` (lowercase) among its items, in any case. */
function hasItem(text: string, from: number, to: number, name: string): boolean {
  for (let start = from; start <= to;) {
    let comma = text.indexOf(',', start);
    if (comma < 0 || comma > to) comma = to;
    const [a, b] = trimmed(text, start, comma);
    if (isName(text, a, b, name)) return true;
    start = comma + 1;
  }
  return false;
}

/** text[from, to) read as the digits of a Content-Length (1 to 15 of them), or NaN. */
function digits(text: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

interface Headers {
  length: number | undefined;
  /** The Connection headers' items: `close`, `keep-alive`. */
  close: boolean;
  keepAlive: boolean;
  /** Expect: absent, `100-continue`, or another expectation (its value, lowercase). */
  expect: undefined | true | string;
}

/** Reads the one header of `text[from, to)` (its name ends at `colon`) that the server acts on. */
function readHeader(headers: Headers, text: string, from: number, colon: number, to: number): Refusal | undefined {
  const size = colon - from;
  // Only the four names the server reads are looked at; the others are checked for shape and skipped.
  if (size !== 14 && size !== 17 && size !== 10 && size !== 6) return undefined;
  const [start, end] = trimmed(text, colon + 1, to);
  if (isName(text, from, colon, 'content-length')) {
    const n = digits(text, start, end);
    if (Number.isNaN(n) || (headers.length !== undefined && headers.length !== n)) {
      const value = JSON.stringify(text.slice(start, end));
      return new Refusal(400, `invalid Content-Length ${value}: send one length in bytes`);
    }
    headers.length = n;
  } else if (isName(text, from, colon, 'transfer-encoding')) {
    return new Refusal(411, 'Transfer-Encoding is not accepted: send the body with a Content-Length');
  } else if (isName(text, from, colon, 'connection')) {
    headers.close ||= hasItem(text, start, end, 'close');
    headers.keepAlive ||= hasItem(text, start, end, 'keep-alive');
  } else if (isName(text, from, colon, 'expect')) {
    headers.expect = isName(text, start, end, '100-continue') || text.slice(start, end).toLowerCase();
  }
  return undefined;
}

/** The headers the server reads, from the header lines of `text` (everything after the request line's CRLF). */
function readHeaders(text: string, start: number): Headers | Refusal {
  const headers: Headers = { length: undefined, close: false, keepAlive: false, expect: undefined };
  for (let from = start; from < text.length;) {
    let to = text.indexOf('\r\n', from);
    if (to < 0) to = text.length;
    const colon = text.indexOf(':', from);
    if (colon < 0 || colon > to || !isToken(text, from, colon)) {
      return new Refusal(400, `malformed header line: ${JSON.stringify(text.slice(from, to))}`);
    }
    const refusal = readHeader(headers, text, from, colon, to);
    if (refusal) return refusal;
    from = to + 2;
  }
  return headers;
}

/** The usual methods, returned as these strings rather than cut out of each request. */
const METHODS = ['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

function methodOf(text: string, end: number): string {
  for (const method of METHODS) if (method.length === end && text.startsWith(method)) return method;
  return text.slice(0, end);
}

interface RequestLine {
  method: string;
  path: string;
  /** HTTP/1.1 rather than HTTP/1.0. */
  http11: boolean;
}

/** Whether text[from, to) is `HTTP/1.0` or `HTTP/1.1`. */
function isVersion(text: string, from: number, to: number): boolean {
  const minor = text.charCodeAt(from + 7);
  return to - from === 8 && text.startsWith('HTTP/1.', from) && (minor === 0x30 || minor === 0x31);
}

/** The method, path (without the query) and version of the request line text[0, end): `POST /mutate?t=1 HTTP/1.1`. */
function requestLine(text: string, end: number): RequestLine | Refusal {
  const space = text.indexOf(' ');
  const second = space < 0 ? -1 : text.indexOf(' ', space + 1);
  const third = second < 0 ? -1 : text.indexOf(' ', second + 1);
  const words = space > 0 && second > 0 && second < end && (third < 0 || third > end);
  // The target is in origin form: a path from the root.
  if (!words || !isToken(text, 0, space) || text.charCodeAt(space + 1) !== 0x2f || !isVersion(text, second + 1, end)) {
    return new Refusal(400, 'malformed request line: send "METHOD /path HTTP/1.1"');
  }
  const query = text.indexOf('?', space + 1);
  return {
    method: methodOf(text, space),
    path: text.slice(space + 1, query < 0 || query > second ? second : query),
    http11: text.charCodeAt(end - 1) === 0x31,
  };
}

/** Reads the request line and headers that end at `end` (the index of the blank line's CRLF CRLF). */
function parseHead(buffer: Buffer, end: number): Head | Refusal {
  // One string for the whole head (latin1: a byte a character), read in place.
  const text = buffer.toString('latin1', 0, end);
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const line = requestLine(text, lineEnd);
  if (line instanceof Refusal) return line;
  const headers = readHeaders(text, lineEnd + 2);
  if (headers instanceof Refusal) return headers;
  const { expect } = headers;
  if (typeof expect === 'string') return new Refusal(417, `Expect: ${expect} is not supported (only 100-continue)`);
  return {
    method: line.method,
    path: line.path,
    length: headers.length ?? 0,
    keepAlive: line.http11 ? !headers.close : headers.keepAlive,
    expectsContinue: expect === true,
    size: end + HEAD_END.length,
  };
}

/** The head's end, from its Date header on, for a kept and a closed connection: one server's, made once a second. */
class HeadTails {
  private second = -1;
  private keepAlive = '';
  private close = '';
  /**
   * `keep-alive: timeout=N` with its line end: after how many seconds a kept connection may be closed (none under
   * a second, which whole seconds cannot say: tests only).
   */
  private readonly hint: string;

  constructor(idleTimeoutMs: number) {
    const seconds = Math.floor(idleTimeoutMs / 1000);
    this.hint = seconds >= 1 ? `keep-alive: timeout=${seconds}\r\n` : '';
  }

  get(keepAlive: boolean): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      // The Date header as node:http writes it: computed once a second.
      const date = `\r\ndate: ${new Date(now).toUTCString()}\r\n`;
      this.keepAlive = `${date}connection: keep-alive\r\n${this.hint}\r\n`;
      this.close = `${date}connection: close\r\n\r\n`;
    }
    return keepAlive ? this.keepAlive : this.close;
  }
}

/** The head's start, its status line and content type, by content type then status: a few of each, made once. */
const headStarts = new Map<string, Map<number, string>>();
function headStart(status: number, contentType: string): string {
  let byStatus = headStarts.get(contentType);
  if (!byStatus) headStarts.set(contentType, (byStatus = new Map<number, string>()));
  let start = byStatus.get(status);
  if (start === undefined) {
    start = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\ncontent-type: ${contentType}\r\ncontent-length: `;
    byStatus.set(status, start);
  }
  return start;
}

/** Writes ASCII `text` at `at`, a byte a character; returns where it ends. */
function putAscii(target: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) target[at + i] = text.charCodeAt(i);
  return at + text.length;
}

function digitCount(n: number): number {
  let count = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count++;
  return count;
}

/**
 * The answer's bytes, status line and headers then body, in one buffer written once. The head is put together in
 * the buffer from parts made once (per status and content type; `tail`, from the Date header on, per second): no
 * string is built for it.
 * A text body is encoded straight into the buffer, a body already in bytes (an admission review: lib/json-bytes.ts)
 * copied (perf, issue 10).
 */
function response(status: number, contentType: string, body: string | Buffer, tail: string, head: boolean): Buffer {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const start = headStart(status, contentType);
  const lengthDigits = digitCount(length);
  const headLength = start.length + lengthDigits + tail.length;
  const bytes = Buffer.allocUnsafe(headLength + (head ? 0 : length));
  // The head is ASCII (a status, a media type, digits and a date): a byte a character.
  const lengthAt = putAscii(bytes, 0, start);
  for (let i = lengthDigits - 1, rest = length; i >= 0; i--, rest = Math.floor(rest / 10)) {
    bytes[lengthAt + i] = 0x30 + (rest % 10);
  }
  putAscii(bytes, lengthAt + lengthDigits, tail);
  if (head) return bytes;
  if (typeof body === 'string') bytes.write(body, headLength, 'utf8');
  else body.copy(bytes, headLength);
  return bytes;
}

const TEXT = 'text/plain; charset=utf-8';

type Socket = Duplex & { setNoDelay?(noDelay?: boolean): unknown };

/** What every connection of one server shares. */
interface ServerState {
  exchange: Exchange;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  idleTimeoutMs: number;
  tails: HeadTails;
  open: Set<Connection>;
  closing: boolean;
  /** Each answer closes its connection (drain()); new connections are still served. */
  draining: boolean;
  /** Advances every quarter of idleTimeoutMs while connections are open (see watchIdle). */
  epoch: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * Closes the connections that stayed idle for idleTimeoutMs (up to a quarter more). One timer for the server,
 * rather than socket.setTimeout, which re-arms a timer of each connection on every read and write: ~1.5 % of
 * the CPU of an admission request on the bench machine (issue 10).
 */
function watchIdle(server: ServerState): void {
  if (server.idleTimer) return;
  server.idleTimer = setInterval(() => {
    server.epoch += 1;
    for (const connection of server.open) connection.closeIfIdle();
    if (server.open.size === 0) {
      clearInterval(server.idleTimer);
      server.idleTimer = undefined;
    }
  }, server.idleTimeoutMs / 4);
  server.idleTimer.unref();
}

/** One connection's requests, served one at a time. */
class Connection {
  private buffer: Buffer | undefined;
  /** The request being served (its answer not yet written), if any. */
  private busy = false;
  private continued = false;
  private ended = false;
  /** The server's epoch at the last byte read or answer written. */
  private active: number;
  private readonly socket: Socket;
  private readonly server: ServerState;

  constructor(socket: Socket, server: ServerState) {
    this.socket = socket;
    this.server = server;
    // Each answer is one write: sent at once (as node:http does), never held back by Nagle's algorithm.
    socket.setNoDelay?.(true);
    this.active = server.epoch;
    watchIdle(server);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => {
      // The client has sent all it will: what is being answered is still answered, then the connection ends.
      this.ended = true;
      if (!this.busy) socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => server.open.delete(this));
  }

  /** Closes the connection when it has waited for a request for idleTimeoutMs (a busy one is never idle). */
  closeIfIdle(): void {
    if (!this.busy && this.server.epoch - this.active > 4) this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    this.active = this.server.epoch;
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
      const keepAlive = head.keepAlive && !this.server.closing && !this.server.draining;
      const tail = this.server.tails.get(keepAlive);
      this.answer(response(status, contentType, text, tail, head.method === 'HEAD'), keepAlive);
    });
  }

  private answer(bytes: Buffer, keepAlive: boolean): void {
    this.busy = false;
    this.active = this.server.epoch;
    if (this.socket.destroyed) return;
    if (!keepAlive || this.server.closing) {
      this.socket.end(bytes);
      return;
    }
    this.socket.write(bytes);
    if (this.buffer !== undefined) this.next();
    // A client that has sent all it will gets the answers to what it sent, then the end.
    if (!this.busy && this.ended) this.socket.end();
  }

  private refuse(refusal: Refusal): void {
    this.buffer = undefined;
    this.busy = true; // nothing more is read from this connection
    this.socket.end(response(refusal.status, TEXT, `${refusal.message}\n`, this.server.tails.get(false), false));
  }

  /** Shutdown: an idle connection closes now, a busy one once its answer is written (answer() sees `closing`). */
  close(): void {
    if (!this.busy) this.socket.end();
  }
}

export function createHttp1Server(exchange: Exchange, options: Http1Options): Http1Server {
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const state: ServerState = {
    exchange,
    maxBodyBytes: options.maxBodyBytes,
    maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    idleTimeoutMs,
    tails: new HeadTails(idleTimeoutMs),
    open: new Set(),
    closing: false,
    draining: false,
    epoch: 0,
    idleTimer: undefined,
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
    drain() {
      state.draining = true;
    },
    get connections() {
      return state.open.size;
    },
  };
}
