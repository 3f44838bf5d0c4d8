// Text to be sent as UTF-8 bytes, kept as the pieces it is made of and written piece by piece straight into the
// buffer that goes on the wire. A text built by concatenation is a tree of pieces that V8 copies into one flat string
// before it can encode it, and a base64 string is a copy of its bytes a third larger: an admission answer made both
// (~3 KB of garbage per Deployment review, a seventh of what the review allocated, and with it a seventh of the
// young-generation collections that set the webhook's p99 at low load: issue 10's notes). Here nothing but the
// list of pieces is allocated, and the base64 is encoded in place.
import { isPlainJson, jsonString } from './json-string.ts';

/** Bytes that know their length and write themselves at an offset of a buffer at least that long from there. */
export interface BodyBytes {
  readonly byteLength: number;
  writeTo(target: Buffer, offset: number): void;
}

/** A piece written as the base64 of its text's UTF-8 bytes. */
class Base64Piece {
  readonly text: string;
  readonly sourceLength: number;
  constructor(text: string) {
    this.text = text;
    this.sourceLength = Buffer.byteLength(text);
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGITS = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const PAD = 0x3d; // '='

/** Length of the base64 text (padded) of `n` bytes. */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/**
 * Writes the base64 of `text`'s UTF-8 bytes at `offset`: the bytes are written at the end of the span their base64
 * will take, then encoded from the front. Each group of three source bytes is read before its four digits are
 * written, and the digits never reach a source byte not yet read (the span is longer than the source by at least
 * a third of it), so the source needs no room of its own.
 */
function writeBase64(target: Buffer, offset: number, piece: Base64Piece): number {
  const n = piece.sourceLength;
  const length = base64Length(n);
  let from = offset + length - n;
  target.write(piece.text, from, n, 'utf8');
  const whole = from + n - (n % 3);
  let to = offset;
  for (; from < whole; from += 3, to += 4) {
    const bits = ((target[from] as number) << 16) | ((target[from + 1] as number) << 8) | (target[from + 2] as number);
    target[to] = DIGITS[bits >>> 18] as number;
    target[to + 1] = DIGITS[(bits >>> 12) & 63] as number;
    target[to + 2] = DIGITS[(bits >>> 6) & 63] as number;
    target[to + 3] = DIGITS[bits & 63] as number;
  }
  const rest = n % 3;
  if (rest > 0) {
    const bits = ((target[from] as number) << 16) | (rest === 2 ? (target[from + 1] as number) << 8 : 0);
    target[to] = DIGITS[bits >>> 18] as number;
    target[to + 1] = DIGITS[(bits >>> 12) & 63] as number;
    target[to + 2] = rest === 2 ? (DIGITS[(bits >>> 6) & 63] as number) : PAD;
    target[to + 3] = PAD;
  }
  return length;
}

/** Text made of pieces, written as UTF-8 (and base64 where asked) into a buffer without being joined first. */
export class TextBytes implements BodyBytes {
  private readonly pieces: (string | Base64Piece)[] = [];
  private length = 0;

  get byteLength(): number {
    return this.length;
  }

  /** Appends `text` as it is. */
  text(text: string): this {
    if (text.length > 0) {
      this.pieces.push(text);
      this.length += Buffer.byteLength(text);
    }
    return this;
  }

  /** Appends `text` as a JSON string (what JSON.stringify(text) writes; a long one's escaping is remembered). */
  json(text: string): this {
    if (!isPlainJson(text)) return this.text(jsonString(text));
    return this.text('"').text(text).text('"');
  }

  /** Appends the base64 (padded) of `text`'s UTF-8 bytes. */
  base64(text: string): this {
    const piece = new Base64Piece(text);
    this.pieces.push(piece);
    this.length += base64Length(piece.sourceLength);
    return this;
  }

  writeTo(target: Buffer, offset: number): void {
    if (target.length - offset < this.length) {
      throw new RangeError(`${this.length} bytes do not fit at offset ${offset} of a buffer of ${target.length}`);
    }
    let at = offset;
    for (const piece of this.pieces) {
      at += typeof piece === 'string' ? target.write(piece, at, 'utf8') : writeBase64(target, at, piece);
    }
  }

  /** The bytes, in a buffer of their own (where no larger buffer is being written). */
  toBuffer(): Buffer {
    const bytes = Buffer.allocUnsafe(this.length);
    this.writeTo(bytes, 0);
    return bytes;
  }
}
