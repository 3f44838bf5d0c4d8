// HTTPS with certificates that are re-read when their files change (a Secret volume update, a rotation):
// the server swaps its secure context in place, so open connections and the listening socket are untouched.
// A pair is swapped in only when a verifying client would accept it now (certs/served.ts: key matches, dates of
// the leaf and its CA path, path to the CA bundle); otherwise the current pair keeps serving, and the refusal is
// logged (file, reason, dates) and counted. At start-up a pair that would be refused is an error. The served
// certificate's own health (it can expire while served) is what readiness and k8s_ee_served_cert_valid report.
import { createHash } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { ServedCertMetrics } from '../certs/metrics.ts';
import {
  checkServingPair,
  datesProblem,
  inspectPair,
  type Inspection,
  type InspectedPair,
  type PairNames,
  type Rejection,
} from '../certs/served.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The CA bundle clients verify with (the injected caBundle); a missing or empty file: the path is not checked. */
  caFile?: string;
}

export type TlsHealth = { ok: true } | { ok: false; message: string };

export interface ReloadingServer {
  server: Server;
  /** Re-reads the files now; resolves true when a new certificate is served. */
  reload(): Promise<boolean>;
  /** Whether a verifying client accepts the served certificate at this moment, and if not why (one line). */
  health(): TlsHealth;
  /** The certificate served now. */
  served(): InspectedPair;
  close(): Promise<void>;
}

export interface ReloadOptions {
  log: Logger;
  now: () => Date;
  metrics?: ServedCertMetrics;
  pollMs?: number;
  /** How long a refused pair may settle (a rotation writes the files one by one) before it is reported. */
  settleMs?: number;
  onReload?: () => void;
  /**
   * Serves each connection itself once its TLS handshake is done (webhooks/http1.ts), instead of node:http with
   * `listener`; `closeConnections` ends them at close (idle ones at once, busy ones after their answer).
   */
  connections?: { serve(socket: TLSSocket): void; closeConnections(): void };
}

/** A pair refused at start-up: the message is one line naming the file, the reason and the dates. */
export class TlsPairError extends Error {
  readonly rejection: Rejection;
  constructor(rejection: Rejection) {
    super(rejection.message);
    this.name = 'TlsPairError';
    this.rejection = rejection;
  }
}

interface Texts {
  cert: Buffer;
  key: Buffer;
  ca: string | undefined;
  digest: string;
}

function names(files: TlsFiles): PairNames {
  return { cert: files.certFile, key: files.keyFile, ...(files.caFile ? { ca: files.caFile } : {}) };
}

async function readOne(path: string, what: string): Promise<Buffer | Rejection> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { reason: 'unreadable', message: `${path}: cannot read the ${what}${code ? ` (${code})` : ''}` };
  }
}

async function readTexts(files: TlsFiles): Promise<Texts | Rejection> {
  const cert = await readOne(files.certFile, 'certificate');
  if ('reason' in cert) return cert;
  const key = await readOne(files.keyFile, 'private key');
  if ('reason' in key) return key;
  let ca: string | undefined;
  if (files.caFile) {
    try {
      ca = await readFile(files.caFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        return {
          reason: 'unreadable',
          message: `${files.caFile}: cannot read the CA bundle${code ? ` (${code})` : ''}`,
        };
      }
    }
  }
  const digest = createHash('sha256')
    .update(cert)
    .update('\0')
    .update(key)
    .update('\0')
    .update(ca ?? '')
    .digest('hex');
  return { cert, key, ca, digest };
}

/** The full check, and OpenSSL's own (it refuses what it cannot load, e.g. a key type it does not support). */
async function check(texts: Texts, files: TlsFiles, now: Date): Promise<InspectedPair | Rejection> {
  const verdict = await checkServingPair(
    { certPem: texts.cert.toString('utf8'), keyPem: texts.key.toString('utf8'), caPem: texts.ca },
    names(files),
    now,
  );
  if (!verdict.ok) return verdict;
  try {
    createSecureContext({ cert: texts.cert, key: texts.key });
  } catch (err) {
    return { reason: 'malformed', message: `${files.certFile} and ${files.keyFile}: ${(err as Error).message}` };
  }
  return verdict.pair;
}

