// Pod Security Standards: the `baseline` and `restricted` profiles, evaluated as the API server's PodSecurity
// admission (k8s.io/pod-security-admission v0.35) does, check by check and version by version, but reporting one
// violation per offending field with its exact path and the fix, so a failed CI log says what to write where.
//
// Fidelity notes (each pinned by a test, and by the differential e2e test against a real API server):
// - Versions: "latest" (default) or "v1.N"; an unparsable version evaluates as latest, like upstream.
// - Upstream reports only one reason per control; we report every offending field of it (same verdict).
// - Seccomp annotations are only checked for versions before v1.19, as upstream does; AppArmor annotations always.
// - Values of the wrong type read as unset (the API server refuses to decode them anyway).
import {
  appArmor,
  capabilitiesBaseline,
  hostNamespaces,
  hostPathVolumes,
  hostPorts,
  privileged,
  probeHosts,
  procMount,
  procMount_1_35,
  seccompAnnotations_1_0,
  seccompBaseline_1_19,
  seLinux_1_0,
  seLinux_1_31,
  sysctls_1_0,
  sysctls_1_27,
  sysctls_1_29,
  sysctls_1_32,
  windowsHostProcess,
  type CheckFn,
} from './pss-baseline.ts';
import { podView } from './pss-pod.ts';
import {
  allowPrivilegeEscalation_1_25,
  allowPrivilegeEscalation_1_8,
  capabilitiesRestricted_1_22,
  capabilitiesRestricted_1_25,
  restrictedVolumes,
  runAsNonRoot_1_0,
  runAsNonRoot_1_35,
  runAsUser_1_23,
  runAsUser_1_35,
  seccompRestricted_1_19,
  seccompRestricted_1_25,
} from './pss-restricted.ts';
import type { Violation } from './violation.ts';

export type PssLevel = 'baseline' | 'restricted';

interface VersionedCheck {
  /** First minor version of Kubernetes 1.x this implementation applies to. */
  min: number;
  run: CheckFn;
  /** Baseline checks this restricted check replaces (from this version on). */
  overrides?: readonly string[];
}

interface Check {
  /** Upstream check id (policy/check_*.go). */
  id: string;
  level: PssLevel;
  versions: readonly VersionedCheck[];
}

const CHECKS: readonly Check[] = [
  { id: 'windowsHostProcess', level: 'baseline', versions: [{ min: 0, run: windowsHostProcess }] },
  { id: 'hostNamespaces', level: 'baseline', versions: [{ min: 0, run: hostNamespaces }] },
  { id: 'privileged', level: 'baseline', versions: [{ min: 0, run: privileged }] },
  { id: 'capabilities_baseline', level: 'baseline', versions: [{ min: 0, run: capabilitiesBaseline }] },
  { id: 'hostPathVolumes', level: 'baseline', versions: [{ min: 0, run: hostPathVolumes }] },
  { id: 'hostPorts', level: 'baseline', versions: [{ min: 0, run: hostPorts }] },
  { id: 'hostProbesAndHostLifecycle', level: 'baseline', versions: [{ min: 34, run: probeHosts }] },
  { id: 'appArmorProfile', level: 'baseline', versions: [{ min: 0, run: appArmor }] },
  {
    id: 'seLinuxOptions',
    level: 'baseline',
    versions: [
      { min: 0, run: seLinux_1_0 },
      { min: 31, run: seLinux_1_31 },
    ],
  },
  {
    id: 'procMount',
    level: 'baseline',
    versions: [
      { min: 0, run: procMount },
      { min: 35, run: procMount_1_35 },
    ],
  },
  {
    id: 'seccompProfile_baseline',
    level: 'baseline',
    versions: [
      { min: 0, run: seccompAnnotations_1_0 },
      { min: 19, run: seccompBaseline_1_19 },
    ],
  },
  {
    id: 'sysctls',
    level: 'baseline',
    versions: [
      { min: 0, run: sysctls_1_0 },
      { min: 27, run: sysctls_1_27 },
      { min: 29, run: sysctls_1_29 },
      { min: 32, run: sysctls_1_32 },
    ],
  },
  {
    id: 'restrictedVolumes',
    level: 'restricted',
    versions: [{ min: 0, run: restrictedVolumes, overrides: ['hostPathVolumes'] }],
  },
  {
    id: 'allowPrivilegeEscalation',
    level: 'restricted',
    versions: [
      { min: 8, run: allowPrivilegeEscalation_1_8 },
      { min: 25, run: allowPrivilegeEscalation_1_25 },
    ],
  },
  {
    id: 'runAsNonRoot',
    level: 'restricted',
    versions: [
      { min: 0, run: runAsNonRoot_1_0 },
      { min: 35, run: runAsNonRoot_1_35 },
    ],
  },
  {
    id: 'runAsUser',
    level: 'restricted',
    versions: [
      { min: 23, run: runAsUser_1_23 },
      { min: 35, run: runAsUser_1_35 },
    ],
  },
  {
    id: 'seccompProfile_restricted',
    level: 'restricted',
    versions: [
      { min: 19, run: seccompRestricted_1_19, overrides: ['seccompProfile_baseline'] },
      { min: 25, run: seccompRestricted_1_25, overrides: ['seccompProfile_baseline'] },
    ],
  },
  {
    id: 'capabilities_restricted',
    level: 'restricted',
    versions: [
      { min: 22, run: capabilitiesRestricted_1_22, overrides: ['capabilities_baseline'] },
      { min: 25, run: capabilitiesRestricted_1_25, overrides: ['capabilities_baseline'] },
    ],
  },
  {
    id: 'procMount_restricted',
    level: 'restricted',
    versions: [{ min: 35, run: procMount, overrides: ['procMount'] }],
  },
];

