// The certificate watcher: checks the certificates every interval (and sooner after an error), keeps the
// files in the shared directory in step with the Secret, and reports readiness only once the certificate is
// in place, valid, and its CA injected into every named webhook configuration.
import type { Logger } from '../lib/log.ts';
import type { CertsClient } from './client.ts';
import { describeRef } from './client.ts';
import { syncCertFiles } from './files.ts';
import { ensureCerts, type EnsureResult, type ManagerOptions } from './manager.ts';
import { observeResult, type CertMetrics } from './metrics.ts';
import { isValidAt, notBefore } from './validity.ts';

export interface WatcherOptions {
  client: CertsClient;
  manager: ManagerOptions;
  /** Where the webhook reads tls.crt/tls.key/ca.crt; omitted: the Secret is the only output. */
  certDir?: string;
  intervalMs: number;
  /** Delay before retrying after a failed or incomplete check (default: min(interval, 5 s)). */
  retryMs?: number;
  now: () => Date;
  log: Logger;
  metrics: CertMetrics;
}

export interface CertWatcher {
  /** True once the certificate is in place and trusted by every webhook configuration, and still valid. */
  ready(): boolean;
  /** true, or why not (one line: the body of /readyz). */
  readiness(): true | string;
  /** Runs one check now (joins a check already running). */
  check(): Promise<EnsureResult | undefined>;
  stop(): Promise<void>;
}

/** One check: ensure, write the files, record metrics. Errors are logged and counted, never thrown. */
export async function checkOnce(opts: Omit<WatcherOptions, 'intervalMs'>): Promise<EnsureResult | undefined> {
  const now = opts.now();
  try {
    const result = await ensureCerts(opts.client, opts.manager, now);
    if (opts.certDir) {
      const changed = await syncCertFiles(opts.certDir, { ...result.serving, caBundle: result.caBundle });
      if (changed.length > 0) opts.log.info({ dir: opts.certDir, files: changed }, 'certificate files written');
    }
    for (const action of result.actions) opts.log.info({ secret: opts.manager.secretName }, action);
    for (const w of result.webhooks.filter((x) => x.status === 'not-found')) {
      opts.log.warn(
        { webhookConfiguration: describeRef(w.ref) },
        'webhook configuration not found; caBundle not injected yet',
      );
    }
    observeResult(opts.metrics, result, now);
    return result;
  } catch (err) {
    opts.metrics.errors.inc();
    opts.log.error({ err: (err as Error).message }, 'certificate check failed; will retry');
    return undefined;
  }
}

/** true, or why not. */
export function readiness(result: EnsureResult | undefined, now: Date): true | string {
  if (!result) return 'no successful certificate check yet (see the logs)';
  const missing = result.webhooks.filter((w) => w.status === 'not-found').map((w) => describeRef(w.ref));
  if (missing.length > 0) return `caBundle not injected yet: ${missing.join(', ')} not found`;
  if (!isValidAt(result.serving.certPem, now)) {
    return `the serving certificate is outside its validity (${notBefore(result.serving.certPem).toISOString()} to ${result.serving.notAfter.toISOString()}; now ${now.toISOString()})`;
  }
  return true;
}

export function isReady(result: EnsureResult | undefined, now: Date): boolean {
  return readiness(result, now) === true;
}

export function startCertWatcher(opts: WatcherOptions): CertWatcher {
  let last: EnsureResult | undefined;
  let running: Promise<EnsureResult | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const retryMs = opts.retryMs ?? Math.min(opts.intervalMs, 5_000);

  const check = (): Promise<EnsureResult | undefined> => {
    running ??= checkOnce(opts).then((result) => {
      running = undefined;
      if (result) last = result;
      // Sooner after an error, and while a webhook configuration is still missing (first install: Helm creates
      // the configurations after the Deployment).
      const complete = result?.webhooks.every((w) => w.status !== 'not-found') ?? false;
      schedule(complete ? opts.intervalMs : retryMs);
      return result;
    });
    return running;
  };
  const schedule = (ms: number): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void check(), ms);
  };
  void check();
  return {
    ready: () => isReady(last, opts.now()),
    readiness: () => readiness(last, opts.now()),
    check,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
