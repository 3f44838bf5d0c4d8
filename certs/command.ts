// `k8s-ee certs ensure|rotate|watch`: the webhook's own TLS certificates, self-managed.
//   ensure  what an init container runs: create or renew what is due, inject the caBundle, write the files
//   rotate  re-issue the serving certificate now (`--ca`: rotate the CA too, the old one stays trusted)
//   watch   loop: ensure every interval, keep the files in step, serve /healthz /readyz /metrics
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from '../lib/node-http.ts';
import { parseArgs } from 'node:util';
import type { Registry } from 'prom-client';
import { CliError } from '../cli/errors.ts';
import { parseDuration } from '../lib/duration.ts';
import { loadKubeAccess } from '../lib/kube-access.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import { describeRef, dryRunClient, parseWebhookConfigRefs, type CertsClient } from './client.ts';
import { KubeCertsClient } from './kube-client.ts';
import { kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';
import { ensureCerts, type EnsureResult, type ManagerOptions } from './manager.ts';
import { createCertMetrics } from './metrics.ts';
import { DEFAULT_POLICY, serviceDnsNames } from './plan.ts';
import { syncCertFiles } from './files.ts';
import { startCertWatcher, type CertWatcher } from './watch.ts';

const HELP = `Usage: k8s-ee certs ensure|rotate|watch [options]

  ensure   create the CA and serving certificate if missing, renew what is due, inject the caBundle
           into the webhook configurations, write the files to --cert-dir (an init container runs this)
  rotate   re-issue the serving certificate now; with --ca rotate the CA too (the old CA stays trusted
           in the bundle until it expires)
  watch    ensure every --interval, keep --cert-dir in step, serve /healthz /readyz /metrics on --port

Options:
  --namespace NS          namespace of the Secrets and the Service (default: the pod's, else k8s-ee-system)
  --secret NAME           serving Secret: tls.crt, tls.key, ca.crt (default k8s-ee-tls)
  --ca-secret NAME        CA Secret with the CA key (default: <secret>-ca)
  --service NAME          Service the API server calls; its DNS names go in the certificate (default k8s-ee)
  --webhook-configs LIST  webhook configurations to inject the caBundle into, comma-separated; NAME means both
                          kinds, mutating/NAME or validating/NAME one (default k8s-ee)
  --dns-names LIST        extra DNS names;  --ip-addresses LIST  IP addresses (e.g. 127.0.0.1)
  --cert-dir DIR          also write tls.crt, tls.key, ca.crt there (atomically, only when changed)
  --validity DUR          serving certificate lifetime (default 90d);  --ca-validity DUR  (default 365d)
  --kubeconfig FILE       default: $KUBECONFIG, ~/.kube/config, or in-cluster
  --now RFC3339           the clock (what would happen at that time); watch advances it in real time
  --interval DUR          watch: time between checks (default 1m)
  --port N                watch: health and metrics port (default 9445, 0 = none)
  --output text|json      ensure/rotate: result format (default text)
  --dry-run               ensure/rotate: say what would change, change nothing (with --now: "what happens then?")
`;

const OPTIONS = {
  namespace: { type: 'string' },
  secret: { type: 'string', default: 'k8s-ee-tls' },
  'ca-secret': { type: 'string' },
  service: { type: 'string', default: 'k8s-ee' },
  'webhook-configs': { type: 'string', default: 'k8s-ee' },
  'dns-names': { type: 'string', default: '' },
  'ip-addresses': { type: 'string', default: '' },
  'cert-dir': { type: 'string' },
  validity: { type: 'string', default: '90d' },
  'ca-validity': { type: 'string', default: '365d' },
  kubeconfig: { type: 'string' },
  now: { type: 'string' },
  interval: { type: 'string', default: '1m' },
  port: { type: 'string', default: '9445' },
  output: { type: 'string', default: 'text' },
  ca: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function defaultNamespace(): string {
  if (process.env['POD_NAMESPACE']) return process.env['POD_NAMESPACE'];
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || 'k8s-ee-system';
  } catch {
    return 'k8s-ee-system';
  }
}

function days(text: string, flag: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new CliError(`certs: ${flag} "${text}" is not a duration (e.g. 90d, 2160h)`);
  return ms / 86_400_000;
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function managerOptions(values: Values, sub: string): ManagerOptions {
  const namespace = values.namespace ?? defaultNamespace();
  const service = values.service;
  let webhookConfigs;
  try {
    webhookConfigs = parseWebhookConfigRefs(values['webhook-configs']);
  } catch (err) {
    throw new CliError(`certs: ${(err as Error).message}`);
  }
  return {
    namespace,
    secretName: values.secret,
    caSecretName: values['ca-secret'] ?? `${values.secret}-ca`,
    names: {
      commonName: `${service}.${namespace}.svc`,
      dnsNames: [...serviceDnsNames(service, namespace), ...list(values['dns-names'])],
      ipAddresses: list(values['ip-addresses']),
    },
    webhookConfigs,
    policy: {
      ...DEFAULT_POLICY,
      servingValidityDays: days(values.validity, '--validity'),
      caValidityDays: days(values['ca-validity'], '--ca-validity'),
    },
    forceServing: sub === 'rotate',
    forceCA: sub === 'rotate' && values.ca,
  };
}

/** The clock: real time, or `--now` advancing in real time from when the command started. */
export function clockFrom(nowFlag: string | undefined): () => Date {
  if (nowFlag === undefined) return () => new Date();
  const start = Date.parse(nowFlag);
  if (Number.isNaN(start) || !/^\d{4}-\d{2}-\d{2}T/.test(nowFlag)) {
    throw new CliError(`certs: --now "${nowFlag}" is not an RFC 3339 time (e.g. 2026-05-01T12:00:00Z)`);
  }
  const startedAt = Date.now();
  return () => new Date(start + (Date.now() - startedAt));
}

export function formatResult(result: EnsureResult, output: string): string {
  if (output === 'json') {
    return `${JSON.stringify({
      actions: result.actions,
      ca: { notAfter: result.ca.notAfter.toISOString(), ...result.ca.action },
      serving: { notAfter: result.serving.notAfter.toISOString(), ...result.serving.action },
      webhooks: result.webhooks.map((w) => ({ ...w.ref, status: w.status })),
    })}\n`;
  }
  const lines = [...result.actions];
  if (lines.length === 0) lines.push('certificates are up to date');
  for (const w of result.webhooks) {
    if (w.status === 'not-found')
      lines.push(`warning: ${describeRef(w.ref)} not found; its caBundle will be injected once it exists`);
  }
  lines.push(`serving certificate valid until ${result.serving.notAfter.toISOString()}`);
  lines.push(`CA valid until ${result.ca.notAfter.toISOString()}`);
  return `${lines.join('\n')}\n`;
}

async function runOnce(client: CertsClient, values: Values, sub: string): Promise<number> {
  const opts = managerOptions(values, sub);
  const dryRun = values['dry-run'];
  const planned: string[] = [];
  const target = dryRun ? dryRunClient(client, (line) => planned.push(line)) : client;
  const result = await ensureCerts(target, opts, clockFrom(values.now)());
  if (dryRun)
    result.actions = [...result.actions.map((a) => `(dry run) ${a}`), ...planned.map((p) => `(dry run) ${p}`)];
  else if (values['cert-dir'])
    await syncCertFiles(values['cert-dir'], { ...result.serving, caBundle: result.caBundle });
  process.stdout.write(formatResult(result, values.output));
  return 0;
}

function healthServer(port: number, watcher: CertWatcher, registry: Registry, log: Logger): Server {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok\n');
    if (req.url === '/readyz') {
      const ready = watcher.readiness();
      res.statusCode = ready === true ? 200 : 503;
      return void res.end(ready === true ? 'ready\n' : `not ready: ${ready}\n`);
    }
    if (req.url === '/metrics') {
      void registry.metrics().then((text) => {
        res.setHeader('Content-Type', registry.contentType);
        res.end(text);
      });
      return;
    }
    res.statusCode = 404;
    res.end('not found\n');
  });
  server.listen(port, () => log.info({ port }, 'certs watch: health and metrics listening'));
  return server;
}

