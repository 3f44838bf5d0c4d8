// JSON Schema (draft 2020-12 subset understood by Ajv) of the configuration file. Every field is optional: what a
// file leaves out keeps its default. Unknown fields are errors, so a typo never silently does nothing.
import { DATABASES } from './config.ts';
import { DURATION_PATTERN } from '../lib/duration.ts';
import { QUANTITY_PATTERN } from '../lib/quantity.ts';

type Schema = Record<string, unknown>;

const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const quantity: Schema = {
  type: 'string',
  pattern: QUANTITY_PATTERN,
  description: 'a Kubernetes quantity such as 300m, 1, 512Mi or 2Gi',
};
const duration: Schema = {
  type: 'string',
  pattern: DURATION_PATTERN,
  description: 'a duration such as 90s, 1m, 48h or 7d',
};
const count: Schema = { type: 'integer', minimum: 0 };
const podId: Schema = {
  type: 'integer',
  minimum: 0,
  maximum: 2147483647,
  description: 'a numeric user or group id; 0 turns this default off',
};
const labelMap: Schema = { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } };
const dnsName: Schema = {
  type: 'string',
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  maxLength: 253,
};
const namespaceName: Schema = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const cron: Schema = {
  type: 'string',
  pattern: '^\\S+(\\s+\\S+){4,5}$',
  description: 'a cron expression of 5 or 6 fields',
};
const cidr: Schema = {
  type: 'string',
  pattern: '^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$|^[0-9a-fA-F:]+/[0-9]{1,3}$',
};

const overcommit: Schema = {
  type: 'number',
  exclusiveMinimum: 0,
  maximum: 100,
  description: "how many times the nodes' free capacity PR quotas may promise: 1 = never more than there is",
};
const price: Schema = { type: 'number', minimum: 0, description: 'a price in the configured currency' };

const quotaAmounts = obj({
  requestsCpu: quantity,
  requestsMemory: quantity,
  limitsCpu: quantity,
  limitsMemory: quantity,
  requestsStorage: quantity,
  pods: count,
  services: count,
  persistentVolumeClaims: count,
  secrets: count,
  configMaps: count,
});
const cpuMemory = obj({ cpu: quantity, memory: quantity });
const peer = (extra: Record<string, Schema> = {}): Schema =>
  obj({ namespace: namespaceName, podLabels: labelMap, ...extra });

export const configSchema: Schema = obj(
  {
    namespacePattern: str({ minLength: 1, description: 'a regular expression with named groups project and number' }),
    previewDomain: dnsName,
    clusterDomain: { ...dnsName, description: "the cluster's DNS domain, such as cluster.local" },
    podSecurity: obj({ level: { const: 'restricted' }, version: str({ pattern: '^(latest|v1\\.[0-9]+)$' }) }),
    platformIdentities: obj({ users: { type: 'array', items: str() }, groups: { type: 'array', items: str() } }),
    selfUser: str({ minLength: 1 }),
    quota: obj({
      base: quotaAmounts,
      perDatabase: obj(Object.fromEntries(DATABASES.map((d) => [d, quotaAmounts]))),
    }),
    limitRange: obj({ defaultRequest: cpuMemory, default: cpuMemory, max: cpuMemory }),
    networkPolicy: obj({
      dns: peer({ ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } } }),
      ingressController: peer(),
      monitoring: peer(),
      internetEgress: obj({ enabled: { type: 'boolean' }, exceptCidrs: { type: 'array', items: cidr } }),
    }),
    pins: obj({
      label: str({ pattern: '^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' }),
      value: str({ maxLength: 63 }),
      maxPinned: count,
      maxDuration: duration,
      warnBefore: duration,
    }),
    mutation: obj({
      defaultResources: obj({ requests: cpuMemory, limits: obj({ memory: quantity }) }),
      runAsUser: podId,
      runAsGroup: podId,
      fsGroup: podId,
    }),
    sweeper: obj({
      schedule: cron,
      diskSchedule: cron,
      releaseGrace: duration,
      neverDeployedGrace: duration,
      ttl: duration,
      maxDeletionsPerRun: { type: 'integer', minimum: 1 },
      stuckAfter: duration,
      deleteReleasedVolumes: { type: 'boolean' },
      diskWarnRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      imagePrune: obj({
        enabled: { type: 'boolean' },
        image: str({ minLength: 1 }),
        thresholdRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      }),
      github: obj({
        apiUrl: str({ pattern: '^https?://' }),
        tokenEnv: str({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
        repositories: { type: 'object', additionalProperties: str({ pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$' }) },
      }),
    }),
    webhook: obj({ maxBodyBytes: { type: 'integer', minimum: 1024 } }),
    capacity: obj({
      maxEnvironments: {
        type: ['integer', 'null'],
        minimum: 1,
        description: 'the most PR environments at once (pinned ones count); null for no count limit',
      },
      overcommit: obj({ cpu: overcommit, memory: overcommit }),
    }),
    cost: obj({
      currency: str({ pattern: '^[A-Z]{3}$', description: 'an ISO 4217 code such as USD or EUR' }),
      cpuHour: price,
      memoryGiBHour: price,
      storageGiBMonth: price,
    }),
  },
  { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'k8s-ee configuration' },
);
