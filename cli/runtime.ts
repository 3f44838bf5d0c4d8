// The runtime settings of k8s-ee's long-running services (webhook, sweeper, certs), carried by the program itself, so
// the process has them however it is started: by the image's ENTRYPOINT, `npx k8s-ee webhook`,
// `node dist/cli/main.js sweeper`, a systemd unit, a test. Without them a saturated webhook
// sits at ~160 MiB instead of ~100 (bench/results.md, issue 10).
//
// Node reads V8's heap flags and glibc reads MALLOC_ARENA_MAX once, when the process starts; so when one is
// missing the process replaces itself (execve: same PID, same stdio, same arguments) with one that has them. Flags
// or variables the user set themselves are kept as they are: only what is missing is added.

/** The long-running services, each with its own V8 flags. */
export type Service = 'webhook' | 'sweeper' | 'certs';

/**
 * V8 flags per service, measured (bench/results.md, issue 10). Each service is tuned for what limits it:
 * - the webhook, admission throughput within its memory targets: a young generation of at most 2 MiB per
 *   semi-space (V8's default grows it to 16) and an old generation that grows by 10 % over what survived its last
 *   full collection. With a 1 MiB young generation (what --optimize-for-size keeps it at, whatever
 *   --max-semi-space-size says) a saturated webhook scavenged every ~30 reviews, copied the in-flight ones, promoted
 *   them, and a full collection followed every ~0.25 s: ~95 µs of CPU per review against ~60 (0.28 of the floor's
 *   Deployment reviews/s against 0.47; p99 at 1,000 req/s ~20 ms against ~1). 2 MiB admits as fast as 4 (7
 *   interleaved rounds, server and load generator then on one CPU: Deployment 0.68 of the floor with either, denial
 *   0.73 vs 0.72, namespace 0.87 vs 0.82) for less memory: 96 vs 100 MiB after saturation, a peak of 109 vs 112-115
 *   MiB while 5,000 PR namespaces get their baselines. --no-parallel-scavenge: a review's young generation dies
 *   almost whole (~5 KB of 2 MiB survives a scavenge), so there is nothing to share out, and handing the work to
 *   V8's helper threads and waiting for them made each scavenge longer: pauses at 1,000 reviews/s on one CPU, p50
 *   0.30-0.34 ms and p90 0.43-0.46 with the helpers, 0.25-0.28 and 0.35-0.38 without (3 interleaved pairs of 10,000
 *   Deployment reviews; at ~6 scavenges per 1,000 reviews, the review that meets one waits that long: issue 10).
 *   --no-allocation-site-pretenuring: under saturation a turn's reviews are decided together (webhooks/server.ts
 *   TurnGate), so a scavenge in the middle finds most of the turn's policy results alive, and V8 then decided, in 4
 *   of 7 runs on a quiet machine, to allocate the Pod security checks' violations straight in the old generation
 *   ("pretenuring" their allocation sites, a decision it keeps). From then on each denial's violations lived in the
 *   old generation and kept what they point to in the young one alive: every scavenge promoted ~61 KB instead of
 *   ~4 KB and took ~0.5 ms instead of ~0.25 (0.69-0.77 ms each in the bench's metrics against 0.30-0.41), and the
 *   denial row's p99 at 1,000 req/s was 2.2-2.8 ms against the floor's ~0.8 in those runs. Without pretenuring, 0 of
 *   4 runs (a V8 sampling heap profile of what outlived a scavenge: 1,668 bytes a denial in that state, 150 without).
 *   --expose-gc lets it ask for a memory-reducing collection during and after a burst of reconciles (lib/memory.ts:
 *   5,000 PR namespaces then hold ~93-102 MiB, not 114-134);
 * - the sweeper, memory over speed (a pass a minute, a 100 MiB target over 5,000 namespaces): a young generation of
 *   at most 2 MiB per semi-space and --optimize-for-size, which grows the old generation less eagerly and compacts
 *   it (~25 MiB off its peak over 5,000 namespaces against V8's defaults); --expose-gc lets the sidecar ask for a
 *   memory-reducing collection once its runs are done (sweeper/scheduler.ts `drained`), so the next pass starts
 *   from what its watches hold, not from what the last pass left. --no-opt --no-maglev: V8's optimizing compilers
 *   (TurboFan, Maglev) stay off, so the sidecar runs on the interpreter and the baseline compiler (Sparkplug): a pass
 *   is bounded by the API server's lists, not by its JavaScript, and optimizing it cost memory: the compilers' code
 *   pages of the node binary (~7 MiB of file-backed RSS), their zones and the optimized code. Long-running sidecar on
 *   the host, quiet passes over 5,000 PR namespaces (2 interleaved rounds of 4): peak 94.4-100.9 MiB with V8's
 *   compilers, 84.3-85.7 without; the pass's wall (0.31-0.54 s) and CPU (370-570 ms) the same either way.
 *   --no-sparkplug too saved 0.5 MiB more for ~15 % more CPU a pass; --lite-mode or --jitless leave WebAssembly out,
 *   which fetch (the GitHub client: undici's HTTP parser) needs;
 * - certs (`certs watch`, the sidecar that renews the webhook's TLS, and the init container's `certs ensure`): a
 *   check a minute, so memory over speed as the sweeper, without its young-generation cap (--optimize-for-size
 *   keeps it at 1 MiB anyway) or --expose-gc (nothing it holds grows). `certs watch` on the host against a real API
 *   server, after 30 s of checks every 5 s (2 rounds): 81-82 MiB with V8's defaults, 64.4-64.8 with these.
 */
