// Admission metrics, registered on the registry the command passes in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../lib/metrics.ts';

export interface AdmissionMetrics {
  requests: Counter<'route' | 'kind' | 'decision'>;
  duration: Histogram<'route'>;
  inFlight: Gauge<'route'>;
  violations: Counter<'rule'>;
  rejected: Counter<'route' | 'status'>;
}

export function createAdmissionMetrics(registry: Registry): AdmissionMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: `${METRIC_PREFIX}admission_requests_total`,
      help: 'Admission requests answered, by route, object kind and decision (allowed, patched, denied, errored).',
      labelNames: ['route', 'kind', 'decision'],
      registers,
    }),
    duration: new Histogram({
      name: `${METRIC_PREFIX}admission_duration_seconds`,
      help: 'Time to answer an admission request, from body received to response written.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    inFlight: new Gauge({
      name: `${METRIC_PREFIX}admission_in_flight`,
      help: 'Admission requests being answered now.',
      labelNames: ['route'],
      registers,
    }),
    violations: new Counter({
      name: `${METRIC_PREFIX}admission_violations_total`,
      help: 'Policy violations found in denied requests, by rule.',
      labelNames: ['rule'],
      registers,
    }),
    rejected: new Counter({
      name: `${METRIC_PREFIX}admission_bad_requests_total`,
      help: 'Requests refused before a decision (malformed body, too large), by route and HTTP status.',
      labelNames: ['route', 'status'],
      registers,
    }),
  };
}
