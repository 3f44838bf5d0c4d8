// Certificate metrics: expiry timestamps (alerts fire on them), renewals, and errors of the manager.
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../lib/metrics.ts';
import type { EnsureResult } from './manager.ts';

export interface CertMetrics {
  expiry: Gauge<'cert'>;
  renewals: Counter<'cert' | 'action'>;
  errors: Counter;
  lastSuccess: Gauge;
}

export function createCertMetrics(registry: Registry): CertMetrics {
  return {
    expiry: new Gauge({
      name: `${METRIC_PREFIX}cert_expiry_timestamp_seconds`,
      help: 'notAfter of the certificate in use (cert="serving" or "ca"), seconds since the epoch',
      labelNames: ['cert'],
      registers: [registry],
    }),
    renewals: new Counter({
      name: `${METRIC_PREFIX}cert_renewals_total`,
      help: 'Certificates created, rotated or re-issued, by certificate and action',
      labelNames: ['cert', 'action'],
      registers: [registry],
    }),
    errors: new Counter({
      name: `${METRIC_PREFIX}cert_errors_total`,
      help: 'Certificate checks that failed (API errors); the next check retries',
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: `${METRIC_PREFIX}cert_last_success_timestamp_seconds`,
      help: 'When the certificates were last checked successfully, seconds since the epoch',
      registers: [registry],
    }),
  };
}

export function observeResult(metrics: CertMetrics, result: EnsureResult, now: Date): void {
  metrics.expiry.set({ cert: 'serving' }, result.serving.notAfter.getTime() / 1000);
  metrics.expiry.set({ cert: 'ca' }, result.ca.notAfter.getTime() / 1000);
  if (result.ca.action.action !== 'keep') metrics.renewals.inc({ cert: 'ca', action: result.ca.action.action });
  if (result.serving.action.action !== 'keep') metrics.renewals.inc({ cert: 'serving', action: 'issue' });
  metrics.lastSuccess.set(now.getTime() / 1000);
}

/** The webhook's view of the certificate it serves (not the Secret's): what a client is shown. */
export interface ServedCertMetrics {
  rejected: Counter<'reason'>;
  expiry: Gauge;
  notBefore: Gauge;
}

export function createServedCertMetrics(
  registry: Registry,
  reasons: readonly string[],
  validNow: () => boolean,
): ServedCertMetrics {
  const rejected = new Counter({
    name: `${METRIC_PREFIX}cert_reload_rejected_total`,
    help: 'Certificate pairs that appeared on disk and were not served because a verifying client would refuse them, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of reasons) rejected.inc({ reason }, 0);
  new Gauge({
    name: `${METRIC_PREFIX}served_cert_valid`,
    help: '1 when the certificate served now is inside its validity window (and that of its CA path) and trusted by the CA bundle, else 0',
    registers: [registry],
    collect() {
      this.set(validNow() ? 1 : 0);
    },
  });
  return {
    rejected,
    expiry: new Gauge({
      name: `${METRIC_PREFIX}served_cert_expiry_timestamp_seconds`,
      help: 'End of the validity of the certificate served now (the earliest notAfter on its path to the CA), seconds since the epoch',
      registers: [registry],
    }),
    notBefore: new Gauge({
      name: `${METRIC_PREFIX}served_cert_not_before_timestamp_seconds`,
      help: 'Start of the validity of the certificate served now (the latest notBefore on its path to the CA), seconds since the epoch',
      registers: [registry],
    }),
  };
}
