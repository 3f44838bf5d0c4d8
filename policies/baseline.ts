// The baseline of a managed namespace: its ResourceQuota, LimitRange and NetworkPolicies, built from the
// configuration and the databases the environment declares. Pure: data in, objects out. The reconciler and the
// admission gate write these objects (created when absent, server-side applied otherwise); the
// ValidatingAdmissionPolicy relies on the hash.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/string-pool.ts';
import { parseCidr } from '../lib/cidr.ts';
import { addQuantities, parseQuantity } from '../lib/quantity.ts';
import { DATABASES, type Config, type Database, type PeerSelector, type QuotaAmounts } from './config.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP, ENVIRONMENT_DATABASES_KEY, LABELS } from './names.ts';
import { matchNamespace } from './namespace.ts';
import { violation, type Violation } from './violation.ts';

export type BaselineKind = 'ResourceQuota' | 'LimitRange' | 'NetworkPolicy';

/** A baseline object as it is applied (an apply configuration: only the fields k8s-ee owns). */
export interface BaselineObject {
  apiVersion: string;
  kind: BaselineKind;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: Record<string, unknown>;
}

/** The kinds of the baseline, with their collection paths (for lists and watches across namespaces). */
export const BASELINE_KINDS: readonly { kind: BaselineKind; apiVersion: string; plural: string; path: string }[] = [
  { kind: 'ResourceQuota', apiVersion: 'v1', plural: 'resourcequotas', path: '/api/v1/resourcequotas' },
  { kind: 'LimitRange', apiVersion: 'v1', plural: 'limitranges', path: '/api/v1/limitranges' },
  {
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    plural: 'networkpolicies',
    path: '/apis/networking.k8s.io/v1/networkpolicies',
  },
];

/** Annotation on each baseline object: the hash of what k8s-ee applied, so a stale object is seen without diffing. */
export const SPEC_HASH_ANNOTATION = 'k8s-ee.io/spec-hash';

/** Label selector for every k8s-ee baseline object. */
export const BASELINE_SELECTOR = `${LABELS.baselineObject}=true`;

/** Labels on every baseline object: the baseline marker and the namespace's managed labels. */
export function baselineLabels(namespace: string, config: Pick<Config, 'namespacePattern'>): Record<string, string> {
  const labels: Record<string, string> = {
    'app.kubernetes.io/managed-by': 'k8s-ee',
    [LABELS.baselineObject]: 'true',
    [LABELS.managed]: 'true',
  };
  const ns = matchNamespace(namespace, config);
  if (ns) {
    labels[LABELS.project] = ns.project;
    labels[LABELS.pr] = String(ns.number);
  }
  return labels;
}

const QUOTA_KEYS: readonly [keyof QuotaAmounts, string, 'cpu' | 'memory' | 'count'][] = [
  ['requestsCpu', 'requests.cpu', 'cpu'],
  ['requestsMemory', 'requests.memory', 'memory'],
  ['limitsCpu', 'limits.cpu', 'cpu'],
  ['limitsMemory', 'limits.memory', 'memory'],
  ['requestsStorage', 'requests.storage', 'memory'],
  ['pods', 'pods', 'count'],
  ['services', 'services', 'count'],
  ['persistentVolumeClaims', 'persistentvolumeclaims', 'count'],
  ['secrets', 'secrets', 'count'],
  ['configMaps', 'configmaps', 'count'],
];

/**
 * The quota's `hard` amounts: the base plus one increment per declared database. A resource the base leaves
 * unlimited (absent) stays unlimited; increments only grow limits the base sets.
 */
export function quotaHard(databases: readonly Database[], config: Pick<Config, 'quota'>): Record<string, string> {
  const hard: Record<string, string> = {};
  const increments = databases.map((db) => config.quota.perDatabase[db]);
  for (const [field, key, style] of QUOTA_KEYS) {
    const base = config.quota.base[field];
    if (base === undefined) continue;
    const parts = [base, ...increments.map((inc) => inc[field])].map((v) => (v === undefined ? undefined : String(v)));
    hard[key] = addQuantities(parts, style);
  }
  return hard;
}

function peer(selector: PeerSelector): Record<string, unknown> {
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': selector.namespace } },
    podSelector: Object.keys(selector.podLabels).length ? { matchLabels: { ...selector.podLabels } } : {},
  };
}

const ALL_PODS = {};

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const obj = (value: unknown): Obj => (isObj(value) ? value : {});

