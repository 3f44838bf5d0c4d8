// The certificate manager: reads the two Secrets, decides (plan.ts), and writes what must change, in the order
// that keeps every webhook call trusted: CA Secret -> caBundle of the webhook configurations (old and new CA
// both trusted) -> serving certificate from the new CA. Conflicts with another replica are retried.
import { ConflictError, describeRef, type CertsClient, type StoredSecret, type WebhookConfigRef } from './client.ts';
import { createCA, issueServingCert, type KeyPairPem } from './pki.ts';
import {
  CA_KEYS,
  SERVING_KEYS,
  planCA,
  planServing,
  readCAState,
  readServingState,
  trustedCAs,
  type CAAction,
  type CAState,
  type CertPolicy,
  type ServingAction,
  type ServingNames,
} from './plan.ts';
import { notAfter } from './validity.ts';

export interface ManagerOptions {
  namespace: string;
  /** The serving Secret (`tls.crt`, `tls.key`, `ca.crt`). */
  secretName: string;
  /** The CA Secret (`tls.crt`, `tls.key`, `retired.crt`). */
  caSecretName: string;
  names: ServingNames;
  webhookConfigs: WebhookConfigRef[];
  policy: CertPolicy;
  /** Re-issue the serving certificate even when it is still good (`k8s-ee certs rotate`). */
  forceServing?: boolean;
  /** Rotate the CA even when it is still good (`k8s-ee certs rotate --ca`); the old one stays trusted. */
  forceCA?: boolean;
}

export type WebhookStatus = 'patched' | 'unchanged' | 'not-found';

export interface EnsureResult {
  ca: { certPem: string; notAfter: Date; action: CAAction };
  serving: { certPem: string; keyPem: string; notAfter: Date; action: ServingAction };
  /** The trust bundle (PEM): the current CA, then retired CAs that are still valid. */
  caBundle: string;
  webhooks: Array<{ ref: WebhookConfigRef; status: WebhookStatus }>;
  /** One line per change made, for people and logs. */
  actions: string[];
}

const LABELS = { 'app.kubernetes.io/managed-by': 'k8s-ee', 'app.kubernetes.io/component': 'certs' };
const TLS_TYPE = 'kubernetes.io/tls';
const MAX_ATTEMPTS = 5;

interface CAStep {
  ca: KeyPairPem;
  retired: string[];
  action: CAAction;
}

async function ensureCA(client: CertsClient, opts: ManagerOptions, now: Date, actions: string[]): Promise<CAStep> {
  const stored = await client.readSecret(opts.namespace, opts.caSecretName);
  const parsed = readCAState(stored?.data);
  let action = planCA(parsed, now, opts.policy);
  const current = parsed && 'state' in parsed ? parsed.state : undefined;
  if (action.action === 'keep' && opts.forceCA && current) action = { action: 'rotate', reason: 'rotation requested' };
  if (action.action === 'keep' && current) return keepCA(client, opts, { stored, current, now, actions });
  const ca = await createCA({
    commonName: `${opts.names.commonName}-ca`,
    now,
    validityDays: opts.policy.caValidityDays,
  });
  const previous = action.action === 'rotate' && current ? [current.certPem, ...current.retired] : [];
  const retired = trustedCAs(ca.certPem, previous, now).slice(1);
  await writeCASecret(client, opts, { ca, retired }, stored);
  actions.push(`${action.action === 'create' ? 'created' : 'rotated'} CA (${'reason' in action ? action.reason : ''})`);
  return { ca, retired, action };
}

/** Keeps the CA; drops retired CAs that have expired from the Secret. */
async function keepCA(
  client: CertsClient,
  opts: ManagerOptions,
  ctx: { stored: StoredSecret | undefined; current: CAState; now: Date; actions: string[] },
): Promise<CAStep> {
  const { current, now } = ctx;
  const ca = { certPem: current.certPem, keyPem: current.keyPem };
  const retired = trustedCAs(current.certPem, current.retired, now).slice(1);
  if (retired.length !== current.retired.length) {
    await writeCASecret(client, opts, { ca, retired }, ctx.stored);
    ctx.actions.push(`removed ${current.retired.length - retired.length} expired retired CA(s) from the bundle`);
  }
  return { ca, retired, action: { action: 'keep' } };
}

