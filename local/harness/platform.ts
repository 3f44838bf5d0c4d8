// k8s-ee installed in the cluster from its own chart, exactly as a user installs it:
//   helm upgrade --install k8s-ee charts/k8s-ee -n k8s-ee-system --create-namespace \
//     --set image.repository=k8s-ee.local/k8s-ee --set image.tag=dev --set image.pullPolicy=Never --wait
// (plus --set config.previewDomain=… and a values file with what a test needs). The API server then calls the
// webhook through its Service (ClusterIP -> kube-proxy -> pod); the init container issues the certificate and
// injects the caBundle; the sweeper runs as a sidecar. Needs a cluster whose pods run and which holds the image
// (our built-in node imports it; elsewhere load it first, e.g. `kind load docker-image`).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withValuesFile } from '../../charts/render.ts';
import { configFromYaml } from '../../policies/config-load.ts';
import { matchNamespace } from '../../policies/namespace.ts';
import { projectRoot } from '../cluster/paths.ts';
import type { TestCluster } from './cluster.ts';

export const PLATFORM_RELEASE = 'k8s-ee';
export const PLATFORM_NAMESPACE = 'k8s-ee-system';
/** The release name contains the chart name, so every object is named after the release. */
export const PLATFORM_FULLNAME = PLATFORM_RELEASE;
/** The product image as the local images build and import it (local/images). */
export const PLATFORM_IMAGE = { repository: 'k8s-ee.local/k8s-ee', tag: 'dev', pullPolicy: 'Never' } as const;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface InstallPlatformOptions {
  cluster: TestCluster;
  previewDomain: string;
  /** Further values (config.*, replicaCount, …), given to helm as a values file (-f). */
  values?: Record<string, unknown>;
  /** Further `--set` arguments (each `key=value`). */
  set?: string[];
  /** helm's --timeout for the install and the wait (default 5m). */
  timeout?: string;
  /**
   * A namespace name the configured pattern manages, used to prove that the API server reaches the webhook
   * through its Service (a server-side dry-run create comes back labelled). Default: the first of a few
   * candidates that the pattern matches.
   */
  probeNamespace?: string;
  progress?: (line: string) => void;
}

export interface InstalledPlatform {
  release: string;
  namespace: string;
  /** Seconds from `helm upgrade --install` to the webhook answering through its Service. */
  readySeconds: number;
  /** The webhook pods (kubectl get pods -o json items). */
  pods(): Promise<Json[]>;
  /** /metrics of one pod's container port, read through the API server's pod proxy. */
  metrics(pod: string, port: number): Promise<string>;
  /** Pods, every container's log (previous ones too), the Deployment's and the namespace's events. */
  logs(): Promise<string>;
  /** helm uninstall, then the namespace deleted and waited for; checks that no webhook configuration is left. */
  uninstall(): Promise<void>;
}

const PROBE_CANDIDATES = ['e2e-probe-pr-1', 'probe-pr-1', 'pr-1', 'e2e-probe'];

const errorOf = (r: { stdout: string; stderr: string }): string => `${r.stderr}${r.stdout}`.trim();

async function getJson(cluster: TestCluster, args: string[]): Promise<Json> {
  return JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as Json;
}

