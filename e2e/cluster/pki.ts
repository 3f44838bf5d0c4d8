// The control plane's own certificates: a CA, the API server's serving certificate, client certificates for
// the admin and the controller manager, and the service-account signing key. ECDSA P-256 through WebCrypto.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

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

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

function keyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return `${x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY')}\n`;
}

function span(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - 300_000), notAfter: new Date(now.getTime() + days * DAY_MS) };
}

export async function createClusterCA(commonName: string, now: Date, days = 30): Promise<CertPem> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: `CN=${commonName}`,
      ...span(now, days),
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await pkcs8Pem(keys.privateKey) };
}

/** A leaf certificate signed by the CA: TLS server (with SANs) or TLS client (CN = user, O = group). */
export async function issueCert(ca: CertPem, req: CertRequest, now: Date, days = 30): Promise<CertPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), KEY_ALGORITHM, false, [
    'sign',
  ]);
  const keys = await keyPair();
  const names = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const usage = req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([usage], false),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const subject = req.organization ? `CN=${req.commonName}, O=${req.organization}` : `CN=${req.commonName}`;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject,
      issuer: caCert.subject,
      ...span(now, days),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    },
    crypto,
  );
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await pkcs8Pem(keys.privateKey) };
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
