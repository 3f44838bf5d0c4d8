// Background processes of the control plane: started detached with their output in a log file, recorded by
// pid, checked through /proc (a reused pid or a zombie does not count as running), stopped with SIGTERM
// and, after a grace period, SIGKILL.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  name: string;
  pid: number;
  binary: string;
  log: string;
}

/** Starts `binary args` in its own process group, detached from ours, stdout and stderr appended to `log`. */
export function spawnDetached(
  name: string,
  binary: string,
  args: string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`${name}: could not start ${binary}`);
    child.on('error', () => undefined);
    child.unref();
    return { name, pid: child.pid, binary, log };
  } finally {
    closeSync(fd);
  }
}

/** /proc/PID/stat's state letter, or undefined when there is no such process (or no /proc). */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** True while a process with this pid exists (EPERM: it exists but is not ours to signal). */
export function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the recorded process still runs the recorded binary (not a zombie, not a reused pid). */
export function isRunning(p: Pick<ManagedProcess, 'pid' | 'binary'>): boolean {
  if (!signalable(p.pid)) return false;
  const state = procState(p.pid);
  if (state === undefined) return process.platform !== 'linux';
  if (state === 'Z' || state === 'X') return false;
  try {
    const argv0 = readFileSync(`/proc/${String(p.pid)}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return basename(argv0) === basename(p.binary);
  } catch {
    return false;
  }
}

async function waitGone(ps: ManagedProcess[], ms: number): Promise<ManagedProcess[]> {
  const deadline = Date.now() + ms;
  let left = ps.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(isRunning);
  }
  return left;
}

function signal(p: ManagedProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(p.pid, sig);
  } catch {
    // already gone
  }
}

/** SIGTERM to every process still running, SIGKILL to those left after `graceMs`. Returns the names stopped. */
export async function stopProcesses(ps: ManagedProcess[], graceMs = 10_000): Promise<string[]> {
  const running = ps.filter(isRunning);
  for (const p of running) signal(p, 'SIGTERM');
  const stubborn = await waitGone(running, graceMs);
  for (const p of stubborn) signal(p, 'SIGKILL');
  const left = await waitGone(stubborn, 5_000);
  if (left.length > 0)
    throw new Error(`could not stop ${left.map((p) => `${p.name} (pid ${String(p.pid)})`).join(', ')}`);
  return running.map((p) => p.name);
}

/** The last lines of a log file, for error messages. */
export function logTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function failure(what: string, p: ManagedProcess | undefined, detail: string): Error {
  const tail = p ? `\n--- last lines of ${p.log} ---\n${logTail(p.log)}` : '';
  return new Error(`${what}: ${detail}${tail}`);
}

/** Polls `check` until it returns true, failing early (with the log's last lines) when one of `watch` exits. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  watch: ManagedProcess[],
  deadline: number,
): Promise<void> {
  for (;;) {
    const dead = watch.find((p) => !isRunning(p));
    if (dead) throw failure(what, dead, `${dead.name} exited`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw failure(what, watch.at(-1), 'timed out');
    await sleep(100);
  }
}
