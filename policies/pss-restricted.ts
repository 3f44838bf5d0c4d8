// The Pod Security Standards `restricted` controls, written from the semantics of k8s.io/pod-security-admission
// (policy/check_*.go, v0.35). Each returns one violation per offending field, with its path and the fix.
import { badSeccompFields, hostPathViolation, type CheckFn } from './pss-baseline.ts';
import { field, flag, int, isFields, isSet, list, stringsAt, text } from './pss-fields.ts';
import { describeContainers, quoteList, type ContainerView, type PodView } from './pss-pod.ts';
import { violation, type Violation } from './violation.ts';

/** Since v1.25 a Windows pod is exempt from the controls whose fields the API forbids on Windows. */
function exemptWindows(check: CheckFn): CheckFn {
  return (pod) => (pod.windows ? [] : check(pod));
}

/** Since v1.35 a pod in a user namespace (hostUsers: false) is exempt from the controls on the user it runs as. */
function exemptUserNamespace(check: CheckFn): CheckFn {
  return (pod) => (pod.userNamespace ? [] : check(pod));
}

export const allowPrivilegeEscalation_1_8: CheckFn = (pod) =>
  pod.containers.flatMap((c) => {
    const value = flag(c.securityContext, 'allowPrivilegeEscalation');
    if (value === false) return [];
    const message =
      value === true
        ? `${c.label} sets allowPrivilegeEscalation: true`
        : `${c.label} does not set allowPrivilegeEscalation: false (it defaults to true, so setuid binaries can gain privileges)`;
    return [
      violation(
        'pss:privilege-escalation',
        `${c.scPath}.allowPrivilegeEscalation`,
        message,
        `set securityContext.allowPrivilegeEscalation: false in ${c.label}`,
      ),
    ];
  });

export const allowPrivilegeEscalation_1_25 = exemptWindows(allowPrivilegeEscalation_1_8);

function missingDropAll(c: ContainerView): Violation | undefined {
  const dropped = stringsAt(field(c.securityContext, 'capabilities'), 'drop');
  for (const e of dropped) if (e.value === 'ALL') return undefined;
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

function forbiddenAdds(c: ContainerView): Violation | undefined {
  const added = stringsAt(field(c.securityContext, 'capabilities'), 'add');
  if (added.length === 0) return undefined;
  const bad = [...new Set(added.map((e) => e.value))].filter((cap) => cap !== 'NET_BIND_SERVICE');
  if (bad.length === 0) return undefined;
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
  return found ?? [];
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

/** The set fields of a volume that restricted refuses, in the volume's own order (its name is no source). */
const refusedSources = (volume: unknown): string[] =>
  isFields(volume)
    ? Object.keys(volume).filter((key) => key !== 'name' && !ALLOWED_VOLUME_SOURCES.has(key) && isSet(volume, key))
    : [];

export const restrictedVolumes: CheckFn = (pod) =>
  list(pod.spec, 'volumes').flatMap((volume, i) =>
    refusedSources(volume).map((source) => {
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
    }),
  );

/** "sets" after one container, "set" after several ("neither the pod nor container "a" sets"). */
const verb = (containers: readonly ContainerView[]): string => (containers.length === 1 ? 'sets' : 'set');

/** The upstream rule shared by runAsNonRoot and seccomp: set at pod level, or else in every container. */
function unsetEverywhere(
  pod: PodView,
  podLevelOk: boolean,
  containerSets: (c: ContainerView) => boolean,
): ContainerView[] {
  return podLevelOk ? [] : pod.containers.filter((c) => !containerSets(c));
}

export const runAsNonRoot_1_0: CheckFn = (pod) => {
  const out: Violation[] = [];
  const podValue = flag(pod.securityContext, 'runAsNonRoot');
  if (podValue === false) out.push(nonRootViolation(`${pod.scPath}.runAsNonRoot`, 'the pod sets runAsNonRoot: false'));
  for (const c of pod.containers) {
    if (flag(c.securityContext, 'runAsNonRoot') === false) {
      out.push(nonRootViolation(`${c.scPath}.runAsNonRoot`, `${c.label} sets runAsNonRoot: false`));
    }
  }
  const unset = unsetEverywhere(
    pod,
    podValue !== undefined,
    (c) => flag(c.securityContext, 'runAsNonRoot') !== undefined,
  );
  if (unset.length > 0) {
    out.push(
      violation(
        'pss:run-as-non-root',
        `${pod.scPath}.runAsNonRoot`,
        `neither the pod nor ${describeContainers(unset)} ${verb(unset)} runAsNonRoot: true, so the image may run as root`,
        'set securityContext.runAsNonRoot: true at the pod level (or in every container), with an image that runs as a non-zero user (USER in the Dockerfile, or securityContext.runAsUser)',
      ),
    );
  }
  return out;
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

export const runAsUser_1_23: CheckFn = (pod) => {
  return pod.holders
    .filter((s) => int(s.securityContext, 'runAsUser') === 0)
    .map((s) =>
      violation(
        'pss:run-as-user',
        `${s.scPath}.runAsUser`,
        `${s.label} sets runAsUser: 0 (root)`,
        'remove runAsUser or set a non-zero user id (for example 10001) that the image can run as',
      ),
    );
};

export const runAsUser_1_35 = exemptUserNamespace(runAsUser_1_23);

export const seccompRestricted_1_19: CheckFn = (pod) => {
  const explicit = badSeccompFields(pod);
  const podProfile = field(pod.securityContext, 'seccompProfile');
  // A pod-level profile of a bad type is already reported; fixing it covers the containers that inherit it.
  const unset = unsetEverywhere(
    pod,
    podProfile !== undefined,
    (c) => field(c.securityContext, 'seccompProfile') !== undefined,
  );
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