/** A pair not valid for longer than this is looked at again after this long (and again, while unchanged). */
const MAX_RETRY_MS = 6 * 3_600_000;

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

const keyOf = (texts: Texts | Rejection): string => ('reason' in texts ? `unreadable:${texts.message}` : texts.digest);

/** The pair being served, what it looks like against the CA bundle on disk, and the last files judged. */
class ServedPair {
  private served: { texts: Texts; pair: InspectedPair };
  /** The served pair against the CA bundle on disk now (a new bundle can stop trusting it). */
  private trust: Inspection;
  private seen: string;
  private readonly files: TlsFiles;
  private readonly options: ReloadOptions;
  private readonly swap: (texts: Texts) => void;
  private readonly retryAt: (at: Date) => void;

  constructor(
    first: Texts,
    pair: InspectedPair,
    files: TlsFiles,
    options: ReloadOptions,
    hooks: { swap: (texts: Texts) => void; retryAt: (at: Date) => void },
  ) {
    this.files = files;
    this.options = options;
    this.swap = hooks.swap;
    this.retryAt = hooks.retryAt;
    this.served = { texts: first, pair };
    this.trust = { ok: true, pair };
    this.seen = first.digest;
    this.observe(pair);
  }

  /** Judge the files again even if they have not changed (a pair refused as not yet valid may be valid now). */
  forget(): void {
    this.seen = '';
  }

  current(): InspectedPair {
    return this.trust.ok ? this.trust.pair : this.served.pair;
  }

  health(): TlsHealth {
    const problem = this.trust.ok
      ? datesProblem(this.trust.pair, this.options.now(), names(this.files))
      : { message: this.trust.message };
    return problem
      ? { ok: false, message: `the served certificate is refused by clients: ${problem.message}` }
      : { ok: true };
  }

  private observe(pair: InspectedPair): void {
    this.options.metrics?.expiry.set(pair.window.notAfter.getTime() / 1000);
    this.options.metrics?.notBefore.set(pair.window.notBefore.getTime() / 1000);
  }

  private judge(texts: Texts | Rejection): Promise<InspectedPair | Rejection> | Rejection {
    return 'reason' in texts ? texts : check(texts, this.files, this.options.now());
  }

  /** Reads the files; serves them if a client would accept them, else keeps the current pair and reports. */
  async attempt(): Promise<boolean> {
    let texts = await readTexts(this.files);
    if (keyOf(texts) === this.seen) return false;
    let result = await this.judge(texts);
    // A rotation writes the files one after another: give a refused pair a moment, and judge what it became.
    for (let tries = 0; tries < 3 && 'reason' in result; tries++) {
      await sleep(this.options.settleMs ?? 500);
      const again = await readTexts(this.files);
      if (keyOf(again) === keyOf(texts)) break;
      texts = again;
      if (keyOf(texts) === this.seen) return false;
      result = await this.judge(texts);
    }
    this.seen = keyOf(texts);
    if ('reason' in result) {
      await this.refused(texts, result);
      return false;
    }
    const next = texts as Texts;
    const samePair = next.cert.equals(this.served.texts.cert) && next.key.equals(this.served.texts.key);
    this.served = { texts: next, pair: result };
    this.trust = { ok: true, pair: result };
    this.observe(result);
    if (samePair) return false; // only the CA bundle changed, and it still trusts the served certificate
    this.swap(next);
    this.options.log.info(
      {
        certFile: this.files.certFile,
        subject: result.subject,
        notBefore: iso(result.leaf.notBefore),
        notAfter: iso(result.leaf.notAfter),
      },
      'TLS certificate reloaded',
    );
    this.options.onReload?.();
    return true;
  }

