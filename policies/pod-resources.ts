// What a pod will request and be limited to once the cluster has filled its gaps, as a ResourceQuota counts it:
// the API server's defaulting (a limit without a request makes the request equal to the limit), then the
// LimitRange's defaults for what is still missing, then the pod's effective amount over its containers, init
// containers and sidecars (the rule of the kubelet and the scheduler, which the quota uses too). Also what the
// LimitRange refuses: an amount above its maximum, a request above the limit it gave. Pure, total on bad input.
import { formatQuantity, parseQuantity } from '../lib/quantity.ts';
import { field, isFields, list, text, type Fields } from './pss-fields.ts';
import { violation, type Violation } from './violation.ts';

export const COMPUTE = ['cpu', 'memory'] as const;
export type Compute = (typeof COMPUTE)[number];
/** Milli-units per compute resource; absent means not set. */
export type Amounts = Partial<Record<Compute, bigint>>;

/** The container limits of a LimitRange (type Container), each amount in milli-units. */
export interface ContainerLimits {
  default: Amounts;
  defaultRequest: Amounts;
  max: Amounts;
}

export interface ContainerResources {
  name: string;
  /** Field path of the container, relative to the pod spec: `containers[0]`. */
  path: string;
  requests: Amounts;
  limits: Amounts;
  /** `requests.cpu`, `limits.memory`, ...: what the LimitRange filled in. */
  defaulted: string[];
  /** An init container with restartPolicy Always (runs beside the app containers). */
  sidecar: boolean;
  init: boolean;
}

function amounts(value: unknown): Amounts {
  const out: Amounts = {};
  for (const r of COMPUTE) {
    const raw = isFields(value) ? value[r] : undefined;
    const parsed = typeof raw === 'string' || typeof raw === 'number' ? parseQuantity(raw) : undefined;
    if (parsed !== undefined) out[r] = parsed;
  }
  return out;
}

/** A LimitRange's Container item as the API server defaults it: default from max, defaultRequest from default. */
export function containerLimits(item: { default?: unknown; defaultRequest?: unknown; max?: unknown }): ContainerLimits {
  const max = amounts(item.max);
  const defaults = { ...max, ...amounts(item.default) };
  return { max, default: defaults, defaultRequest: { ...defaults, ...amounts(item.defaultRequest) } };
}

/** One container's requests and limits after the API server's defaulting and the LimitRange's defaults. */
export function effectiveContainer(
  container: Fields,
  path: string,
  limitRange: ContainerLimits,
  init = false,
): ContainerResources {
  const resources = field(container, 'resources');
  const requests = amounts(field(resources, 'requests'));
  const limits = amounts(field(resources, 'limits'));
  const defaulted: string[] = [];
  for (const r of COMPUTE) {
    if (limits[r] !== undefined && requests[r] === undefined) requests[r] = limits[r];
    const byDefault = limitRange.default[r];
    if (limits[r] === undefined && byDefault !== undefined) {
      limits[r] = byDefault;
      defaulted.push(`limits.${r}`);
    }
    const requestDefault = limitRange.defaultRequest[r];
    if (requests[r] === undefined && requestDefault !== undefined) {
      requests[r] = requestDefault;
      defaulted.push(`requests.${r}`);
    }
  }
  const name = text(container, 'name') ?? path;
  const sidecar = init && text(container, 'restartPolicy') === 'Always';
  return { name, path, requests, limits, defaulted, sidecar, init };
}

/** Every init and app container of a pod spec (ephemeral containers have no resources). */
export function podContainers(spec: Fields, limitRange: ContainerLimits): ContainerResources[] {
  const of = (kind: 'initContainers' | 'containers') =>
    list(spec, kind).flatMap((c, i) =>
      isFields(c) ? [effectiveContainer(c, `${kind}[${i}]`, limitRange, kind === 'initContainers')] : [],
    );
  return [...of('initContainers'), ...of('containers')];
}

/**
 * The pod's amount of one resource: the larger of (app containers + sidecars) and, for each ordinary init
 * container, its own amount plus the sidecars started before it. Pod-level resources, when set, decide.
 */
function podAmount(containers: ContainerResources[], pick: (c: ContainerResources) => bigint | undefined): bigint {
  let running = 0n;
  let sidecarsSoFar = 0n;
  let initPeak = 0n;
  for (const c of containers) {
    const value = pick(c) ?? 0n;
    if (!c.init) running += value;
    else if (c.sidecar) {
      sidecarsSoFar += value;
      running += value;
    } else if (value + sidecarsSoFar > initPeak) initPeak = value + sidecarsSoFar;
  }
  return running > initPeak ? running : initPeak;
}

/** Requests and limits of the whole pod, as the quota counts them. */
export function podResources(spec: Fields, containers: ContainerResources[]): { requests: Amounts; limits: Amounts } {
  const podLevel = field(spec, 'resources');
  const out = { requests: {} as Amounts, limits: {} as Amounts };
  for (const kind of ['requests', 'limits'] as const) {
    const declared = amounts(field(podLevel, kind));
    for (const r of COMPUTE) out[kind][r] = declared[r] ?? podAmount(containers, (c) => c[kind][r]);
  }
  return out;
}

/** What the LimitRange (and the API server's validation after it) refuses in one container. */
export function limitRangeViolations(
  container: ContainerResources,
  specPath: string,
  limitRange: ContainerLimits,
): Violation[] {
  const out: Violation[] = [];
  const where = `${specPath}.${container.path}.resources`;
  for (const r of COMPUTE) {
    const max = limitRange.max[r];
    const fmt = (v: bigint) => formatQuantity(v, r === 'memory' ? 'memory' : 'cpu');
    for (const kind of ['limits', 'requests'] as const) {
      const value = container[kind][r];
      if (max === undefined || value === undefined || value <= max) continue;
      out.push(
        violation(
          'limit-range:max',
          `${where}.${kind}.${r}`,
          `container "${container.name}" ${kind === 'limits' ? 'is limited to' : 'requests'} ${fmt(value)} ${r}, above the namespace's LimitRange maximum of ${fmt(max)} per container`,
          `set ${kind}.${r} to ${fmt(max)} or less (split the work over more replicas if it needs more)`,
        ),
      );
    }
    const request = container.requests[r];
    const limit = container.limits[r];
    if (request !== undefined && limit !== undefined && request > limit && container.defaulted.includes(`limits.${r}`))
      out.push(
        violation(
          'limit-range:default-limit',
          `${where}.requests.${r}`,
          `container "${container.name}" requests ${fmt(request)} ${r} but sets no limit, and the LimitRange's default limit ${fmt(limit)} is below the request: the API server refuses the pod`,
          `set resources.limits.${r} to at least ${fmt(request)}${max === undefined ? '' : ` (at most ${fmt(max)})`}`,
        ),
      );
  }
  return out;
}
