// A ValidatingAdmissionPolicy (CEL, evaluated inside the API server) that backs the webhooks while they are down,
// unregistered or mid-upgrade. It selects PR namespaces by NAME (the configured pattern, in CEL), never by a label
// the webhook adds, so a namespace that slipped in unlabelled is still covered:
// - a PR namespace is not created without k8s-ee.io/managed=true and the Pod Security labels (restricted, all three
//   modes), which the mutating webhook adds: with the webhook away, the namespace does not come into existence;
// - in a PR namespace, no Pod or pod controller is created unless the namespace carries the baseline stamp (label
//   k8s-ee.io/baseline-hash), which k8s-ee sets only once every baseline object exists.
// Two bindings: one for the namespaces' creation, bound everywhere; one for the pod makers, bound only in namespaces
// without the stamp (a namespaceSelector, read by the API server from its namespace cache), the only ones where it can
// refuse anything. In a stamped namespace the policy is not evaluated at all: no CEL, and no conversion of the whole
// object that the API server makes before evaluating any condition (~0.3 ms of its CPU per Deployment created).
// The stamp's presence is what counts there (an empty value as well): only k8s-ee writes it; the webhook refuses a
// forged one, and a forgery while the webhooks are away passes the rule's own check of the value just the same.
// Pure: the objects are data; `node policies/vap-print.ts` prints them as YAML.
import type {
  V1MatchResources,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { defaultConfig, type Config } from './config.ts';
import { LABELS, PSS_MODES, pssLabel } from './names.ts';
import { celPattern, celString } from './namespace.ts';

export const VAP_NAME = 'k8s-ee-baseline-required';

/** The pod makers' binding is named after the policy with this suffix; the namespaces' binding after the policy. */
export const UNSTAMPED_BINDING_SUFFIX = '-unstamped';

/**
 * The gate's probe: a dry-run CREATE of a NetworkPolicy of this name asks the API server whether this policy sees
 * a namespace's stamp yet (webhooks/gate.ts). A NetworkPolicy, because k8s-ee may create those anyway: the probe
 * needs no right to create pods. Other NetworkPolicies (the baseline's own among them) are not judged.
 */
export const STAMP_PROBE_NAME = 'k8s-ee-stamp-probe';

/** The resources whose CREATE the policy judges: pods and everything that makes pods. */
export const GUARDED_RESOURCES: readonly { apiGroup: string; resources: string[] }[] = [
  { apiGroup: '', resources: ['pods', 'replicationcontrollers'] },
  { apiGroup: 'apps', resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'] },
  { apiGroup: 'batch', resources: ['jobs', 'cronjobs'] },
];

/** The CEL condition: the namespace carries a non-empty baseline stamp. */
export const STAMPED_EXPRESSION = `has(namespaceObject.metadata.labels) && '${LABELS.baselineHash}' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['${LABELS.baselineHash}'] != ''`;

type VapConfig = Pick<Config, 'namespacePattern' | 'podSecurity'>;

/** The labels a PR namespace must carry when it is created (what the mutating webhook adds). */
export function requiredAtCreate(config: VapConfig): Record<string, string> {
  const labels: Record<string, string> = { [LABELS.managed]: 'true' };
  for (const mode of PSS_MODES) labels[pssLabel(mode)] = config.podSecurity.level;
  return labels;
}

/** CEL: the object (a namespace being created) carries every label of `requiredAtCreate`. */
export function labelledExpression(config: VapConfig): string {
  const checks = Object.entries(requiredAtCreate(config)).map(([key, value]) => {
    const k = celString(key);
    return `${k} in object.metadata.labels && object.metadata.labels[${k}] == ${celString(value)}`;
  });
  return ['has(object.metadata.labels)', ...checks].join(' && ');
}

/**
 * CEL: the request is about a PR namespace, by name (the namespace itself, or the namespace of the object). Match
 * conditions see no namespaceObject (it is empty there: "no such key: metadata"), so a namespaced object's
 * namespace is read from the request.
 */
export function prNamespaceExpression(config: VapConfig): string {
  const pattern = celString(celPattern(config.namespacePattern));
  return `request.resource.resource == 'namespaces' ? object.metadata.name.matches(${pattern}) : request.namespace.matches(${pattern})`;
}

function labelsMessage(config: VapConfig): string {
  const wanted = Object.entries(requiredAtCreate(config))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `'k8s-ee: Namespace ' + object.metadata.name + ': metadata.labels: a PR namespace is created only with ${wanted} (the k8s-ee mutating webhook adds them: it is not running or not registered) [vap:namespace-labels]. Fix: retry once the k8s-ee webhook is back (kubectl get mutatingwebhookconfigurations), or create the namespace with these labels'`;
}

const STAMP_MESSAGE = `'k8s-ee: ' + request.resource.resource + ' may not be created in ' + namespaceObject.metadata.name + ' yet: its baseline (quota, limits, network policies) is not in place (the namespace has no ${LABELS.baselineHash} label). k8s-ee sets it within moments of the namespace; if this persists, the k8s-ee webhook is not running. Retry in a few seconds.'`;

const metadataOf = (name: string) => ({
  name,
  labels: { 'app.kubernetes.io/managed-by': 'k8s-ee', 'app.kubernetes.io/part-of': 'k8s-ee' },
});

const policyOf = (name: string, spec: V1ValidatingAdmissionPolicy['spec']): V1ValidatingAdmissionPolicy => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicy',
  metadata: metadataOf(name),
  spec,
});

