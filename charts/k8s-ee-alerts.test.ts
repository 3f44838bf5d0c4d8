// Every alert the k8s-ee chart ships, rendered with real helm and run through `promtool test rules` (promtool
// built from its Go module, local/tools/promtool): each alert fires in the situation it names, with the labels
// and annotations a person reads, and stays quiet when that situation is absent. An alert without a case here
// fails the test.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { find, findHelm, template } from './render.ts';
import { ensurePromtool } from '../local/tools/promtool.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NAMESPACE = 'k8s-ee-system';
const RELEASE = 'k8s-ee';

interface Rule {
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

interface ExpAlert {
  exp_labels: Record<string, string>;
  exp_annotations: Record<string, string>;
}

interface AlertCase {
  name: string;
  interval?: string;
  input_series: { series: string; values: string }[];
  alert_rule_test: { eval_time: string; alertname: string; exp_alerts: ExpAlert[] }[];
}

/** The scrape targets of one webhook pod as the ServiceMonitor names them: job = the Service, endpoint = the port. */
const up = (endpoint: string, pod = 'k8s-ee-5d9f7-abcde', job = RELEASE): string =>
  `up{job="${job}", namespace="${NAMESPACE}", service="${job}", endpoint="${endpoint}", pod="${pod}", instance="10.0.128.9:${endpoint}"}`;

function runPromtool(promtool: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

describe('the shipped alerts under promtool test rules', { timeout: 1_800_000 }, () => {
  let helm: string | undefined;
  let promtool: string | undefined;
  let skip: string | undefined;
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-alerts-'));
    helm = await findHelm();
    if (!helm) {
      skip = 'helm is missing (run npm ci)';
      return;
    }
    const found = await ensurePromtool((line) => console.log(`charts/alerts: ${line}`));
    if ('skip' in found) skip = found.skip;
    else promtool = found.path;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function rulesOf(values: Any): Promise<Rule[]> {
    if (!helm) throw new Error('no helm');
    const objects = await template(helm, 'k8s-ee', {
      release: RELEASE,
      namespace: NAMESPACE,
      values: { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }, ...values },
    });
    const rule = find(objects, 'PrometheusRule') as Any | undefined;
    assert.ok(rule, 'the chart renders a PrometheusRule');
    return (rule['spec']['groups'] as Any[]).flatMap((g) => g['rules'] as Rule[]);
  }

  /** Writes the rendered groups and the cases, runs promtool, and checks every alert has a firing and a quiet case. */
  async function check(t: { skip: (m: string) => void }, label: string, values: Any, cases: AlertCase[]) {
    if (skip || !promtool || !helm) {
      t.skip(skip ?? 'no promtool');
      return;
    }
    const objects = await template(helm, 'k8s-ee', {
      release: RELEASE,
      namespace: NAMESPACE,
      values: { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }, ...values },
    });
    const groups = (find(objects, 'PrometheusRule') as Any)['spec']['groups'] as unknown;
    const rulesFile = join(dir, `${label}-rules.yaml`);
    const testsFile = join(dir, `${label}-tests.yaml`);
    await writeFile(rulesFile, stringify({ groups }));
    const tests = cases.map((c) => ({ interval: '1m', ...c }));
    await writeFile(testsFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests }));
    const checked = await runPromtool(promtool, ['check', 'rules', rulesFile]);
    assert.equal(checked.code, 0, `promtool check rules:\n${checked.output}`);
    const result = await runPromtool(promtool, ['test', 'rules', testsFile]);
    assert.equal(result.code, 0, `promtool test rules (${label}):\n${result.output}`);