/** Waits until a namespace is gone (a previous run's may still be Terminating). */
async function waitNamespaceGone(cluster: TestCluster, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await cluster.kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name'], {
      allowFail: true,
    });
    if (r.code === 0 && r.stdout.trim() === '') return;
    if (Date.now() > deadline) throw new Error(`namespace ${name} still exists after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** The pattern the installed release really uses, read back from its ConfigMap. */
async function installedConfigYaml(cluster: TestCluster): Promise<string> {
  const cm = await getJson(cluster, ['get', 'configmap', `${PLATFORM_FULLNAME}-config`, '-n', PLATFORM_NAMESPACE]);
  return String(cm['data']?.['config.yaml'] ?? '');
}

/**
 * Waits until the API server calls the in-cluster webhook: a server-side dry-run create of a managed namespace
 * comes back with k8s-ee's labels. --wait saw the pods Ready; this also covers the Service's endpoints, kube-proxy's
 * rules and the injected caBundle.
 */
async function waitServing(cluster: TestCluster, probe: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    const r = await cluster.kubectl(['create', 'namespace', probe, '--dry-run=server', '-o', 'json'], {
      allowFail: true,
    });
    if (r.code === 0) {
      const labels = (JSON.parse(r.stdout) as Json)['metadata']?.['labels'] as Record<string, string> | undefined;
      if (labels?.['k8s-ee.io/managed'] === 'true') return;
      last = `dry-run create of namespace ${probe} was not mutated: ${JSON.stringify(labels)}`;
    } else last = errorOf(r);
    if (Date.now() > deadline)
      throw new Error(
        `the in-cluster webhook did not answer through its Service within ${timeoutMs / 1000} s: ${last}`,
      );
    await sleep(250);
  }
}

async function collectLogs(cluster: TestCluster): Promise<string> {
  const ns = PLATFORM_NAMESPACE;
  const out: string[] = [];
  const run = async (title: string, args: string[]): Promise<void> => {
    const r = await cluster.kubectl(args, { allowFail: true });
    out.push(`--- ${title} ---\n${errorOf(r)}`);
  };
  await run('pods', ['get', 'pods', '-n', ns, '-o', 'wide']);
  const pods = await cluster.kubectl(['get', 'pods', '-n', ns, '-o', 'json'], { allowFail: true });
  const items = pods.code === 0 ? ((JSON.parse(pods.stdout) as Json)['items'] as Json[]) : [];
  for (const pod of items) {
    const name = String(pod['metadata']['name']);
    const statuses = [
      ...((pod['status']?.['initContainerStatuses'] as Json[] | undefined) ?? []),
      ...((pod['status']?.['containerStatuses'] as Json[] | undefined) ?? []),
    ];
    for (const status of statuses) {
      const container = String(status['name']);
      const args = ['logs', '-n', ns, name, '-c', container, '--tail=300'];
      await run(`logs ${name}/${container}`, args);
      if (Number(status['restartCount'] ?? 0) > 0) await run(`previous logs ${name}/${container}`, [...args, '-p']);
    }
  }
  await run('events', ['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']);
  return out.join('\n');
}

function probeNamespaceFor(configYaml: string, wanted: string | undefined): string {
  const config = configFromYaml(configYaml, `ConfigMap ${PLATFORM_FULLNAME}-config`);
  const name = [...(wanted ? [wanted] : []), ...PROBE_CANDIDATES].find((n) => matchNamespace(n, config));
  if (!name)
    throw new Error(
      `installPlatform: none of ${PROBE_CANDIDATES.join(', ')} matches namespacePattern ` +
        `${config.namespacePattern}; pass probeNamespace`,
    );
  return name;
}

function helmArgs(opts: InstallPlatformOptions, valuesFile: string): string[] {
  return [
    'upgrade',
    '--install',
    PLATFORM_RELEASE,
    join(projectRoot, 'charts', 'k8s-ee'),
    '-n',
    PLATFORM_NAMESPACE,
    '--create-namespace',
    '--set',
    `image.repository=${PLATFORM_IMAGE.repository}`,
    '--set',
    `image.tag=${PLATFORM_IMAGE.tag}`,
    '--set',
    `image.pullPolicy=${PLATFORM_IMAGE.pullPolicy}`,
    '--set',
    `config.previewDomain=${opts.previewDomain}`,
    '-f',
    valuesFile,
    ...(opts.set ?? []).flatMap((s) => ['--set', s]),
    '--wait',
    '--timeout',
    opts.timeout ?? '5m',
  ];
}

/** Installs (or upgrades) k8s-ee in the cluster and waits until the API server reaches its webhook. */
export async function installPlatform(opts: InstallPlatformOptions): Promise<InstalledPlatform> {
  const { cluster } = opts;
  const progress = opts.progress ?? (() => undefined);
  const started = Date.now();
  const phase = (
    await cluster.kubectl(['get', 'namespace', PLATFORM_NAMESPACE, '-o', 'jsonpath={.status.phase}'], {
      allowFail: true,
    })
  ).stdout;
  if (phase === 'Terminating') {
    progress(`waiting for a previous ${PLATFORM_NAMESPACE} to finish terminating`);
    await waitNamespaceGone(cluster, PLATFORM_NAMESPACE, 120_000);
  }
  const handle: InstalledPlatform = {
    release: PLATFORM_RELEASE,
    namespace: PLATFORM_NAMESPACE,
    readySeconds: 0,
    pods: async () =>
      (
        await getJson(cluster, [
          'get',
          'pods',
          '-n',
          PLATFORM_NAMESPACE,
          '-l',
          `app.kubernetes.io/instance=${PLATFORM_RELEASE},app.kubernetes.io/component=webhook`,
        ])
      )['items'] as Json[],
    metrics: async (pod, port) =>
      (
        await cluster.kubectl([
          'get',
          '--raw',
          `/api/v1/namespaces/${PLATFORM_NAMESPACE}/pods/${pod}:${String(port)}/proxy/metrics`,
        ])
      ).stdout,
    logs: () => collectLogs(cluster),
    uninstall: () => uninstallPlatform(cluster),
  };
  progress(`helm upgrade --install ${PLATFORM_RELEASE} charts/k8s-ee -n ${PLATFORM_NAMESPACE}`);
  const r = await withValuesFile(opts.values ?? {}, (file) => cluster.helm(helmArgs(opts, file), { allowFail: true }));
  if (r.code !== 0)
    throw new Error(`helm upgrade --install ${PLATFORM_RELEASE} failed:\n${errorOf(r)}\n${await handle.logs()}`);
  try {
    const probe = probeNamespaceFor(await installedConfigYaml(cluster), opts.probeNamespace);
    await waitServing(cluster, probe, 60_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await handle.logs()}`, { cause: err });
  }
  handle.readySeconds = (Date.now() - started) / 1000;
  progress(`k8s-ee serves in-cluster after ${handle.readySeconds.toFixed(1)} s`);
  return handle;
}