export const SERVICE_NODE_FLAGS: Readonly<Record<Service, readonly string[]>> = {
  webhook: [
    '--max-semi-space-size=2',
    '--heap-growing-percent=10',
    '--no-parallel-scavenge',
    '--no-allocation-site-pretenuring',
    '--expose-gc',
  ],
  sweeper: ['--max-semi-space-size=2', '--optimize-for-size', '--no-opt', '--no-maglev', '--expose-gc'],
  certs: ['--optimize-for-size', '--no-opt', '--no-maglev'],
};

/** glibc: two malloc arenas instead of up to eight per core (V8's helper threads fragmented ~15-30 MiB of them). */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `--name=value`, `--name value` or `--no-name` -> `name`, with `_` and `-` alike (V8 accepts both). */
function flagName(flag: string): string {
  const name = flag.replace(/^--?/, '').split('=', 1)[0]?.replace(/_/g, '-') ?? '';
  return name.startsWith('no-') ? name.slice('no-'.length) : name;
}

export interface Relaunch {
  /** argv for execve, starting with the node binary. */
  argv: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * What the process must become to have the service settings, or undefined when it has them already (or the user
 * chose otherwise: a flag of the same name, in execArgv or NODE_OPTIONS, or the variable set to anything).
 */
export function relaunchFor(
  process: Pick<NodeJS.Process, 'execPath' | 'execArgv' | 'argv' | 'env'>,
  service: Service,
): Relaunch | undefined {
  const given = new Set(
    [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)]
      .filter((arg) => arg.startsWith('-'))
      .map(flagName),
  );
  const flags = SERVICE_NODE_FLAGS[service].filter((flag) => !given.has(flagName(flag)));
  const env = Object.entries(SERVICE_ENV).filter(([key]) => process.env[key] === undefined);
  if (flags.length === 0 && env.length === 0) return undefined;
  return {
    argv: [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    env: { ...process.env, ...Object.fromEntries(env) },
  };
}

/**
 * Replaces this process with one that has the service settings, when it lacks them and the platform can (POSIX:
 * process.execve). Returns only when nothing needs doing or execve is not available; the service then runs as is.
 */
export function ensureServiceRuntime(service: Service): void {
  const relaunch = relaunchFor(process, service);
  if (!relaunch || typeof process.execve !== 'function') return;
  const [file = process.execPath] = relaunch.argv;
  process.execve(file, relaunch.argv, relaunch.env);
}
