// The two admission routes. Each dispatches on the request's kind to a small per-concern handler; the reasons to
// skip a request are an ordered list of predicates, and the first that applies is the answer.
import { validateBaselineChange } from '../policies/baseline-guard.ts';
import { validateAppNetworkPolicy } from '../policies/app-network-policy.ts';
import { validateIngress, validateRouteHostnames, validateService } from '../policies/exposure.ts';
import { matchNamespace, type ManagedNamespace } from '../policies/namespace.ts';
import {
  isPinned,
  mutateNamespace,
  pinAppears,
  validateNamespace,
  type NamespaceChange,
} from '../policies/namespace-labels.ts';
import { isPlatform } from '../policies/identity.ts';
import { ENVIRONMENT_CONFIGMAP } from '../policies/names.ts';
import { clone, isObj, metadataOf, nameOf, obj, str } from '../policies/objects.ts';
import { shapeViolations } from '../policies/shapes.ts';
import { violation, type Violation } from '../policies/violation.ts';
import { environmentGate, validateEnvironment } from './environment.ts';
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
  const pending = reserved.pending ?? 0;
  const names = reserved.pinned.length > 0 ? reserved.pinned.join(', ') : 'none yet';
  const granting = pending > 0 ? ` (and ${pending} being pinned at this moment)` : '';
  return [
    {
      rule: 'pins',
      path: `metadata.labels["${pins.label}"]`,
      message: `at most ${pins.maxPinned} PR environments may be pinned at once; pinned now: ${names}${granting}`,
      fix:
        reserved.pinned.length > 0
          ? `unpin one first (kubectl label namespace ${reserved.pinned[0]} ${pins.label}-), or let a pin expire (pins last ${pins.maxDuration})`
          : `retry in a few seconds: the pins being granted now may not all be stored; then unpin one first if need be`,
    },
  ];
}

/**
 * The capacity gate (webhooks/capacity.ts): a new PR environment, or an environment ConfigMap that grows the quota,
 * must fit. Platform identities may go past it.
 */
async function capacity(
  request: AdmissionRequest,
  ns: ManagedNamespace,
  configMap: unknown,
  context: HandlerContext,
): Promise<Violation[]> {
  if (!context.cluster?.reserveCapacity || isPlatform(request.userInfo, context.config)) return [];
  const grant = await context.cluster.reserveCapacity(ns.name, configMap, { dryRun: request.dryRun === true });
  return grant.ok ? [] : [grant.violation];
}

const validateNamespaceHandler: KindHandler = async (request, ns, context) => {
  const change = namespaceChange(request, ns);
  if (!change) return allow();
  const violations = validateNamespace(change, request.userInfo, context.config, context.now());
  // A pin (and room for the environment) is reserved only for a change that is otherwise admitted.
  if (violations.length > 0) return denyAll(violations);
  if (change.operation === 'CREATE') {
    const room = await capacity(request, ns, undefined, context);
    if (room.length > 0) return denyAll(room);
  }
  if (pinGoes(change, context.config) && request.dryRun !== true) await releasePin(change.ns.name, context);
  return denyAll(await pinLimit(change, request.dryRun === true, context));
};

/** True when this change removes the pin the namespace had. */
const pinGoes = (change: NamespaceChange, config: HandlerContext['config']): boolean =>
  change.operation === 'UPDATE' && isPinned(change.oldObject, config) && !isPinned(change.object, config);

/** Frees the namespace's pin slot for the next pin; a failure only delays that (slots are freed lazily too). */
async function releasePin(namespace: string, context: HandlerContext): Promise<void> {
  try {
    await context.cluster?.releasePin?.(namespace);
  } catch (error) {
    context.log.warn({ err: error, namespace }, 'pins: could not free the pin slot now; it is freed lazily');
  }
}

function writes(request: AdmissionRequest): boolean {
  return request.operation === 'CREATE' || request.operation === 'UPDATE';
}

const validateGuarded: KindHandler = (request, ns, context) => {
  const name = requestName(request);
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

const validateConfigMap: KindHandler = async (request, ns, context) => {
  const name = request.name || nameOf(request.object);
  if (!writes(request) || name !== ENVIRONMENT_CONFIGMAP) return allow();
  // Judged as the object the request names, even when the object leaves its name out.
  const object = { ...obj(request.object), metadata: { ...metadataOf(request.object), name } };
  const violations = validateEnvironment(object, context.config);
  if (violations.length > 0) return denyAll(violations);
  // An environment that grows is judged by the capacity gate like a new one.
  const room = await capacity(request, ns, object, context);
  if (room.length > 0) return denyAll(room);
  // The quota it implies is in place before it is admitted: what helm creates next meets the grown quota.
  return environmentGate(object, request, ns, context);
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
    reason: 'a subresource that writes no field the rules read (status and scale of workloads)',
    applies: (r) => r.subResource !== undefined && r.subResource !== '' && !judgedSubresource(r),
  },
];

