// `k8s-ee webhook`: the admission webhooks over HTTPS, with the baseline reconciler when a cluster is at hand.
import type { RequestListener, Server } from 'node:http';
import { createServer as createHttpServer } from '../lib/node-http.ts';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { intFlag, parseFlags } from '../cli/args.ts';
import { loadConfigForCli } from '../cli/config.ts';
import { CliError } from '../cli/errors.ts';
import type { KubeHttp } from './reconciler-http.ts';
import { formatDuration, parseDuration } from '../lib/duration.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import type { Config } from '../policies/config.ts';
import { mutateHandler, validateHandler } from './handlers.ts';
import { createServedCertMetrics } from '../certs/metrics.ts';
import { PAIR_REJECT_REASONS } from '../certs/served.ts';
import { createApp, type App } from './server.ts';
import { startReloadingServer, TlsPairError, type ReloadingServer } from './tls.ts';
import type { ClusterServices } from './types.ts';

const HELP = `Usage: k8s-ee webhook --tls-cert FILE --tls-key FILE [options]

Serves the mutating (POST /mutate) and validating (POST /validate) admission webhooks over HTTPS,
plus /healthz, /readyz and /metrics.

Options:
  --port N            HTTPS port (default 9443)
  --host ADDR         address to listen on (default 0.0.0.0)
  --tls-cert FILE     serving certificate (PEM); re-read when it changes
  --tls-key FILE      its private key (PEM)
  --tls-ca FILE       the CA bundle the API server verifies with (the injected caBundle, e.g. ca.crt); a new
                      pair is served only if its certificate leads to it. Missing or empty file: not checked.
                      A pair that is expired, not yet valid, unreadable, or whose key does not match is never
                      served: at start-up the webhook exits 1; later the current pair keeps serving.
  --config FILE       k8s-ee configuration (YAML); default: built-in defaults
  --kubeconfig FILE   cluster to use for pins, the baseline gate and the reconciler (default: $KUBECONFIG,
                      ~/.kube/config, or the in-cluster service account)
  --no-cluster        use no API server at all: pure admission decisions only (pin limits and the
                      baseline gate are skipped)
  --metrics-port N    also serve /metrics, /healthz and /readyz over plain HTTP on this port
  --identity NAME     this replica's name for leader election (default: $POD_NAME or the hostname)
  --shutdown-delay D  on SIGTERM, serve on for this long (default 5s; 0: stop at once) while the Service stops
                      routing here: /readyz answers 503 and each answer closes its connection, so clients move to
                      the other replicas without a refused call. SIGINT, or a second signal, stops at once.
`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  'no-cluster': { type: 'boolean' },
  'metrics-port': { type: 'string' },
  identity: { type: 'string' },
  'shutdown-delay': { type: 'string' },
} as const;

/**
 * How long a replica serves on after SIGTERM by default. The kubelet signals a terminating pod while its endpoint's
 * removal is still on its way to every kube-proxy (and to the API server's own view of the Service): until then the
 * API server keeps sending admission calls here, on new connections as on kept ones, and with failurePolicy Fail a
 * refused call fails the user's write (kubernetes/kubernetes#127335 is that failure). A few seconds covers that
 * propagation on a small cluster; the pod's terminationGracePeriodSeconds (30 s by default) must exceed it.
 */
const SHUTDOWN_DELAY_DEFAULT = '5s';

interface Cluster {
  services: ClusterServices;
  ready: () => boolean;
  stop: () => Promise<void>;
}

/** Who this process is to the API server, so its own writes (the reconciler's) pass its own guards. */
async function whoAmI(http: KubeHttp, log: Logger): Promise<string | undefined> {
  try {
    const review = await http.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    return review.status?.userInfo?.username;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'could not ask the API server who k8s-ee is (SelfSubjectReview); relying on config.selfUser',
    );
    return undefined;
  }
}

function withSelf(config: Config, self: string | undefined): Config {
  if (!self || self === config.selfUser || config.platformIdentities.users.includes(self)) return config;
  return {
    ...config,
    platformIdentities: { ...config.platformIdentities, users: [...config.platformIdentities.users, self] },
  };
}

