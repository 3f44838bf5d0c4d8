// CertsClient on @kubernetes/client-node: Secrets with optimistic concurrency, webhook caBundles by JSON Patch
// guarded with `test` operations on the entry names (so a configuration changed meanwhile is a conflict).
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import {
  ConflictError,
  type CertsClient,
  type SecretToWrite,
  type StoredSecret,
  type WebhookConfigRef,
  type WebhookEntryBundle,
} from './client.ts';

function code(err: unknown): number | undefined {
  return err instanceof ApiException ? (err as ApiException<unknown>).code : undefined;
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

function encode(data: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'utf8').toString('base64');
  return out;
}

/** Runs an API call; a 404 becomes undefined, 409 (and 422 from a failed patch test) a ConflictError. */
async function call<T>(what: string, fn: () => Promise<T>, conflictCodes: number[] = [409]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const status = code(err);
    if (status === 404) return undefined;
    if (status !== undefined && conflictCodes.includes(status)) throw new ConflictError(`${what}: HTTP ${status}`);
    throw new Error(`${what}: ${status === undefined ? (err as Error).message : `HTTP ${status}`}`, { cause: err });
  }
}

type WebhookConfiguration = V1MutatingWebhookConfiguration | V1ValidatingWebhookConfiguration;

export class KubeCertsClient implements CertsClient {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  async readSecret(namespace: string, name: string): Promise<StoredSecret | undefined> {
    const secret = await call(`read Secret ${namespace}/${name}`, () =>
      this.core.readNamespacedSecret({ name, namespace }),
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
      ? await call(what, () => this.core.replaceNamespacedSecret({ name, namespace, body }))
      : await call(what, () => this.core.createNamespacedSecret({ namespace, body }));
    if (done === undefined) throw new ConflictError(`${what}: not found (namespace missing or Secret deleted)`);
  }

  private read(ref: WebhookConfigRef): Promise<WebhookConfiguration | undefined> {
    const { name } = ref;
    return ref.kind === 'MutatingWebhookConfiguration'
      ? call(`read ${ref.kind}/${name}`, () => this.admission.readMutatingWebhookConfiguration({ name }))
      : call(`read ${ref.kind}/${name}`, () => this.admission.readValidatingWebhookConfiguration({ name }));
  }

  async readWebhookBundles(ref: WebhookConfigRef): Promise<WebhookEntryBundle[] | undefined> {
    const config = await this.read(ref);
    if (!config) return undefined;
    return (config.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle ?? '' }));
  }

  async patchWebhookBundles(ref: WebhookConfigRef, expected: WebhookEntryBundle[], caBundle: string): Promise<void> {
    const body = expected.flatMap((entry, i) => [
      { op: 'test', path: `/webhooks/${i}/name`, value: entry.name },
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
    ]);
    const { name } = ref;
    const options = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    const what = `patch caBundle of ${ref.kind}/${name}`;
    const done =
      ref.kind === 'MutatingWebhookConfiguration'
        ? await call(what, () => this.admission.patchMutatingWebhookConfiguration({ name, body }, options), [409, 422])
        : await call(
            what,
            () => this.admission.patchValidatingWebhookConfiguration({ name, body }, options),
            [409, 422],
          );
    if (done === undefined) throw new ConflictError(`${what}: deleted meanwhile`);
  }
}
