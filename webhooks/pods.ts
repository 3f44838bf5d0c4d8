// Pods and every kind that carries a pod template: security defaults on the way in (mutate), the Pod Security
// Standards `restricted` profile and the zero-window baseline gate on the way through (validate).
import { applyPodDefaults } from '../policies/pod-defaults.ts';
import { POD_KINDS, podTemplatesOf, withPodTemplates } from '../policies/pod-templates.ts';
import { checkRestricted } from '../policies/pss.ts';
import type { ManagedNamespace } from '../policies/namespace.ts';
import { allow, deny, mutate, type AdmissionRequest, type Decision, type HandlerContext } from './types.ts';

export const POD_CARRIERS: readonly string[] = POD_KINDS;

function isPodUpdate(request: AdmissionRequest): boolean {
  return request.kind.kind === 'Pod' && request.operation === 'UPDATE';
}

function securityViolations(object: unknown, request: AdmissionRequest, context: HandlerContext) {
  // Located by the request's kind: an object is judged as what the API server says it is, not as it labels itself.
  return podTemplatesOf(object, request.kind).flatMap((t) =>
    checkRestricted(t.spec, t.metadata, t.specPath, context.config.podSecurity.version),
  );
}

/**
 * Defaults first, then the verdict on the defaulted object, then the baseline gate. Refusing here, in the mutating
 * phase, matters: the API server's own PodSecurity admission runs before validating webhooks, so a bare Pod refused
 * only there would show its terse message instead of ours with field paths and fixes. The gate runs here too
 * because ValidatingAdmissionPolicies (policies/vap.ts) need the namespace's baseline stamp before they evaluate.
 */
export function mutatePodCarrier(
  request: AdmissionRequest,
  ns: ManagedNamespace,
  context: HandlerContext,
): Decision | Promise<Decision> {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allow();
  // A Pod's spec is immutable once created: only new pods (and new or updated templates) get defaults.
  if (isPodUpdate(request)) return allow();
  // An UPDATE that leaves the templates alone (scaling, a controller's bookkeeping) is not touched: some
  // templates (a Job's) are immutable, and an unasked-for change would make the API server refuse the update.
  if (request.operation === 'UPDATE' && !templatesChanged(request)) return allow();
  const mutated = withPodTemplates(
    request.object,
    (spec, metadata) => applyPodDefaults(spec, metadata, ns, context.config),
    request.kind,
  );
  const violations = securityViolations(mutated, request, context);
  if (violations.length > 0) return deny('denied', violations);
  const gated = gate(request, ns, context);
  const decided = (g: Decision): Decision => (g.allowed ? mutate(mutated) : g);
  return gated instanceof Promise ? gated.then(decided) : decided(gated);
}

function templatesChanged(request: AdmissionRequest): boolean {
  const templates = (object: unknown) =>
    JSON.stringify(podTemplatesOf(object, request.kind).map((t) => [t.spec, t.metadata?.['annotations']]));
  const before = templates(request.oldObject);
  const after = templates(request.object);
  return before !== after;
}

function needsSecurityCheck(request: AdmissionRequest): boolean {
  if (request.operation === 'CREATE') return true;
  if (request.operation !== 'UPDATE') return false;
  if (request.kind.kind === 'Pod') return request.subResource === 'ephemeralcontainers';
  return templatesChanged(request); // scaling or relabelling an existing workload is not re-judged
}

/** The zero-window gate: synchronous (no promise) when there is nothing to wait for. */
function gate(request: AdmissionRequest, ns: ManagedNamespace, context: HandlerContext): Decision | Promise<Decision> {
  if (request.operation !== 'CREATE' || !context.cluster) return allow();
  return context.cluster
    .ensureBaseline(ns.name, { dryRun: request.dryRun === true })
    .then((result) => (result.ok ? allow() : notYet(request, ns, result.reason)));
}

function notYet(request: AdmissionRequest, ns: ManagedNamespace, reason: string): Decision {
  return {
    allowed: false,
    code: 503,
    reason: 'ServiceUnavailable',
    message: `k8s-ee cannot admit ${request.kind.kind}/${request.name ?? ''} yet: the baseline of ${ns.name} (quota, limits, network policies) is not in place: ${reason}. Nothing is wrong with your manifest: retry in a few seconds (run helm upgrade --install again).`,
  };
}

export function validatePodCarrier(
  request: AdmissionRequest,
  ns: ManagedNamespace,
  context: HandlerContext,
): Decision | Promise<Decision> {
  if (!needsSecurityCheck(request)) return allow();
  const violations = securityViolations(request.object, request, context);
  if (violations.length > 0) return deny('denied', violations);
  return gate(request, ns, context);
}
