// The Pod Security Standards `baseline` controls, written from the semantics of k8s.io/pod-security-admission
// (policy/check_*.go, v0.35). Each returns one violation per offending field, with its path and the fix.
import { byCodeUnits } from '../lib/order.ts';
import { field, flag, int, isSet, keyPath, list, stringMap, text } from './pss-fields.ts';
import { quoteList, type ContainerView, type PodView } from './pss-pod.ts';
import { findEach, NONE, violation, type Violation } from './violation.ts';

/** A control: every violation of it in one pod spec (NONE, shared and frozen, when there is none). */
export type CheckFn = (pod: PodView) => readonly Violation[];

export const windowsHostProcess: CheckFn = (pod) =>
  findEach(pod.holders, (h) =>
    flag(field(h.securityContext, 'windowsOptions'), 'hostProcess') === true
      ? violation(
          'pss:host-process',
          `${h.scPath}.windowsOptions.hostProcess`,
          `${h.label} runs as a Windows HostProcess container (hostProcess: true), with full access to the node`,
          'remove securityContext.windowsOptions.hostProcess (or set it to false)',
        )
      : undefined,
  );

const HOST_NAMESPACES = [
  {
    key: 'hostNetwork',
    what: 'network',
    fix: 'remove hostNetwork (or set it to false); reach the app through a Service',
  },
  { key: 'hostPID', what: 'process (PID)', fix: 'remove hostPID (or set it to false)' },
  { key: 'hostIPC', what: 'IPC', fix: 'remove hostIPC (or set it to false)' },
] as const;

export const hostNamespaces: CheckFn = (pod) =>
  findEach(HOST_NAMESPACES, (ns) =>
    flag(pod.spec, ns.key) === true
      ? violation(
          'pss:host-namespaces',
          `${pod.specPath}.${ns.key}`,
          `the pod shares the node's ${ns.what} namespace (${ns.key}: true)`,
          ns.fix,
        )
      : undefined,
  );

export const privileged: CheckFn = (pod) =>
  findEach(pod.containers, (c) =>
    flag(c.securityContext, 'privileged') === true
      ? violation(
          'pss:privileged',
          `${c.scPath}.privileged`,
          `${c.label} runs privileged (privileged: true), which disables almost every isolation`,
          'remove securityContext.privileged (or set it to false)',
        )
      : undefined,
  );

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/** The distinct strings of `capabilities.add` for which `refused` holds, in order; undefined when none. */
export function refusedCapabilities(c: ContainerView, refused: (cap: string) => boolean): string[] | undefined {
  let bad: string[] | undefined;
  for (const cap of list(field(c.securityContext, 'capabilities'), 'add')) {
    if (typeof cap === 'string' && refused(cap) && !bad?.includes(cap)) (bad ??= []).push(cap);
  }
  return bad;
}

const beyondBaseline = (cap: string): boolean => !BASELINE_CAPABILITIES.has(cap);

export const capabilitiesBaseline: CheckFn = (pod) =>
  findEach(pod.containers, (c) => {
    const bad = refusedCapabilities(c, beyondBaseline);
    if (!bad) return undefined;
    return violation(
      'pss:capabilities',
      `${c.scPath}.capabilities.add`,
      `${c.label} adds ${quoteList(bad)}, beyond the default capability set`,
      `remove ${quoteList(bad)} from securityContext.capabilities.add`,
    );
  });

export const hostPathVolumes: CheckFn = (pod) =>
  findEach(list(pod.spec, 'volumes'), (volume, i) =>
    isSet(volume, 'hostPath') ? hostPathViolation(pod, volume, i) : undefined,
  );

export function hostPathViolation(pod: PodView, volume: unknown, index: number): Violation {
  const name = text(volume, 'name') ?? '';
  return violation(
    'pss:host-path-volumes',
    `${pod.specPath}.volumes[${index}].hostPath`,
    `volume ${JSON.stringify(name)} mounts a directory of the node (hostPath)`,
    'use an emptyDir for scratch space, a persistentVolumeClaim for data, or a configMap/secret/projected volume for files',
  );
}

/**
 * With hostNetwork: true the API server defaults each unset hostPort of a (init) container to its containerPort,
 * so the pod PodSecurity sees binds those ports on the node: report them too, as upstream then does.
 */
function effectiveHostPort(pod: PodView, c: ContainerView, port: unknown): { value: number; defaulted: boolean } {
  const hostPort = int(port, 'hostPort');
  if (hostPort !== undefined && hostPort !== 0) return { value: hostPort, defaulted: false };
  const defaults = flag(pod.spec, 'hostNetwork') === true && c.field !== 'ephemeralContainers';
  return { value: defaults ? (int(port, 'containerPort') ?? 0) : 0, defaulted: true };
}

