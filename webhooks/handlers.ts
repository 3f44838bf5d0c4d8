// The two admission routes. Each dispatches on the request's kind to a small per-concern handler; the reasons to
// skip a request are an ordered list of predicates, and the first that applies is the answer.
import { validateBaselineChange } from '../policies/baseline-guard.ts';
import { validateAppNetworkPolicy } from '../policies/app-network-policy.ts';
import { validateIngress, validateRouteHostnames, validateService } from '../policies/exposure.ts';
import { matchNamespace, type ManagedNamespace } from '../policies/namespace.ts';
import { mutateNamespace, pinAppears, validateNamespace, type NamespaceChange } from '../policies/namespace-labels.ts';
import { ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { clone, isObj, metadataOf, nameOf, str } from '../policies/objects.ts';
import type { Violation } from '../policies/violation.ts';
import { validateEnvironment } from './environment.ts';
import { mutatePodCarrier, POD_CARRIERS, validatePodCarrier } from './pods.ts';
import {
  allow,
  deny,
  mutate,
  type AdmissionRequest,
  type Decision,
  type Handler,
  type HandlerContext,
} from './types.ts';

type KindHandler = (
  request: AdmissionRequest,
  ns: ManagedNamespace,
  context: HandlerContext,
) => Decision | Promise<Decision>;

const denyAll = (violations: Violation[]): Decision => (violations.length > 0 ? deny('denied', violations) : allow());

/** The managed namespace a request is about: the Namespace object itself, or the namespace of a namespaced one. */
function managedNamespaceOf(request: AdmissionRequest, context: HandlerContext): ManagedNamespace | undefined {
  if (request.kind.kind === 'Namespace' && request.kind.group === '') {
    return matchNamespace(request.name || nameOf(request.object) || nameOf(request.oldObject), context.config);
  }
  // The API server always sets request.namespace; a hand-made review may only carry it in the object.
  const namespace =
    request.namespace ||
    str(metadataOf(request.object)['namespace']) ||
    str(metadataOf(request.oldObject)['namespace']);
  return matchNamespace(namespace, context.config);
}

function namespaceChange(request: AdmissionRequest, ns: ManagedNamespace): NamespaceChange | undefined {
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !isObj(request.object)) return undefined;
  return { ns, operation: request.operation, object: request.object, oldObject: request.oldObject };
}

const mutateNamespaceHandler: KindHandler = (request, ns, context) => {
  const change = namespaceChange(request, ns);
  if (!change) return allow();
  const mutated = clone(change.object);
  mutateNamespace({ ...change, object: mutated }, context.config, context.now());
  return mutate(mutated);
};

async function pinLimit(change: NamespaceChange, dryRun: boolean, context: HandlerContext): Promise<Violation[]> {
  const { pins } = context.config;
  if (!pinAppears(change, context.config) || !context.cluster) return [];
  const reserved = await context.cluster.reservePin(change.ns.name, pins.maxPinned, { dryRun });
  if (reserved.ok) return [];
  return [
    {
      rule: 'pins',
      path: `metadata.labels["${pins.label}"]`,
      message: `at most ${pins.maxPinned} PR environments may be pinned at once; pinned now: ${reserved.pinned.join(', ')}`,
      fix: `unpin one first (kubectl label namespace ${reserved.pinned[0] ?? 'NAME'} ${pins.label}-), or let a pin expire (pins last ${pins.maxDuration})`,
    },
  ];
}

const validateNamespaceHandler: KindHandler = async (request, ns, context) => {
  const change = namespaceChange(request, ns);
  if (!change) return allow();
  const violations = validateNamespace(change, request.userInfo, context.config);
  // A pin is reserved only for a change that is otherwise admitted.
  if (violations.length > 0) return denyAll(violations);
  return denyAll(await pinLimit(change, request.dryRun === true, context));
};

function writes(request: AdmissionRequest): boolean {
  return request.operation === 'CREATE' || request.operation === 'UPDATE';
}

const validateGuarded: KindHandler = (request, ns, context) => {
  const name = request.name || nameOf(request.object) || nameOf(request.oldObject);
  const guard = validateBaselineChange(
    { kind: request.kind.kind, name, operation: request.operation, user: request.userInfo },
    context.config,
  );
  if (guard.length > 0 || request.kind.kind !== 'NetworkPolicy' || !writes(request)) return denyAll(guard);
  if (
    validateBaselineChange({ kind: 'NetworkPolicy', name, operation: request.operation, user: {} }, context.config)
      .length > 0
  )
    return allow(); // k8s-ee's own policy
  return denyAll(validateAppNetworkPolicy(request.object, ns.name, context.config));
};

const onWrite =
  (check: (object: unknown, namespace: string, context: HandlerContext) => Violation[]): KindHandler =>
  (request, ns, context) =>
    writes(request) ? denyAll(check(request.object, ns.name, context)) : allow();

const validateConfigMap: KindHandler = (request, _ns, context) => {
  if (!writes(request) || nameOf(request.object) !== ENVIRONMENT_CONFIGMAP) return allow();
  return denyAll(validateEnvironment(request.object, context.config));
};

const MUTATORS: Record<string, KindHandler> = { Namespace: mutateNamespaceHandler };
const VALIDATORS: Record<string, KindHandler> = {
  Namespace: validateNamespaceHandler,
  ResourceQuota: validateGuarded,
  LimitRange: validateGuarded,
  NetworkPolicy: validateGuarded,
  Service: onWrite((o, ns, c) => validateService(o, ns, c.config)),
  Ingress: onWrite((o, ns, c) => validateIngress(o, ns, c.config)),
  HTTPRoute: onWrite((o, ns, c) => validateRouteHostnames(o, ns, c.config)),
  GRPCRoute: onWrite((o, ns, c) => validateRouteHostnames(o, ns, c.config)),
  ConfigMap: validateConfigMap,
};
for (const kind of POD_CARRIERS) {
  MUTATORS[kind] = mutatePodCarrier;
  VALIDATORS[kind] = validatePodCarrier;
}

/** Reasons to let a request through untouched, in order; the first that applies wins. */
const SKIPS: { reason: string; applies: (r: AdmissionRequest) => boolean }[] = [
  { reason: 'connect operations (exec, attach, port-forward)', applies: (r) => r.operation === 'CONNECT' },
  {
    reason: 'status or scale subresource',
    applies: (r) => r.subResource !== undefined && r.subResource !== '' && r.subResource !== 'ephemeralcontainers',
  },
];

function route(table: Record<string, KindHandler>): Handler {
  return (request, context) => {
    const handler = table[request.kind.kind];
    if (!handler || SKIPS.some((s) => s.applies(request))) return allow();
    const ns = managedNamespaceOf(request, context);
    if (!ns) return allow();
    return handler(request, ns, context);
  };
}

export const mutateHandler: Handler = route(MUTATORS);
export const validateHandler: Handler = route(VALIDATORS);
