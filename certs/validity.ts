// Pure validity checks on PEM certificates: no clock inside, `now` is passed in.
import { X509Certificate } from 'node:crypto';

export interface RenewalPolicy {
  /** Renew once this fraction of the certificate's lifetime has passed (cert-manager's default: 2/3). */
  renewAtFraction: number;
}

export const DEFAULT_RENEWAL: RenewalPolicy = { renewAtFraction: 2 / 3 };

function parse(certPem: string): X509Certificate {
  try {
    return new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
}

/** The certificate's notAfter. */
export function notAfter(certPem: string): Date {
  return parse(certPem).validToDate;
}

/** The certificate's notBefore. */
export function notBefore(certPem: string): Date {
  return parse(certPem).validFromDate;
}

/** The instant at which the certificate should be renewed under `policy`. */
export function renewalTime(certPem: string, policy: RenewalPolicy = DEFAULT_RENEWAL): Date {
  const fraction = policy.renewAtFraction;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new Error(`renewAtFraction must be in (0, 1], got ${String(fraction)}`);
  }
  const cert = parse(certPem);
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  return new Date(from + (to - from) * fraction);
}

/** True when the certificate has reached the renewal point of its life, has expired, or is not yet valid. */
export function needsRenewal(certPem: string, now: Date, policy: RenewalPolicy = DEFAULT_RENEWAL): boolean {
  const t = now.getTime();
  return t >= renewalTime(certPem, policy).getTime() || t < notBefore(certPem).getTime();
}

/** True when `now` lies inside [notBefore, notAfter]. */
export function isValidAt(certPem: string, now: Date): boolean {
  const t = now.getTime();
  return t >= notBefore(certPem).getTime() && t <= notAfter(certPem).getTime();
}

/** Splits a PEM bundle into its certificates (each with BEGIN/END lines and a trailing newline). */
export function splitPemBundle(bundle: string): string[] {
  const matches = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  return (matches ?? []).map((pem) => `${pem}\n`);
}