function networkPolicySpecs(config: Pick<Config, 'networkPolicy'>): [string, Record<string, unknown>][] {
  const np = config.networkPolicy;
  const dnsPorts = np.dns.ports.flatMap((port) => [
    { protocol: 'UDP', port },
    { protocol: 'TCP', port },
  ]);
  const specs: [string, Record<string, unknown>][] = [
    [BASELINE_NAMES.defaultDeny, { podSelector: ALL_PODS, policyTypes: ['Ingress', 'Egress'] }],
    [
      BASELINE_NAMES.allowSameNamespace,
      {
        podSelector: ALL_PODS,
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: ALL_PODS }] }],
        egress: [{ to: [{ podSelector: ALL_PODS }] }],
      },
    ],
    [
      BASELINE_NAMES.allowDns,
      { podSelector: ALL_PODS, policyTypes: ['Egress'], egress: [{ to: [peer(np.dns)], ports: dnsPorts }] },
    ],
    [
      BASELINE_NAMES.allowIngressController,
      { podSelector: ALL_PODS, policyTypes: ['Ingress'], ingress: [{ from: [peer(np.ingressController)] }] },
    ],
    [
      BASELINE_NAMES.allowMonitoring,
      { podSelector: ALL_PODS, policyTypes: ['Ingress'], ingress: [{ from: [peer(np.monitoring)] }] },
    ],
  ];
  if (np.internetEgress.enabled) {
    // The internet opened here is IPv4's; an IPv6 exception would not be a subset of 0.0.0.0/0.
    const except = np.internetEgress.exceptCidrs.filter((text) => parseCidr(text)?.family === 'ipv4');
    const ipBlock = { cidr: '0.0.0.0/0', ...(except.length ? { except } : {}) };
    specs.push([
      BASELINE_NAMES.allowInternetEgress,
      { podSelector: ALL_PODS, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock }] }] },
    ]);
  }
  return specs;
}

const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 20);

/** The hash of one object's applied content (kind, name, spec): what SPEC_HASH_ANNOTATION records. */
export function specHash(object: {
  kind: BaselineKind;
  metadata: Pick<BaselineObject['metadata'], 'name'>;
  spec: Record<string, unknown>;
}): string {
  return shortHash(canonicalJson({ kind: object.kind, name: object.metadata.name, spec: object.spec }));
}

/** What one baseline object is whatever its namespace: kind, name, spec, and the hash of the three (specHash). */
interface Shape {
  kind: BaselineKind;
  name: string;
  spec: Record<string, unknown>;
  specHash: string;
}

