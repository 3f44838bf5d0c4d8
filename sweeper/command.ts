// `k8s-ee sweeper`: the long-running sidecar (cron schedules, Lease, probes and metrics), or one pass with --once.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { loadConfigForCli } from '../cli/config.ts';
import { loadKubeAccess, type KubeAccess } from '../lib/kube-access.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import { CliError } from '../cli/errors.ts';
import { createKubeSweeper } from './kube.ts';
import { kubeHttp } from '../webhooks/reconciler-http.ts';
import { gitHubClientFromConfig } from './github.ts';
import { readCosts } from './inventory-kube.ts';
import { createSweeperMetrics } from './metrics.ts';
import { sweep, type SweepDeps, type SweepResult } from './sweep.ts';
import { createScheduler } from './scheduler.ts';
import { reduceMemory } from '../lib/memory.ts';
import { startProbeServer } from './server.ts';
import { formatOnce } from './output.ts';
import type { SweepKind } from './snapshot.ts';

const HELP = `Usage: k8s-ee sweeper [options]

Expires pins, deletes orphan PR environments, frees Released volumes, watches node disk and stuck namespaces.

Options:
  --config FILE            k8s-ee configuration (default: built-in defaults)
  --kubeconfig FILE        kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --once                   run one pass (namespaces, then disk) and exit; prints each action, one a line
  --only KIND              with --once: only "namespaces" or only "disk"
  --dry-run                plan and report, change nothing (no deletes, no patches, no Events)
  --now RFC3339            the sweeper's clock: with --once the pass runs at exactly this time ("what would go
                           tomorrow?"); a long-running sweeper starts its clock there
  --output text|json       --once output format (default text)
  --port P                 /healthz /readyz /metrics port (default 9090; 0 picks a free one)
  --lease-namespace NS     namespace of the leader-election Lease (default $POD_NAMESPACE or k8s-ee-system)
  --lease-name NAME        Lease name (default k8s-ee-sweeper)
  --no-leader-election     act without a Lease (a single local instance)
  --events-namespace NS    namespace of Events about namespaces, volumes and nodes (default "default")
  --log-level LEVEL        pino level (default info; warn with --once)

Exit status with --once: 0 when the pass completed without errors, 1 when something failed (a list, a GitHub
call or an action: the failed part was treated as unknown and nothing was deleted because of it).
`;

interface Args {
  config?: string;
  kubeconfig?: string;
  once: boolean;
  only?: SweepKind;
  dryRun: boolean;
  now?: Date;
  output: 'text' | 'json';
  port: number;
  leaseNamespace: string;
  leaseName: string;
  leaderElection: boolean;
  eventsNamespace: string;
  logLevel?: string;
}

