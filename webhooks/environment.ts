// The environment ConfigMap (which databases this PR declares): validated by the baseline module's rules, and gated
// so that the quota it implies is in place before it is admitted (policies/environment-pending.ts).
import { validateEnvironmentConfigMap } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import type { ManagedNamespace } from '../policies/namespace.ts';
import type { Violation } from '../policies/violation.ts';
import { allow, type AdmissionRequest, type Decision, type HandlerContext } from './types.ts';

export function validateEnvironment(object: unknown, _config: Config): Violation[] {
  return validateEnvironmentConfigMap(object);
}

/**
 * Holds the ConfigMap until the quota it implies is in place; refuses with a retry hint when that cannot be done
 * (the objects helm creates next would otherwise be judged against the smaller quota).
 */
export async function environmentGate(
  object: unknown,
  request: AdmissionRequest,
  ns: ManagedNamespace,
  context: HandlerContext,
): Promise<Decision> {
  if (!context.cluster?.ensureEnvironment) return allow();
  const result = await context.cluster.ensureEnvironment(ns.name, object, { dryRun: request.dryRun === true });
  if (result.ok) return allow();
  return {
    allowed: false,
    code: 503,
    reason: 'ServiceUnavailable',
    message: `k8s-ee cannot admit ConfigMap/${request.name ?? ''} yet: the quota of ${ns.name} for the databases it declares is not in place: ${result.reason}. Nothing is wrong with your manifest: retry in a few seconds (run helm upgrade --install again).`,
  };
}
