// The control plane's own certificates: a CA, the API server's serving certificate, client certificates for
// the admin and the controller manager (all from certs/pki.ts), and the service-account signing key.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createCA, issueClientCert, issueServingCert } from '../../certs/pki.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export interface CertPem {
  certPem: string;
  keyPem: string;
}

export interface CertRequest {
  commonName: string;
  organization?: string;
  usage: 'server' | 'client';
  dnsNames?: string[];
  ipAddresses?: string[];
}

function keyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return `${x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY')}\n`;
}

export function createClusterCA(commonName: string, now: Date, days = 30): Promise<CertPem> {
  return createCA({ commonName, now, validityDays: days });
}

/** A leaf certificate signed by the CA: TLS server (with SANs) or TLS client (CN = user, O = group). */
export function issueCert(ca: CertPem, req: CertRequest, now: Date, days = 30): Promise<CertPem> {
  if (req.usage === 'client') {
    return issueClientCert(ca, {
      commonName: req.commonName,
      ...(req.organization ? { organization: req.organization } : {}),
      now,
      validityDays: days,
    });
  }
  return issueServingCert(ca, {
    commonName: req.commonName,
    dnsNames: req.dnsNames ?? [],
    ipAddresses: req.ipAddresses ?? [],
    now,
    validityDays: days,
  });
}

/** The service-account token signing key (private, PKCS#8) and its public key (SPKI). */
export async function createSigningKey(): Promise<{ privatePem: string; publicPem: string }> {
  const keys = await keyPair();
  const spki = await crypto.subtle.exportKey('spki', keys.publicKey);
  return {
    privatePem: await pkcs8Pem(keys.privateKey),
    publicPem: `${x509.PemConverter.encode(spki, 'PUBLIC KEY')}\n`,
  };
}
