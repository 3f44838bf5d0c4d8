// A ValidatingAdmissionPolicy (CEL, evaluated inside the API server) that backs the baseline gate: in a managed
// namespace (label k8s-ee.io/managed=true), no Pod or pod controller is created unless the namespace carries the
// baseline stamp (label k8s-ee.io/baseline-hash), which k8s-ee sets only once every baseline object exists. It
// holds while the webhook is down or unregistered. Pure: the objects are data; `node policies/vap-print.ts`
// prints them as YAML for the chart.
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import { LABELS } from './names.ts';

export const VAP_NAME = 'k8s-ee-baseline-required';

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

const managedSelector = { matchLabels: { [LABELS.managed]: 'true' } };

/** The CEL condition: the namespace carries a non-empty baseline stamp. */
export const STAMPED_EXPRESSION = `has(namespaceObject.metadata.labels) && '${LABELS.baselineHash}' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['${LABELS.baselineHash}'] != ''`;

export function buildBaselineVap(name: string = VAP_NAME): {
  policy: V1ValidatingAdmissionPolicy;
  binding: V1ValidatingAdmissionPolicyBinding;
} {
  const policy: V1ValidatingAdmissionPolicy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'k8s-ee', 'app.kubernetes.io/part-of': 'k8s-ee' } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        namespaceSelector: managedSelector,
        resourceRules: [...GUARDED_RESOURCES, { apiGroup: 'networking.k8s.io', resources: ['networkpolicies'] }].map(
          (r) => ({
            apiGroups: [r.apiGroup],
            apiVersions: ['*'],
            resources: [...r.resources],
            operations: ['CREATE'],
          }),
        ),
      },
      matchConditions: [
        {
          name: 'pod-makers-and-the-stamp-probe',
          expression: `request.resource.resource != 'networkpolicies' || object.metadata.name == '${STAMP_PROBE_NAME}'`,
        },
      ],
      validations: [
        {
          expression: STAMPED_EXPRESSION,
          messageExpression: `'k8s-ee: ' + request.resource.resource + ' may not be created in ' + namespaceObject.metadata.name + ' yet: its baseline (quota, limits, network policies) is not in place (the namespace has no ${LABELS.baselineHash} label). k8s-ee sets it within moments of the namespace; if this persists, the k8s-ee webhook is not running. Retry in a few seconds.'`,
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding: V1ValidatingAdmissionPolicyBinding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'k8s-ee', 'app.kubernetes.io/part-of': 'k8s-ee' } },
    spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: managedSelector } },
  };
  return { policy, binding };
}
