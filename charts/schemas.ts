// The values.schema.json of both charts, generated from code so they cannot drift from the configuration
// schema (policies/config-schema.ts) and the database list (policies/config.ts).
//   node charts/schemas.ts          check that the committed files are current (exit 1 if not)
//   node charts/schemas.ts --write  regenerate them
import { isDeepStrictEqual } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../policies/config-schema.ts';
import { DATABASES } from '../policies/config.ts';
import { DURATION_PATTERN } from '../lib/duration.ts';
import { QUANTITY_PATTERN } from '../lib/quantity.ts';

type Schema = Record<string, unknown>;

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';
const chartsDir = dirname(fileURLToPath(import.meta.url));

const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
const port = (description: string): Schema => int(description, { minimum: 1, maximum: 65535 });
const freeMap = (description: string): Schema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});
const anyObject = (description: string): Schema => ({ type: 'object', description });
const list = (description: string, items: Schema = {}): Schema => ({ type: 'array', description, items });
const quantity = (description: string): Schema =>
  str(`${description} (a Kubernetes quantity such as 100m, 256Mi, 1Gi)`, { pattern: QUANTITY_PATTERN });
const duration = (description: string): Schema =>
  str(`${description} (a duration such as 90d, 2160h, 1m)`, { pattern: DURATION_PATTERN });
const dnsName = (description: string): Schema =>
  str(description, { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 });
const objectName = (description: string): Schema =>
  str(description, { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$', maxLength: 253 });

const cpuMemory = obj({ cpu: quantity('CPU'), memory: quantity('memory') });
const resources = (description: string): Schema => obj({ requests: cpuMemory, limits: cpuMemory }, { description });
/** Resources of a PR pod: requests and limits of CPU and memory are all required, so the quota can count them. */
const prResources = (description: string): Schema =>
  obj(
    {
      requests: obj(
        { cpu: quantity('CPU request'), memory: quantity('memory request') },
        { required: ['cpu', 'memory'] },
      ),
      limits: obj({ cpu: quantity('CPU limit'), memory: quantity('memory limit') }, { required: ['cpu', 'memory'] }),
    },
    { description, required: ['requests', 'limits'] },
  );

const image = obj(
  {
    repository: str('image repository', { minLength: 1 }),
    tag: str('image tag (default: the chart appVersion)'),
    digest: str('sha256:… digest; when set the image is pinned by digest', { pattern: '^(sha256:[a-f0-9]{64})?$' }),
    pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'], description: 'image pull policy' },
  },
  { required: ['repository'] },
);

const scheduling = {
  podAnnotations: freeMap('annotations of the pods'),
  podLabels: freeMap('labels of the pods'),
  priorityClassName: str('PriorityClass of the pods'),
  nodeSelector: freeMap('node selector'),
  tolerations: list('tolerations', { type: 'object' }),
  affinity: anyObject('affinity (default: prefer spreading replicas over nodes)'),
  topologySpreadConstraints: list('topology spread constraints', { type: 'object' }),
};

function certsValues(): Record<string, Schema> {
  return {
    certs: obj({
      secretName: objectName('serving Secret (default <fullname>-tls); the CA goes to <secretName>-ca'),
      validity: duration('serving certificate lifetime; renewed at 2/3 of it'),
      caValidity: duration('CA lifetime; rotated at 2/3 of it, the old CA stays trusted until it expires'),
      watchInterval: duration('time between certificate checks'),
      port: port('port of the certs watcher /metrics, /healthz, /readyz'),
      resources: resources('certs containers resources'),
    }),
    certManager: obj({
      enabled: bool('use cert-manager instead of the self-managed certificates'),
      issuerRef: obj(
        {
          name: str('issuer name', { minLength: 1 }),
          kind: { enum: ['Issuer', 'ClusterIssuer'] },
          group: str('issuer group'),
        },
        { description: 'existing issuer (empty: a private CA is created)' },
      ),
      duration: str('certificate duration (Go duration, e.g. 2160h)', { pattern: '^[0-9]+(h|m|s)$' }),
      renewBefore: str('renew this long before expiry (Go duration, e.g. 720h)', { pattern: '^[0-9]+(h|m|s)$' }),
    }),
  };
}

function monitoringValues(): Schema {
  return obj({
    serviceMonitor: obj({
      enabled: bool('create a ServiceMonitor (prometheus-operator)'),
      interval: str('scrape interval', { pattern: '^[0-9]+(ms|s|m|h)$' }),
      labels: freeMap('extra labels'),
    }),
    prometheusRule: obj({
      enabled: bool('create a PrometheusRule with the k8s-ee alerts'),
      labels: freeMap('extra labels'),
      diskUsageRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'node disk alert threshold' },
      webhookErrorRatio: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'errored admission ratio alert threshold',
      },
      webhookLatencySeconds: {
        type: 'number',
        exclusiveMinimum: 0,
        description: 'p99 admission latency alert threshold',
      },
      certExpiryDays: int('alert when a certificate expires within this many days', { minimum: 1 }),
      sweeperStaleMinutes: int('alert when the sweeper has not succeeded for this long', { minimum: 1 }),
      capacityShare: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        description:
          "alert when PR environments' quotas reserve more than this share of the nodes' allocatable CPU or memory",
      },
    }),
    grafanaDashboard: obj({
      enabled: bool('create the Grafana dashboard ConfigMap'),
      labels: freeMap('labels the Grafana sidecar selects'),
      namespace: str('namespace of the ConfigMap (default: the release namespace)'),
    }),
  });
}

