// An in-memory CertsClient with the API server's optimistic concurrency (resourceVersion) and the same
// conflict semantics, for unit tests and local runs without a cluster.
import {
  ConflictError,
  type CertsClient,
  type SecretToWrite,
  type StoredSecret,
  type WebhookConfigRef,
  type WebhookEntryBundle,
} from './client.ts';

interface StoredSecretObject extends StoredSecret {
  type: string;
  labels: Record<string, string>;
}

export class MemoryCertsClient implements CertsClient {
  readonly secrets = new Map<string, StoredSecretObject>();
  readonly webhooks = new Map<string, WebhookEntryBundle[]>();
  /** Every write, in order (`secret ns/name`, `webhook Kind/name`), so tests can assert what was done. */
  readonly writes: string[] = [];
  private version = 0;
  /** Set to make the next call of that name fail once (simulates an outage or a race). */
  failNext: { method: keyof CertsClient; error: Error } | undefined;

  addWebhookConfiguration(ref: WebhookConfigRef, entryNames: string[], caBundle = ''): void {
    this.webhooks.set(
      key(ref),
      entryNames.map((name) => ({ name, caBundle })),
    );
  }

  private maybeFail(method: keyof CertsClient): void {
    if (this.failNext?.method === method) {
      const { error } = this.failNext;
      this.failNext = undefined;
      throw error;
    }
  }

  readSecret(namespace: string, name: string): Promise<StoredSecret | undefined> {
    this.maybeFail('readSecret');
    const s = this.secrets.get(`${namespace}/${name}`);
    return Promise.resolve(s && { data: { ...s.data }, resourceVersion: s.resourceVersion });
  }

  writeSecret(namespace: string, name: string, secret: SecretToWrite, resourceVersion?: string): Promise<void> {
    this.maybeFail('writeSecret');
    const id = `${namespace}/${name}`;
    const existing = this.secrets.get(id);
    if (resourceVersion === undefined && existing)
      return Promise.reject(new ConflictError(`secret ${id} already exists`));
    if (resourceVersion !== undefined && existing?.resourceVersion !== resourceVersion) {
      return Promise.reject(new ConflictError(`secret ${id} was modified`));
    }
    this.version += 1;
    this.secrets.set(id, { ...secret, data: { ...secret.data }, resourceVersion: String(this.version) });
    this.writes.push(`secret ${id}`);
    return Promise.resolve();
  }

  readWebhookBundles(ref: WebhookConfigRef): Promise<WebhookEntryBundle[] | undefined> {
    this.maybeFail('readWebhookBundles');
    const entries = this.webhooks.get(key(ref));
    return Promise.resolve(entries?.map((e) => ({ ...e })));
  }

  patchWebhookBundles(ref: WebhookConfigRef, expected: WebhookEntryBundle[], caBundle: string): Promise<void> {
    this.maybeFail('patchWebhookBundles');
    const entries = this.webhooks.get(key(ref));
    if (!entries) return Promise.reject(new ConflictError(`${ref.kind} ${ref.name} not found`));
    const same = entries.length === expected.length && entries.every((e, i) => e.name === expected[i]?.name);
    if (!same) return Promise.reject(new ConflictError(`${ref.kind} ${ref.name} changed`));
    this.webhooks.set(
      key(ref),
      entries.map((e) => ({ name: e.name, caBundle })),
    );
    this.writes.push(`webhook ${key(ref)}`);
    return Promise.resolve();
  }
}

function key(ref: WebhookConfigRef): string {
  return `${ref.kind}/${ref.name}`;
}