function hostPortViolation(pod: PodView, c: ContainerView, port: unknown, j: number): Violation | undefined {
  const hostPort = effectiveHostPort(pod, c, port);
  if (hostPort.value === 0) return undefined;
  return hostPort.defaulted
    ? violation(
        'pss:host-ports',
        `${c.path}.ports[${j}].hostPort`,
        `${c.label} binds port ${hostPort.value} on the node: with hostNetwork: true, hostPort defaults to containerPort`,
        'remove hostNetwork; the port is then reachable through a Service instead of on the node',
      )
    : violation(
        'pss:host-ports',
        `${c.path}.ports[${j}].hostPort`,
        `${c.label} binds port ${hostPort.value} on the node (hostPort)`,
        'remove hostPort (keep containerPort) and reach the container through a Service',
      );
}

export const hostPorts: CheckFn = (pod) => {
  let found: Violation[] | undefined;
  for (const c of pod.containers) {
    const ports = list(c.value, 'ports');
    for (let j = 0; j < ports.length; j++) {
      const v = hostPortViolation(pod, c, ports[j], j);
      if (v) (found ??= []).push(v);
    }
  }
  return found ?? NONE;
};

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
const HOOKS = [
  { key: 'postStart', step: 'lifecycle.postStart' },
  { key: 'preStop', step: 'lifecycle.preStop' },
] as const;
const HOST_ACTIONS = ['httpGet', 'tcpSocket'] as const;

/**
 * Adds a violation for each action of a probe or lifecycle hook that names a host (`<container>.<step>.httpGet.host`
 * or `.tcpSocket.host`). Run on every container admission sees: the path is built only for what it reports.
 */
function reportHosts(c: ContainerView, handler: unknown, step: string, found: Violation[] | undefined) {
  for (const action of HOST_ACTIONS) {
    const host = text(field(handler, action), 'host');
    if (!host) continue;
    (found ??= []).push(
      violation(
        'pss:probe-host',
        `${c.path}.${step}.${action}.host`,
        `${c.label} points a probe or lifecycle hook at host ${JSON.stringify(host)} instead of its own pod`,
        'remove the host field so the probe or hook targets the pod itself',
      ),
    );
  }
  return found;
}

export const probeHosts: CheckFn = (pod) => {
  let found: Violation[] | undefined;
  for (const c of pod.containers) {
    for (const probe of PROBES) found = reportHosts(c, field(c.value, probe), probe, found);
    const lifecycle = field(c.value, 'lifecycle');
    for (const hook of HOOKS) found = reportHosts(c, field(lifecycle, hook.key), hook.step, found);
  }
  return found ?? NONE;
};

const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);

function appArmorAnnotationAllowed(value: string): boolean {
  return value === '' || value === 'runtime/default' || value.startsWith('localhost/');
}

function appArmorFields(pod: PodView, found: Violation[] | undefined): Violation[] | undefined {
  for (const h of pod.holders) {
    const profile = field(h.securityContext, 'appArmorProfile');
    if (!profile) continue;
    const type = text(profile, 'type') ?? '';
    if (APPARMOR_TYPES.has(type)) continue;
    (found ??= []).push(
      violation(
        'pss:apparmor',
        `${h.scPath}.appArmorProfile.type`,
        `${h.label} sets AppArmor profile type ${JSON.stringify(type)}, which disables or replaces the default confinement`,
        'set securityContext.appArmorProfile.type to RuntimeDefault (or Localhost with localhostProfile), or remove appArmorProfile',
      ),
    );
  }
  return found;
}

/** The deprecated per-container annotations that set a profile other than the default, sorted by key. */
function appArmorAnnotations(pod: PodView, found: Violation[] | undefined): Violation[] | undefined {
  const annotations = field(pod.metadata, 'annotations');
  let bad: [string, string][] | undefined;
  for (const key in annotations) {
    const value = annotations[key];
    if (typeof value !== 'string' || !Object.hasOwn(annotations, key)) continue;
    if (key.startsWith(APPARMOR_ANNOTATION_PREFIX) && !appArmorAnnotationAllowed(value))
      (bad ??= []).push([key, value]);
  }
  if (!bad) return found;
  const annotationsPath = `${pod.metadataPath}.annotations`;
  bad.sort(([a], [b]) => byCodeUnits(a, b));
  found ??= [];
  for (const [key, value] of bad) {
    found.push(
      violation(
        'pss:apparmor',
        keyPath(annotationsPath, key),
        `annotation sets AppArmor profile ${JSON.stringify(value)} for container ${JSON.stringify(key.slice(APPARMOR_ANNOTATION_PREFIX.length))}`,
        'remove the deprecated annotation (or set it to "runtime/default"); prefer securityContext.appArmorProfile.type: RuntimeDefault',
      ),
    );
  }
  return found;
}

export const appArmor: CheckFn = (pod) => appArmorAnnotations(pod, appArmorFields(pod, undefined)) ?? NONE;

const SELINUX_TYPES_1_0 = ['container_t', 'container_init_t', 'container_kvm_t'];
const SELINUX_TYPES_1_31 = [...SELINUX_TYPES_1_0, 'container_engine_t'];

