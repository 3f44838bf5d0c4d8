// JSON written straight to UTF-8 bytes, for the admission answer the webhook sends on every review: the envelope,
// and the JSON Patch as base64, encoded in place. JSON.stringify builds a string (a Deployment's patch: ~0.7 KB of
// the V8 heap), base64 copies it a third larger, and the answer's text is flattened again to be encoded: ~3 KB of
// garbage per review, the young generation collected that much sooner, and the review that meets a collection waits
// for it, which is what sets the webhook's p99 at low load (issue 10's notes). Here the bytes go to one scratch
// buffer outside the V8 heap, and come out as a Buffer of their own.
import { jsonString } from './json-string.ts';

const DIGITS = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) =>
  c.charCodeAt(0),
);
const PAD = 0x3d; // '='

/** The character after the backslash of JSON's short escapes (`"`, `\\`, \b, \t, \n, \f, \r), by code; 0 for none. */
const SHORT_ESCAPES = new Uint8Array(0x60);
for (const [c, escape] of [
  [0x22, '"'],
  [0x5c, '\\'],
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
] as const) {
  SHORT_ESCAPES[c] = escape.charCodeAt(0);
}
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** Scratch buffers larger than this are let go once their bytes are copied out. */
const KEEP = 1 << 20;

/** Strings at most this long are copied a character at a time; longer ones in one call into the runtime. */
const SHORT = 48;

/**
 * A JSON writer into bytes: what JSON.stringify writes, byte for byte (test), for values made of plain objects,
 * arrays, strings, numbers, booleans and null (others go through JSON.stringify itself). Not reentrant: one text at
 * a time, from `start()` to `finish()`, which returns the bytes.
 */
export class JsonBytes {
  private buffer = Buffer.allocUnsafeSlow(16 * 1024);
  private at = 0;

  /** Begins a text (forgets whatever was written before). */
  start(): this {
    this.at = 0;
    if (this.buffer.length > KEEP) this.buffer = Buffer.allocUnsafeSlow(16 * 1024);
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.at;
  }

  /** Forgets the bytes written after the first `length` (a length() taken earlier). */
  truncate(length: number): this {
    if (length < 0 || length > this.at) throw new RangeError(`cannot truncate ${this.at} bytes to ${length}`);
    this.at = length;
    return this;
  }

  /** The bytes written since start(), in a Buffer of their own; the writer begins anew. */
  finish(): Buffer {
    const bytes = Buffer.allocUnsafe(this.at);
    this.buffer.copy(bytes, 0, 0, this.at);
    this.start();
    return bytes;
  }

