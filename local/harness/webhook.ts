// Runs `k8s-ee webhook` as a local process for e2e tests, with a fresh certificate for 127.0.0.1, and registers
// its webhook configurations (webhooks/registration.ts) with the API server by URL and caBundle.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCA, issueServingCert, type KeyPairPem } from '../../certs/pki.ts';
import type { Config } from '../../policies/config.ts';
import { defaultConfig } from '../../policies/config.ts';
import { configFromYaml } from '../../policies/config-load.ts';
import { matchNamespace } from '../../policies/namespace.ts';
import { buildWebhookConfigurations } from '../../webhooks/registration.ts';
import { freePort, httpsGet } from '../cluster/net.ts';
import { projectRoot } from '../cluster/paths.ts';
import type { TestCluster } from './cluster.ts';

export interface StartedWebhook {
  /** https://127.0.0.1:PORT (with $K8S_EE_E2E_WEBHOOK_HOST instead of 127.0.0.1 when set) */
  url: string;
  /** PEM of the CA that signed the serving certificate. */
  caBundle: string;
  port: number;
  /** The webhook process (for benches that read its memory from /proc). */
  pid: number | undefined;
  stop(): Promise<void>;
  logs(): string;
}

export interface StartWebhookOptions {
  cluster: TestCluster;
  configYaml?: string;
  extraArgs?: string[];
  /** Also append the webhook's output to this file (the demo keeps it for the user). */
  logFile?: string;
  /**
   * Run it as the image does (the benches): this entry (e.g. dist/cli/main.js, built) with these node flags, at
   * this log level. Default: cli/main.ts from source, no flags, debug logs.
   */
  runAs?: { entry: string; nodeArgs: string[]; logLevel: string; env?: Record<string, string> };
  /**
   * The webhook process's own identity (the user of `kubeconfig`): when set, its own writes skip its webhooks, as the
   * chart registers them for its ServiceAccount. Use with a `kubeconfig` of another identity than the cluster's
   * (the tests and the probe act as the cluster's user, and must not skip).
   */
  selfUser?: string;
  /** The kubeconfig the webhook process uses (its own identity); default the cluster's (the admin's). */
  kubeconfig?: string;
}

const MAX_LOG_CHARS = 4_000_000;

/**
 * The address the API server calls the webhook at: 127.0.0.1 for our control plane and for clusters running on
 * this host (k3s); for a cluster in containers (kind) set K8S_EE_E2E_WEBHOOK_HOST to this host's address as
 * seen from there (the docker bridge gateway, for example 172.18.0.1).
 */
function webhookHost(): string {
  return process.env['K8S_EE_E2E_WEBHOOK_HOST'] || '127.0.0.1';
}

export interface WebhookTls {
  /** The address the API server calls (webhookHost) and the one to listen on (0.0.0.0 unless it is loopback). */
  host: string;
  listenHost: string;
  ca: KeyPairPem;
  serving: KeyPairPem;
}

/** A fresh CA and a serving certificate for the address the API server calls a test's webhook at. */
export async function webhookTls(commonName: string): Promise<WebhookTls> {
  const now = new Date();
  const ca = await createCA({ commonName, now, validityDays: 1 });
  const host = webhookHost();
  const hostIsIp = isIP(host) !== 0;
  const serving = await issueServingCert(ca, {
    dnsNames: ['localhost', ...(hostIsIp ? [] : [host])],
    ipAddresses: [...new Set(['127.0.0.1', ...(hostIsIp ? [host] : [])])],
    now,
    validityDays: 1,
  });
  return { host, listenHost: host === '127.0.0.1' ? host : '0.0.0.0', ca, serving };
}
const NODE = join(projectRoot, 'node_modules', '.bin', 'node');

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitReady(child: ChildProcess, url: string, ca: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited(child))
      throw new Error(`k8s-ee webhook exited (${String(child.exitCode ?? child.signalCode)}) before it was ready`);
    const res = await httpsGet(`${url}/readyz`, { ca }, 1_000).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`k8s-ee webhook: ${url}/readyz not ready within 30 s`);
    await sleep(100);
  }
}