async function watch(client: CertsClient, values: Values): Promise<number> {
  const log = createLogger({ name: 'k8s-ee-certs' });
  const registry = createRegistry({ defaultMetrics: true });
  const intervalMs = parseDuration(values.interval);
  if (intervalMs === undefined || intervalMs < 1000)
    throw new CliError(`certs: --interval "${values.interval}" must be a duration of at least 1s`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`certs: --port "${values.port}" is not a port number`);
  const manager = managerOptions(values, 'watch');
  const watcher = startCertWatcher({
    client,
    manager,
    certDir: values['cert-dir'],
    intervalMs,
    now: clockFrom(values.now),
    log,
    metrics: createCertMetrics(registry),
  });
  const server = port > 0 ? healthServer(port, watcher, registry, log) : undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('certs watch: stopping');
  await watcher.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`certs: ${(err as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  const sub = positionals[0];
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub !== 'ensure' && sub !== 'rotate' && sub !== 'watch')
    throw new CliError(`certs: expected ensure, rotate or watch\n\n${HELP}`);
  if (values.output !== 'text' && values.output !== 'json') throw new CliError(`certs: --output must be text or json`);
  if (values.ca && sub !== 'rotate') throw new CliError('certs: --ca only applies to rotate');
  if (values['dry-run'] && sub === 'watch') throw new CliError('certs: --dry-run applies to ensure and rotate');
  clockFrom(values.now);
  let http: KubeHttp;
  try {
    http = kubeHttp(await loadKubeAccess(values.kubeconfig));
  } catch (err) {
    throw new CliError(`certs: ${(err as Error).message}`, 1);
  }
  const client = new KubeCertsClient(http);
  try {
    if (sub === 'watch') return await watch(client, values);
    return await runOnce(client, values, sub).catch((err: unknown) => {
      throw new CliError(`certs ${sub}: ${(err as Error).message}`, 1);
    });
  } finally {
    http.close(); // its keep-alive connections would hold the process open
  }
}
