// The webhook configurations k8s-ee registers, as a pure function: the e2e harness registers them by URL,
// the platform chart renders the same rules for the in-cluster Service.
import type {
  AdmissionregistrationV1WebhookClientConfig,
  V1MatchCondition,
  V1MutatingWebhookConfiguration,
  V1RuleWithOperations,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { Config } from '../policies/config.ts';
import { ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { celPattern, celString } from '../policies/namespace.ts';

export interface RegistrationOptions {
  /** Name of both configurations (default "k8s-ee"). */
  name?: string;
  /** Base URL of a webhook outside the cluster, e.g. https://127.0.0.1:9443 (the route path is appended). */
  url?: string;
  /** The in-cluster Service in front of the webhook. */
  service?: { namespace: string; name: string; port?: number };
  /** PEM bundle of the CA(s) that signed the serving certificate. */
  caBundle: string;
  config: Config;
  /** Namespaces never sent to the webhook besides kube-system (k8s-ee's own, for example). */
  excludeNamespaces?: string[];
  timeoutSeconds?: number;
  /**
   * The user k8s-ee's own writes come as (in a cluster, its ServiceAccount): its writes of baseline objects skip
   * the baseline webhook, whose guard always admits them, so the reconciler does not wait on a call to itself.
   */
  selfUser?: string;
}

const POD_RESOURCES: [string, string[]][] = [
  ['', ['pods', 'replicationcontrollers', 'podtemplates']],
  ['apps', ['deployments', 'statefulsets', 'daemonsets', 'replicasets']],
  ['batch', ['jobs', 'cronjobs']],
];

function rule(
  group: string,
  resources: string[],
  operations: V1RuleWithOperations['operations'],
): V1RuleWithOperations {
  return { apiGroups: [group], apiVersions: ['*'], resources, operations, scope: '*' };
}

function clientConfig(options: RegistrationOptions, path: string): AdmissionregistrationV1WebhookClientConfig {
  const caBundle = Buffer.from(options.caBundle).toString('base64');
  if (options.url) return { url: `${options.url.replace(/\/$/, '')}${path}`, caBundle };
  if (!options.service) throw new Error('buildWebhookConfigurations: give either url or service');
  const { namespace, name, port = 443 } = options.service;
  return { service: { namespace, name, path, port }, caBundle };
}

/** The namespaces never sent to the webhook. */
const excludedNamespaces = (options: RegistrationOptions): string[] => [
  'kube-system',
  ...(options.excludeNamespaces ?? []),
];

function prNamespaceCondition(options: RegistrationOptions, subject: Entry['subject']): V1MatchCondition {
  const pattern = celString(celPattern(options.config.namespacePattern));
  const excluded = excludedNamespaces(options).map(celString).join(', ');
  const name = subject === 'namespace-object' ? 'object.metadata.name' : 'request.namespace';
  return { name: 'pr-namespace', expression: `${name}.matches(${pattern}) && !(${name} in [${excluded}])` };
}

/**
 * How a namespaced entry selects the namespaces it sees. Every namespaced purpose is registered twice, and the two
 * namespaceSelectors split all namespaces between them by k8s-ee's own label:
 * - "labelled": `k8s-ee.io/managed In [true]`, the PR namespaces k8s-ee has labelled (every one it admitted; the
 *   label may not be removed or changed, and the reconciler puts it back): no CEL runs, only a label lookup;
 * - "by-name": `k8s-ee.io/managed NotIn [true]` (absent or any other value) and the CEL condition on the namespace's
 *   name, so a PR namespace without the label (one that existed before k8s-ee, or whose label was taken while the
 *   webhooks were away) is judged all the same.
 * Why not CEL alone: the API server converts the whole object for every entry whose matchConditions it evaluates
 * (an activation per entry, before a single expression runs), which cost ~0.6 ms of its CPU per pod-carrier write.
 * The label cannot be put on a namespace without a PR name (the policy k8s-ee-managed-label, policies/vap.ts), and
 * the webhook itself still judges by name: such a namespace, labelled before that policy, is left unchanged.
 */
type Selection = 'labelled' | 'by-name';

function namespaceSelector(options: RegistrationOptions, selection: Selection) {
  return {
    matchExpressions: [
      { key: LABELS.managed, operator: selection === 'labelled' ? 'In' : 'NotIn', values: ['true'] },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excludedNamespaces(options) },
    ],
  };
}

/** The name of an entry's by-name twin: `pods.validate.k8s-ee.io` -> `pods.by-name.validate.k8s-ee.io`. */
export const byNameEntry = (name: string): string => name.replace(/^([^.]+)\./, '$1.by-name.');

interface Entry {
  name: string;
  rules: V1RuleWithOperations[];
  subject: 'namespace-object' | 'namespaced';
  sideEffects: 'None' | 'NoneOnDryRun';
  extraConditions?: V1MatchCondition[];
  reinvocationPolicy?: 'Never' | 'IfNeeded';
}

function webhook(options: RegistrationOptions, path: string, entry: Entry, selection?: Selection) {
  const conditions = [
    ...(selection === 'labelled' ? [] : [prNamespaceCondition(options, entry.subject)]),
    ...(entry.extraConditions ?? []),
  ];
  return {
    name: selection === 'by-name' ? byNameEntry(entry.name) : entry.name,
    admissionReviewVersions: ['v1'],
    clientConfig: clientConfig(options, path),
    rules: entry.rules,
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: entry.sideEffects,
    timeoutSeconds: options.timeoutSeconds ?? 10,
    ...(conditions.length > 0 ? { matchConditions: conditions } : {}),
    ...(selection ? { namespaceSelector: namespaceSelector(options, selection) } : {}),
    ...(entry.reinvocationPolicy ? { reinvocationPolicy: entry.reinvocationPolicy } : {}),
  };
}

/** The registered entries of one purpose: one for a namespace webhook, the labelled and by-name pair otherwise. */
function entries(options: RegistrationOptions, path: string, entry: Entry) {
  if (entry.subject === 'namespace-object') return [webhook(options, path, entry)];
  return [webhook(options, path, entry, 'labelled'), webhook(options, path, entry, 'by-name')];
}

/**
 * The namespace itself and every subresource that writes its metadata: an UPDATE of `namespaces/finalize` or
 * `namespaces/status` stores the labels and annotations it carries, so the rules on labels and pins apply there too.
 */
export const NAMESPACE_SUBRESOURCES = ['namespaces/finalize', 'namespaces/status'] as const;

const namespaceRules = (): V1RuleWithOperations[] => [
  rule('', ['namespaces'], ['CREATE', 'UPDATE']),
  rule('', [...NAMESPACE_SUBRESOURCES], ['UPDATE']),
];

const podRules = (operations: V1RuleWithOperations['operations']): V1RuleWithOperations[] =>
  POD_RESOURCES.map(([g, r]) => rule(g, r, operations));

const baselineRules = (): V1RuleWithOperations[] => [
  rule('', ['resourcequotas', 'limitranges'], ['CREATE', 'UPDATE', 'DELETE']),
  rule('networking.k8s.io', ['networkpolicies'], ['CREATE', 'UPDATE', 'DELETE']),
];

/**
 * k8s-ee's own writes skip a webhook whose answer to them is always "allowed, unchanged": the baseline guard and the
 * namespace entries (the reconciler stamps namespaces and puts back managed labels itself).
 */
const notSelf = (options: RegistrationOptions): Pick<Entry, 'extraConditions'> =>
  options.selfUser
    ? {
        extraConditions: [
          { name: 'not-k8s-ee-itself', expression: `request.userInfo.username != ${celString(options.selfUser)}` },
        ],
      }
    : {};

export function buildWebhookConfigurations(options: RegistrationOptions): {
  mutating: V1MutatingWebhookConfiguration;
  validating: V1ValidatingWebhookConfiguration;
} {
  const name = options.name ?? 'k8s-ee';
  const metadata = { name, labels: { 'app.kubernetes.io/name': 'k8s-ee', 'app.kubernetes.io/component': 'webhook' } };
  const mutating: V1MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata,
    webhooks: [
      ...entries(options, '/mutate', {
        name: 'namespaces.mutate.k8s-ee.io',
        rules: namespaceRules(),
        subject: 'namespace-object',
        sideEffects: 'None',
        ...notSelf(options),
        reinvocationPolicy: 'Never',
      }),
      ...entries(options, '/mutate', {
        name: 'pods.mutate.k8s-ee.io',
        rules: podRules(['CREATE', 'UPDATE']),
        subject: 'namespaced',
        sideEffects: 'NoneOnDryRun', // the baseline gate writes (never on dry-run)
        reinvocationPolicy: 'IfNeeded',
      }),
    ],
  };
  const validating: V1ValidatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata,
    webhooks: [
      ...entries(options, '/validate', {
        name: 'namespaces.validate.k8s-ee.io',
        rules: namespaceRules(),
        subject: 'namespace-object',
        sideEffects: 'NoneOnDryRun', // pin slots and capacity grants are Leases (never written on dry-run)
        ...notSelf(options),
      }),
      ...entries(options, '/validate', {
        name: 'pods.validate.k8s-ee.io',
        rules: [...podRules(['CREATE', 'UPDATE']), rule('', ['pods/ephemeralcontainers'], ['UPDATE'])],
        subject: 'namespaced',
        sideEffects: 'NoneOnDryRun',
      }),
      ...entries(options, '/validate', {
        name: 'baseline.validate.k8s-ee.io',
        rules: baselineRules(),
        subject: 'namespaced',
        sideEffects: 'None',
        ...notSelf(options),
      }),
      ...entries(options, '/validate', {
        name: 'exposure.validate.k8s-ee.io',
        rules: [
          rule('', ['services'], ['CREATE', 'UPDATE']),
          rule('networking.k8s.io', ['ingresses'], ['CREATE', 'UPDATE']),
          rule('gateway.networking.k8s.io', ['httproutes', 'grpcroutes'], ['CREATE', 'UPDATE']),
        ],
        subject: 'namespaced',
        sideEffects: 'None',
      }),
      ...entries(options, '/validate', {
        name: 'environment.validate.k8s-ee.io',
        rules: [rule('', ['configmaps'], ['CREATE', 'UPDATE'])],
        subject: 'namespaced',
        sideEffects: 'NoneOnDryRun', // the quota is grown before the ConfigMap is admitted (never on dry-run)
        extraConditions: [
          { name: 'environment-configmap', expression: `object.metadata.name == ${celString(ENVIRONMENT_CONFIGMAP)}` },
        ],
      }),
    ],
  };
  return { mutating, validating };
}
