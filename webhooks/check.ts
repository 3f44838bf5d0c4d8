// `k8s-ee check`: "would the cluster admit this?" for rendered manifests, before anything is deployed. Each
// object goes through the same handlers as a live request: mutation first, then validation, as admission does.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Config } from '../policies/config.ts';
import { BASELINE_NAMES } from '../policies/names.ts';
import { quotaFit, type RenderedObject } from '../policies/quota-fit.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { arr, isObj, metadataOf, str, type Obj } from '../policies/objects.ts';
import type { Violation } from '../policies/violation.ts';
import { silentLogger } from '../lib/log.ts';
import { mutateHandler, validateHandler } from './handlers.ts';
import type { AdmissionRequest, HandlerContext } from './types.ts';

export interface CheckedObject {
  document: number;
  line: number;
  kind: string;
  name: string;
  namespace?: string;
  managed: boolean;
  violations: Violation[];
  /** A denial without field violations (e.g. an internal error), or a document that is not an object. */
  error?: string;
  warnings: string[];
  /** For an entry that is no document of the input (document 0): where it comes from. */
  origin?: string;
}

/** A managed namespace's quota as k8s-ee will set it, and what the input would use of it. */
export interface QuotaSummary {
  namespace: string;
  databases: string[];
  hard: Record<string, string>;
  used: Record<string, string>;
}

export interface CheckResult {
  objects: CheckedObject[];
  quotas: QuotaSummary[];
  problems: number;
}

export interface CheckOptions {
  namespace?: string;
  config: Config;
  now: Date;
  user?: string;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'APIService',
  'CSIDriver',
  'VolumeAttachment',
]);

function groupVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function notAnObject(value: unknown): string | undefined {
  if (!isObj(value)) return 'not a Kubernetes object: expected a mapping with apiVersion, kind and metadata';
  if (typeof value['apiVersion'] !== 'string' || value['apiVersion'] === '')
    return 'not a Kubernetes object: apiVersion is missing';
  if (typeof value['kind'] !== 'string' || value['kind'] === '') return 'not a Kubernetes object: kind is missing';
  const meta = metadataOf(value);
  if (!str(meta['name']) && !str(meta['generateName']))
    return `not a Kubernetes object: ${value['kind']} has no metadata.name`;
  return undefined;
}

/** Runs the object through admission; returns it as it would be stored (mutated), refused or not. */
async function admit(object: Obj, entry: CheckedObject, context: HandlerContext, user: string): Promise<Obj> {
  const { group, version } = groupVersion(String(object['apiVersion']));
  const request: AdmissionRequest = {
    uid: `check-${entry.document}`,
    kind: { group, version, kind: entry.kind },
    name: entry.name,
    ...(entry.namespace ? { namespace: entry.namespace } : {}),
    operation: 'CREATE',
    userInfo: { username: user, groups: ['system:authenticated'] },
    object,
    dryRun: true,
  };
  const mutation = await mutateHandler(request, context);
  if (!mutation.allowed) {
    entry.violations.push(...(mutation.violations ?? []));
    if (!mutation.violations?.length) entry.error = mutation.message;
    return object;
  }
  entry.warnings.push(...(mutation.warnings ?? []));
  const stored = isObj(mutation.mutated) ? mutation.mutated : object;
  const validation = await validateHandler({ ...request, object: stored }, context);
  if (validation.allowed) entry.warnings.push(...(validation.warnings ?? []));
  else if (validation.violations?.length) entry.violations.push(...validation.violations);
  else entry.error = validation.message;
  return stored;
}

/**
 * The object as the API server passes it on: it decodes a manifest into its Go types, so a field written as null
 * (`securityContext:` with nothing after it, a common Helm output) is simply unset, and the webhooks, which refuse
 * null where a rule reads a value, never see it. Nulls inside lists stay (the API server refuses those).
 */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObj(value)) return value;
  const out: Obj = {};
  for (const [key, inner] of Object.entries(value)) if (inner !== null) out[key] = withoutNulls(inner);
  return out;
}

function expand(value: unknown): unknown[] {
  if (
    isObj(value) &&
    typeof value['kind'] === 'string' &&
    value['kind'].endsWith('List') &&
    Array.isArray(value['items'])
  )
    return arr(value['items']).flatMap(expand);
  return [value];
}

