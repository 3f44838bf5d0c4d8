// pino JSON logs. The logger is created by the command and passed down; nothing imports a global logger.
import { writeSync } from 'node:fs';
import { isLeftOut, JsonBytes } from './json-bytes.ts';
import { jsonString } from './json-string.ts';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const redactPaths = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'data',
  '*.data',
  'stringData',
  '*.stringData',
  'object.data',
  'object.stringData',
];

export interface LogOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
  /**
   * Write stdout in batches (a server on a hot path): lines gather in memory and go out in one synchronous write
   * when BATCH_BYTES have gathered or FLUSH_MS have passed, whichever comes first, and what is left when the process
   * exits (LineBatch below). One write per line cost the webhook a fifth of its throughput, and an asynchronous writer's
   * buffer grew without bound under load (bench/results.md, issue 10).
   */
  async?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env['K8S_EE_LOG_LEVEL'] ?? 'info';
  const base = { name: options.name ?? 'k8s-ee' };
  const config = { level, base, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (options.destination) return pino(config, options.destination);
  if (!options.async) return pino(config);
  return pino(config, new LineBatch(1));
}

/** How much a batched logger gathers before it writes, and how long a line may wait at most. */
export const BATCH_BYTES = 4096;
export const FLUSH_MS = 200;

/**
 * Writes `bytes` whole to `fd`, waiting while a pipe is full for now (the container runtime reading slowly), as
 * sonic-boom does. Returns the error that stopped it short, if one did.
 */
function writeAll(fd: number, bytes: Buffer): NodeJS.ErrnoException | undefined {
  let written = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EBUSY') pause(10);
      else return err as NodeJS.ErrnoException;
    }
  }
  return undefined;
}

/**
 * A batched logger's destination (createLogger async): lines gather in memory and go to `fd` in one synchronous
 * write once BATCH_BYTES have gathered, FLUSH_MS after the first of them, or when the process exits. What
 * pino.destination({ minLength }) (sonic-boom 4.2) does, without its cost per line: it measured the bytes of all it
 * held on every write, flattening the batch into a new string each time (~2.2 KB of garbage per admission line at
 * low load, a tenth of what a Deployment review allocates: issue 10's notes). Here each line is encoded into the
 * batch's own bytes as it comes (outside the V8 heap), and a batch is written as it is. When `fd` cannot be written
 * (stdout closed: EPIPE), logging stops, and says so once on stderr; the process goes on.
 */
export class LineBatch implements DestinationStream {
  private readonly fd: number;
  private readonly minLength: number;
  private readonly flushMs: number;
  /** The batch, as the bytes it will be written as. */
  private readonly bytes = new JsonBytes();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private broken = false;

  constructor(fd: number, minLength = BATCH_BYTES, flushMs = FLUSH_MS) {
    this.fd = fd;
    this.minLength = minLength;
    this.flushMs = flushMs;
    process.once('exit', () => this.flushSync());
  }

  write(text: string): void {
    if (this.broken) return;
    this.bytes.text(text);
    this.written();
  }

  /**
   * Where a line is written in pieces, straight into the batch's bytes (infoLineWriter: no string for the line at
   * all); call written() after its last piece. Undefined once logging has stopped.
   */
  get writer(): JsonBytes | undefined {
    return this.broken ? undefined : this.bytes;
  }

  /** A line is complete: the batch goes out when it is large enough, or once its wait is over. */
  written(): void {
    if (this.bytes.length >= this.minLength) this.flushSync();
    else this.timer ??= setTimeout(() => this.flushSync(), this.flushMs).unref();
  }

  /** Writes what is held now. */
  flushSync(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.bytes.length === 0 || this.broken) return;
    const error = writeAll(this.fd, this.bytes.view());
    this.bytes.start();
    if (!error) return;
    this.broken = true;
    try {
      writeSync(
        2,
        `k8s-ee: logs can no longer be written to fd ${this.fd} (${error.code ?? error.message}); dropping them\n`,
      );
    } catch {
      // stderr is gone too: nothing left to tell
    }
  }
}

/**
 * `logger` without the redaction, for a line written once per item of a burst whose every field the program builds
 * itself (names, reasons, counts, timestamps: never an object read from the cluster or a request): a sweeper's
 * action, a namespace's baseline, an admission. The root logger redacts `*.token` and the like, and with a `*.` path
 * pino hands every value of every line (strings, numbers, the message) to @pinojs/redact (0.4), which parses each of
 * its paths again for each value: ~11-12 µs and ~17 KB of garbage per such line, against ~2.7 µs without. Over a
 * sweeper pass of 5,000 PR namespaces that was 93 of the 205 MiB the sidecar allocated (issue 10's notes).
 */
export function unredacted(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

type PinoInternals = Record<symbol, unknown>;

/** The flushes of infoLineWriters holding lines now: run at exit, so no line is lost to a process.exit. */
const unflushed = new Set<(atExit?: boolean) => void>();
let exitHook = false;

function holdUntilExit(flush: (atExit?: boolean) => void): void {
  unflushed.add(flush);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const pending of unflushed) pending(true);
  });
}

interface LineParts {
  stream: DestinationStream;
  /** `{"level":30`, as pino writes it for this logger. */
  start: string;
  time: () => string;
  end: string;
  messageKey: string;
}

