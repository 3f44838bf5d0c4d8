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
