// Names that are a contract between the webhook, the reconciler, the sweeper, the charts and the users.
export const FIELD_MANAGER = 'k8s-ee';

export const LABELS = {
  managed: 'k8s-ee.io/managed',
  project: 'k8s-ee.io/project',
  pr: 'k8s-ee.io/pr',
  /** Hash of the baseline last ensured in the namespace; the ValidatingAdmissionPolicy requires it. */
  baselineHash: 'k8s-ee.io/baseline-hash',
  /** Set on every k8s-ee-owned baseline object. */
  baselineObject: 'k8s-ee.io/baseline',
} as const;

export const ANNOTATIONS = {
  createdAt: 'k8s-ee.io/created-at',
  pinnedAt: 'k8s-ee.io/pinned-at',
  /**
   * When the namespace was pinned for the first time in its life; kept when the pin goes. A pin's maxDuration
   * counts from here, so unpinning and pinning again does not restart the clock.
   */
  firstPinnedAt: 'k8s-ee.io/first-pinned-at',
} as const;

export const PSS_MODES = ['enforce', 'audit', 'warn'] as const;
export const pssLabel = (mode: (typeof PSS_MODES)[number]): string => `pod-security.kubernetes.io/${mode}`;
export const pssVersionLabel = (mode: (typeof PSS_MODES)[number]): string =>
  `pod-security.kubernetes.io/${mode}-version`;

export const BASELINE_NAMES = {
  quota: 'k8s-ee-quota',
  limitRange: 'k8s-ee-limits',
  defaultDeny: 'k8s-ee-default-deny',
  allowSameNamespace: 'k8s-ee-allow-same-namespace',
  allowDns: 'k8s-ee-allow-dns',
  allowIngressController: 'k8s-ee-allow-ingress-controller',
  allowMonitoring: 'k8s-ee-allow-monitoring',
  allowInternetEgress: 'k8s-ee-allow-internet-egress',
} as const;

/** Every NetworkPolicy whose name starts with this prefix in a managed namespace belongs to k8s-ee. */
export const BASELINE_PREFIX = 'k8s-ee-';

/**
 * The environment's declaration of its databases: a ConfigMap the release itself creates (the app chart renders
 * it), with a key `databases` listing names from DATABASES separated by commas or whitespace.
 */
export const ENVIRONMENT_CONFIGMAP = 'k8s-ee-environment';
export const ENVIRONMENT_DATABASES_KEY = 'databases';