  private async refused(texts: Texts | Rejection, result: Rejection): Promise<void> {
    const { files } = this;
    if (!('reason' in texts) && texts.ca !== this.served.texts.ca) {
      const { cert, key } = this.served.texts;
      this.trust = await inspectPair(
        { certPem: cert.toString('utf8'), keyPem: key.toString('utf8'), caPem: texts.ca },
        names(files),
      );
      if (this.trust.ok) this.observe(this.trust.pair);
    }
    this.options.metrics?.rejected.inc({ reason: result.reason });
    // Not valid yet (a clock a little behind the issuer's): look again once it is, without waiting for a change.
    if (result.notBefore && result.notBefore.getTime() > this.options.now().getTime()) {
      if (result.reason === 'not_yet_valid' || result.reason === 'ca_not_valid') this.retryAt(result.notBefore);
    }
    const serving = this.current();
    this.options.log.warn(
      {
        certFile: files.certFile,
        keyFile: files.keyFile,
        caFile: files.caFile,
        reason: result.reason,
        notBefore: iso(result.notBefore),
        notAfter: iso(result.notAfter),
        err: result.message,
        serving: { subject: serving.subject, notAfter: iso(serving.window.notAfter) },
      },
      `TLS files changed but were not loaded (${result.reason}): ${result.message}; keeping the current certificate`,
    );
  }
}

/** Loads and checks the pair, then serves it; throws TlsPairError when a verifying client would refuse it. */
export async function startReloadingServer(
  listener: RequestListener,
  files: TlsFiles,
  options: ReloadOptions,
): Promise<ReloadingServer> {
  const first = await readTexts(files);
  if ('reason' in first) throw new TlsPairError(first);
  const firstPair = await check(first, files, options.now());
  if ('reason' in firstPair) throw new TlsPairError(firstPair);
  if (files.caFile && !firstPair.trustChecked) {
    options.log.warn({ caFile: files.caFile }, 'no CA bundle in the CA file; the certificate path is not checked');
  }
  const server = createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, listener);
  server.keepAliveTimeout = 60_000;
  const connections = options.connections;
  if (connections) {
    // https.Server hands each TLS connection to node:http on this event: ours serves it instead.
    server.removeAllListeners('secureConnection');
    server.on('secureConnection', (socket: TLSSocket) => connections.serve(socket));
  }
  let retryTimer: NodeJS.Timeout | undefined;
  const state = new ServedPair(first, firstPair, files, options, {
    swap: (next) => server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' }),
    retryAt: (at) => {
      if (retryTimer) clearTimeout(retryTimer);
      const delay = Math.min(at.getTime() - options.now().getTime() + 1000, MAX_RETRY_MS);
      retryTimer = setTimeout(() => {
        state.forget();
        void reload();
      }, delay);
      retryTimer.unref();
    },
  });

  // One reload at a time; a change seen during one runs another after it.
  let queue: Promise<boolean> = Promise.resolve(false);
  const reload = (): Promise<boolean> => {
    const run = (): Promise<boolean> => state.attempt();
    queue = queue.then(run, run).catch((err: unknown) => {
      options.log.error({ err: (err as Error).message }, 'TLS reload failed; keeping the current certificate');
      return false;
    });
    return queue;
  };

  const interval = options.pollMs ?? 2000;
  const onChange = (): void => void reload();
  const watched = [files.certFile, files.keyFile, ...(files.caFile ? [files.caFile] : [])];
  for (const file of watched) watchFile(file, { interval, persistent: false }, onChange);
  const close = async (): Promise<void> => {
    for (const file of watched) unwatchFile(file, onChange);
    if (retryTimer) clearTimeout(retryTimer);
    await queue;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      connections?.closeConnections();
    });
  };
  return { server, reload, health: () => state.health(), served: () => state.current(), close };
}
