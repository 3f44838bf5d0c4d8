// pino JSON logs. The logger is created by the command and passed down; nothing imports a global logger.
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
   * when BATCH_BYTES have gathered or FLUSH_MS have passed, whichever comes first; pino flushes what is left when the
   * process exits. One write per line cost the webhook a fifth of its throughput, and an asynchronous writer's
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
  return pino(config, pino.destination({ dest: 1, sync: true, minLength: BATCH_BYTES, periodicFlush: FLUSH_MS }));
}

/** How much a batched logger gathers before it writes, and how long a line may wait at most. */
export const BATCH_BYTES = 4096;
export const FLUSH_MS = 200;

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
