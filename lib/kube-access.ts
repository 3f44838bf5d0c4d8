// How to reach the API server, without @kubernetes/client-node: its KubeConfig alone loads every generated model
// and API class (~70 MiB of resident memory, measured in bench/results.md), more than a sweeper pass needs in all.
// Reads the in-cluster service account, or a kubeconfig whose user has a client certificate, a bearer token or a
// token file: what pods and the clusters k8s-ee makes use. Anything else (exec plugins, auth providers) is handed
// to client-node's KubeConfig, loaded only then, so every kubeconfig that works with kubectl still works.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { parse as parseYaml } from 'yaml';

/** What kubeHttp (webhooks/reconciler-http.ts) needs; client-node's KubeConfig has the same two methods. */
export interface KubeAccess {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A token file re-read at most once a minute (projected service account tokens rotate). */
function tokenFile(path: string): () => string {
  let cached = '';
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > 60_000 || cached === '') {
      cached = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return cached;
  };
}

function access(
  server: string,
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecure?: boolean; servername?: string },
  token?: () => string,
): KubeAccess {
  return {
    getCurrentCluster: () => ({ server }),
    applyToHTTPSOptions(opts) {
      if (tls.ca) opts.ca = tls.ca;
      if (tls.cert) opts.cert = tls.cert;
      if (tls.key) opts.key = tls.key;
      if (tls.insecure) opts.rejectUnauthorized = false;
      if (tls.servername) opts.servername = tls.servername;
      if (token) opts.headers = { ...opts.headers, authorization: `Bearer ${token()}` };
      return Promise.resolve();
    },
  };
}

function inCluster(): KubeAccess | undefined {
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port || !existsSync(join(SERVICE_ACCOUNT, 'token'))) return undefined;
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return access(
    server,
    { ca: readFileSync(join(SERVICE_ACCOUNT, 'ca.crt')) },
    tokenFile(join(SERVICE_ACCOUNT, 'token')),
  );
}

/** The data (base64) or the file (relative to the kubeconfig) of a field pair, e.g. client-key(-data). */
function material(entry: Json, field: string, base: string): Buffer | undefined {
  const data = text(entry[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = text(entry[field]);
  return file ? readFileSync(isAbsolute(file) ? file : join(base, file)) : undefined;
}

const named = (list: unknown, name: string | undefined): Json | undefined =>
  Array.isArray(list) ? (list.map(obj).find((e) => e['name'] === name) ?? undefined) : undefined;

/** The current context of a kubeconfig file, or undefined when it needs what only client-node supports. */
function fromFile(path: string): KubeAccess | undefined {
  const config = obj(parseYaml(readFileSync(path, 'utf8')));
  const context = obj(named(config['contexts'], text(config['current-context']))?.['context']);
  const cluster = obj(named(config['clusters'], text(context['cluster']))?.['cluster']);
  const user = obj(named(config['users'], text(context['user']))?.['user']);
  const server = text(cluster['server']);
  if (!server || cluster['proxy-url'] || user['exec'] || user['auth-provider'] || user['username']) return undefined;
  const base = dirname(path);
  const token = text(user['token']);
  const file = text(user['tokenFile']);
  const servername = text(cluster['tls-server-name']);
  return access(
    server,
    {
      ...(cluster['insecure-skip-tls-verify'] === true ? { insecure: true } : {}),
      ...optional('ca', material(cluster, 'certificate-authority', base)),
      ...optional('cert', material(user, 'client-certificate', base)),
      ...optional('key', material(user, 'client-key', base)),
      ...(servername ? { servername } : {}),
    },
    token ? () => token : file ? tokenFile(isAbsolute(file) ? file : join(base, file)) : undefined,
  );
}

const optional = <K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };

/** The kubeconfig file client-node's loadFromDefault would read: $KUBECONFIG (first existing), ~/.kube/config. */
function defaultFile(): string | undefined {
  const env = process.env['KUBECONFIG'];
  if (env) return env.split(delimiter).find((p) => p && existsSync(p));
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/**
 * The cluster to talk to: the given kubeconfig file, else $KUBECONFIG / ~/.kube/config, else the in-cluster
 * service account; client-node's KubeConfig for what this reader does not cover (and for $KUBECONFIG lists of
 * several files, which client-node merges).
 */
export async function loadKubeAccess(path?: string): Promise<KubeAccess> {
  const env = process.env['KUBECONFIG'];
  const file = path ?? defaultFile();
  const merged = !path && env !== undefined && env.split(delimiter).filter(Boolean).length > 1;
  if (!merged) {
    const light = file ? fromFile(file) : inCluster();
    if (light) return light;
  }
  const { loadKubeConfig } = await import('./kube.ts');
  return loadKubeConfig(path);
}
