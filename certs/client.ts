// The narrow view of the cluster the certificate manager needs: two Secrets and the caBundle of named webhook
// configurations. The real implementation is kube-client.ts; tests use memory-client.ts.

export type WebhookKind = 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';

export interface WebhookConfigRef {
  kind: WebhookKind;
  name: string;
}

export interface StoredSecret {
  /** Decoded values (PEM text). */
  data: Record<string, string>;
  resourceVersion: string;
}

export interface SecretToWrite {
  type: string;
  labels: Record<string, string>;
  /** Decoded values (PEM text); the client encodes them. */
  data: Record<string, string>;
}

/** One webhook entry of a configuration and its current caBundle (base64, as stored; '' when unset). */
export interface WebhookEntryBundle {
  name: string;
  caBundle: string;
}

export interface CertsClient {
  /** The Secret, or undefined when it does not exist. */
  readSecret(namespace: string, name: string): Promise<StoredSecret | undefined>;
  /**
   * Creates the Secret (no resourceVersion) or replaces the version read (resourceVersion given).
   * Throws ConflictError when someone else created or changed it first.
   */
  writeSecret(namespace: string, name: string, secret: SecretToWrite, resourceVersion?: string): Promise<void>;
  /** The entries of a webhook configuration with their caBundles, or undefined when it does not exist. */
  readWebhookBundles(ref: WebhookConfigRef): Promise<WebhookEntryBundle[] | undefined>;
  /**
   * Sets the caBundle (base64) of every entry. `expected` are the entries read before; when the configuration
   * changed since (entries added, removed or reordered), throws ConflictError.
   */
  patchWebhookBundles(ref: WebhookConfigRef, expected: WebhookEntryBundle[], caBundle: string): Promise<void>;
}

/** Someone else wrote first: read again and decide again. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Parses `--webhook-configs` items: `mutating/NAME`, `validating/NAME`, or a bare `NAME` for both kinds. */
export function parseWebhookConfigRefs(list: string): WebhookConfigRef[] {
  const refs: WebhookConfigRef[] = [];
  for (const raw of list.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const slash = item.indexOf('/');
    const prefix = slash === -1 ? '' : item.slice(0, slash).toLowerCase();
    const name = slash === -1 ? item : item.slice(slash + 1);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      throw new Error(`--webhook-configs: "${item}" is not a valid object name (lowercase letters, digits, '-', '.')`);
    }
    if (prefix === '' || prefix === 'mutating') refs.push({ kind: 'MutatingWebhookConfiguration', name });
    if (prefix === '' || prefix === 'validating') refs.push({ kind: 'ValidatingWebhookConfiguration', name });
    if (prefix !== '' && prefix !== 'mutating' && prefix !== 'validating') {
      throw new Error(`--webhook-configs: "${item}": prefix must be mutating/ or validating/ (or none for both)`);
    }
  }
  return refs;
}

export function describeRef(ref: WebhookConfigRef): string {
  return `${ref.kind}/${ref.name}`;
}

/** A client that reads through to `inner` and records writes instead of making them (`--dry-run`). */
export function dryRunClient(inner: CertsClient, record: (line: string) => void): CertsClient {
  return {
    readSecret: (namespace, name) => inner.readSecret(namespace, name),
    readWebhookBundles: (ref) => inner.readWebhookBundles(ref),
    writeSecret: (namespace, name) => {
      record(`would write Secret ${namespace}/${name}`);
      return Promise.resolve();
    },
    patchWebhookBundles: (ref) => {
      record(`would patch the caBundle of ${describeRef(ref)}`);
      return Promise.resolve();
    },
  };
}
