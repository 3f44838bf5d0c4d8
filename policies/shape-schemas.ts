// The JSON Schemas of policies/shapes.ts: the shape of every field k8s-ee's rules read, per kind. Compiled ahead of
// time into policies/generated/shape-validators.ts by scripts/generate-validators.ts (run `npm run generate` after a
// change here: policies/generated.test.ts fails until the generated code matches), so the webhook compiles no
// schema at run time.
import { POD_LOCATIONS } from './pod-templates.ts';

export type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const int: Schema = { type: 'integer' };
const strings: Schema = { type: 'array', items: str };
const stringMap: Schema = { type: 'object', additionalProperties: str };
const quantityMap: Schema = { type: 'object', additionalProperties: { type: ['string', 'number'] } };
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
});
const list = (items: Schema): Schema => ({ type: 'array', items });

const metadata = obj({ name: str, generateName: str, namespace: str, labels: stringMap, annotations: stringMap });

const seccomp = obj({ type: str, localhostProfile: str });
const seLinux = obj({ type: str, user: str, role: str, level: str });
const appArmor = obj({ type: str, localhostProfile: str });
const windows = obj({ hostProcess: bool });
const commonSecurity = {
  runAsNonRoot: bool,
  runAsUser: int,
  runAsGroup: int,
  seccompProfile: seccomp,
  seLinuxOptions: seLinux,
  appArmorProfile: appArmor,
  windowsOptions: windows,
};
const podSecurityContext = obj({ ...commonSecurity, fsGroup: int, sysctls: list(obj({ name: str, value: str })) });
const containerSecurityContext = obj({
  ...commonSecurity,
  privileged: bool,
  allowPrivilegeEscalation: bool,
  procMount: str,
  capabilities: obj({ add: strings, drop: strings }),
});
const hostTarget = obj({ httpGet: obj({ host: str }), tcpSocket: obj({ host: str }) });
const container = obj({
  name: str,
  securityContext: containerSecurityContext,
  ports: list(obj({ hostPort: int, containerPort: int })),
  resources: obj({ requests: quantityMap, limits: quantityMap }),
  livenessProbe: hostTarget,
  readinessProbe: hostTarget,
  startupProbe: hostTarget,
  lifecycle: obj({ postStart: hostTarget, preStop: hostTarget }),
});
/** Every volume source (hostPath, nfs, emptyDir, …) is an object; which ones are allowed is the PSS rules' call. */
const volume: Schema = { type: 'object', properties: { name: str }, additionalProperties: { type: 'object' } };
export const podSpec = obj(
  {
    containers: list(container),
    initContainers: list(container),
    ephemeralContainers: list(container),
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    hostUsers: bool,
    os: obj({ name: str }),
    securityContext: podSecurityContext,
    volumes: list(volume),
    resources: obj({ requests: quantityMap, limits: quantityMap }),
  },
  ['containers'],
);
const podMetadata = obj({ labels: stringMap, annotations: stringMap });
/** Compiled once and referenced by every kind that carries pods. */
export const POD_SPEC_ID = 'k8s-ee:pod-spec';

/** Puts `leaf` at `path` below `root`, creating the objects on the way (each one required when `required`). */
function place(root: Schema, path: readonly string[], leaf: Schema, required: boolean): void {
  let node = root;
  path.forEach((key, i) => {
    const properties = (node['properties'] ??= {}) as Record<string, Schema>;
    const last = i === path.length - 1;
    if (last && properties[key] !== undefined) return; // the object's own metadata already says more
    properties[key] ??= last ? leaf : { type: 'object', properties: {} };
    if (required) node['required'] = [...((node['required'] as string[] | undefined) ?? []), key];
    node = properties[key];
  });
}

const selector = obj({
  matchLabels: stringMap,
  matchExpressions: list(obj({ key: str, operator: str, values: strings }, ['key', 'operator'])),
});
const peer = obj({
  podSelector: selector,
  namespaceSelector: selector,
  ipBlock: obj({ cidr: str, except: strings }, ['cidr']),
});

const SPECS: Record<string, Schema> = {
  Namespace: {},
  ResourceQuota: {},
  LimitRange: {},
  ConfigMap: { data: stringMap, binaryData: stringMap },
  NetworkPolicy: {
    spec: obj({
      podSelector: selector,
      policyTypes: strings,
      ingress: list(obj({ from: list(peer) })),
      egress: list(obj({ to: list(peer) })),
    }),
  },
  Service: { spec: obj({ type: str, externalIPs: strings, externalName: str }) },
  Ingress: {
    spec: obj({
      defaultBackend: { type: 'object' },
      rules: list(obj({ host: str })),
      tls: list(obj({ hosts: strings })),
    }),
  },
  HTTPRoute: { spec: obj({ hostnames: strings }) },
  GRPCRoute: { spec: obj({ hostnames: strings }) },
};

export function kindSchema(kind: string): Schema | undefined {
  const location = POD_LOCATIONS[kind];
  if (location) {
    const root = obj({ metadata });
    place(root, location.spec, { $ref: POD_SPEC_ID }, true);
    place(root, location.metadata, podMetadata, false);
    return root;
  }
  const spec = SPECS[kind];
  return spec ? obj({ metadata, ...spec }) : undefined;
}

/** The kinds whose shape is checked: every kind the webhooks judge. */
export const SHAPED_KINDS: readonly string[] = [...Object.keys(POD_LOCATIONS), ...Object.keys(SPECS)];
