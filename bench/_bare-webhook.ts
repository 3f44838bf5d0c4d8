// The in-cluster calibration of bench/in-cluster.ts: a bare admission webhook pair (one mutating, one validating
// entry) served by the admission floor (bench/_floor.mjs, FLOOR_ECHO_UID: the review parsed, its uid echoed,
// allowed, no patch) from pods of the k8s-ee image, behind a Service, registered for Deployments in one namespace.
// What any webhook pair costs the API server per write here, on the same path k8s-ee's calls take (the Service,
// the node's pod network, the same node flags, replicas and resources), so that k8s-ee's own part of a creation's
// cost can be read apart from the cost of being called at all.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCA, issueServingCert } from '../certs/pki.ts';
import { PLATFORM_IMAGE } from '../local/harness/platform.ts';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { imageEnv, serviceNodeArgs, smallDeployment } from './_lib.ts';

/** Where the bare pair's pods run (a namespace no webhook matches), and the name of everything it is made of. */
const HOME = 'bench-bare-webhook';
const NAME = 'bare-webhook';
const PORT = 9443;
/** The webhook entries' names, as the API server's admission metrics label them. */
export const BARE_WEBHOOKS = { mutate: 'mutate.bare.bench.k8s-ee.io', validate: 'validate.bare.bench.k8s-ee.io' };

interface Container {
  resources?: Record<string, unknown>;
}

/**
 * Installs the pair for the Deployments of `target` (a namespace it creates) and waits until its pods are ready,
 * with as many replicas and the same resources as k8s-ee's webhook Deployment `platform` ("namespace/name"). The
 * pair is removed by removeBareWebhooks.
 */
export async function installBareWebhooks(http: KubeHttp, target: string, platform: string): Promise<void> {
  const [platformNamespace, platformName] = platform.split('/');
  const k8see = await http.request<{
    spec: { replicas: number; template: { spec: { containers: (Container & { name: string })[] } } };
  }>('GET', `/apis/apps/v1/namespaces/${platformNamespace}/deployments/${platformName}`);
  const webhookContainer = k8see.spec.template.spec.containers.find((c) => c.name === 'webhook');
  if (!webhookContainer) throw new Error(`${platform} has no container named webhook`);

  const ca = await createCA({ commonName: 'bench-bare-webhook-ca', now: new Date(), validityDays: 1 });
  const serving = await issueServingCert(ca, {
    dnsNames: [`${NAME}.${HOME}.svc`],
    ipAddresses: [],
    now: new Date(),
    validityDays: 1,
  });
  for (const name of [HOME, target])
    await http.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    });
  const create = (path: string, body: object): Promise<unknown> => http.request('POST', path, { body });
  await create(`/api/v1/namespaces/${HOME}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: NAME },
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem },
  });
  await create(`/api/v1/namespaces/${HOME}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: NAME },
    data: { 'floor.mjs': readFileSync(join(import.meta.dirname, '_floor.mjs'), 'utf8') },
  });
  const env = { ...imageEnv(), FLOOR_ECHO_UID: '1', FLOOR_HOST: '0.0.0.0', FLOOR_PORT: String(PORT) };
  const labels = { app: NAME };
  await create(`/apis/apps/v1/namespaces/${HOME}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME },
    spec: {
      replicas: k8see.spec.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'floor',
              image: `${PLATFORM_IMAGE.repository}:${PLATFORM_IMAGE.tag}`,
              imagePullPolicy: PLATFORM_IMAGE.pullPolicy,
              command: ['node', ...serviceNodeArgs('webhook'), '/floor/floor.mjs', '/tls/tls.crt', '/tls/tls.key'],
              env: Object.entries(env).map(([name, value]) => ({ name, value })),
              ports: [{ name: 'https', containerPort: PORT }],
              readinessProbe: { tcpSocket: { port: PORT }, periodSeconds: 1 },
              resources: webhookContainer.resources ?? {},
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'floor', mountPath: '/floor', readOnly: true },
                { name: 'tls', mountPath: '/tls', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'floor', configMap: { name: NAME } },
            { name: 'tls', secret: { secretName: NAME } },
          ],
        },
      },
    },
  });
  await create(`/api/v1/namespaces/${HOME}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: NAME },
    spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort: 'https' }] },
  });
  await readyReplicas(http, k8see.spec.replicas, 120_000);

  const entry = (name: string, path: string) => ({
    name,
    admissionReviewVersions: ['v1'],
    clientConfig: {
      service: { namespace: HOME, name: NAME, path, port: 443 },
      caBundle: Buffer.from(ca.certPem).toString('base64'),
    },
    rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'] }],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': target } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    timeoutSeconds: 10,
  });
  const group = '/apis/admissionregistration.k8s.io/v1';
  await create(`${group}/mutatingwebhookconfigurations`, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: NAME },
    webhooks: [entry(BARE_WEBHOOKS.mutate, '/mutate')],
  });
  await create(`${group}/validatingwebhookconfigurations`, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: NAME },
    webhooks: [entry(BARE_WEBHOOKS.validate, '/validate')],
  });
  await untilCallable(http, target, 60_000);
}

