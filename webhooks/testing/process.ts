// A real `k8s-ee webhook --no-cluster` process on a free port with a fresh certificate for 127.0.0.1, for tests
// and benchmarks that talk to it over HTTPS.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCA, issueServingCert, type KeyPairPem } from '../../certs/pki.ts';

export interface WebhookProcess {
  child: ChildProcess;
  port: number;
}

/**
 * Issues a CA and a serving certificate for 127.0.0.1 into dir/tls.crt and dir/tls.key, replacing each file
 * atomically as a rotation does. Returns the pair and the CA's PEM.
 */
export async function writeServingCert(dir: string, caName: string): Promise<KeyPairPem & { caPem: string }> {
  const now = new Date();
  const ca = await createCA({ commonName: caName, now, validityDays: 2 });
  const serving = await issueServingCert(ca, {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityDays: 1,
  });
  writeFileSync(join(dir, 'tls.crt.new'), serving.certPem);
  writeFileSync(join(dir, 'tls.key.new'), serving.keyPem);
  renameSync(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  return { ...serving, caPem: ca.certPem };
}

export interface WebhookProcessOptions {
  logLevel?: string;
  /** The CLI entry: cli/main.ts (default) or the built dist/cli/main.js the image runs. */
  entry?: string;
  /** A command the process runs under, e.g. ['taskset', '-c', '0'] to pin it to one CPU. */
  prefix?: string[];
  /** Other arguments for node itself (before the entry). */
  nodeArgs?: string[];
  /** Extra environment (e.g. the image's ENV lines). */
  env?: Record<string, string>;
  /**
   * Send stdout (the JSON log lines) to this file, as a container runtime takes them, instead of a pipe to this
   * process; the listening line is read back from the file.
   */
  logFile?: string;
  /** --shutdown-delay: how long it serves on after SIGTERM (default 0: it stops at once). */
  shutdownDelay?: string;
}

/**
 * `webhook --no-cluster` on a free port of 127.0.0.1, serving dir/tls.crt and dir/tls.key, stopping at once on
 * SIGTERM unless `shutdownDelay` says otherwise.
 */
export function noClusterWebhookArgs(dir: string, shutdownDelay = '0'): string[] {
  return [
    'webhook',
    '--no-cluster',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--tls-cert',
    join(dir, 'tls.crt'),
    '--tls-key',
    join(dir, 'tls.key'),
    `--shutdown-delay=${shutdownDelay}`,
  ];
}

/** Starts the webhook on 127.0.0.1 with the certificate files in dir; resolves once it listens. */
export function startWebhookProcess(
  dir: string,
  options: WebhookProcessOptions | string = {},
): Promise<WebhookProcess> {
  const {
    logLevel = 'warn',
    entry = 'cli/main.ts',
    prefix = [],
    nodeArgs = [],
    env = {},
    logFile,
    shutdownDelay,
  } = typeof options === 'string' ? { logLevel: options } : options;
  const args = [...nodeArgs, entry, ...noClusterWebhookArgs(dir, shutdownDelay)];
  const [command = process.execPath, ...rest] = [...prefix, process.execPath, ...args];
  const stdout = logFile ? openSync(logFile, 'w') : 'pipe';
  const child = spawn(command, rest, {
    stdio: ['ignore', stdout, 'inherit'],
    env: { ...process.env, ...env, K8S_EE_LOG_LEVEL: logLevel },
  });
  if (typeof stdout === 'number') closeSync(stdout);
  return new Promise((resolve, reject) => {
    let out = '';
    const found = (): boolean => {
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
      return m !== null;
    };
    let poll: NodeJS.Timeout | undefined;
    if (logFile) {
      poll = setInterval(() => {
        out = readFileSync(logFile, 'utf8');
        if (found()) clearInterval(poll);
      }, 50);
    } else {
      child.stdout?.on('data', (c: Buffer) => {
        if (out.length > 65_536) return; // the listening line is long past: do not keep the log
        out += c.toString();
        found();
      });
    }
    child.on('exit', (code) => {
      if (poll) clearInterval(poll);
      reject(new Error(`webhook exited early with ${String(code)}: ${out}`));
    });
  });
}