function writeCASecret(
  client: CertsClient,
  opts: ManagerOptions,
  value: { ca: KeyPairPem; retired: string[] },
  stored: StoredSecret | undefined,
): Promise<void> {
  const data: Record<string, string> = { [CA_KEYS.cert]: value.ca.certPem, [CA_KEYS.key]: value.ca.keyPem };
  if (value.retired.length > 0) data[CA_KEYS.retired] = value.retired.join('');
  return client.writeSecret(
    opts.namespace,
    opts.caSecretName,
    { type: TLS_TYPE, labels: LABELS, data },
    stored?.resourceVersion,
  );
}

async function injectBundle(client: CertsClient, ref: WebhookConfigRef, caBundle: string): Promise<WebhookStatus> {
  const entries = await client.readWebhookBundles(ref);
  if (entries === undefined) return 'not-found';
  if (entries.every((e) => e.caBundle === caBundle)) return 'unchanged';
  await client.patchWebhookBundles(ref, entries, caBundle);
  return 'patched';
}

interface ServingStep {
  pair: KeyPairPem;
  action: ServingAction;
}

async function ensureServing(
  client: CertsClient,
  opts: ManagerOptions,
  input: { ca: CAStep; caBundle: string; now: Date; actions: string[] },
): Promise<ServingStep> {
  const { ca, caBundle, now, actions } = input;
  const stored = await client.readSecret(opts.namespace, opts.secretName);
  const parsed = readServingState(stored?.data);
  const caChanged = ca.action.action !== 'keep';
  let action = planServing(parsed, { caPem: ca.ca.certPem, caChanged, names: opts.names, now, policy: opts.policy });
  if (action.action === 'keep' && opts.forceServing) action = { action: 'issue', reason: 'rotation requested' };
  const current = parsed && 'state' in parsed ? parsed.state : undefined;
  let pair: KeyPairPem;
  if (action.action === 'keep' && current) {
    pair = { certPem: current.certPem, keyPem: current.keyPem };
    if (current.caBundle === caBundle) return { pair, action };
    actions.push(`updated ${SERVING_KEYS.ca} of Secret ${opts.namespace}/${opts.secretName}`);
  } else {
    pair = await issueServingCert(ca.ca, { ...opts.names, now, validityDays: opts.policy.servingValidityDays });
    actions.push(`issued serving certificate (${'reason' in action ? action.reason : ''})`);
  }
  const data = { [SERVING_KEYS.cert]: pair.certPem, [SERVING_KEYS.key]: pair.keyPem, [SERVING_KEYS.ca]: caBundle };
  await client.writeSecret(
    opts.namespace,
    opts.secretName,
    { type: TLS_TYPE, labels: LABELS, data },
    stored?.resourceVersion,
  );
  return { pair, action };
}

async function ensureOnce(
  client: CertsClient,
  opts: ManagerOptions,
  now: Date,
  actions: string[],
): Promise<EnsureResult> {
  const ca = await ensureCA(client, opts, now, actions);
  const caBundle = trustedCAs(ca.ca.certPem, ca.retired, now).join('');
  const caBundleB64 = Buffer.from(caBundle).toString('base64');
  const webhooks: EnsureResult['webhooks'] = [];
  for (const ref of opts.webhookConfigs) {
    const status = await injectBundle(client, ref, caBundleB64);
    if (status === 'patched') actions.push(`injected caBundle into ${describeRef(ref)}`);
    webhooks.push({ ref, status });
  }
  const serving = await ensureServing(client, opts, { ca, caBundle, now, actions });
  return {
    ca: { certPem: ca.ca.certPem, notAfter: notAfter(ca.ca.certPem), action: ca.action },
    serving: { ...serving.pair, notAfter: notAfter(serving.pair.certPem), action: serving.action },
    caBundle,
    webhooks,
    actions,
  };
}

/**
 * Makes the Secrets and the webhook configurations right for `now`; idempotent (a second call changes nothing).
 * A conflict with another writer (another replica) means: read again and decide again.
 */
export async function ensureCerts(client: CertsClient, opts: ManagerOptions, now: Date): Promise<EnsureResult> {
  const actions: string[] = [];
  let current = opts;
  for (let attempt = 1; ; attempt++) {
    const before = actions.length;
    try {
      return await ensureOnce(client, current, now, actions);
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw err;
      // What was forced and already written must not be forced again on the retry.
      const wrote = actions.slice(before);
      current = {
        ...current,
        forceCA: current.forceCA && !wrote.some((a) => a.startsWith('rotated CA')),
        forceServing: current.forceServing && !wrote.some((a) => a.startsWith('issued')),
      };
      actions.push(`conflict (${err.message}); reading again`);
    }
  }
}
