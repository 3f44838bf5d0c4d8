// Does a set of rendered objects fit the PR namespace they go into? The namespace's quota and LimitRange are built
// by the same code as the reconciler's (buildBaseline: the base plus one increment per database the rendered
// `k8s-ee-environment` ConfigMap declares); every object's use is counted as the quota controller counts it
// (replicas x the pod's effective requests and limits after the LimitRange's defaults, PVC storage, object counts).
// One problem per exceeded resource, naming the objects that use the most and what to change. Pure.
import { formatQuantity, parseQuantity } from '../lib/quantity.ts';
import { buildBaseline, declaredDatabases } from './baseline.ts';
import type { Config, Database } from './config.ts';
import { ENVIRONMENT_CONFIGMAP } from './names.ts';
import { annotationOf, isObj, labelsOf, metadataOf, nameOf, obj, type Obj } from './objects.ts';
import { podTemplatesOf } from './pod-templates.ts';
import {
  containerLimits,
  limitRangeViolations,
  podContainers,
  podResources,
  type ContainerLimits,
} from './pod-resources.ts';
import { field, int, isFields, list, text } from './pss-fields.ts';
import { usageHints } from './quota-hints.ts';
import { violation, type Violation } from './violation.ts';

/** The quota resources k8s-ee sets, with how their amounts are written. */
export const QUOTA_RESOURCES: Readonly<Record<string, 'cpu' | 'memory' | 'count'>> = {
  'requests.cpu': 'cpu',
  'requests.memory': 'memory',
  'limits.cpu': 'cpu',
  'limits.memory': 'memory',
  'requests.storage': 'memory',
  pods: 'count',
  services: 'count',
  persistentvolumeclaims: 'count',
  secrets: 'count',
  configmaps: 'count',
};

/** One object as it would be stored: after k8s-ee's mutation, with the object as written beside it. */
export interface RenderedObject {
  object: Obj;
  /** As written: a bare Pod meets the LimitRange before k8s-ee's mutation (built-in admission runs first). */
  original: Obj;
  /** The caller's handle, given back with the object's LimitRange violations. */
  id: number;
}

/** What one object uses of the quota: per replica and in total, in milli-units by quota resource. */
export interface ObjectUsage {
  id: number;
  kind: string;
  name: string;
  replicas: number;
  each: Record<string, bigint>;
  total: Record<string, bigint>;
  /** Quota resources the LimitRange's defaults contributed to (containers that declare none). */
  defaulted: string[];
  labels: Record<string, string>;
}

export interface QuotaFit {
  namespace: string;
  databases: Database[];
  /** The quota's hard amounts as k8s-ee will set them. */
  hard: Record<string, string>;
  used: Record<string, string>;
  usage: ObjectUsage[];
  /** One per exceeded resource. */
  problems: Violation[];
  /** What the LimitRange refuses, by object id. */
  limitViolations: Map<number, Violation[]>;
}

const HELM_HOOK = 'helm.sh/hook';

/** How many pods of a pod-carrying object run at once on a fresh install (DaemonSets: one node counted). */
function replicasOf(object: Obj): number {
  const spec = field(object, 'spec');
  switch (object['kind']) {
    case 'Pod':
      return 1;
    case 'Job':
      return jobPods(spec);
    case 'CronJob':
      return jobPods(field(field(spec, 'jobTemplate'), 'spec'));
    case 'DaemonSet':
      return 1;
    case 'PodTemplate':
      return 0;
    default:
      return Math.max(0, int(spec, 'replicas') ?? 1);
  }
}

function jobPods(spec: Obj | undefined): number {
  const parallelism = Math.max(0, int(spec, 'parallelism') ?? 1);
  const completions = int(spec, 'completions');
  return completions === undefined ? parallelism : Math.min(parallelism, Math.max(0, completions));
}

function add(target: Record<string, bigint>, key: string, value: bigint | undefined): void {
  if (value === undefined || value === 0n) return;
  target[key] = (target[key] ?? 0n) + value;
}