/** The objects' content, in a fixed order: quota, limits, then network policies. */
function shapesOf(databases: readonly Database[], config: Config): Shape[] {
  const lr = config.limitRange;
  const specs: [BaselineKind, string, Record<string, unknown>][] = [
    ['ResourceQuota', BASELINE_NAMES.quota, { hard: quotaHard(databases, config) }],
    [
      'LimitRange',
      BASELINE_NAMES.limitRange,
      {
        limits: [
          {
            type: 'Container',
            default: { ...lr.default },
            defaultRequest: { ...lr.defaultRequest },
            max: { ...lr.max },
          },
        ],
      },
    ],
  ];
  for (const [name, spec] of networkPolicySpecs(config)) specs.push(['NetworkPolicy', name, spec]);
  return specs.map(([kind, name, spec]) => ({
    kind,
    name,
    spec: deepFreeze(spec),
    specHash: specHash({ kind, metadata: { name }, spec }),
  }));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

interface Shapes {
  shapes: readonly Shape[];
  hash: string;
}

/**
 * The namespace-independent part of every baseline, built and hashed once per configuration and set of databases
 * (configurations are never changed once loaded: a new one is a new object). Planning a namespace built and hashed
 * eight specs (canonical JSON and SHA-256 each) every time: ~0.45 ms of CPU per plan (~0.05 now), seconds when thousands of
 * namespaces are planned together (a new leader, a burst), and most of the garbage then (issue 10). The specs are
 * shared by every namespace's objects, frozen: read-only, as apply configurations are.
 */
const shapeCache = new WeakMap<Config, Map<string, Shapes>>();

function cachedShapes(databases: readonly Database[], config: Config): Shapes {
  let byDatabases = shapeCache.get(config);
  if (!byDatabases) shapeCache.set(config, (byDatabases = new Map<string, Shapes>()));
  const key = databases.join(',');
  let found = byDatabases.get(key);
  if (!found) {
    const shapes = shapesOf(databases, config);
    found = { shapes, hash: hashOfShapes(shapes) };
    byDatabases.set(key, found);
  }
  return found;
}

/** Every baseline object of a namespace, in a fixed order: quota, limits, then network policies. */
export function buildBaseline(namespace: string, databases: readonly Database[], config: Config): BaselineObject[] {
  return buildBaselineWithHash(namespace, databases, config).objects;
}

/** buildBaseline's objects and their baselineHash (computed once per configuration and set of databases). */
export function buildBaselineWithHash(
  namespace: string,
  databases: readonly Database[],
  config: Config,
): { objects: BaselineObject[]; hash: string } {
  const { shapes, hash } = cachedShapes(databases, config);
  const labels = baselineLabels(namespace, config);
  const objects = shapes.map(({ kind, name, spec, specHash: objectHash }) => ({
    apiVersion: kind === 'NetworkPolicy' ? 'networking.k8s.io/v1' : 'v1',
    kind,
    metadata: { name, namespace, labels: { ...labels }, annotations: { [SPEC_HASH_ANNOTATION]: objectHash } },
    spec,
  }));
  return { objects, hash };
}

const hashOfShapes = (shapes: readonly Pick<Shape, 'kind' | 'name' | 'specHash'>[]): string =>
  shortHash(
    shapes
      .map((o) => `${o.kind}/${o.name}=${o.specHash}`)
      .sort()
      .join('\n'),
  );

/**
 * A stable hash of a whole baseline, fit for a label value (20 lowercase hex characters). It covers what the
 * objects enforce (kinds, names, specs) and not the namespace, so namespaces on the same configuration and the
 * same databases share it: `kubectl get ns -L k8s-ee.io/baseline-hash` shows who is behind.
 */
export function baselineHash(objects: readonly BaselineObject[]): string {
  return hashOfShapes(objects.map((o) => ({ kind: o.kind, name: o.metadata.name, specHash: specHash(o) })));
}

export const objectKey = (o: { kind?: string; metadata?: { name?: string } }): string =>
  `${o.kind ?? ''}/${o.metadata?.name ?? ''}`;

/** Live objects as read from the API (kind must be set by the caller: lists omit it on items). */
export interface LiveObject {
  kind: string;
  metadata?: { name?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
}

/** Desired objects that are absent from `live` or whose recorded spec hash differs (stale). */
export function missingOrStale(desired: readonly BaselineObject[], live: readonly LiveObject[]): BaselineObject[] {
  const byKey = new Map(live.map((o) => [objectKey(o), o]));
  return desired.filter((d) => {
    const found = byKey.get(objectKey(d));
    return found?.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== d.metadata.annotations[SPEC_HASH_ANNOTATION];
  });
}

/** Live baseline objects (carrying the baseline label) that the desired baseline no longer contains. */
export function extraneous(desired: readonly BaselineObject[], live: readonly LiveObject[]): LiveObject[] {
  const wanted = new Set(desired.map(objectKey));
  return live.filter((o) => o.metadata?.labels?.[LABELS.baselineObject] === 'true' && !wanted.has(objectKey(o)));
}

/** True when the quota controller has caught up: every `status.hard` amount equals the desired `spec.hard`. */
export function quotaStatusCurrent(
  desiredHard: Record<string, string>,
  statusHard: Record<string, string> | undefined,
): boolean {
  if (!statusHard) return false;
  const keys = new Set([...Object.keys(desiredHard), ...Object.keys(statusHard)]);
  for (const key of keys) {
    const want = desiredHard[key];
    const have = statusHard[key];
    if (want === undefined || have === undefined || parseQuantity(want) !== parseQuantity(have)) return false;
  }
  return true;
}

// ---- The environment's declaration of its databases (see ENVIRONMENT.md). ----

export interface DeclaredDatabases {
  /** Known names, without duplicates, in the order of DATABASES. */
  databases: Database[];
  /** Names that are not known databases, in the order written. */
  unknown: string[];
}

const isDatabase = (name: string): name is Database => (DATABASES as readonly string[]).includes(name);

/** Parses the `databases` value: names separated by commas and/or whitespace; empty means none. */
export function parseDeclaredDatabases(text: string | undefined): DeclaredDatabases {
  const names = (text ?? '').split(/[\s,]+/).filter((n) => n.length > 0);
  const known = new Set(names.filter(isDatabase));
  const unknown = [...new Set(names.filter((n) => !isDatabase(n)))];
  return { databases: DATABASES.filter((db) => known.has(db)), unknown };
}

/** The databases declared by an environment ConfigMap object (anything else declares none). */
export function declaredDatabases(configMap: unknown): DeclaredDatabases {
  if (!isEnvironmentConfigMap(configMap)) return { databases: [], unknown: [] };
  const value = obj(obj(configMap)['data'])[ENVIRONMENT_DATABASES_KEY];
  return parseDeclaredDatabases(typeof value === 'string' ? value : undefined);
}

function isEnvironmentConfigMap(object: unknown): boolean {
  const o = obj(object);
  return (o['kind'] === undefined || o['kind'] === 'ConfigMap') && obj(o['metadata'])['name'] === ENVIRONMENT_CONFIGMAP;
}

const KNOWN = DATABASES.join(', ');

/**
 * Admission rule for the environment ConfigMap: every declared database must be a known one, and the declaration
 * must be text under `data`. Any other object gives no violations.
 */
export function validateEnvironmentConfigMap(object: unknown): Violation[] {
  if (!isEnvironmentConfigMap(object)) return [];
  const violations: Violation[] = [];
  const binary = obj(obj(object)['binaryData']);
  if (binary[ENVIRONMENT_DATABASES_KEY] !== undefined) {
    violations.push(
      violation(
        'environment-databases',
        `binaryData.${ENVIRONMENT_DATABASES_KEY}`,
        `the database declaration must be text, not binaryData`,
        `move it to data.${ENVIRONMENT_DATABASES_KEY} as a comma-separated list of: ${KNOWN}`,
      ),
    );
  }
  const { unknown } = declaredDatabases(object);
  if (unknown.length > 0) {
    const list = unknown.map((n) => `"${n}"`).join(', ');
    violations.push(
      violation(
        'environment-databases',
        `data.${ENVIRONMENT_DATABASES_KEY}`,
        `unknown database${unknown.length === 1 ? '' : 's'} ${list} in ConfigMap ${ENVIRONMENT_CONFIGMAP}`,
        `use only the known names (lowercase, separated by commas): ${KNOWN}`,
      ),
    );
  }
  return violations;
}

// ---- Drift: does a live object still say what k8s-ee applied? ----

function normalizeQuantities(value: unknown): unknown {
  if (!isObj(value)) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    const q = typeof v === 'string' || typeof v === 'number' ? parseQuantity(v) : undefined;
    out[k] = q === undefined ? v : `q:${q}`;
  }
  return out;
}

/** The spec with every quantity written as its exact amount, so "1Gi" and "1024Mi" compare equal. */
function comparableSpec(kind: string, spec: unknown): unknown {
  const s = obj(spec);
  if (kind === 'ResourceQuota') return { ...s, hard: normalizeQuantities(s['hard']) };
  if (kind === 'LimitRange' && Array.isArray(s['limits'])) {
    const limits = (s['limits'] as unknown[]).map((limit) => {
      const l = obj(limit);
      const out: Obj = { ...l };
      for (const key of ['default', 'defaultRequest', 'max', 'min', 'maxLimitRequestRatio'])
        if (l[key] !== undefined) out[key] = normalizeQuantities(l[key]);
      return out;
    });
    return { ...s, limits };
  }
  return s;
}

/**
 * True when a live object carries everything k8s-ee applied: its labels, its spec hash annotation and a spec equal
 * to the desired one (quantities compared by amount). Fields added by someone else make it false: that is drift.
 */
export function objectMatches(
  desired: BaselineObject,
  live: { metadata?: unknown; spec?: unknown } | undefined,
): boolean {
  if (!live) return false;
  const metadata = obj(live.metadata);
  const labels = obj(metadata['labels']);
  const annotations = obj(metadata['annotations']);
  for (const [k, v] of Object.entries(desired.metadata.labels)) if (labels[k] !== v) return false;
  if (annotations[SPEC_HASH_ANNOTATION] !== desired.metadata.annotations[SPEC_HASH_ANNOTATION]) return false;
  // A desired spec is remembered only when frozen (buildBaseline's): one made by hand may still change.
  const wanted = Object.isFrozen(desired.spec)
    ? comparableText(desired.kind, desired.spec)
    : canonicalJson(comparableSpec(desired.kind, desired.spec));
  return comparableText(desired.kind, live.spec) === wanted;
}

/**
 * The comparable text of specs, remembered per spec object. The reconciler keeps live specs shared and read-only
 * (lib/string-pool.ts Interner): the 5,000 quotas of 5,000 PR namespaces are a handful of objects, so planning a
 * namespace no longer writes its live specs out again (canonical JSON was ~40 % of a plan's CPU); nor the desired
 * ones, shared and frozen by buildBaseline.
 */
const comparableTexts = new WeakMap<object, { kind: string; text: string }>();

function comparableText(kind: string, spec: unknown): string {
  if (typeof spec !== 'object' || spec === null) return canonicalJson(comparableSpec(kind, spec));
  const known = comparableTexts.get(spec);
  if (known?.kind === kind) return known.text;
  const text = canonicalJson(comparableSpec(kind, spec));
  comparableTexts.set(spec, { kind, text });
  return text;
}