function entryFor(object: Obj, document: number, line: number, options: CheckOptions): CheckedObject {
  const kind = String(object['kind']);
  const meta = metadataOf(object);
  const name = str(meta['name']) ?? `${str(meta['generateName']) ?? ''}*`;
  const namespace = CLUSTER_SCOPED.has(kind) ? undefined : (str(meta['namespace']) ?? options.namespace);
  const managedName = kind === 'Namespace' ? name : namespace;
  return {
    document,
    line,
    kind,
    name,
    ...(namespace ? { namespace } : {}),
    managed: matchNamespace(managedName, options.config) !== undefined,
    violations: [],
    warnings: [],
  };
}

interface Run {
  options: CheckOptions;
  context: HandlerContext;
  user: string;
  /** Managed objects as they would be stored, for the quota fit; `id` is the entry's index in `objects`. */
  admitted: { entry: CheckedObject; rendered: RenderedObject }[];
}

async function checkValue(
  value: unknown,
  position: { document: number; line: number },
  run: Run,
): Promise<CheckedObject[]> {
  const out: CheckedObject[] = [];
  for (const item of expand(value)) {
    const problem = notAnObject(item);
    if (problem) {
      out.push({ ...position, kind: '', name: '', managed: false, violations: [], warnings: [], error: problem });
      continue;
    }
    const entry = entryFor(item as Obj, position.document, position.line, run.options);
    if (entry.managed) {
      const stored = await admit(withoutNulls(item) as Obj, entry, run.context, run.user);
      run.admitted.push({ entry, rendered: { object: stored, original: item as Obj, id: run.admitted.length } });
    } else if (!entry.namespace && !CLUSTER_SCOPED.has(entry.kind))
      entry.error = 'has no namespace: pass -n NAMESPACE (the namespace helm installs into) or set metadata.namespace';
    out.push(entry);
  }
  return out;
}

export async function checkManifests(text: string, options: CheckOptions): Promise<CheckResult> {
  const lineCounter = new LineCounter();
  // kubectl and helm read YAML 1.1, where `yes` and `on` are true.
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: true, version: '1.1' });
  const run: Run = {
    options,
    context: { config: options.config, log: silentLogger(), now: () => options.now },
    user: options.user ?? 'k8s-ee-check',
    admitted: [],
  };
  const objects: CheckedObject[] = [];
  for (const [index, doc] of (Array.isArray(documents) ? documents : [documents]).entries()) {
    const position = { document: index + 1, line: lineCounter.linePos(doc.contents?.range[0] ?? doc.range[0]).line };
    if (doc.errors.length > 0) {
      objects.push({
        ...position,
        kind: '',
        name: '',
        managed: false,
        violations: [],
        warnings: [],
        error: `not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`,
      });
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) objects.push(...(await checkValue(value, position, run))); // a lone "---" is fine
  }
  if (!objects.some((o) => o.kind !== '')) objects.push(NO_OBJECT);
  const quotas = fitQuotas(run, objects);
  const problems = objects.reduce((n, o) => n + o.violations.length + (o.error ? 1 : 0), 0);
  return { objects, quotas, problems };
}

const NO_OBJECT: CheckedObject = {
  document: 0,
  line: 0,
  kind: '',
  name: '',
  managed: false,
  violations: [],
  warnings: [],
  origin: 'the input',
  error:
    'the input holds no Kubernetes object, so nothing was checked: did the command that rendered it fail (helm template prints its error above)?',
};

/**
 * The quota fit of every managed namespace the input goes into: LimitRange refusals on their objects, and one
 * entry per namespace whose quota is exceeded (document 0, after the documents).
 */
function fitQuotas(run: Run, objects: CheckedObject[]): QuotaSummary[] {
  const byNamespace = new Map<string, Run['admitted']>();
  for (const a of run.admitted) {
    const ns = a.entry.namespace;
    if (ns && a.entry.kind !== 'Namespace') byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), a]);
  }
  const summaries: QuotaSummary[] = [];
  for (const [namespace, admitted] of byNamespace) {
    const fit = quotaFit(
      namespace,
      admitted.map((a) => a.rendered),
      run.options.config,
    );
    for (const a of admitted) a.entry.violations.push(...(fit.limitViolations.get(a.rendered.id) ?? []));
    if (fit.problems.length > 0)
      objects.push({
        document: 0,
        line: 0,
        kind: 'ResourceQuota',
        name: BASELINE_NAMES.quota,
        namespace,
        managed: true,
        violations: fit.problems,
        warnings: [],
        origin: `the quota k8s-ee gives ${namespace}: ${fit.databases.length ? `base + ${fit.databases.join(' + ')}` : 'base, no databases declared'}`,
      });
    summaries.push({ namespace, databases: fit.databases, hard: fit.hard, used: fit.used });
  }
  return summaries;
}