/**
 * Waits until a Deployment (dry run) goes through the pair: its pods being ready is not enough, the node's Service
 * rules may not route to them yet (the API server's call is then refused: "connection refused").
 */
async function untilCallable(http: KubeHttp, namespace: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await http.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
        query: { dryRun: 'All' },
        body: smallDeployment('probe', undefined, 0),
      });
      return;
    } catch (err) {
      if (performance.now() > deadline)
        throw new Error(`the bare webhook pair is not callable after ${timeoutMs / 1000} s: ${String(err)}`, {
          cause: err,
        });
    }
    await sleep(500);
  }
}

async function readyReplicas(http: KubeHttp, replicas: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const d = await http.request<{ status?: { readyReplicas?: number } }>(
      'GET',
      `/apis/apps/v1/namespaces/${HOME}/deployments/${NAME}`,
    );
    if ((d.status?.readyReplicas ?? 0) >= replicas) return;
    if (performance.now() > deadline) {
      const pods = await http.request<{ items: { metadata: { name: string }; status?: unknown }[] }>(
        'GET',
        `/api/v1/namespaces/${HOME}/pods`,
      );
      const states = pods.items.map((p) => `${p.metadata.name}: ${JSON.stringify(p.status)}`).join('\n');
      throw new Error(`the bare webhook's pods are not ready after ${timeoutMs / 1000} s:\n${states}`);
    }
    await sleep(500);
  }
}

/** Unregisters the pair first (nothing may be left calling it), then deletes its namespace. */
export async function removeBareWebhooks(http: KubeHttp): Promise<void> {
  const group = '/apis/admissionregistration.k8s.io/v1';
  for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'])
    await http.request('DELETE', `${group}/${kind}/${NAME}`).catch(() => undefined);
  await http.request('DELETE', `/api/v1/namespaces/${HOME}`).catch(() => undefined);
}

/** Per webhook entry name: the calls the API server made to it and their summed seconds, from its /metrics. */
export async function webhookCalls(http: KubeHttp): Promise<Map<string, { count: number; seconds: number }>> {
  const text = await http.request<string>('GET', '/metrics');
  if (typeof text !== 'string') throw new Error('GET /metrics on the API server did not answer text');
  const calls = new Map<string, { count: number; seconds: number }>();
  const series = /^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm;
  for (const [, part, labels, value] of text.matchAll(series)) {
    const name = /(?:^|,)name="([^"]*)"/.exec(labels ?? '')?.[1];
    if (!name) continue;
    const c = calls.get(name) ?? { count: 0, seconds: 0 };
    if (part === 'count') c.count += Number(value);
    else c.seconds += Number(value);
    calls.set(name, c);
  }
  return calls;
}

/** The pids of this machine's processes whose command line has `part` (the bare pair's pods: '/floor/floor.mjs'). */
export function pidsWith(part: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(part);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** CPU time (user + system, ms) the processes have used so far, from /proc (a process gone since counts 0). */
export function cpuMsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}