function storageOf(claimSpec: unknown): bigint | undefined {
  const raw = field(field(claimSpec, 'resources'), 'requests')?.['storage'];
  return typeof raw === 'string' || typeof raw === 'number' ? (parseQuantity(raw) ?? 0n) : 0n;
}

/** Per-replica use of one pod spec: the pod, its compute, and the PVCs of its generic ephemeral volumes. */
function podUse(spec: Obj, limitRange: ContainerLimits, each: Record<string, bigint>): void {
  const containers = podContainers(spec, limitRange);
  const { requests, limits } = podResources(spec, containers);
  add(each, 'pods', 1000n);
  for (const r of ['cpu', 'memory'] as const) {
    add(each, `requests.${r}`, requests[r]);
    add(each, `limits.${r}`, limits[r]);
  }
  for (const volume of list(spec, 'volumes')) {
    const template = field(field(volume, 'ephemeral'), 'volumeClaimTemplate');
    if (!template) continue;
    add(each, 'persistentvolumeclaims', 1000n);
    add(each, 'requests.storage', storageOf(field(template, 'spec')));
  }
}

/** The pod spec whose resources the quota will see: a bare Pod's as written, a template's as mutated. */
function podSpecFor(item: RenderedObject): Obj | undefined {
  const source = item.object['kind'] === 'Pod' ? item.original : item.object;
  return podTemplatesOf(source)[0]?.spec;
}

/** Per-replica use of a pod-carrying object, and what its author left for a default to fill. */
function podCarrierUse(item: RenderedObject, spec: Obj, limitRange: ContainerLimits, each: Record<string, bigint>) {
  podUse(spec, limitRange, each);
  if (item.object['kind'] === 'StatefulSet')
    for (const claim of list(field(item.object, 'spec'), 'volumeClaimTemplates')) {
      add(each, 'persistentvolumeclaims', 1000n);
      add(each, 'requests.storage', storageOf(field(claim, 'spec')));
    }
  // Whoever fills a gap (k8s-ee's mutation for templates, the LimitRange for pods), the author left it out.
  const written = podTemplatesOf(item.original)[0]?.spec;
  return [...new Set((written ? podContainers(written, limitRange) : []).flatMap((c) => c.defaulted))];
}

/** Use of an object that carries no pods: a volume claim, or one of the counted kinds. */
function objectUse(object: Obj, each: Record<string, bigint>): void {
  const kind = object['kind'];
  if (kind === 'PersistentVolumeClaim') {
    add(each, 'persistentvolumeclaims', 1000n);
    add(each, 'requests.storage', storageOf(field(object, 'spec')));
  } else if (kind === 'Service') add(each, 'services', 1000n);
  else if (kind === 'Secret') add(each, 'secrets', 1000n);
  else if (kind === 'ConfigMap') add(each, 'configmaps', 1000n);
}

function usageOf(item: RenderedObject, limitRange: ContainerLimits): ObjectUsage | undefined {
  const { object } = item;
  const each: Record<string, bigint> = {};
  const spec = podSpecFor(item);
  const defaulted = spec ? podCarrierUse(item, spec, limitRange, each) : [];
  if (!spec) objectUse(object, each);
  if (Object.keys(each).length === 0) return undefined;
  const replicas = spec ? replicasOf(object) : 1;
  const total = Object.fromEntries(Object.entries(each).map(([k, v]) => [k, v * BigInt(replicas)]));
  const name = nameOf(object) ?? `${text(metadataOf(object), 'generateName') ?? ''}*`;
  const kind = text(object, 'kind') ?? '';
  return { id: item.id, kind, name, replicas, each, total, defaulted, labels: labelsOf(object) };
}

/** `helm test` pods run later, on demand: they are not part of the install. */
function isTestHook(object: Obj): boolean {
  return /(^|,)\s*test(-success)?\s*(,|$)/.test(annotationOf(object, HELM_HOOK) ?? '');
}