/**
 * Subresources judged like the object itself: a pod's ephemeral containers, and a namespace's finalize and status,
 * which store the labels and annotations they carry (so labels and pins cannot be changed through them).
 */
function judgedSubresource(request: AdmissionRequest): boolean {
  if (request.subResource === 'ephemeralcontainers') return true;
  return request.kind.kind === 'Namespace' && (request.subResource === 'finalize' || request.subResource === 'status');
}

/** Kinds whose rules read the name on DELETE (baseline objects are known by name). */
const NAMED_ON_DELETE = new Set(['ResourceQuota', 'LimitRange', 'NetworkPolicy']);

function apiVersionOf(kind: AdmissionRequest['kind']): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** An object that calls itself another kind (or version) than the request says is not judged as either. */
function identityViolations(request: AdmissionRequest, object: unknown, root: string): Violation[] {
  if (!isObj(object)) return [];
  const expected = { kind: request.kind.kind, apiVersion: apiVersionOf(request.kind) };
  const agrees = (key: 'kind' | 'apiVersion'): boolean => object[key] === undefined || object[key] === expected[key];
  if (agrees('kind') && agrees('apiVersion')) return []; // every admission: no list built for nothing
  return (['kind', 'apiVersion'] as const).flatMap((key) => {
    if (agrees(key)) return [];
    const value = object[key];
    return [
      violation(
        'shape',
        root ? `${root}.${key}` : key,
        `is ${JSON.stringify(value)}, but the request is for ${expected.apiVersion} ${expected.kind}`,
        `send the object the request is about (${key}: ${expected[key]})`,
      ),
    ];
  });
}

/** The object must be the one the request names (rules read one or the other). */
function nameViolations(request: AdmissionRequest, object: unknown, root: string): Violation[] {
  const name = metadataOf(object)['name'];
  if (!request.name || name === undefined || name === request.name) return [];
  return [
    violation(
      'shape',
      root ? `${root}.metadata.name` : 'metadata.name',
      `is ${JSON.stringify(name ?? null)}, but the request is for ${request.kind.kind}/${request.name}`,
      'send the object the request is about',
    ),
  ];
}

function objectProblems(request: AdmissionRequest, object: unknown, root: string): Violation[] {
  const identity = identityViolations(request, object, root);
  const shape = shapeViolations(request.kind.kind, object, root);
  const rest = shape.length ? shape : nameViolations(request, object, root);
  return identity.length === 0 ? rest : [...identity, ...rest];
}

/**
 * The parts of a request the rules read but cannot: the object (and on UPDATE the old object) in a shape its
 * kind's rules expect, and on DELETE of a guarded kind, its name. Refused rather than read as "unset".
 */
function unreadableParts(request: AdmissionRequest): Violation[] {
  if (request.operation === 'CREATE') return objectProblems(request, request.object, '');
  if (request.operation === 'UPDATE')
    return [...objectProblems(request, request.object, ''), ...objectProblems(request, request.oldObject, 'oldObject')];
  if (request.operation === 'DELETE' && NAMED_ON_DELETE.has(request.kind.kind) && !requestName(request))
    return [
      violation(
        'shape',
        'metadata.name',
        `is unknown: k8s-ee cannot tell whether this deletes one of its baseline objects`,
        'send request.name (the API server always does)',
      ),
    ];
  return [];
}

function requestName(request: AdmissionRequest): string | undefined {
  return request.name || nameOf(request.object) || nameOf(request.oldObject);
}

function route(table: Record<string, KindHandler>): Handler {
  return (request, context) => {
    const handler = table[request.kind.kind];
    if (!handler || SKIPS.some((s) => s.applies(request))) return allow();
    const ns = managedNamespaceOf(request, context);
    if (!ns) return allow();
    const unreadable = unreadableParts(request);
    if (unreadable.length > 0) return denyAll(unreadable);
    return handler(request, ns, context);
  };
}

export const mutateHandler: Handler = route(MUTATORS);
export const validateHandler: Handler = route(VALIDATORS);
