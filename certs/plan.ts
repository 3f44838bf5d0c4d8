// Pure decisions about the webhook's certificates: given what the Secrets hold and `now`, what must be created,
// rotated or re-issued, and which CAs the bundle must trust. No clock, no I/O.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { needsRenewal, splitPemBundle } from './validity.ts';

export interface CertPolicy {
  caValidityDays: number;
  servingValidityDays: number;
  /** Re-issue the serving certificate once this fraction of its life has passed. */
  renewAtFraction: number;
  /** Rotate the CA once this fraction of its life has passed; the old one stays trusted until it expires. */
  caRotateAtFraction: number;
}

export const DEFAULT_POLICY: CertPolicy = {
  caValidityDays: 365,
  servingValidityDays: 90,
  renewAtFraction: 2 / 3,
  caRotateAtFraction: 2 / 3,
};

export interface ServingNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** The CA Secret: current CA (`tls.crt`, `tls.key`) and retired CAs still trusted (`retired.crt`). */
export interface CAState {
  certPem: string;
  keyPem: string;
  retired: string[];
}

/** The serving Secret: `tls.crt`, `tls.key`, and the trust bundle `ca.crt`. */
export interface ServingState {
  certPem: string;
  keyPem: string;
  caBundle: string;
}

export const CA_KEYS = { cert: 'tls.crt', key: 'tls.key', retired: 'retired.crt' } as const;
export const SERVING_KEYS = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

export type Parsed<T> = { state: T } | { problem: string } | undefined;

export type CAAction = { action: 'keep' } | { action: 'create' | 'rotate'; reason: string };
export type ServingAction = { action: 'keep' } | { action: 'issue'; reason: string };

function parseCert(pem: string | undefined, what: string): X509Certificate {
  if (!pem) throw new Error(`${what} is missing`);
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(`${what} is not a PEM certificate`);
  }
}

function keyMatches(cert: X509Certificate, keyPem: string | undefined): boolean {
  if (!keyPem) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Reads the CA Secret's data; undefined when there is no Secret, a problem when it cannot be used. */
export function readCAState(data: Record<string, string> | undefined): Parsed<CAState> {
  if (!data) return undefined;
  try {
    const cert = parseCert(data[CA_KEYS.cert], CA_KEYS.cert);
    if (!cert.ca) return { problem: `${CA_KEYS.cert} is not a CA certificate` };
    if (!keyMatches(cert, data[CA_KEYS.key]))
      return { problem: `${CA_KEYS.key} is missing or does not match ${CA_KEYS.cert}` };
    const retired = splitPemBundle(data[CA_KEYS.retired] ?? '');
    return { state: { certPem: data[CA_KEYS.cert] ?? '', keyPem: data[CA_KEYS.key] ?? '', retired } };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/** Reads the serving Secret's data; undefined when there is no Secret, a problem when it cannot be used. */
export function readServingState(data: Record<string, string> | undefined): Parsed<ServingState> {
  if (!data) return undefined;
  try {
    const cert = parseCert(data[SERVING_KEYS.cert], SERVING_KEYS.cert);
    if (!keyMatches(cert, data[SERVING_KEYS.key])) {
      return { problem: `${SERVING_KEYS.key} is missing or does not match ${SERVING_KEYS.cert}` };
    }
    return {
      state: {
        certPem: data[SERVING_KEYS.cert] ?? '',
        keyPem: data[SERVING_KEYS.key] ?? '',
        caBundle: data[SERVING_KEYS.ca] ?? '',
      },
    };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

function expired(pem: string, now: Date): boolean {
  return new X509Certificate(pem).validToDate.getTime() <= now.getTime();
}

/** Whether the CA must be created (none usable) or rotated (its renewal point passed), else kept. */
export function planCA(ca: Parsed<CAState>, now: Date, policy: CertPolicy): CAAction {
  if (ca === undefined) return { action: 'create', reason: 'no CA Secret' };
  if ('problem' in ca) return { action: 'create', reason: `CA Secret unusable: ${ca.problem}` };
  if (expired(ca.state.certPem, now)) return { action: 'rotate', reason: 'CA expired' };
  if (needsRenewal(ca.state.certPem, now, { renewAtFraction: policy.caRotateAtFraction })) {
    return { action: 'rotate', reason: `CA passed ${fraction(policy.caRotateAtFraction)} of its life` };
  }
  return { action: 'keep' };
}

function missingNames(cert: X509Certificate, names: ServingNames): string[] {
  const dns = names.dnsNames.filter((n) => cert.checkHost(n, { wildcards: false }) !== n);
  const ips = names.ipAddresses.filter((ip) => cert.checkIP(ip) === undefined);
  return [...dns, ...ips];
}

/** Whether the serving certificate must be (re-)issued by the current CA, and why. */
export function planServing(
  serving: Parsed<ServingState>,
  input: { caPem: string; caChanged: boolean; names: ServingNames; now: Date; policy: CertPolicy },
): ServingAction {
  if (input.caChanged) return { action: 'issue', reason: 'new CA' };
  if (serving === undefined) return { action: 'issue', reason: 'no serving Secret' };
  if ('problem' in serving) return { action: 'issue', reason: `serving Secret unusable: ${serving.problem}` };
  const cert = new X509Certificate(serving.state.certPem);
  if (!cert.verify(new X509Certificate(input.caPem).publicKey))
    return { action: 'issue', reason: 'issued by another CA' };
  const missing = missingNames(cert, input.names);
  if (missing.length > 0) return { action: 'issue', reason: `names not covered: ${missing.join(', ')}` };
  if (expired(serving.state.certPem, input.now)) return { action: 'issue', reason: 'serving certificate expired' };
  if (needsRenewal(serving.state.certPem, input.now, { renewAtFraction: input.policy.renewAtFraction })) {
    return {
      action: 'issue',
      reason: `serving certificate passed ${fraction(input.policy.renewAtFraction)} of its life`,
    };
  }
  return { action: 'keep' };
}

/** The CAs to trust: the current one first, then retired ones that have not expired (duplicates removed). */
export function trustedCAs(currentPem: string, retired: string[], now: Date): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of [currentPem, ...retired]) {
    const cert = new X509Certificate(pem);
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    if (pem !== currentPem && cert.validToDate.getTime() <= now.getTime()) continue;
    out.push(pem.endsWith('\n') ? pem : `${pem}\n`);
  }
  return out;
}

/** The DNS names a Service is reached by from the API server (and the cluster). */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

function fraction(f: number): string {
  const thirds = f * 3;
  return Math.abs(thirds - Math.round(thirds)) < 1e-9 ? `${Math.round(thirds)}/3` : `${Math.round(f * 100)}%`;
}