const OPTIONS = {
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  once: { type: 'boolean', default: false },
  only: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  now: { type: 'string' },
  output: { type: 'string', default: 'text' },
  port: { type: 'string', default: '9090' },
  'lease-namespace': { type: 'string' },
  'lease-name': { type: 'string', default: 'k8s-ee-sweeper' },
  'no-leader-election': { type: 'boolean', default: false },
  'events-namespace': { type: 'string', default: 'default' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseNow(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
  const t = Date.parse(text);
  if (!rfc3339.test(text) || Number.isNaN(t))
    throw new CliError(`sweeper: --now "${text}" is not an RFC 3339 time; use e.g. 2025-06-01T12:00:00Z`);
  return new Date(t);
}

function checkValues(values: { output: string; only?: string | undefined; port: string }): {
  port: number;
  output: 'text' | 'json';
} {
  if (values.output !== 'text' && values.output !== 'json')
    throw new CliError(`sweeper: --output must be text or json, not "${values.output}"`);
  if (values.only !== undefined && values.only !== 'namespaces' && values.only !== 'disk')
    throw new CliError(`sweeper: --only must be namespaces or disk, not "${values.only}"`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`sweeper: --port must be a port number (0-65535), not "${values.port}"`);
  return { port, output: values.output };
}

export function parseSweeperArgs(argv: string[]): Args | 'help' {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new CliError(`sweeper: ${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) return 'help';
  const { port, output } = checkValues(values);
  const now = parseNow(values.now);
  return {
    ...(values.config ? { config: values.config } : {}),
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    once: values.once,
    ...(values.only === 'namespaces' || values.only === 'disk' ? { only: values.only } : {}),
    dryRun: values['dry-run'],
    ...(now ? { now } : {}),
    output,
    port,
    leaseNamespace: values['lease-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'k8s-ee-system',
    leaseName: values['lease-name'],
    leaderElection: !values['no-leader-election'],
    eventsNamespace: values['events-namespace'],
    ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
  };
}

/**
 * How to reach the cluster. The pass, the Lease and the release watch are plain requests and watches through
 * kubeHttp, so the sweeper does without client-node (most of its memory) unless the kubeconfig needs it.
 */
async function kubeOrExplain(path: string | undefined): Promise<KubeAccess> {
  try {
    return await loadKubeAccess(path);
  } catch (err) {
    throw new CliError(`sweeper: ${(err as Error).message}`);
  }
}

interface Wiring {
  deps: SweepDeps;
  kc: KubeAccess;
  log: Logger;
  identity: string;
  clock: () => Date;
}

async function wire(
  args: Args,
  extra: { registryDefaults: boolean; shouldStop?: () => boolean },
): Promise<Wiring & { registry: ReturnType<typeof createRegistry>; apiRequests: () => number; close: () => void }> {
  const config = await loadConfigForCli(args.config);
  const kc = await kubeOrExplain(args.kubeconfig);
  const level = args.logLevel ?? process.env['K8S_EE_LOG_LEVEL'] ?? (args.once ? 'warn' : 'info');
  const log = createLogger({
    name: 'k8s-ee-sweeper',
    level,
    ...(args.once ? { destination: pino.destination(2) } : {}),
  });
  const registry = createRegistry({ defaultMetrics: extra.registryDefaults });
  const metrics = createSweeperMetrics(registry);
  const identity = process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
  let apiRequests = 0;
  const http = kubeHttp(kc, { onRequest: () => void (apiRequests += 1) });
  const kube = createKubeSweeper(http, {
    identity,
    jobNamespace: args.leaseNamespace,
    eventsNamespace: args.eventsNamespace,
  });
  // With --once the run happens at exactly --now (repeatable answers to "what would go then?"); a long-running
  // sweeper started with --now keeps a clock that starts there and moves on.
  const offset = args.now ? args.now.getTime() - Date.now() : 0;
  const fixed = args.once ? args.now : undefined;
  const clock = () => (fixed ? new Date(fixed.getTime()) : new Date(Date.now() + offset));
  const deps: SweepDeps = {
    reader: kube,
    api: kube,
    github: gitHubClientFromConfig(config),
    config,
    metrics,
    log,
    dryRun: args.dryRun,
    ...(extra.shouldStop ? { shouldStop: extra.shouldStop } : {}),
    // The cost metrics, only where something scrapes them (the sidecar; --once serves no metrics: `k8s-ee envs`
    // answers there). They need no PR states: no GitHub calls for them.
    ...(args.once
      ? {}
      : {
          inventory: async (seen: Parameters<NonNullable<SweepDeps['inventory']>>[0]) => {
            const read = await readCosts(http, config, seen.namespaces);
            for (const w of read.warnings) log.warn(`cost metrics: could not read ${w} (counted as nothing)`);
            return read.input;
          },
        }),
  };
  if (!deps.github && Object.keys(config.sweeper.github.repositories).length > 0) {
    log.warn(
      `sweeper.github.repositories is set but $${config.sweeper.github.tokenEnv} is empty: PR states stay unknown`,
    );
  }
  return { deps, kc, log, identity, clock, registry, apiRequests: () => apiRequests, close: () => http.close() };
}

async function runOnce(args: Args): Promise<number> {
  const { deps, clock, apiRequests, close } = await wire(args, { registryDefaults: false });
  const kinds: SweepKind[] = args.only ? [args.only] : ['namespaces', 'disk'];
  const results: SweepResult[] = [];
  for (const kind of kinds) results.push(await sweep(kind, clock(), deps));
  close();
  const { stdout, stderr } = formatOnce(results, args.output, apiRequests());
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  return results.every((r) => r.completed && r.errors.length === 0) ? 0 : 1;
}

function waitForSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'stopping: the current action finishes, then the sweeper exits');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

interface Election {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** The Lease (with --no-leader-election: always the leader, and the caller starts leading itself). */
async function elect(
  args: Args,
  wiring: Pick<Wiring, 'log' | 'identity' | 'kc'>,
  on: { start: () => void; stop: () => void },
): Promise<Election> {
  if (!args.leaderElection) return { isLeader: () => true, stop: () => Promise.resolve() };
  const { startLeaderElection } = await import('../lib/leader.ts');
  return startLeaderElection({
    kc: wiring.kc,
    namespace: args.leaseNamespace,
    name: args.leaseName,
    identity: wiring.identity,
    log: wiring.log,
    onStart: on.start,
    onStop: on.stop,
  });
}

async function runDaemon(args: Args): Promise<number> {
  let stopping = false;
  let election: Election = { isLeader: () => false, stop: () => Promise.resolve() };
  // Stop between actions on SIGTERM, and as soon as the Lease is lost (another replica may be acting by then).
  const wiring = await wire(args, {
    registryDefaults: true,
    shouldStop: () => stopping || !election.isLeader(),
  });
  const { deps, log, identity, clock, registry } = wiring;
  const { kc } = wiring;
  const { releaseFollowUp } = await import('./release-watch.ts');
  const { metrics, config } = deps;
  let started = false;
  const probes = await startProbeServer({
    port: args.port,
    registry,
    ready: () => (started ? { ok: true } : { ok: false, why: 'starting' }),
  });
  const scheduler = createScheduler({
    schedules: [
      { kind: 'namespaces', cron: config.sweeper.schedule },
      { kind: 'disk', cron: config.sweeper.diskSchedule },
    ],
    run: (kind) => sweep(kind, clock(), deps),
    isLeader: () => election.isLeader(),
    log,
    drained: () => {
      if (reduceMemory()) log.debug('sweeper idle: V8 asked to give back the memory the runs grew');
    },
  });
  // Between two cron runs, the release watch stamps an uninstall when it happens and asks for a sweep when its
  // grace ends (through the scheduler: never alongside another run).
  const followUp = releaseFollowUp({ ...deps, kc, clock, sweep: () => scheduler.trigger('namespaces') });
  const onLead = () => {
    metrics.leader.set(1);
    log.info({ identity }, 'leading: sweeping');
    followUp.start();
    void scheduler.trigger('namespaces').then(() => scheduler.trigger('disk'));
  };
  const onLose = () => {
    metrics.leader.set(0);
    void followUp.stop();
  };
  scheduler.start();
  started = true;
  log.info(
    {
      port: probes.port,
      dryRun: args.dryRun,
      schedule: config.sweeper.schedule,
      diskSchedule: config.sweeper.diskSchedule,
      identity,
    },
    'sweeper started',
  );
  election = await elect(args, { ...wiring, kc }, { start: onLead, stop: onLose });
  if (!args.leaderElection) onLead();
  await waitForSignal(log);
  stopping = true;
  await followUp.stop();
  await scheduler.stop();
  await election.stop();
  metrics.leader.set(0);
  await probes.close();
  log.info('sweeper stopped');
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseSweeperArgs(argv);
  if (args === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  return args.once ? runOnce(args) : runDaemon(args);
}