/** The newest policy version whose checks this module knows; later versions evaluate like it (as upstream). */
export const PSS_LATEST_KNOWN_VERSION = 'v1.35';
const LATEST_KNOWN_MINOR = 35;

/** Minor version of a policy version string: "latest" (or missing, or unparsable) is Infinity, "v1.27" is 27. */
export function policyMinor(version: string | undefined): number {
  const match = /^v1\.(0|[1-9][0-9]*)$/.exec(version ?? 'latest');
  return match ? Number(match[1]) : Number.POSITIVE_INFINITY;
}

function applicable(check: Check, minor: number): VersionedCheck | undefined {
  let chosen: VersionedCheck | undefined;
  for (const versioned of check.versions) if (versioned.min <= minor) chosen = versioned;
  return chosen;
}

const byId = (a: Check, b: Check): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const checkLists = new Map<string, CheckFn[]>();

/** The checks of a level at a version, in upstream's order (baseline ids sorted, then restricted ids sorted). */
function checksFor(level: PssLevel, minor: number): CheckFn[] {
  // Versions newer than the newest known check evaluate like it (as upstream), which also bounds this cache.
  const effective = Math.min(minor, LATEST_KNOWN_MINOR);
  const key = `${level}:${effective}`;
  let checks = checkLists.get(key);
  if (!checks) checkLists.set(key, (checks = buildChecks(level, effective)));
  return checks;
}

function buildChecks(level: PssLevel, minor: number): CheckFn[] {
  const restricted = level === 'restricted' ? CHECKS.filter((c) => c.level === 'restricted').sort(byId) : [];
  const overridden = new Set(restricted.flatMap((c) => applicable(c, minor)?.overrides ?? []));
  const baseline = CHECKS.filter((c) => c.level === 'baseline' && !overridden.has(c.id)).sort(byId);
  return [...baseline, ...restricted].flatMap((c) => {
    const versioned = applicable(c, minor);
    return versioned ? [versioned.run] : [];
  });
}

/**
 * Every Pod Security Standards violation of a pod spec at the given level and policy version.
 * `pathPrefix` is the field path of the pod spec in its object (`spec` for a Pod, `spec.template.spec` for a
 * Deployment); the metadata path is derived from it (`spec.template.metadata`). Never throws.
 */
export function checkPodSecurity(
  podSpec: unknown,
  podMetadata: unknown,
  pathPrefix: string,
  options: { level: PssLevel; version?: string },
): Violation[] {
  const pod = podView(podSpec, podMetadata, pathPrefix);
  const out: Violation[] = [];
  for (const check of checksFor(options.level, policyMinor(options.version))) {
    const found = check(pod);
    for (let i = 0; i < found.length; i++) out.push(found[i] as Violation);
  }
  return out;
}

/**
 * Every violation of the `restricted` profile (which includes baseline), as PodSecurity admission with
 * `enforce=restricted` and `enforce-version=<version>` (default latest) evaluates it. An empty list means allowed.
 */
export function checkRestricted(
  podSpec: unknown,
  podMetadata: unknown,
  pathPrefix: string,
  version?: string,
): Violation[] {
  return checkPodSecurity(podSpec, podMetadata, pathPrefix, { level: 'restricted', version: version ?? 'latest' });
}

/** Every rule id checkRestricted can report. */
export const PSS_RULES = [
  'pss:host-process',
  'pss:host-namespaces',
  'pss:privileged',
  'pss:capabilities',
  'pss:host-path-volumes',
  'pss:host-ports',
  'pss:probe-host',
  'pss:apparmor',
  'pss:selinux',
  'pss:proc-mount',
  'pss:seccomp',
  'pss:sysctls',
  'pss:volume-types',
  'pss:privilege-escalation',
  'pss:run-as-non-root',
  'pss:run-as-user',
] as const;

/**
 * The upstream PodSecurity forbidden reasons (the text before each parenthesis in a denial) and the rule ids
 * they correspond to here. `restricted volume types` covers hostPath too, which has its own rule here.
 */
export const UPSTREAM_REASONS: Readonly<Record<string, readonly string[]>> = {
  hostProcess: ['pss:host-process'],
  'host namespaces': ['pss:host-namespaces'],
  privileged: ['pss:privileged'],
  'non-default capabilities': ['pss:capabilities'],
  'unrestricted capabilities': ['pss:capabilities'],
  'hostPath volumes': ['pss:host-path-volumes'],
  hostPort: ['pss:host-ports'],
  'probe or lifecycle host': ['pss:probe-host'],
  'forbidden AppArmor profile': ['pss:apparmor'],
  'forbidden AppArmor profiles': ['pss:apparmor'],
  seLinuxOptions: ['pss:selinux'],
  procMount: ['pss:proc-mount'],
  seccompProfile: ['pss:seccomp'],
  'forbidden sysctls': ['pss:sysctls'],
  'restricted volume types': ['pss:volume-types', 'pss:host-path-volumes'],
  'allowPrivilegeEscalation != false': ['pss:privilege-escalation'],
  'runAsNonRoot != true': ['pss:run-as-non-root'],
  'runAsUser=0': ['pss:run-as-user'],
};