/** networkPolicy: who may reach k8s-ee's pods (templates/network/networkpolicy.yaml). */
function networkPolicyValues(): Schema {
  return obj({
    enabled: bool("create the NetworkPolicy that admits only the API server and monitoring to k8s-ee's pods"),
    webhook: obj({
      from: list(
        'NetworkPolicy peers that may reach the webhook port (empty: only the node itself)',
        anyObject('a peer'),
      ),
    }),
    metrics: obj({
      from: list(
        'NetworkPolicy peers that may scrape the metrics ports (empty: the monitoring namespace of config.networkPolicy.monitoring)',
        anyObject('a peer'),
      ),
    }),
  });
}

/** ci: the CI identity the ValidatingAdmissionPolicy confines (templates/policy/ci-confinement.yaml). */
function ciValues(): Schema {
  return obj({
    users: list('user names of the CI identity (a ServiceAccount: system:serviceaccount:<namespace>:<name>)', {
      type: 'string',
      minLength: 1,
    }),
    groups: list('groups of the CI identity', { type: 'string', minLength: 1 }),
    deployerRole: objectName('the ClusterRole the CI identity binds in PR namespaces (docs/runbooks/runners.md)'),
  });
}

/** values.schema.json of charts/k8s-ee (the platform). */
export function platformValuesSchema(): Schema {
  return {
    $schema: DRAFT,
    title: 'k8s-ee platform chart values',
    ...obj({
      global: anyObject('Helm global values (unused)'),
      image,
      imagePullSecrets: list('image pull secrets', obj({ name: str('Secret name') }, { required: ['name'] })),
      nameOverride: str('chart name override'),
      fullnameOverride: objectName('full name of every object (default: the release name)'),
      replicaCount: int('webhook replicas (each with a sweeper sidecar; only the Lease holder sweeps)', { minimum: 1 }),
      config: {
        ...configSchema,
        description: 'the k8s-ee configuration (policies/config.ts); only what differs from the defaults',
      },
      webhook: obj({
        port: port('HTTPS port of the webhook container'),
        metricsPort: port('plain-HTTP port of /metrics, /healthz, /readyz'),
        timeoutSeconds: int('API server timeout of each webhook call', { minimum: 1, maximum: 30 }),
        excludeNamespaces: list('namespaces never sent to the webhooks besides kube-system and the release namespace', {
          type: 'string',
        }),
        logLevel: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], description: 'log level' },
        shutdownDelay: duration('how long a replica serves on after SIGTERM, 0s for none'),
        resources: resources('webhook container resources'),
      }),
      sweeper: obj({
        enabled: bool('run the sweeper sidecar'),
        dryRun: bool('plan and report only'),
        port: port('port of the sweeper /metrics, /healthz, /readyz'),
        eventsNamespace: str('namespace of Events about cluster-scoped objects', { minLength: 1 }),
        github: obj({
          tokenSecret: obj({
            name: objectName('existing Secret with a GitHub token (empty: no PR checks)'),
            key: str('key in that Secret', { minLength: 1 }),
          }),
        }),
        resources: resources('sweeper container resources'),
      }),
      ...certsValues(),
      serviceAccount: obj({
        create: bool('create the ServiceAccount'),
        name: objectName('ServiceAccount name (default <fullname>)'),
        annotations: freeMap('ServiceAccount annotations'),
      }),
      rbac: obj({ create: bool('create the ClusterRole, Role and bindings') }),
      podDisruptionBudget: obj({
        enabled: bool('create a PodDisruptionBudget'),
        minAvailable: int('minimum available webhook pods', { minimum: 0 }),
      }),
      validatingAdmissionPolicy: obj({
        enabled: bool('install the ValidatingAdmissionPolicy backstop of the zero-window guarantee'),
        validationActions: list('what a violation does', { enum: ['Deny', 'Warn', 'Audit'] }),
      }),
      networkPolicy: networkPolicyValues(),
      ci: ciValues(),
      monitoring: monitoringValues(),
      ...scheduling,
    }),
  };
}

