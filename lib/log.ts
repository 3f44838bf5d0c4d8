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
   * Write stdout asynchronously (a server on a hot path): lines written while a write is in flight go out
   * together, nothing waits; pino flushes what is left when the process exits.
   */
  async?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env['K8S_EE_LOG_LEVEL'] ?? 'info';
  const base = { name: options.name ?? 'k8s-ee' };
  const config = { level, base, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (options.destination) return pino(config, options.destination);
  return options.async ? pino(config, pino.destination({ dest: 1, sync: false })) : pino(config);
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
