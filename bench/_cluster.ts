// Shared by the benchmarks that talk to a cluster: PR namespaces created in bulk by a bare client, the watch that
// sees their baselines complete, and the TLS files and environment of the bare list floor (bench/_list-floor.mjs).
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '../policies/names.ts';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { inParallel } from './_lib.ts';

/** Watches namespaces and calls back the first time each one carries the baseline stamp. */
export async function watchStamps(
  kc: KubeConfig,
  onStamped: (name: string, at: number) => void,
  options: { resourceVersion?: string; ended?: (err: unknown) => void } = {},
): Promise<AbortController> {
  const watch = new Watch(kc);
  return watch.watch(
    '/api/v1/namespaces',
    {
      labelSelector: `${LABELS.managed}=true`,
      ...(options.resourceVersion ? { resourceVersion: options.resourceVersion } : {}),
    },
    (_type: string, ns: { metadata?: { name?: string; labels?: Record<string, string> } }) => {
      if (ns.metadata?.labels?.[LABELS.baselineHash] && ns.metadata.name)
        onStamped(ns.metadata.name, performance.now());
    },
    (err: unknown) => options.ended?.(err),
  );
}

/**
 * The stamped namespaces now (a list), then a watch from that list's resource version; again whenever the watch
 * ends, and a list every 30 s besides (a watch can also go quiet without ending). On this bench's first run on a
 * nested-virtualisation VM a single watch saw 645 of 5,000 baselines and then nothing for ten minutes, while the
 * next run (this code) saw all 5,000 complete in 313 s. Stops when the returned function is called.
 */
async function followStamps(
  kc: KubeConfig,
  onStamped: (name: string, at: number) => void,
  log: (line: string) => void,
): Promise<() => void> {
  const core = kc.makeApiClient(CoreV1Api);
  let stopped = false;
  let current: AbortController | undefined;
  /** Reports the stamped namespaces of a list; the list's resource version. */
  const listStamped = async (): Promise<string | undefined> => {
    const list = await core.listNamespace({ labelSelector: `${LABELS.managed}=true` });
    for (const ns of list.items)
      if (!stopped && ns.metadata?.labels?.[LABELS.baselineHash] && ns.metadata.name)
        onStamped(ns.metadata.name, performance.now());
    return list.metadata?.resourceVersion;
  };
  const follow = async (): Promise<void> => {
    while (!stopped) {
      try {
        const resourceVersion = await listStamped();
        if (stopped) return;
        current = await watchStamps(kc, onStamped, {
          ...(resourceVersion ? { resourceVersion } : {}),
          ended: (err) => {
            if (stopped) return;
            log(
              `the namespace watch ended (${err instanceof Error ? err.message : 'closed by the server'}); listing again`,
            );
            void follow();
          },
        });
        return;
      } catch (err) {
        log(`could not list or watch namespaces: ${(err as Error).message}; retrying in 1 s`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  };
  const relist = (): Promise<unknown> =>
    listStamped().catch((err: unknown) => log(`could not list namespaces: ${(err as Error).message}`));
  await follow();
  const every = setInterval(() => void relist(), 30_000);
  return () => {
    stopped = true;
    clearInterval(every);
    current?.abort();
  };
}

/**
 * Resolves once every one of `names` carries the baseline stamp (the reconciler stamps a namespace last); rejects
 * after `timeoutMs` saying how many are missing. `progress` hears how many are stamped now and then.
 */
export async function waitStamped(
  kc: KubeConfig,
  names: string[],
  timeoutMs: number,
  progress: (stamped: number) => void = () => undefined,
  log: (line: string) => void = (line) => process.stderr.write(`bench: ${line}\n`),
): Promise<void> {
  const wanted = new Set(names);
  const stamped = new Set<string>();
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const stop = await followStamps(
    kc,
    (name) => {
      if (!wanted.has(name) || stamped.has(name)) return;
      stamped.add(name);
      if (stamped.size % 500 === 0) progress(stamped.size);
      if (stamped.size === wanted.size) done();
    },
    log,
  );
  const timer = setTimeout(done, timeoutMs);
  await all;
  clearTimeout(timer);
  stop();
  if (stamped.size < wanted.size) {
    const missing = names.filter((n) => !stamped.has(n));
    throw new Error(
      `${missing.length} of ${names.length} namespaces without a baseline after ${timeoutMs / 1000} s: ${missing.slice(0, 5).join(', ')}`,
    );
  }
}

/**
 * Creates the namespaces `${prefix}-pr-${i}` for i in (from, to], 32 at once, with `labels`; one in ten gets a Helm
 * release record carrying a 16 KB payload, as real ones do.
 */
export async function createPrNamespaces(
  http: KubeHttp,
  prefix: string,
  from: number,
  to: number,
  labels: Record<string, string> = {},
): Promise<void> {
  const payload = Buffer.alloc(12 * 1024, 'x').toString('base64');
  const indexes = Array.from({ length: to - from }, (_, i) => from + i + 1);
  await inParallel(indexes, 32, async (i) => {
    const name = `${prefix}-pr-${i}`;
    await http.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
    });
    if (i % 10 !== 0) return;
    await http.request('POST', `/api/v1/namespaces/${name}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'helm.sh/release.v1',
        metadata: {
          name: 'sh.helm.release.v1.app.v1',
          labels: { owner: 'helm', name: 'app', status: 'deployed', version: '1' },
        },
        data: { release: payload },
      },
    });
  });
}

/** The environment of bench/_list-floor.mjs: the API server and the kubeconfig's TLS files, written into `dir`. */
export async function listFloorEnv(kc: KubeConfig, dir: string): Promise<Record<string, string>> {
  const tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } = {};
  await kc.applyToHTTPSOptions(tls);
  for (const k of ['ca', 'cert', 'key'] as const) writeFileSync(join(dir, k), tls[k] ?? '');
  return {
    K8S_SERVER: kc.getCurrentCluster()?.server ?? '',
    K8S_CA: join(dir, 'ca'),
    K8S_CERT: join(dir, 'cert'),
    K8S_KEY: join(dir, 'key'),
  };
}