const database = (name: string, fields: { database: boolean; username: boolean }): Schema =>
  obj(
    {
      enabled: bool(`run ${name} in the environment (adds one quota increment)`),
      image: str(`${name} image (must run as the chart's non-root UID)`, { minLength: 1 }),
      ...(fields.database
        ? { database: str('database created at first start', { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }) }
        : {}),
      ...(fields.username
        ? { username: str('user created at first start', { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,31}$' }) }
        : {}),
      storage: quantity('volume size'),
      storageClassName: str('StorageClass of the volume (empty: the default one)'),
      resources: prResources(`${name} container resources (within the quota increment of one database)`),
    },
    { description: `${name} (StatefulSet, Service, Secret <release>-${name})` },
  );

const DATABASE_FIELDS: Record<(typeof DATABASES)[number], { database: boolean; username: boolean }> = {
  postgresql: { database: true, username: true },
  mariadb: { database: true, username: true },
  mongodb: { database: true, username: true },
  redis: { database: false, username: false },
  minio: { database: false, username: true },
};

/** values.schema.json of charts/k8s-ee-app: the team's k8s-ee.yaml. */
export function appValuesSchema(): Schema {
  return {
    $schema: DRAFT,
    title: "k8s-ee.yaml: a pull request's preview environment (charts/k8s-ee-app values)",
    ...obj(
      {
        global: anyObject('Helm global values (unused)'),
        previewDomain: dnsName('the app is served at {namespace}.{previewDomain}'),
        image: obj(
          {
            repository: str('image repository, e.g. ghcr.io/acme/shop', { minLength: 1 }),
            tag: {
              type: ['string', 'number'],
              minLength: 1,
              description: 'image tag, usually the commit SHA (--set-string image.tag=$GITHUB_SHA)',
            },
            pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
          },
          { required: ['repository', 'tag'] },
        ),
        imagePullSecrets: list('image pull secrets', obj({ name: str('Secret name') }, { required: ['name'] })),
        replicas: int('app replicas', { minimum: 0, maximum: 5 }),
        containerPort: port('port the app listens on'),
        command: list('container command (default: the image entrypoint)', { type: 'string' }),
        args: list('container arguments', { type: 'string' }),
        env: {
          type: 'object',
          description: 'environment variables (name: value)',
          propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          additionalProperties: { type: ['string', 'number', 'boolean'] },
        },
        envFromSecrets: list('existing Secrets whose keys become environment variables', { type: 'string' }),
        runAsUser: int('UID the app runs as (not 0: PSS restricted)', { minimum: 1 }),
        runAsGroup: int('GID the app runs as', { minimum: 1 }),
        readOnlyRootFilesystem: bool('mount the root filesystem read-only (/tmp stays writable)'),
        resources: prResources('app container resources (within the namespace quota)'),
        probes: obj({
          enabled: bool('readiness and liveness HTTP probes'),
          path: str('probe path', { pattern: '^/' }),
          initialDelaySeconds: int('initial delay', { minimum: 0 }),
        }),
        service: obj({ port: port('Service port') }),
        ingress: obj({
          enabled: bool('create the Ingress at {namespace}.{previewDomain}'),
          className: str('IngressClass (empty: the cluster default)'),
          annotations: freeMap('Ingress annotations'),
          path: str('path prefix', { pattern: '^/' }),
          subdomains: list('extra hosts {subdomain}.{namespace}.{previewDomain}', {
            type: 'string',
            pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          }),
          tls: obj({
            enabled: bool('serve TLS'),
            secretName: objectName('wildcard certificate Secret (empty: the ingress controller default)'),
          }),
        }),
        databases: obj(Object.fromEntries(DATABASES.map((d) => [d, database(d, DATABASE_FIELDS[d])]))),
      },
      { required: ['previewDomain', 'image'] },
    ),
  };
}

export const SCHEMA_FILES = [
  { path: join(chartsDir, 'k8s-ee', 'values.schema.json'), build: platformValuesSchema },
  { path: join(chartsDir, 'k8s-ee-app', 'values.schema.json'), build: appValuesSchema },
];

/** The schema as the repository's formatter writes JSON. */
export async function render(schema: Schema, path: string): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path)) ?? {};
  return prettier.format(JSON.stringify(schema), { ...options, filepath: path });
}

/** True when the committed file holds exactly the generated schema. */
export async function isCurrent(file: (typeof SCHEMA_FILES)[number]): Promise<boolean> {
  const current = await readFile(file.path, 'utf8').catch(() => '');
  try {
    return isDeepStrictEqual(JSON.parse(current), file.build());
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  const write = argv.includes('--write');
  let stale = 0;
  for (const file of SCHEMA_FILES) {
    if (await isCurrent(file)) continue;
    if (write) await writeFile(file.path, await render(file.build(), file.path));
    else stale++;
    process.stdout.write(`${write ? 'wrote' : 'stale'}: ${file.path}\n`);
  }
  if (stale > 0) process.stdout.write('run `node charts/schemas.ts --write`\n');
  return stale > 0 ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
