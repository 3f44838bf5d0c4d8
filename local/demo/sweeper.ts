// The sweeper as a local background process for the demo: `k8s-ee sweeper` without leader election, its
// probes and metrics on a plain-HTTP port, its output in a log file.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { request } from '../../lib/node-http.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../cluster/paths.ts';

export interface StartedSweeper {
  metricsUrl: string;
  stop(): Promise<void>;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolvePromise) => {
    const req = request(url, { timeout: 1_000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(0));
    req.end();
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function startSweeper(opts: {
  kubeconfig: string;
  port: number;
  logFile: string;
  configFile?: string;
}): Promise<StartedSweeper> {
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const args = ['sweeper', '--kubeconfig', opts.kubeconfig, '--no-leader-election', '--port', String(opts.port)];
  if (opts.configFile) args.push('--config', opts.configFile);
  const child = spawn(
    join(projectRoot, 'node_modules', '.bin', 'node'),
    [join(projectRoot, 'cli', 'main.ts'), ...args],
    {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('exit', () => log.end());
  const stop = async (): Promise<void> => {
    if (exited(child)) return;
    const gone = new Promise((resolvePromise) => child.once('exit', resolvePromise));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const base = `http://127.0.0.1:${String(opts.port)}`;
  const deadline = Date.now() + 30_000;
  while ((await httpStatus(`${base}/readyz`)) !== 200) {
    if (exited(child) || Date.now() > deadline) {
      await stop();
      throw new Error(`k8s-ee sweeper did not become ready; see ${opts.logFile}`);
    }
    await sleep(100);
  }
  return { metricsUrl: `${base}/metrics`, stop };
}