  /** The bytes written since start(), in place: valid until the next write or start(). */
  view(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  private room(bytes: number): Buffer {
    if (this.at + bytes > this.buffer.length) {
      const larger = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.at + bytes));
      this.buffer.copy(larger, 0, 0, this.at);
      this.buffer = larger;
    }
    return this.buffer;
  }

  /** Writes `text` as it is (no quotes, no escaping), as UTF-8. */
  text(text: string): this {
    const target = this.room(text.length);
    let at = this.at;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) {
        this.room(text.length * 3);
        this.at += this.buffer.write(text, this.at, 'utf8');
        return this;
      }
      target[at++] = c;
    }
    this.at = at;
    return this;
  }

  /** Writes `text` as a JSON string (quoted and escaped). */
  string(text: string): this {
    const n = text.length;
    const target = this.room(n + 2);
    const first = this.at;
    let at = first + 1;
    target[first] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return this.escapedAscii(text);
      if (n <= SHORT) target[at + i] = c;
    }
    if (n > SHORT) target.write(text, at, n, 'latin1');
    at += n;
    target[at] = 0x22;
    this.at = at + 1;
    return this;
  }

  /**
   * A string with characters JSON escapes: while it is ASCII, its escapes are written here, with no JSON text made (a
   * denial's message, with its newlines and quotes: V8 flattens it once if it was built in pieces, the only copy);
   * past the first character beyond ASCII, it is started again through escaped().
   */
  private escapedAscii(text: string): this {
    const n = text.length;
    // At most 6 bytes a character (\u001f), and the quotes.
    const target = this.room(n * 6 + 2);
    let at = this.at;
    target[at++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        if (c > 0x7f) return this.escaped(text);
        target[at++] = c;
        continue;
      }
      target[at++] = 0x5c;
      const escape = SHORT_ESCAPES[c] ?? 0;
      if (escape !== 0) {
        target[at++] = escape;
        continue;
      }
      // The other control characters as JSON.stringify writes them: \u00XX, in lower-case hex.
      target[at++] = 0x75;
      target[at++] = 0x30;
      target[at++] = 0x30;
      target[at++] = HEX[c >> 4] ?? 0;
      target[at++] = HEX[c & 15] ?? 0;
    }
    target[at++] = 0x22;
    this.at = at;
    return this;
  }

  /** A string with characters beyond ASCII: JSON.stringify's text, encoded as UTF-8. */
  private escaped(text: string): this {
    const json = jsonString(text);
    const target = this.room(json.length * 3);
    this.at += target.write(json, this.at, 'utf8');
    return this;
  }

  /**
   * Writes, as a JSON string, the JSON Pointer (RFC 6901) of a path given as its keys and indexes from the root:
   * `["spec", "containers", 0]` as `"/spec/containers/0"`, `~` in a key as `~0` and `/` as `~1`.
   */
  pointer(path: readonly (string | number)[]): this {
    const from = this.at;
    this.text('"');
    for (const step of path) {
      this.text('/');
      if (typeof step === 'number') this.number(step);
      else if (!this.token(step)) {
        // A key with something JSON escapes, or beyond ASCII: the pointer built as text.
        this.at = from;
        const pointer = path.map((s) => `/${String(s).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
        return this.string(pointer);
      }
    }
    return this.text('"');
  }

  /** Writes `key` as a pointer's token (`~` as `~0`, `/` as `~1`) when it is printable ASCII JSON keeps as it is. */
  private token(key: string): boolean {
    const target = this.room(key.length * 2);
    let at = this.at;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
      if (c === 0x7e || c === 0x2f) {
        target[at++] = 0x7e;
        target[at++] = c === 0x7e ? 0x30 : 0x31;
      } else target[at++] = c;
    }
    this.at = at;
    return true;
  }

  private number(value: number): this {
    // Integers as digits, here; the rest (fractions, exponents, NaN and the infinities as null) as JSON writes them.
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) return this.text(JSON.stringify(value));
    const target = this.room(17);
    let at = this.at;
    let rest = value;
    if (rest < 0) {
      target[at++] = 0x2d;
      rest = -rest;
    }
    let scale = 1;
    while (scale * 10 <= rest) scale *= 10;
    for (; scale >= 1; scale /= 10) {
      const digit = Math.floor(rest / scale);
      target[at++] = 0x30 + digit;
      rest -= digit * scale;
    }
    this.at = at;
    return this;
  }

  /**
   * Writes a JSON value: what JSON.stringify(value) writes. A value JSON leaves out (undefined, a function, a symbol)
   * is written as null here; an object's such properties are left out, as JSON leaves them out.
   */
  value(value: unknown): this {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.number(value);
      case 'boolean':
        return this.text(value ? 'true' : 'false');
      case 'object':
        if (value === null) return this.text('null');
        if (Array.isArray(value)) return this.array(value);
        if (isPlainObject(value)) return this.object(value as Record<string, unknown>);
        return this.text(JSON.stringify(value) ?? 'null'); // toJSON and the like: JSON's own reading
      case 'undefined':
      case 'function':
      case 'symbol':
        return this.text('null');
      default:
        return this.text(JSON.stringify(value)); // a bigint: JSON.stringify's own error
    }
  }

  private array(items: readonly unknown[]): this {
    this.text('[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.text(',');
      this.value(items[i]);
    }
    return this.text(']');
  }

  private object(fields: Record<string, unknown>): this {
    this.text('{');
    let first = true;
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      const item = fields[key];
      if (isLeftOut(item)) continue;
      if (!first) this.text(',');
      first = false;
      this.string(key).text(':').value(item);
    }
    return this.text('}');
  }

  /**
   * Replaces the bytes written since `from` (a length() taken earlier) with their base64 (padded): they are moved to
   * the end of the span their base64 takes, then encoded from the front. Each group of three is read before its four
   * digits are written, and the digits never reach a byte not yet read.
   */
  base64Since(from: number): this {
    const n = this.at - from;
    const length = Math.ceil(n / 3) * 4;
    const target = this.room(length - n);
    let source = from + length - n;
    target.copy(target, source, from, this.at);
    const whole = source + n - (n % 3);
    let at = from;
    for (; source < whole; source += 3, at += 4) {
      const bits =
        ((target[source] as number) << 16) | ((target[source + 1] as number) << 8) | (target[source + 2] as number);
      target[at] = DIGITS[bits >>> 18] as number;
      target[at + 1] = DIGITS[(bits >>> 12) & 63] as number;
      target[at + 2] = DIGITS[(bits >>> 6) & 63] as number;
      target[at + 3] = DIGITS[bits & 63] as number;
    }
    const rest = n % 3;
    if (rest > 0) {
      const bits = ((target[source] as number) << 16) | (rest === 2 ? (target[source + 1] as number) << 8 : 0);
      target[at] = DIGITS[bits >>> 18] as number;
      target[at + 1] = DIGITS[(bits >>> 12) & 63] as number;
      target[at + 2] = rest === 2 ? (DIGITS[(bits >>> 6) & 63] as number) : PAD;
      target[at + 3] = PAD;
    }
    this.at = from + length;
    return this;
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** A property JSON.stringify leaves out of an object. */
export function isLeftOut(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}
