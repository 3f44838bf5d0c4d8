// One prom-client Registry per process component, created by the command and passed in (never the global one),
// so tests get fresh metrics without module mocking.
import { Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'k8s_ee_';

export function createRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}
