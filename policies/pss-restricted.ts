// The Pod Security Standards `restricted` controls, written from the semantics of k8s.io/pod-security-admission
// (policy/check_*.go, v0.35). Each returns one violation per offending field, with its path and the fix.
import { badSeccompFields, hostPathViolation, refusedCapabilities, type CheckFn } from './pss-baseline.ts';
import { field, flag, int, isFields, isSet, list, stringsAt, text, type Fields } from './pss-fields.ts';
import { describeContainers, quoteList, type ContainerView, type PodView } from './pss-pod.ts';
import { findEach, NONE, violation, type Violation } from './violation.ts';

/** Since v1.25 a Windows pod is exempt from the controls whose fields the API forbids on Windows. */
function exemptWindows(check: CheckFn): CheckFn {
  return (pod) => (pod.windows ? NONE : check(pod));
}

/** Since v1.35 a pod in a user namespace (hostUsers: false) is exempt from the controls on the user it runs as. */
function exemptUserNamespace(check: CheckFn): CheckFn {
  return (pod) => (pod.userNamespace ? NONE : check(pod));
}

export const allowPrivilegeEscalation_1_8: CheckFn = (pod) =>
  findEach(pod.containers, (c) => {
    const value = flag(c.securityContext, 'allowPrivilegeEscalation');
    if (value === false) return undefined;
    const message =
      value === true
        ? `${c.label} sets allowPrivilegeEscalation: true`
        : `${c.label} does not set allowPrivilegeEscalation: false (it defaults to true, so setuid binaries can gain privileges)`;
    return violation(
      'pss:privilege-escalation',
      `${c.scPath}.allowPrivilegeEscalation`,
      message,
      `set securityContext.allowPrivilegeEscalation: false in ${c.label}`,
    );
  });

export const allowPrivilegeEscalation_1_25 = exemptWindows(allowPrivilegeEscalation_1_8);

function missingDropAll(c: ContainerView): Violation | undefined {
  const capabilities = field(c.securityContext, 'capabilities');
  for (const cap of list(capabilities, 'drop')) if (cap === 'ALL') return undefined;
  const dropped = stringsAt(capabilities, 'drop');
  const message =
    dropped.length === 0
      ? `${c.label} does not drop ALL capabilities`
      : `${c.label} drops ${quoteList(dropped.map((e) => e.value))} but not "ALL"`;
  return violation(
    'pss:capabilities',
    `${c.scPath}.capabilities.drop`,
    message,
    'set securityContext.capabilities.drop: ["ALL"] (and add back only NET_BIND_SERVICE if the container binds a port below 1024)',
  );
}

const beyondRestricted = (cap: string): boolean => cap !== 'NET_BIND_SERVICE';

function forbiddenAdds(c: ContainerView): Violation | undefined {
  const bad = refusedCapabilities(c, beyondRestricted);
  if (!bad) return undefined;
  return violation(
    'pss:capabilities',
    `${c.scPath}.capabilities.add`,
    `${c.label} adds ${quoteList(bad)}; restricted allows adding only NET_BIND_SERVICE`,
    `remove ${quoteList(bad)} from securityContext.capabilities.add`,
  );
}

export const capabilitiesRestricted_1_22: CheckFn = (pod) => {
  let found: Violation[] | undefined;
  for (const c of pod.containers) {
    const drop = missingDropAll(c);
    if (drop) (found ??= []).push(drop);
    const add = forbiddenAdds(c);
    if (add) (found ??= []).push(add);
  }
  return found ?? NONE;
};

export const capabilitiesRestricted_1_25 = exemptWindows(capabilitiesRestricted_1_22);

/**
 * Volume sources restricted allows (upstream's allow-list in check_restrictedVolumes.go, `image` included, at every
 * policy version). Every other field of a volume but its name is refused: the sources below by name, and any key
 * the Pod API does not know (a typo, or a source newer than this list) as an unknown type.
 */
const ALLOWED_VOLUME_SOURCES: ReadonlySet<string> = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'image',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

/** Volume sources restricted refuses: every inline source of core/v1 Volume outside the allowed list. */
export const FORBIDDEN_VOLUME_SOURCES = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
] as const;

const KNOWN_FORBIDDEN: ReadonlySet<string> = new Set(FORBIDDEN_VOLUME_SOURCES);
const ALLOWED_VOLUMES_TEXT = [...ALLOWED_VOLUME_SOURCES].join(', ');

/** Whether restricted refuses the field `key` of a volume (its name is no source). */
const refusedSource = (volume: Fields, key: string): boolean =>
  key !== 'name' && !ALLOWED_VOLUME_SOURCES.has(key) && isSet(volume, key);