async function startCluster(
  kubeconfig: string | undefined,
  baseConfig: Config,
  log: Logger,
  registry: Registry,
  identity: string,
): Promise<Cluster & { config: Config }> {
  // No @kubernetes/client-node on this path (it costs ~76 MiB resident, bench/results.md): plain JSON requests
  // and watches through kubeHttp, authenticated by lib/kube-access.ts (which loads client-node only for the
  // kubeconfigs it cannot read itself: exec plugins, auth providers).
  const { loadKubeAccess } = await import('../lib/kube-access.ts');
  const { kubeHttp } = await import('./reconciler-http.ts');
  const kc = await loadKubeAccess(kubeconfig);
  // One API client for the whole process: over HTTP/2, one connection for every request and watch.
  const http = kubeHttp(kc);
  const self = await whoAmI(http, log);
  if (self) log.info({ user: self }, 'k8s-ee acts as this user; its own writes to baseline objects pass its guards');
  const config = withSelf(baseConfig, self);
  const { createClusterServices } = await import('./cluster-services.ts');
  const { startReconciler } = await import('./reconciler.ts');
  const reconciler = startReconciler({ kc, http, config, log, registry, identity });
  const services = createClusterServices({
    kc,
    http,
    config,
    log,
    registry,
    capacitySource: reconciler.capacity,
    watchedEnvironment: (namespace) => reconciler.watchedEnvironment(namespace),
  });
  const stop = async (): Promise<void> => {
    await reconciler.stop();
    http.close();
  };
  return { services, config, ready: () => reconciler.ready(), stop };
}

