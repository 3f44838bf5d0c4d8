// CertsClient over plain JSON requests to the API server (webhooks/reconciler-http.ts): Secrets with optimistic
// concurrency, webhook caBundles by JSON Patch guarded with `test` operations on the entry names (so a configuration
// changed meanwhile is a conflict). Not on client-node's generated API classes: loading them is most of what the
// long-running `certs watch` container held (134-151 MiB RSS on the host against a chart limit of 128Mi; issue 10).
import { KubeHttpError, type KubeHttp } from '../webhooks/reconciler-http.ts';
import {
  ConflictError,
  type CertsClient,
  type SecretToWrite,
  type StoredSecret,
  type WebhookConfigRef,
  type WebhookEntryBundle,
} from './client.ts';

interface SecretObject {
  data?: Record<string, string> | null;
  metadata?: { resourceVersion?: string };
}

interface WebhookConfiguration {
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[] | null;
}

function decode(data: Record<string, string> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

function encode(data: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'utf8').toString('base64');
  return out;
}

/**
 * Runs an API call; a 404 becomes undefined, 409 (and 422 from a failed patch test) a ConflictError; any other
 * failure names the call, the status and the API server's own message (e.g. what RBAC refused).
 */
async function call<T>(what: string, fn: () => Promise<T>, conflictCodes: number[] = [409]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const status = err instanceof KubeHttpError ? err.code : undefined;
    if (status === 404) return undefined;
    if (status !== undefined && conflictCodes.includes(status)) throw new ConflictError(`${what}: HTTP ${status}`);
    throw new Error(`${what}: ${err instanceof KubeHttpError ? err.detail : (err as Error).message}`, { cause: err });
  }
}

/** The namespace's Secrets, or one of them. */
const secretsPath = (namespace: string, name?: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

function configPath(ref: WebhookConfigRef): string {
  const plural =
    ref.kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations';
  return `/apis/admissionregistration.k8s.io/v1/${plural}/${encodeURIComponent(ref.name)}`;
}

export class KubeCertsClient implements CertsClient {
  private readonly http: KubeHttp;

  constructor(http: KubeHttp) {
    this.http = http;
  }

  async readSecret(namespace: string, name: string): Promise<StoredSecret | undefined> {
    const secret = await call(`read Secret ${namespace}/${name}`, () =>
      this.http.request<SecretObject>('GET', secretsPath(namespace, name)),
    );
    if (!secret) return undefined;
    return { data: decode(secret.data), resourceVersion: secret.metadata?.resourceVersion ?? '' };
  }

  async writeSecret(namespace: string, name: string, secret: SecretToWrite, resourceVersion?: string): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: secret.type,
      metadata: { name, namespace, labels: secret.labels, ...(resourceVersion ? { resourceVersion } : {}) },
      data: encode(secret.data),
    };
    const what = `${resourceVersion ? 'replace' : 'create'} Secret ${namespace}/${name}`;
    const done = resourceVersion
      ? await call(what, () => this.http.request('PUT', secretsPath(namespace, name), { body }))
      : await call(what, () => this.http.request('POST', secretsPath(namespace), { body }));
    if (done === undefined) throw new ConflictError(`${what}: not found (namespace missing or Secret deleted)`);
  }

  async readWebhookBundles(ref: WebhookConfigRef): Promise<WebhookEntryBundle[] | undefined> {
    const config = await call(`read ${ref.kind}/${ref.name}`, () =>
      this.http.request<WebhookConfiguration>('GET', configPath(ref)),
    );
    if (!config) return undefined;
    return (config.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig?.caBundle ?? '' }));
  }

  async patchWebhookBundles(ref: WebhookConfigRef, expected: WebhookEntryBundle[], caBundle: string): Promise<void> {
    const body = expected.flatMap((entry, i) => [
      { op: 'test', path: `/webhooks/${i}/name`, value: entry.name },
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
    ]);
    const what = `patch caBundle of ${ref.kind}/${ref.name}`;
    const done = await call(
      what,
      () => this.http.request('PATCH', configPath(ref), { body, contentType: 'application/json-patch+json' }),
      [409, 422],
    );
    if (done === undefined) throw new ConflictError(`${what}: deleted meanwhile`);
  }
}