/** The parts of `logger` a hand-written line needs, or undefined when pino would write its lines differently. */
function lineParts(logger: Logger, keys: readonly string[]): LineParts | undefined {
  const s = pino.symbols as unknown as Record<string, symbol>;
  const at = (name: string): unknown => {
    const sym = s[name];
    return sym === undefined ? undefined : (logger as unknown as PinoInternals)[sym];
  };
  const stream = at('streamSym') as (DestinationStream & PinoInternals) | undefined;
  const hooks = (at('hooksSym') ?? {}) as { logMethod?: unknown; streamWrite?: unknown };
  const serializers = (at('serializersSym') ?? {}) as Record<string, unknown>;
  const stringifiers = (at('stringifiersSym') ?? {}) as Record<string | symbol, unknown>;
  const wildcard = s['wildcardFirstSym'];
  const changesLines = [
    at('mixinSym'),
    (at('formattersSym') as { log?: unknown } | undefined)?.log,
    hooks.logMethod,
    hooks.streamWrite,
    at('msgPrefixSym'),
    at('nestedKeySym'),
    stream?.[Symbol.for('pino.metadata')],
    wildcard === undefined ? undefined : stringifiers[wildcard],
    ...keys.flatMap((key) => [serializers[key], stringifiers[key]]),
  ].some(Boolean);
  const start = (at('lsCacheSym') as Record<number, string> | undefined)?.[logger.levels.values['info'] ?? 30];
  const time = at('timeSym');
  const end = at('endSym');
  const complete = [start, end].every((text) => typeof text === 'string') && typeof time === 'function';
  if (changesLines || !complete || typeof stream?.write !== 'function') return undefined;
  const messageKey = JSON.stringify(at('messageKeySym') ?? 'msg');
  return { stream, start: start as string, time: time as () => string, end: end as string, messageKey };
}

/** Sleeps synchronously (the wait of a synchronous writer whose pipe is full for now). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A writer of one info line with fixed keys and string values, for a line written on every request of a hot path
 * (the webhook's admission line): the bytes `logger.info(values, msg)` writes, in the same order (level, time, the
 * logger's bindings, the values in `keys` order, msg), to the logger's own stream, serialized directly instead of
 * through pino's generic walk (which allocated ~4 KB and cost ~15 % of a review at saturation, issue 10's notes).
 * On a LineBatch (the webhook's stdout) the line is written in pieces straight into the batch's bytes: no string is
 * built for it (~1.4 KB of garbage per admission line, a tenth of what a Deployment review allocated, issue 10's
 * notes). On another stream the lines of one turn of the event loop go together, in one write right after the turn
 * (setImmediate; at exit, at once): the stream's own cost per write is paid once per turn. Undefined values are left
 * out, as pino leaves them out. It reads the parts pino exposes in `pino.symbols`; a logger whose lines it cannot
 * reproduce (formatters of the log object, a mixin, hooks, a message prefix, a nested
 * key, serializers or redaction of these keys, a stream that wants metadata) gets `logger.info` itself.
 */
export function infoLineWriter<K extends string>(
  logger: Logger,
  keys: readonly K[],
): (values: Readonly<Partial<Record<K, string>>>, msg: string) => void {
  const parts = lineParts(logger, keys);
  if (!parts) return (values, msg) => logger.info(values as object, msg);
  const { stream, start, time, end, messageKey } = parts;
  const p = logger as unknown as PinoInternals;
  const s = pino.symbols as unknown as Record<string, symbol>;
  const level = logger.levels.values['info'] ?? 30;
  const quoted = keys.map((key) => `,${JSON.stringify(key)}:`);
  const chindings = s['chindingsSym'] as symbol;
  if (stream instanceof LineBatch) {
    const messageStart = `,${messageKey}:`;
    return (values, msg) => {
      const bytes = stream.writer;
      if (logger.levelVal > level || !bytes) return;
      const mark = bytes.length;
      try {
        // The bindings are read per line: a child's bindings may change (logger.setBindings).
        bytes
          .text(start)
          .text(time.call(logger))
          .text(p[chindings] as string);
        for (let i = 0; i < keys.length; i++) {
          const value: unknown = values[keys[i] as K];
          if (isLeftOut(value)) continue;
          // A value that is not a string after all (a request's fields come from its sender): as pino writes it.
          bytes.text(quoted[i] as string);
          if (typeof value === 'string') bytes.string(value);
          else bytes.value(value);
        }
        bytes.text(messageStart).string(msg).text(end);
      } catch (err) {
        bytes.truncate(mark); // no half line in the log
        throw err;
      }
      stream.written();
    };
  }
  let pending = '';
  const flush = (atExit = false): void => {
    const lines = pending;
    pending = '';
    unflushed.delete(flush);
    if (lines !== '') stream.write(lines);
    // At exit the stream's own final flush may have run already (pino's): its buffer is written now.
    if (atExit) {
      try {
        (stream as { flushSync?: () => void }).flushSync?.();
      } catch {
        // a stream that cannot flush synchronously keeps what it has
      }
    }
  };
  return (values, msg) => {
    if (logger.levelVal > level) return;
    // The bindings are read per line: a child's bindings may change (logger.setBindings).
    let line = start + time.call(logger) + (p[chindings] as string);
    for (let i = 0; i < keys.length; i++) {
      const value: unknown = values[keys[i] as K];
      if (isLeftOut(value)) continue;
      // A denial's message: escaped once for the answer and this line. A value not a string: as pino writes it.
      line += quoted[i] + (typeof value === 'string' ? jsonString(value) : JSON.stringify(value));
    }
    if (pending === '') {
      setImmediate(flush, false);
      holdUntilExit(flush);
    }
    pending += line + ',' + messageKey + ':' + jsonString(msg) + end;
  };
}