function listen(
  server: {
    listen(port: number, host: string, cb: () => void): unknown;
    once(e: 'error', cb: (err: Error) => void): unknown;
  },
  port: number,
  host: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

interface Settings {
  certFile: string;
  keyFile: string;
  caFile: string | undefined;
  port: number;
  host: string;
  metricsPort: number | undefined;
  configPath: string | undefined;
  kubeconfig: string | undefined;
  noCluster: boolean;
  identity: string | undefined;
  shutdownDelayMs: number;
}

function shutdownDelay(text: string): number {
  const ms = text === '0' ? 0 : parseDuration(text);
  if (ms === undefined || ms > 10 * 60_000)
    throw new CliError(
      `webhook: --shutdown-delay "${text}" is not a duration of at most 10m (e.g. 5s, 1500ms; 0 to stop at once)`,
    );
  return ms;
}

function settingsFrom(argv: string[]): Settings | undefined {
  const { values } = parseFlags('webhook', argv, FLAGS, HELP);
  if (values.help) return undefined;
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if (!certFile || !keyFile)
    throw new CliError(
      `webhook: --tls-cert and --tls-key are required (the API server only calls webhooks over HTTPS)\n\n${HELP}`,
    );
  return {
    certFile,
    keyFile,
    caFile: values['tls-ca'],
    port: intFlag('webhook', 'port', values.port, 9443),
    host: values.host ?? '0.0.0.0',
    metricsPort:
      values['metrics-port'] === undefined ? undefined : intFlag('webhook', 'metrics-port', values['metrics-port'], 0),
    configPath: values.config,
    kubeconfig: values.kubeconfig,
    noCluster: values['no-cluster'] === true,
    identity: values.identity,
    shutdownDelayMs: shutdownDelay(values['shutdown-delay'] ?? SHUTDOWN_DELAY_DEFAULT),
  };
}

interface Servers {
  port: number;
  close(): Promise<void>;
}

/** Loads and checks the certificate pair before anything else starts: a pair clients would refuse is fatal. */
async function loadTls(
  settings: Settings,
  log: Logger,
  registry: Registry,
): Promise<{ https: ReloadingServer; attach: (app: App) => void }> {
  let listener: App | undefined;
  let tls: ReloadingServer | undefined;
  const metrics = createServedCertMetrics(registry, PAIR_REJECT_REASONS, () => tls?.health().ok ?? false);
  try {
    tls = await startReloadingServer(
      (req, res) => (listener ? listener(req, res) : void res.writeHead(503).end('starting\n')),
      {
        certFile: settings.certFile,
        keyFile: settings.keyFile,
        ...(settings.caFile ? { caFile: settings.caFile } : {}),
      },
      {
        log,
        now: () => new Date(),
        metrics,
        // The app is attached before the server listens; a connection before that is not expected, and is closed.
        connections: {
          serve: (socket) => (listener ? listener.http1.serve(socket) : socket.destroy()),
          closeConnections: () => listener?.http1.closeConnections(),
        },
      },
    );
  } catch (err) {
    const reason = err instanceof TlsPairError ? ` (${err.rejection.reason})` : '';
    throw new CliError(
      `webhook: refusing to start, the TLS certificate would be refused by clients${reason}: ${(err as Error).message}; give --tls-cert/--tls-key a pair that is valid now (k8s-ee certs ensure --cert-dir DIR writes one)`,
      1,
    );
  }
  return { https: tls, attach: (app) => void (listener = app) };
}

async function startServers(app: RequestListener, https: ReloadingServer, settings: Settings): Promise<Servers> {
  await listen(https.server, settings.port, settings.host);
  let plain: Server | undefined;
  if (settings.metricsPort !== undefined) {
    plain = createHttpServer(app);
    await listen(plain, settings.metricsPort, settings.host);
  }
  const address = https.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  return {
    port,
    close: () =>
      Promise.all([https.close(), new Promise<void>((r) => (plain ? plain.close(() => r()) : r()))]).then(
        () => undefined,
      ),
  };
}

export async function run(argv: string[]): Promise<number> {
  const settings = settingsFrom(argv);
  if (!settings) {
    process.stdout.write(HELP);
    return 0;
  }
  const log = createLogger({ name: 'k8s-ee-webhook', async: true });
  let config = await loadConfigForCli(settings.configPath, 1);
  const registry = createRegistry({ defaultMetrics: true });
  const tls = await loadTls(settings, log, registry); // before the cluster: a bad pair ends the process at once
  let cluster: (Cluster & { config: Config }) | undefined;
  if (settings.noCluster) {
    log.warn('running with --no-cluster: no API server is used, so pin limits and the baseline gate are not enforced');
  } else {
    const identity = settings.identity ?? process.env['POD_NAME'] ?? hostname();
    cluster = await startCluster(settings.kubeconfig, config, log, registry, identity);
    config = cluster.config;
  }
  const context = { config, log, now: () => new Date(), ...(cluster ? { cluster: cluster.services } : {}) };
  let draining = false;
  const routes = [
    { path: '/mutate', name: 'mutate', handler: mutateHandler },
    { path: '/validate', name: 'validate', handler: validateHandler },
  ];
  const app = createApp({
    routes,
    context,
    registry,
    maxBodyBytes: config.webhook.maxBodyBytes,
    ready: () => {
      if (draining) return 'shutting down (SIGTERM): serving on until the Service stops routing here';
      const health = tls.https.health();
      if (!health.ok) return health.message;
      return cluster && !cluster.ready() ? 'the baseline reconciler has not synced its watches yet' : true;
    },
  });
  tls.attach(app);
  // Listened for before the listening line: whoever reads it may signal at once.
  const stopped = nextSignal();
  const servers = await startServers(app, tls.https, settings);
  log.info(
    { port: servers.port, host: settings.host, metricsPort: settings.metricsPort, cluster: cluster !== undefined },
    'k8s-ee webhook listening',
  );
  process.stdout.write(`k8s-ee webhook listening on https://${settings.host}:${servers.port}\n`);
  await servedOn(await stopped, settings.shutdownDelayMs, log, () => {
    draining = true;
    app.http1.drain();
  });
  log.info('shutting down: finishing requests in flight');
  await Promise.all([servers.close(), cluster?.stop()]);
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return 0;
}

/**
 * After the signal that stops the webhook: on SIGTERM, serves on for `delayMs` with `drain` done first, unless
 * another signal comes; on SIGINT (Ctrl-C), not at all.
 */
async function servedOn(
  signal: NodeJS.Signals | undefined,
  delayMs: number,
  log: Logger,
  drain: () => void,
): Promise<void> {
  if (signal !== 'SIGTERM' || delayMs === 0) return;
  drain();
  log.info(
    { delayMs },
    `SIGTERM: serving on for ${formatDuration(delayMs)} while the Service stops routing here ` +
      '(/readyz answers 503, each answer closes its connection); a second signal stops at once',
  );
  await nextSignal(delayMs);
}

/** The next SIGTERM or SIGINT, or undefined once `timeoutMs` have passed without one. */
function nextSignal(timeoutMs?: number): Promise<NodeJS.Signals | undefined> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals | undefined): void => {
      clearTimeout(timer);
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve(signal);
    };
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(undefined), timeoutMs);
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
}
