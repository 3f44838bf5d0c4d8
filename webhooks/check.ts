// `k8s-ee check`: "would the cluster admit this?" for rendered manifests, before anything is deployed. Each
// object goes through the same handlers as a live request: mutation first, then validation, as admission does.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Config } from '../policies/config.ts';
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
}

export interface CheckResult {
  objects: CheckedObject[];
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

async function admit(object: Obj, entry: CheckedObject, context: HandlerContext, user: string): Promise<void> {
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
    return;
  }
  entry.warnings.push(...(mutation.warnings ?? []));
  const validation = await validateHandler({ ...request, object: mutation.mutated ?? object }, context);
  if (validation.allowed) entry.warnings.push(...(validation.warnings ?? []));
  else if (validation.violations?.length) entry.violations.push(...validation.violations);
  else entry.error = validation.message;
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

async function checkValue(
  value: unknown,
  position: { document: number; line: number },
  run: { options: CheckOptions; context: HandlerContext; user: string },
): Promise<CheckedObject[]> {
  const out: CheckedObject[] = [];
  for (const item of expand(value)) {
    const problem = notAnObject(item);
    if (problem) {
      out.push({ ...position, kind: '', name: '', managed: false, violations: [], warnings: [], error: problem });
      continue;
    }
    const entry = entryFor(item as Obj, position.document, position.line, run.options);
    if (entry.managed) await admit(item as Obj, entry, run.context, run.user);
    else if (!entry.namespace && !CLUSTER_SCOPED.has(entry.kind))
      entry.error = 'has no namespace: pass -n NAMESPACE (the namespace helm installs into) or set metadata.namespace';
    out.push(entry);
  }
  return out;
}

export async function checkManifests(text: string, options: CheckOptions): Promise<CheckResult> {
  const lineCounter = new LineCounter();
  // kubectl and helm read YAML 1.1, where `yes` and `on` are true.
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: true, version: '1.1' });
  const run = {
    options,
    context: { config: options.config, log: silentLogger(), now: () => options.now },
    user: options.user ?? 'k8s-ee-check',
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
  const problems = objects.reduce((n, o) => n + o.violations.length + (o.error ? 1 : 0), 0);
  return { objects, problems };
}
