// HTTPS with certificates that are re-read when their files change (a Secret volume update, a rotation):
// the server swaps its secure context in place, so open connections and the listening socket are untouched.
import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../lib/log.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ReloadingServer {
  server: Server;
  /** Re-reads the files now; returns true when the certificate changed. */
  reload(): boolean;
  close(): Promise<void>;
}

function readPair(files: TlsFiles): { cert: Buffer; key: Buffer; digest: string } {
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  createSecureContext({ cert, key }); // throws when they do not match or are not PEM
  const digest = createHash('sha256').update(cert).update(key).digest('hex');
  return { cert, key, digest };
}

export function startReloadingServer(
  listener: RequestListener,
  files: TlsFiles,
  options: { log: Logger; pollMs?: number; onReload?: () => void },
): ReloadingServer {
  let current = readPair(files);
  const server = createServer({ cert: current.cert, key: current.key, minVersion: 'TLSv1.2' }, listener);
  server.keepAliveTimeout = 60_000;
  const reload = (): boolean => {
    try {
      const next = readPair(files);
      if (next.digest === current.digest) return false;
      server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
      current = next;
      options.log.info({ certFile: files.certFile }, 'TLS certificate reloaded');
      options.onReload?.();
      return true;
    } catch (err) {
      // A half-written pair (cert updated, key not yet) is normal during a rotation: keep serving the old one.
      options.log.warn(
        { err: (err as Error).message },
        'TLS files changed but could not be loaded; keeping the current certificate',
      );
      return false;
    }
  };
  const interval = options.pollMs ?? 2000;
  const onChange = (): void => void reload();
  watchFile(files.certFile, { interval, persistent: false }, onChange);
  watchFile(files.keyFile, { interval, persistent: false }, onChange);
  const close = (): Promise<void> => {
    unwatchFile(files.certFile, onChange);
    unwatchFile(files.keyFile, onChange);
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  };
  return { server, reload, close };
}