    const alerts = (await rulesOf(values)).flatMap((r) => (r.alert ? [r.alert] : []));
    assert.ok(alerts.length > 0);
    const evals = cases.flatMap((c) => c.alert_rule_test);
    for (const alert of alerts) {
      assert.ok(
        evals.some((e) => e.alertname === alert && e.exp_alerts.length > 0),
        `${label}: alert ${alert} has no case where it fires`,
      );
      assert.ok(
        evals.some((e) => e.alertname === alert && e.exp_alerts.length === 0),
        `${label}: alert ${alert} has no case where it stays quiet`,
      );
    }
    for (const e of evals) assert.ok(alerts.includes(e.alertname), `${label}: no alert ${e.alertname} is shipped`);
  }

  const webhookDown = {
    alertname: 'K8sEEWebhookDown',
    fired: {
      exp_labels: { severity: 'critical' },
      exp_annotations: {
        summary: 'No k8s-ee webhook replica answers its metrics endpoint',
        description:
          'PR namespaces refuse changes while the webhook is down (failurePolicy Fail); other namespaces are unaffected.',
      },
    },
  };
  const webhookDownCases: AlertCase[] = [
    {
      name: 'webhook endpoint down while the sweeper and certificate endpoints are up',
      input_series: [
        { series: up('metrics'), values: '0x15' },
        { series: up('sweeper-metrics'), values: '1x15' },
        { series: up('certs-metrics'), values: '1x15' },
      ],
      alert_rule_test: [
        { eval_time: '3m', alertname: webhookDown.alertname, exp_alerts: [] },
        { eval_time: '10m', alertname: webhookDown.alertname, exp_alerts: [webhookDown.fired] },
      ],
    },
    {
      name: 'no target scraped at all, or only another release',
      input_series: [{ series: up('metrics', 'other-0', 'other-k8s-ee'), values: '1x15' }],
      alert_rule_test: [{ eval_time: '10m', alertname: webhookDown.alertname, exp_alerts: [webhookDown.fired] }],
    },
    {
      name: 'one of two webhook replicas up, the other endpoints down',
      input_series: [
        { series: up('metrics', 'k8s-ee-a'), values: '1x15' },
        { series: up('metrics', 'k8s-ee-b'), values: '0x15' },
        { series: up('sweeper-metrics'), values: '0x15' },
        { series: up('certs-metrics'), values: '0x15' },
      ],
      alert_rule_test: [{ eval_time: '10m', alertname: webhookDown.alertname, exp_alerts: [] }],
    },
    {
      name: 'the webhook comes back',
      input_series: [{ series: up('metrics'), values: '0x10 1x10' }],
      alert_rule_test: [
        { eval_time: '9m', alertname: webhookDown.alertname, exp_alerts: [webhookDown.fired] },
        { eval_time: '12m', alertname: webhookDown.alertname, exp_alerts: [] },
      ],
    },
  ];

  const certFired = (cert: string, extra: Record<string, string> = {}): ExpAlert => ({
    exp_labels: { severity: 'critical', cert, ...extra },
    exp_annotations: {
      summary: `k8s-ee ${cert} certificate expires in less than 20 days`,
      description:
        'Renewal should have happened at 2/3 of its life. Check the certs container logs, or run `k8s-ee certs ensure --dry-run`.',
    },
  });

  /** A series of one webhook replica's own metrics endpoint, as the ServiceMonitor labels it. */
  const webhookSeries = (name: string, pod: string): string =>
    `${name}{job="${RELEASE}", namespace="${NAMESPACE}", service="${RELEASE}", endpoint="metrics", pod="${pod}"}`;
  const servedInvalid = (pod: string): ExpAlert => ({
    exp_labels: { severity: 'critical', pod },
    exp_annotations: {
      summary: `k8s-ee webhook ${pod} serves a certificate clients refuse`,
      description:
        'The served certificate is expired, not yet valid, or not signed by the CA bundle (ca.crt), so the API server cannot call this replica and it is not ready. Its /readyz and webhook logs say which; a valid pair written to its files is loaded without a restart.',
    },
  });
  const servedCases: AlertCase[] = [
    {
      name: 'served certificate: replica a serves one that turns invalid at 10m (expired while served), b stays good',
      input_series: [
        { series: webhookSeries('k8s_ee_served_cert_valid', 'k8s-ee-a'), values: '1x9 0x20' },
        { series: webhookSeries('k8s_ee_served_cert_valid', 'k8s-ee-b'), values: '1x30' },
        // Another release's webhook is not ours.
        { series: 'k8s_ee_served_cert_valid{job="other", namespace="other", pod="other-0"}', values: '0x30' },
      ],
      alert_rule_test: [
        { eval_time: '9m', alertname: 'K8sEEServedCertInvalid', exp_alerts: [] },
        { eval_time: '11m', alertname: 'K8sEEServedCertInvalid', exp_alerts: [] },
        { eval_time: '13m', alertname: 'K8sEEServedCertInvalid', exp_alerts: [servedInvalid('k8s-ee-a')] },
      ],
    },
    {
      name: 'served certificate: valid everywhere',
      input_series: [{ series: webhookSeries('k8s_ee_served_cert_valid', 'k8s-ee-a'), values: '1x30' }],
      alert_rule_test: [{ eval_time: '20m', alertname: 'K8sEEServedCertInvalid', exp_alerts: [] }],
    },
  ];
  /** The certificate replica a serves ends in 10 days (whatever the Secret or cert-manager says); another release's in 1. */
  const servedExpiring: AlertCase = {
    name: 'the certificate a webhook replica serves expires in 10 days',
    input_series: [
      { series: webhookSeries('k8s_ee_served_cert_expiry_timestamp_seconds', 'k8s-ee-a'), values: '864000x60' },
      { series: webhookSeries('k8s_ee_served_cert_expiry_timestamp_seconds', 'k8s-ee-b'), values: '25920000x60' },
      { series: 'k8s_ee_served_cert_expiry_timestamp_seconds{job="other", namespace="other"}', values: '86400x60' },
    ],
    alert_rule_test: [
      { eval_time: '20m', alertname: 'K8sEECertExpiring', exp_alerts: [] },
      { eval_time: '40m', alertname: 'K8sEECertExpiring', exp_alerts: [certFired('served')] },
    ],
  };

  const requests = (decision: string) =>
    `k8s_ee_admission_requests_total{route="validate", kind="Pod", decision="${decision}"}`;
  const bucket = (le: string) => `k8s_ee_admission_duration_seconds_bucket{route="validate", le="${le}"}`;
  /** The webhook's own alerts, the same with or without the sweeper and cert-manager. */
  /** The capacity gauges as two webhook replicas export them (webhooks/capacity.ts): the same value from each. */
  const capacity = (name: string, resource: string, pod: string) =>
    `k8s_ee_capacity_${name}{job="${RELEASE}", namespace="${NAMESPACE}", endpoint="metrics", pod="${pod}", resource="${resource}"}`;
  const capacityFired: ExpAlert = {
    exp_labels: { severity: 'warning', resource: 'memory' },
    exp_annotations: {
      summary: "PR environments reserve 83.33% of the nodes' allocatable memory",
      description:
        'The quotas of PR environments hold more than 80% of the cluster, so new environments will soon be refused. Run `k8s-ee envs` to see which to free, or lower capacity.maxEnvironments.',
    },
  };
  const capacityCases: AlertCase[] = [
    {
      name: 'capacity: PR quotas reserve 20 of 24 GiB of memory (83%) for 20 minutes, 2 of 4 cores',
      input_series: ['k8s-ee-a', 'k8s-ee-b'].flatMap((pod) => [
        { series: capacity('used', 'memory', pod), values: '8589934592x5 21474836480x30' },
        { series: capacity('allocatable', 'memory', pod), values: '25769803776x35' },
        { series: capacity('used', 'cpu', pod), values: '2x35' },
        { series: capacity('allocatable', 'cpu', pod), values: '4x35' },
      ]),
      alert_rule_test: [
        { eval_time: '5m', alertname: 'K8sEECapacityHeldByPREnvironments', exp_alerts: [] },
        { eval_time: '15m', alertname: 'K8sEECapacityHeldByPREnvironments', exp_alerts: [] },
        { eval_time: '25m', alertname: 'K8sEECapacityHeldByPREnvironments', exp_alerts: [capacityFired] },
      ],
    },
    {
      name: 'capacity: without a known node (no allocatable series) nothing is alerted',
      input_series: [{ series: capacity('used', 'memory', 'k8s-ee-a'), values: '21474836480x30' }],
      alert_rule_test: [{ eval_time: '25m', alertname: 'K8sEECapacityHeldByPREnvironments', exp_alerts: [] }],
    },
  ];
  const webhookCases: AlertCase[] = [
    ...webhookDownCases,
    ...servedCases,
    ...capacityCases,
    {
      name: 'webhook errors: 10 of 110 requests a minute errored (9%), then 1 of 101 (1%)',
      input_series: [
        { series: requests('errored'), values: '0+10x20 200+1x20' },
        { series: requests('allowed'), values: '0+100x40' },
      ],
      alert_rule_test: [
        { eval_time: '4m', alertname: 'K8sEEWebhookErrors', exp_alerts: [] },
        {
          eval_time: '15m',
          alertname: 'K8sEEWebhookErrors',
          exp_alerts: [
            {
              exp_labels: { severity: 'critical' },
              exp_annotations: {
                summary: 'k8s-ee webhook answers more than 5% of requests with errors',
                description: 'PR deployments are failing. Check the webhook logs (errored decisions carry the cause).',
              },
            },
          ],
        },
        { eval_time: '38m', alertname: 'K8sEEWebhookErrors', exp_alerts: [] },
      ],
    },
    {
      name: 'webhook errors: no traffic is no error',
      input_series: [{ series: requests('errored'), values: '0x20' }],
      alert_rule_test: [{ eval_time: '15m', alertname: 'K8sEEWebhookErrors', exp_alerts: [] }],
    },
    {
      name: 'webhook slow: every answer between 1 and 2.5 seconds',
      input_series: [
        { series: bucket('0.5'), values: '0x20' },
        { series: bucket('1'), values: '0x20' },
        { series: bucket('2.5'), values: '0+60x20' },
        { series: bucket('+Inf'), values: '0+60x20' },
      ],
      alert_rule_test: [
        { eval_time: '8m', alertname: 'K8sEEWebhookSlow', exp_alerts: [] },
        {
          eval_time: '18m',
          alertname: 'K8sEEWebhookSlow',
          exp_alerts: [
            {
              exp_labels: { severity: 'warning' },
              exp_annotations: {
                summary: 'k8s-ee webhook p99 latency above 1s',
                description:
                  'The API server times out webhook calls after 10s; slow answers delay every PR deployment.',
              },
            },
          ],
        },
      ],
    },
    {
      name: 'webhook fast: every answer under half a second',
      input_series: [
        { series: bucket('0.5'), values: '0+60x20' },
        { series: bucket('1'), values: '0+60x20' },
        { series: bucket('2.5'), values: '0+60x20' },
        { series: bucket('+Inf'), values: '0+60x20' },
      ],
      alert_rule_test: [{ eval_time: '18m', alertname: 'K8sEEWebhookSlow', exp_alerts: [] }],
    },
  ];

  it('the default install: every alert fires when it should and only then', async (t) => {
    const lastSuccess = 'k8s_ee_sweeper_last_success_timestamp_seconds{kind="namespaces"}';
    const sweeperFired = (labels: Record<string, string> = {}): ExpAlert => ({
      exp_labels: { severity: 'critical', ...labels },
      exp_annotations: {
        summary: 'The k8s-ee sweeper has not completed a run for 10 minutes',
        description:
          'Orphan environments and expired pins are not being cleaned up. Check the sweeper container logs and its Lease.',
      },
    });
    const cases: AlertCase[] = [
      ...webhookCases,
      {
        name: 'sweeper: runs every minute, then stops at 5m',
        input_series: [{ series: lastSuccess, values: '0+60x5 300x40' }],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'K8sEESweeperNotRunning', exp_alerts: [] },
          // 10 minutes stale at 15m, pending for 5 minutes: quiet at 18m, firing at 21m.
          { eval_time: '18m', alertname: 'K8sEESweeperNotRunning', exp_alerts: [] },
          { eval_time: '21m', alertname: 'K8sEESweeperNotRunning', exp_alerts: [sweeperFired()] },
        ],
      },
      {
        name: 'sweeper: never reported a success',
        input_series: [{ series: 'k8s_ee_sweeper_last_success_timestamp_seconds{kind="volumes"}', values: '0+60x20' }],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'K8sEESweeperNotRunning', exp_alerts: [sweeperFired({ kind: 'namespaces' })] },
        ],
      },
      {
        name: 'orphans: two older than a day stay for 20 minutes; younger ones never alert',
        input_series: [
          { series: 'k8s_ee_sweeper_orphans{age="gt_24h"}', values: '0x5 2x30' },
          { series: 'k8s_ee_sweeper_orphans{age="1h_24h"}', values: '5x35' },
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'K8sEEOrphansOlderThan24h', exp_alerts: [] },
          { eval_time: '15m', alertname: 'K8sEEOrphansOlderThan24h', exp_alerts: [] },
          {
            eval_time: '25m',
            alertname: 'K8sEEOrphansOlderThan24h',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning' },
                exp_annotations: {
                  summary: '2 orphan PR environment(s) older than 24h',
                  description:
                    'The sweeper found orphans it has not removed (deletion cap, errors, or dry-run). See its Events and logs.',
                },
              },
            ],
          },
        ],
      },
      {
        name: 'pins: three is the limit, four alerts',
        input_series: [{ series: 'k8s_ee_sweeper_pinned_namespaces', values: '3x15 4x15' }],
        alert_rule_test: [
          { eval_time: '14m', alertname: 'K8sEEPinsOverLimit', exp_alerts: [] },
          {
            eval_time: '28m',
            alertname: 'K8sEEPinsOverLimit',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning' },
                exp_annotations: {
                  summary: '4 pinned namespaces, more than the limit of 3',
                  description:
                    'Pins are limited by the webhook; more than the limit means pins were set while it was down.',
                },
              },
            ],
          },
        ],
      },
      {
        name: 'node disk: only the node above 80% alerts',
        input_series: [
          { series: 'k8s_ee_sweeper_node_disk_usage_ratio{node="full"}', values: '0.85x15' },
          { series: 'k8s_ee_sweeper_node_disk_usage_ratio{node="fine"}', values: '0.5x15' },
          { series: 'k8s_ee_sweeper_node_disk_usage_ratio{node="edge"}', values: '0.8x15' },
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'K8sEENodeDiskHigh', exp_alerts: [] },
          {
            eval_time: '12m',
            alertname: 'K8sEENodeDiskHigh',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning', node: 'full' },
                exp_annotations: {
                  summary: 'Node full disk is 85% full',
                  description: 'Check kubelet image GC thresholds (docs/runbooks/k3s.md) and Released volumes.',
                },
              },
            ],
          },
        ],
      },
      {
        name: 'stuck namespaces: one stuck for 20 minutes',
        input_series: [{ series: 'k8s_ee_sweeper_stuck_namespaces', values: '0x5 1x20' }],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'K8sEEStuckNamespaces', exp_alerts: [] },
          {
            eval_time: '22m',
            alertname: 'K8sEEStuckNamespaces',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning' },
                exp_annotations: {
                  summary: '1 PR namespace(s) stuck Terminating',
                  description:
                    'See the Events on the namespace for its blocking finalizers; k8s-ee never removes finalizers itself.',
                },
              },
            ],
          },
        ],
      },
      {
        name: 'certificates: the serving one expires in 10 days, the CA in 300',
        input_series: [
          { series: 'k8s_ee_cert_expiry_timestamp_seconds{cert="serving"}', values: '864000x60' },
          { series: 'k8s_ee_cert_expiry_timestamp_seconds{cert="ca"}', values: '25920000x60' },
        ],
        alert_rule_test: [
          { eval_time: '20m', alertname: 'K8sEECertExpiring', exp_alerts: [] },
          { eval_time: '40m', alertname: 'K8sEECertExpiring', exp_alerts: [certFired('serving')] },
        ],
      },
    ];
    cases.push(servedExpiring);
    await check(t, 'default', {}, cases);
  });

  it('with cert-manager: the certificate alert reads cert-manager metrics and names the certificate', async (t) => {
    const certificate = (name: string) =>
      `certmanager_certificate_expiration_timestamp_seconds{name="${name}", namespace="${NAMESPACE}", issuer_name="k8s-ee-ca"}`;
    const cases: AlertCase[] = [
      ...webhookCases,
      {
        name: 'our certificate expires in 10 days, an unrelated one in 1',
        input_series: [
          { series: certificate(RELEASE), values: '864000x60' },
          { series: certificate('someone-else'), values: '86400x60' },
        ],
        alert_rule_test: [
          { eval_time: '20m', alertname: 'K8sEECertExpiring', exp_alerts: [] },
          { eval_time: '40m', alertname: 'K8sEECertExpiring', exp_alerts: [certFired(RELEASE, { name: RELEASE })] },
        ],
      },
      {
        name: 'our certificate is fresh',
        input_series: [{ series: certificate(RELEASE), values: '25920000x60' }],
        alert_rule_test: [{ eval_time: '40m', alertname: 'K8sEECertExpiring', exp_alerts: [] }],
      },
    ];
    cases.push(servedExpiring);
    // Without the sweeper its alerts are not shipped (the coverage check would name any that were).
    await check(t, 'cert-manager', { certManager: { enabled: true }, sweeper: { enabled: false } }, cases);
  });
});