/** A namespace name the configured pattern manages, to probe that the registration is in effect. */
function probeNamespace(config: Config): string | undefined {
  return ['e2e-probe-pr-1', 'e2e-probe-1', 'pr-1', 'e2e-probe'].find((n) => matchNamespace(n, config));
}

/** Waits until the API server calls the webhook: a server-side dry-run of a managed namespace comes back mutated. */
async function waitRegistered(cluster: TestCluster, config: Config): Promise<void> {
  const name = probeNamespace(config);
  if (!name) {
    await sleep(2_000);
    return;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const res = await cluster.kubectl(['create', 'namespace', name, '--dry-run=server', '-o', 'json'], {
      allowFail: true,
    });
    if (res.code === 0) {
      const labels =
        (JSON.parse(res.stdout) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
      if (Object.keys(labels).some((k) => k !== 'kubernetes.io/metadata.name')) return;
    }
    await sleep(100);
  }
  throw new Error(
    `the webhook configurations were registered but a dry-run create of namespace ${name} was not mutated within 15 s`,
  );
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

function spawnWebhook(
  args: string[],
  append: (chunk: string) => void,
  runAs: StartWebhookOptions['runAs'],
): ChildProcess {
  const entry = join(projectRoot, runAs?.entry ?? join('cli', 'main.ts'));
  const child = spawn(NODE, [...(runAs?.nodeArgs ?? []), entry, 'webhook', ...args], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...runAs?.env,
      K8S_EE_LOG_LEVEL: runAs?.logLevel ?? process.env['K8S_EE_LOG_LEVEL'] ?? 'debug',
    },
  });
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  return child;
}

export async function startWebhook(opts: StartWebhookOptions): Promise<StartedWebhook> {
  const config =
    opts.configYaml === undefined ? defaultConfig() : configFromYaml(opts.configYaml, 'startWebhook configYaml');
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-webhook-'));
  const { host, listenHost, ca, serving } = await webhookTls('k8s-ee e2e webhook CA');
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), config: join(dir, 'config.yaml') };
  await writeFile(files.cert, serving.certPem);
  await writeFile(files.key, serving.keyPem, { mode: 0o600 });
  const port = await freePort();
  const args = [
    '--host',
    listenHost,
    '--port',
    String(port),
    '--tls-cert',
    files.cert,
    '--tls-key',
    files.key,
    '--kubeconfig',
    opts.kubeconfig ?? opts.cluster.kubeconfig,
    // A test's webhook stops when told (its registration is removed first): no serving on after SIGTERM.
    '--shutdown-delay',
    '0',
  ];
  if (opts.configYaml !== undefined) {
    await writeFile(files.config, opts.configYaml);
    args.push('--config', files.config);
  }
  let output = '';
  const logStream = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const child = spawnWebhook(
    [...args, ...(opts.extraArgs ?? [])],
    (chunk) => {
      output = (output + chunk).slice(-MAX_LOG_CHARS);
      logStream?.write(chunk);
    },
    opts.runAs,
  );
  child.once('exit', () => logStream?.end());
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${String(port)}`;
  const localUrl = `https://127.0.0.1:${String(port)}`;
  const name = `k8s-ee-e2e-${String(port)}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.removeListener('beforeExit', onBeforeExit);
      await opts.cluster.kubectl(
        ['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', name, '--ignore-not-found'],
        { allowFail: true },
      );
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    })());
  // A test that forgets stop() must not leave a failurePolicy=Fail registration behind for the next file.
  const onBeforeExit = (): void => void stop();
  process.once('beforeExit', onBeforeExit);
  try {
    await waitReady(child, localUrl, ca.certPem);
    const { mutating, validating } = buildWebhookConfigurations({
      name,
      url,
      caBundle: ca.certPem,
      config,
      ...(opts.selfUser ? { selfUser: opts.selfUser } : {}),
    });
    await opts.cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [mutating, validating] }),
    });
    await waitRegistered(opts.cluster, config);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- webhook output ---\n${output}`, { cause: err });
  }
  return { url, caBundle: ca.certPem, port, pid: child.pid, stop, logs: () => output };
}
