// The shape of every field k8s-ee's rules read, per kind, as JSON Schemas. The rules read untrusted JSON with
// total accessors, where a value of the wrong type reads as unset: that is right for a manifest the API server
// has decoded, and wrong for anything else, where "unset" would let an object through unjudged (a Pod whose
// `spec.containers` is a string has no containers to refuse). So before any rule runs, an object of a handled
// kind must have the shape its rules expect; otherwise it is refused with the path of the field that is wrong.
//
// The API server never sends such an object: it decodes every request into its Go types first (a field of the
// wrong type is a 400 there), drops null for omitempty fields and prunes it from custom resources. So these
// schemas may be strict: null is refused wherever a rule reads a value, and the objects the API server does send
// always pass. Only fields the rules read are described; everything else is left to the API server.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { describeType } from './objects.ts';
import { POD_LOCATIONS } from './pod-templates.ts';
import { violation, type Violation } from './violation.ts';

type Schema = Record<string, unknown>;

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
const podSpec = obj(
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
const POD_SPEC_ID = 'k8s-ee:pod-spec';

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

function kindSchema(kind: string): Schema | undefined {
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

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, inlineRefs: false });
ajv.addSchema({ ...podSpec, $id: POD_SPEC_ID });
const validators = new Map<string, ValidateFunction>();

function validatorFor(kind: string): ValidateFunction | undefined {
  let validate = validators.get(kind);
  if (!validate) {
    const schema = kindSchema(kind);
    if (!schema) return undefined;
    validate = ajv.compile(schema);
    validators.set(kind, validate);
  }
  return validate;
}

const MAP_FIELDS = new Set(['labels', 'annotations', 'data', 'binaryData', 'matchLabels', 'requests', 'limits']);

/** `/spec/containers/0/securityContext` -> `spec.containers[0].securityContext`; map keys as `labels["a/b"]`. */
export function fieldPath(segments: readonly string[]): string {
  let out = '';
  segments.forEach((segment, i) => {
    if (/^(0|[1-9][0-9]*)$/.test(segment)) out += `[${segment}]`;
    else if (i > 0 && MAP_FIELDS.has(segments[i - 1] ?? '')) out += `[${JSON.stringify(segment)}]`;
    else out += out === '' ? segment : `.${segment}`;
  });
  return out;
}

function segmentsOf(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_WORDS: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  'string,number': 'a quantity (a string such as "256Mi", or a number)',
};

/** `kubectl explain deployment.spec.template.spec.containers` for a field path. */
function explain(kind: string, segments: readonly string[]): string {
  const fields = segments.filter((s, i) => !/^[0-9]+$/.test(s) && !MAP_FIELDS.has(segments[i - 1] ?? ''));
  return `kubectl explain ${[kind.toLowerCase(), ...fields].join('.')}`;
}

function describeError(kind: string, error: ErrorObject, root: string): Violation | undefined {
  const segments = segmentsOf(error.instancePath);
  const at = (s: readonly string[]): string => [root, fieldPath(s)].filter(Boolean).join('.') || 'object';
  if (error.keyword === 'type') {
    const expected = TYPE_WORDS[String((error.params as { type: unknown }).type)] ?? 'another type';
    return violation(
      'shape',
      at(segments),
      `must be ${expected}, got ${describeType(error.data)}: k8s-ee cannot judge an object it cannot read`,
      `write it as the Kubernetes API defines it (${explain(kind, segments)})`,
    );
  }
  if (error.keyword === 'required') {
    const missing = [...segments, String((error.params as { missingProperty: unknown }).missingProperty)];
    return violation(
      'shape',
      at(missing),
      `is missing: k8s-ee cannot judge the ${kind} without it`,
      `add it as the Kubernetes API defines it (${explain(kind, missing)})`,
    );
  }
  return undefined;
}

/**
 * Every field of `object` (a `kind` the webhooks judge) whose shape the rules cannot read, as violations with
 * their paths (prefixed by `root`, e.g. `oldObject`, when given). [] for a readable object or an unknown kind.
 */
export function shapeViolations(kind: string, object: unknown, root = ''): Violation[] {
  const validate = validatorFor(kind);
  if (!validate) return [];
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    return [
      violation(
        'shape',
        root || 'object',
        `must be ${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind} object, got ${describeType(object)}: k8s-ee cannot judge what it cannot read`,
        `send the ${kind} as a JSON object (kubectl explain ${kind.toLowerCase()})`,
      ),
    ];
  }
  if (validate(object)) return [];
  const seen = new Set<string>();
  return (validate.errors ?? []).flatMap((error) => {
    const v = describeError(kind, error, root);
    if (!v || seen.has(v.path)) return [];
    seen.add(v.path);
    return [v];
  });
}