/** Objects the namespace has besides the release's own, when the quota counts their kind. */
function implicitUsage(hard: Record<string, string>): ObjectUsage[] {
  const implicit: [string, string, string][] = [
    ['configmaps', 'ConfigMap', 'kube-root-ca.crt'],
    ['secrets', 'Secret', 'sh.helm.release.v1.*'],
  ];
  return implicit
    .filter(([key]) => hard[key] !== undefined)
    .map(([key, kind, name]) => ({
      id: -1,
      kind,
      name,
      replicas: 1,
      each: { [key]: 1000n },
      total: { [key]: 1000n },
      defaulted: [],
      labels: {},
    }));
}

function format(value: bigint, key: string): string {
  const style = QUOTA_RESOURCES[key] ?? 'cpu';
  return style === 'count' ? String(value / 1000n) : formatQuantity(value, style);
}

function describeUse(u: ObjectUsage, key: string): string {
  const total = format(u.total[key] ?? 0n, key);
  if (u.replicas === 1) return `${u.kind}/${u.name} ${total}`;
  return `${u.kind}/${u.name} ${String(u.replicas)} x ${format(u.each[key] ?? 0n, key)} = ${total}`;
}

function exceeded(key: string, used: bigint, hard: bigint, usage: ObjectUsage[], origin: string): Violation {
  const top = usage
    .filter((u) => (u.total[key] ?? 0n) > 0n)
    .sort((a, b) => Number((b.total[key] ?? 0n) - (a.total[key] ?? 0n)))
    .slice(0, 3);
  const message =
    `the rendered objects need ${format(used, key)} of ${key}, the quota (${origin}) allows ${format(hard, key)}; ` +
    `most: ${top.map((u) => describeUse(u, key)).join(', ')}`;
  return violation(`quota:${key}`, `spec.hard[${key}]`, message, usageHints(key, top, format(used - hard, key)));
}

function environmentOf(objects: readonly RenderedObject[]): Database[] {
  const cm = objects.find((o) => o.object['kind'] === 'ConfigMap' && nameOf(o.object) === ENVIRONMENT_CONFIGMAP);
  return cm ? declaredDatabases(cm.object).databases : [];
}

/** The fit of the objects going into one managed namespace. */
export function quotaFit(namespace: string, objects: readonly RenderedObject[], config: Config): QuotaFit {
  const databases = environmentOf(objects);
  const [quota, limits] = buildBaseline(namespace, databases, config);
  const hard = obj(quota?.spec['hard']) as Record<string, string>;
  const item = list(limits?.spec, 'limits').find((l) => isFields(l) && l['type'] === 'Container');
  const limitRange = containerLimits(isObj(item) ? item : {});
  const counted = objects.filter((o) => !isTestHook(o.object));
  const usage = [...counted.flatMap((o) => usageOf(o, limitRange) ?? []), ...implicitUsage(hard)];
  const totals: Record<string, bigint> = {};
  for (const u of usage) for (const [k, v] of Object.entries(u.total)) add(totals, k, v);
  const origin = databases.length ? `base + ${databases.join(' + ')}` : 'base, no databases declared';
  const problems: Violation[] = [];
  for (const key of Object.keys(QUOTA_RESOURCES)) {
    const limit = hard[key] === undefined ? undefined : parseQuantity(hard[key]);
    const used = totals[key] ?? 0n;
    if (limit !== undefined && used > limit) problems.push(exceeded(key, used, limit, usage, origin));
  }
  const used = Object.fromEntries(Object.keys(hard).map((k) => [k, format(totals[k] ?? 0n, k)]));
  return { namespace, databases, hard, used, usage, problems, limitViolations: limitViolationsOf(counted, limitRange) };
}

function limitViolationsOf(objects: readonly RenderedObject[], limitRange: ContainerLimits): Map<number, Violation[]> {
  const out = new Map<number, Violation[]>();
  for (const item of objects) {
    const source = item.object['kind'] === 'Pod' ? item.original : item.object;
    const found = podTemplatesOf(source).flatMap((t) =>
      podContainers(t.spec, limitRange).flatMap((c) => limitRangeViolations(c, t.specPath, limitRange)),
    );
    if (found.length > 0) out.set(item.id, found);
  }
  return out;
}