/**
 * Removes the release and its namespace (the certificate Secrets and the Lease, which helm does not own, go with
 * it), then checks that no k8s-ee webhook configuration or admission policy is left to intercept other tests.
 */
export async function uninstallPlatform(cluster: TestCluster): Promise<void> {
  const r = await cluster.helm(
    ['uninstall', PLATFORM_RELEASE, '-n', PLATFORM_NAMESPACE, '--ignore-not-found', '--wait', '--timeout', '2m'],
    { allowFail: true },
  );
  await cluster.kubectl(['delete', 'namespace', PLATFORM_NAMESPACE, '--ignore-not-found', '--wait=false'], {
    allowFail: true,
  });
  await waitNamespaceGone(cluster, PLATFORM_NAMESPACE, 120_000);
  const left = await cluster.kubectl(
    [
      'get',
      'mutatingwebhookconfiguration,validatingwebhookconfiguration,validatingadmissionpolicy,validatingadmissionpolicybinding',
      '-l',
      `app.kubernetes.io/instance=${PLATFORM_RELEASE},app.kubernetes.io/part-of=k8s-ee`,
      '-o',
      'name',
    ],
    { allowFail: true },
  );
  if (r.code !== 0 || left.stdout.trim() !== '')
    throw new Error(
      `uninstalling ${PLATFORM_RELEASE} left something behind:\nhelm: ${errorOf(r) || 'ok'}\n` +
        `still present: ${left.stdout.trim() || '(nothing)'}${left.stderr}`,
    );
}