function seLinuxCheck(allowedTypes: readonly string[]): CheckFn {
  return (pod) => {
    let out: Violation[] | undefined;
    for (const h of pod.holders) {
      const options = field(h.securityContext, 'seLinuxOptions');
      if (!options) continue;
      const path = `${h.scPath}.seLinuxOptions`;
      const type = text(options, 'type') ?? '';
      if (type !== '' && !allowedTypes.includes(type)) {
        (out ??= []).push(
          violation(
            'pss:selinux',
            `${path}.type`,
            `${h.label} sets SELinux type ${JSON.stringify(type)}`,
            `remove seLinuxOptions.type or use one of ${allowedTypes.join(', ')}`,
          ),
        );
      }
      for (const key of ['user', 'role'] as const) {
        const value = text(options, key) ?? '';
        if (value !== '') {
          (out ??= []).push(
            violation(
              'pss:selinux',
              `${path}.${key}`,
              `${h.label} sets SELinux ${key} ${JSON.stringify(value)}`,
              `remove seLinuxOptions.${key}`,
            ),
          );
        }
      }
    }
    return out ?? NONE;
  };
}

export const seLinux_1_0 = seLinuxCheck(SELINUX_TYPES_1_0);
export const seLinux_1_31 = seLinuxCheck(SELINUX_TYPES_1_31);

/** Containers that set a procMount other than Default (the restricted check, and baseline before v1.35). */
export const procMount: CheckFn = (pod) =>
  findEach(pod.containers, (c) => {
    const value = c.securityContext?.['procMount'];
    if (value === undefined || value === null || value === 'Default') return undefined;
    return procMountViolation(c, value);
  });

function procMountViolation(c: ContainerView, value: unknown): Violation {
  return violation(
    'pss:proc-mount',
    `${c.scPath}.procMount`,
    `${c.label} sets procMount ${JSON.stringify(value)}, unmasking the node's /proc`,
    'remove securityContext.procMount (or set it to Default)',
  );
}

/** Baseline since v1.35: any procMount is allowed in a user namespace (hostUsers: false). */
export const procMount_1_35: CheckFn = (pod) => (pod.userNamespace ? NONE : procMount(pod));

const SECCOMP_TYPES = new Set(['RuntimeDefault', 'Localhost']);

export function seccompTypeAllowed(type: string): boolean {
  return SECCOMP_TYPES.has(type);
}

/** Explicitly set seccomp profiles of a forbidden type (Unconfined, or anything unknown). */
export function badSeccompFields(pod: PodView): readonly Violation[] {
  return findEach(pod.holders, (h) => {
    const profile = field(h.securityContext, 'seccompProfile');
    if (!profile) return undefined;
    const type = text(profile, 'type') ?? '';
    if (seccompTypeAllowed(type)) return undefined;
    return violation(
      'pss:seccomp',
      `${h.scPath}.seccompProfile.type`,
      `${h.label} sets seccomp profile type ${JSON.stringify(type)}, which turns off system call filtering`,
      'set securityContext.seccompProfile.type to RuntimeDefault (or Localhost with localhostProfile)',
    );
  });
}

export const seccompBaseline_1_19: CheckFn = badSeccompFields;

const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
const SECCOMP_CONTAINER_ANNOTATION_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';

function seccompAnnotationAllowed(value: string): boolean {
  return value === 'runtime/default' || value === 'docker/default' || value.startsWith('localhost/');
}

/** Before v1.19 seccomp was set by annotations, and baseline checked those; later versions ignore them. */
export const seccompAnnotations_1_0: CheckFn = (pod) => {
  const annotations = stringMap(pod.metadata, 'annotations');
  const keys = [SECCOMP_POD_ANNOTATION, ...pod.containers.map((c) => SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.name)];
  return [...new Set(keys)]
    .filter((key) => annotations[key] !== undefined && !seccompAnnotationAllowed(annotations[key] ?? ''))
    .map((key) =>
      violation(
        'pss:seccomp',
        keyPath(`${pod.metadataPath}.annotations`, key),
        `annotation sets seccomp profile ${JSON.stringify(annotations[key])}`,
        'set the annotation to "runtime/default" (on v1.19+ use securityContext.seccompProfile.type: RuntimeDefault)',
      ),
    );
};

const SYSCTLS_1_0 = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
];
const SYSCTLS_1_27 = [...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports'];
const SYSCTLS_1_29 = [
  ...SYSCTLS_1_27,
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const SYSCTLS_1_32 = [...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];

function sysctlsCheck(allowed: readonly string[]): CheckFn {
  return (pod) =>
    findEach(list(pod.securityContext, 'sysctls'), (entry, i) => {
      const name = text(entry, 'name') ?? '';
      if (allowed.includes(name)) return undefined;
      return violation(
        'pss:sysctls',
        `${pod.scPath}.sysctls[${i}].name`,
        `the pod sets sysctl ${JSON.stringify(name)}, which is not in the safe set`,
        `remove it; only these sysctls are allowed: ${allowed.join(', ')}`,
      );
    });
}

export const sysctls_1_0 = sysctlsCheck(SYSCTLS_1_0);
export const sysctls_1_27 = sysctlsCheck(SYSCTLS_1_27);
export const sysctls_1_29 = sysctlsCheck(SYSCTLS_1_29);
export const sysctls_1_32 = sysctlsCheck(SYSCTLS_1_32);