const bindingOf = (
  name: string,
  policyName: string,
  matchResources?: V1MatchResources,
): V1ValidatingAdmissionPolicyBinding => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicyBinding',
  metadata: metadataOf(name),
  spec: { policyName, validationActions: ['Deny'], ...(matchResources ? { matchResources } : {}) },
});

export function buildBaselineVap(
  name: string = VAP_NAME,
  config: VapConfig = defaultConfig(),
): {
  policy: V1ValidatingAdmissionPolicy;
  /** The namespaces' binding (named as the policy), then the pod makers' (UNSTAMPED_BINDING_SUFFIX). */
  bindings: [V1ValidatingAdmissionPolicyBinding, V1ValidatingAdmissionPolicyBinding];
} {
  const podMakers = [...GUARDED_RESOURCES, { apiGroup: 'networking.k8s.io', resources: ['networkpolicies'] }];
  const namespaces = [{ apiGroup: '', resources: ['namespaces'] }];
  const resourceRules = (list: typeof podMakers) =>
    list.map((r) => ({
      apiGroups: [r.apiGroup],
      apiVersions: ['*'],
      resources: [...r.resources],
      operations: ['CREATE'],
    }));
  const policy = policyOf(name, {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: resourceRules([...podMakers, ...namespaces]) },
    matchConditions: [
      { name: 'pr-namespace', expression: prNamespaceExpression(config) },
      {
        name: 'pod-makers-and-the-stamp-probe',
        expression: `request.resource.resource != 'networkpolicies' || object.metadata.name == '${STAMP_PROBE_NAME}'`,
      },
    ],
    validations: [
      {
        expression: `request.resource.resource != 'namespaces' || (${labelledExpression(config)})`,
        messageExpression: labelsMessage(config),
        reason: 'Forbidden',
      },
      {
        expression: `request.resource.resource == 'namespaces' || (${STAMPED_EXPRESSION})`,
        messageExpression: STAMP_MESSAGE,
        reason: 'Forbidden',
      },
    ],
  });
  return {
    policy,
    bindings: [
      bindingOf(name, name, { resourceRules: resourceRules(namespaces) }),
      bindingOf(`${name}${UNSTAMPED_BINDING_SUFFIX}`, name, {
        resourceRules: resourceRules(podMakers),
        namespaceSelector: { matchExpressions: [{ key: LABELS.baselineHash, operator: 'DoesNotExist' }] },
      }),
    ],
  };
}

/** The guard of k8s-ee's own label (below): its policy and binding are named so. */
export const MANAGED_LABEL_VAP_NAME = 'k8s-ee-managed-label';

/**
 * `k8s-ee.io/managed=true` marks a PR namespace: the webhooks' labelled entries select by it (no CEL), so on any
 * other namespace it would send every pod write there to k8s-ee and make it wait on k8s-ee during an outage. This
 * policy refuses a namespace created or updated with it unless its name is a PR namespace's (removing it is always
 * allowed). Only namespace writes carrying the label are judged (an objectSelector): nothing else pays for it.
 */
export function buildManagedLabelVap(
  name: string = MANAGED_LABEL_VAP_NAME,
  config: Pick<Config, 'namespacePattern'> = defaultConfig(),
): { policy: V1ValidatingAdmissionPolicy; binding: V1ValidatingAdmissionPolicyBinding } {
  const label = celString(LABELS.managed);
  const message = `'k8s-ee: Namespace ' + object.metadata.name + ': metadata.labels["${LABELS.managed}"]: "true" marks a PR namespace, and this name does not match the namespacePattern of the k8s-ee config [vap:managed-label]. With it, every pod write in this namespace would be sent to the k8s-ee webhooks and wait on them. Fix: remove the label (kubectl label namespace ' + object.metadata.name + ' ${LABELS.managed}-); k8s-ee labels its PR namespaces itself'`;
  const policy = policyOf(name, {
    failurePolicy: 'Fail',
    matchConstraints: {
      resourceRules: [
        { apiGroups: [''], apiVersions: ['*'], resources: ['namespaces'], operations: ['CREATE', 'UPDATE'] },
      ],
      objectSelector: { matchLabels: { [LABELS.managed]: 'true' } },
    },
    validations: [
      {
        expression: `!has(object.metadata.labels) || !(${label} in object.metadata.labels) || object.metadata.labels[${label}] != 'true' || object.metadata.name.matches(${celString(celPattern(config.namespacePattern))})`,
        messageExpression: message,
        reason: 'Forbidden',
      },
    ],
  });
  return { policy, binding: bindingOf(name, name) };
}
