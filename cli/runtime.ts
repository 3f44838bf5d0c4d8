// The runtime settings of k8s-ee's long-running services (webhook, sweeper), carried by the program itself, so
// the process has them however it is started: by the image's ENTRYPOINT (which passes them and starts once), or by
// `npx k8s-ee webhook`, `node dist/cli/main.js sweeper`, a systemd unit, a test. Without them a saturated webhook
// sits at ~160 MiB instead of ~100 (bench/results.md, issue 10).
//
// Node reads V8's heap flags and glibc reads MALLOC_ARENA_MAX once, when the process starts; so when one is
// missing the process replaces itself (execve: same PID, same stdio, same arguments) with one that has them. Flags
// or variables the user set themselves are kept as they are: only what is missing is added.

/**
 * V8 flags, measured on the webhook and the sweeper (bench/results.md, issue 10):
 * - a young generation of at most 2 MiB per semi-space (V8's default grows it to 16): short-lived garbage is most of
 *   what admission allocates, and each MiB of young generation is RSS (~25 MiB off the sweeper's peak over 5,000
 *   namespaces, ~10 MiB off the webhook's);
 * - --optimize-for-size: V8 grows the old generation less eagerly and compacts it. With 5,000 PR namespaces
 *   reconciled the webhook holds ~43 MiB of heap for ~40 live (~62-67 MiB with a 30 % growing factor instead), and
 *   it idles ~10 MiB lower. It costs admission throughput (~4-5k instead of ~6k Deployment reviews/s saturated on
 *   the bench machine, against a floor of 16-24k): the chart's memory limits come first, and 4k reviews/s on one
 *   core is far beyond what a cluster of preview environments asks.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--optimize-for-size'];

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
): Relaunch | undefined {
  const given = new Set(
    [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)]
      .filter((arg) => arg.startsWith('-'))
      .map(flagName),
  );
  const flags = SERVICE_NODE_FLAGS.filter((flag) => !given.has(flagName(flag)));
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
export function ensureServiceRuntime(): void {
  const relaunch = relaunchFor(process);
  if (!relaunch || typeof process.execve !== 'function') return;
  const [file = process.execPath] = relaunch.argv;
  process.execve(file, relaunch.argv, relaunch.env);
}