function volumeTypeViolation(pod: PodView, volume: Fields, i: number, source: string): Violation {
  if (source === 'hostPath') return hostPathViolation(pod, volume, i);
  const name = JSON.stringify(text(volume, 'name') ?? '');
  return violation(
    'pss:volume-types',
    `${pod.specPath}.volumes[${i}].${source}`,
    KNOWN_FORBIDDEN.has(source)
      ? `volume ${name} is of type ${source}, which restricted does not allow`
      : `volume ${name} has the field ${source}, which is not a volume type restricted allows (unknown to the Pod API)`,
    `use one of ${ALLOWED_VOLUMES_TEXT} (for network storage: a persistentVolumeClaim)`,
  );
}

/** Every refused field of every volume, each volume's in its own order. */
export const restrictedVolumes: CheckFn = (pod) => {
  let found: Violation[] | undefined;
  const volumes = list(pod.spec, 'volumes');
  for (let i = 0; i < volumes.length; i++) {
    const volume = volumes[i];
    if (!isFields(volume)) continue;
    for (const key of Object.keys(volume)) {
      if (refusedSource(volume, key)) (found ??= []).push(volumeTypeViolation(pod, volume, i, key));
    }
  }
  return found ?? NONE;
};

/** "sets" after one container, "set" after several ("neither the pod nor container "a" sets"). */
const verb = (containers: readonly ContainerView[]): string => (containers.length === 1 ? 'sets' : 'set');

const NO_CONTAINERS: readonly ContainerView[] = Object.freeze([]);

/** The upstream rule shared by runAsNonRoot and seccomp: set at pod level, or else in every container. */
function unsetEverywhere(
  pod: PodView,
  podLevelOk: boolean,
  containerSets: (c: ContainerView) => boolean,
): readonly ContainerView[] {
  return podLevelOk ? NO_CONTAINERS : pod.containers.filter((c) => !containerSets(c));
}

const setsNonRoot = (c: ContainerView): boolean => flag(c.securityContext, 'runAsNonRoot') !== undefined;
const setsSeccomp = (c: ContainerView): boolean => field(c.securityContext, 'seccompProfile') !== undefined;

export const runAsNonRoot_1_0: CheckFn = (pod) => {
  let out: Violation[] | undefined;
  const podValue = flag(pod.securityContext, 'runAsNonRoot');
  if (podValue === false)
    (out ??= []).push(nonRootViolation(`${pod.scPath}.runAsNonRoot`, 'the pod sets runAsNonRoot: false'));
  for (const c of pod.containers) {
    if (flag(c.securityContext, 'runAsNonRoot') === false) {
      (out ??= []).push(nonRootViolation(`${c.scPath}.runAsNonRoot`, `${c.label} sets runAsNonRoot: false`));
    }
  }
  const unset = unsetEverywhere(pod, podValue !== undefined, setsNonRoot);
  if (unset.length > 0) {
    (out ??= []).push(
      violation(
        'pss:run-as-non-root',
        `${pod.scPath}.runAsNonRoot`,
        `neither the pod nor ${describeContainers(unset)} ${verb(unset)} runAsNonRoot: true, so the image may run as root`,
        'set securityContext.runAsNonRoot: true at the pod level (or in every container), with an image that runs as a non-zero user (USER in the Dockerfile, or securityContext.runAsUser)',
      ),
    );
  }
  return out ?? NONE;
};

function nonRootViolation(path: string, message: string): Violation {
  return violation(
    'pss:run-as-non-root',
    path,
    message,
    'set runAsNonRoot: true and run the image as a non-zero user (USER in the Dockerfile, or securityContext.runAsUser)',
  );
}

export const runAsNonRoot_1_35 = exemptUserNamespace(runAsNonRoot_1_0);

export const runAsUser_1_23: CheckFn = (pod) =>
  findEach(pod.holders, (s) =>
    int(s.securityContext, 'runAsUser') === 0
      ? violation(
          'pss:run-as-user',
          `${s.scPath}.runAsUser`,
          `${s.label} sets runAsUser: 0 (root)`,
          'remove runAsUser or set a non-zero user id (for example 10001) that the image can run as',
        )
      : undefined,
  );

export const runAsUser_1_35 = exemptUserNamespace(runAsUser_1_23);

export const seccompRestricted_1_19: CheckFn = (pod) => {
  const explicit = badSeccompFields(pod);
  const podProfile = field(pod.securityContext, 'seccompProfile');
  // A pod-level profile of a bad type is already reported; fixing it covers the containers that inherit it.
  const unset = unsetEverywhere(pod, podProfile !== undefined, setsSeccomp);
  if (unset.length === 0) return explicit;
  return [
    ...explicit,
    violation(
      'pss:seccomp',
      `${pod.scPath}.seccompProfile.type`,
      `neither the pod nor ${describeContainers(unset)} ${verb(unset)} a seccomp profile, so system calls are not filtered`,
      'set securityContext.seccompProfile.type: RuntimeDefault at the pod level (or in every container)',
    ),
  ];
};

export const seccompRestricted_1_25 = exemptWindows(seccompRestricted_1_19);
