// Small network helpers for the control plane: free ports on 127.0.0.1 and HTTPS GETs with client certificates.
import { request } from 'node:https';
import { createServer } from 'node:net';

/** A port that is free on 127.0.0.1 right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

/** Distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export interface TlsClient {
  ca: string;
  cert?: string;
  key?: string;
}

/** GET over HTTPS; resolves with the status and body, rejects on connection errors and after `timeoutMs`. */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: 'GET', ...tls, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${String(timeoutMs)} ms`)));
    req.on('error', reject);
    req.end();
  });
}
