// A small PKI for the webhook: a self-signed CA and serving certificates it signs (ECDSA P-256, SHA-256).
// Pure apart from randomness: the caller passes `now`; keys come from node's WebCrypto.
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CAOptions {
  commonName: string;
  now: Date;
  validityDays: number;
}

export interface ServingCertOptions {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  now: Date;
  validityDays: number;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
// Back-date notBefore a little so a peer whose clock lags by a few minutes still accepts a fresh certificate.
const CLOCK_SKEW_MS = 5 * 60_000;

function validity(now: Date, validityDays: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new Error(`validityDays must be a positive number of days, got ${String(validityDays)}`);
  }
  if (Number.isNaN(now.getTime())) throw new Error('now must be a valid Date');
  return {
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + Math.round(validityDays * DAY_MS)),
  };
}

/** A random positive serial number of 16 bytes, hex (the top bit cleared so DER keeps it positive). */
function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** Escapes a value for an RFC 4514 distinguished name string. */
function dnValue(value: string): string {
  return value.replace(/[,+"\\<>;=#]/g, (c) => `\\${c}`);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  return crypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** Creates a self-signed CA certificate (basicConstraints CA, keyCertSign) and its private key. */
export async function createCA(opts: CAOptions): Promise<KeyPairPem> {
  const { notBefore, notAfter } = validity(opts.now, opts.validityDays);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: `CN=${dnValue(opts.commonName)}`,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: withNewline(cert.toString('pem')), keyPem: await privateKeyPem(keys.privateKey) };
}

function subjectAltNames(dnsNames: string[], ipAddresses: string[]): x509.SubjectAlternativeNameExtension {
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new Error(`ipAddresses: "${ip}" is not an IPv4 or IPv6 address`);
  }
  const names = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  return new x509.SubjectAlternativeNameExtension(names, false);
}

interface LeafRequest {
  subject: string;
  usage: x509.ExtendedKeyUsage;
  dnsNames: string[];
  ipAddresses: string[];
  now: Date;
  validityDays: number;
}

/** A leaf certificate signed by the CA, never outliving it. */
async function issueLeaf(ca: KeyPairPem, req: LeafRequest): Promise<KeyPairPem> {
  const { notBefore, notAfter } = validity(req.now, req.validityDays);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const keys = await generateKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([req.usage], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
  ];
  if (req.dnsNames.length + req.ipAddresses.length > 0) extensions.push(subjectAltNames(req.dnsNames, req.ipAddresses));
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: req.subject,
      issuer: caCert.subject,
      notBefore,
      notAfter: minDate(notAfter, caCert.notAfter),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    },
    crypto,
  );
  return { certPem: withNewline(cert.toString('pem')), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Issues a serving (TLS server) certificate signed by the CA, for the given DNS names and IP addresses. */
export async function issueServingCert(ca: KeyPairPem, opts: ServingCertOptions): Promise<KeyPairPem> {
  if (opts.dnsNames.length === 0 && opts.ipAddresses.length === 0) {
    throw new Error('issueServingCert: give at least one DNS name or IP address');
  }
  const commonName = opts.commonName ?? opts.dnsNames[0] ?? opts.ipAddresses[0] ?? 'k8s-ee';
  return issueLeaf(ca, { ...opts, subject: `CN=${dnValue(commonName)}`, usage: x509.ExtendedKeyUsage.serverAuth });
}

/** Issues a TLS client certificate: Kubernetes reads the CN as the user name and each O as a group. */
export async function issueClientCert(
  ca: KeyPairPem,
  opts: { commonName: string; organization?: string; now: Date; validityDays: number },
): Promise<KeyPairPem> {
  const subject = `CN=${dnValue(opts.commonName)}${opts.organization ? `, O=${dnValue(opts.organization)}` : ''}`;
  return issueLeaf(ca, { ...opts, subject, usage: x509.ExtendedKeyUsage.clientAuth, dnsNames: [], ipAddresses: [] });
}

/** PEM text ends with a newline, so PEMs concatenate into a valid bundle. */
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function minDate(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

/** True when `certPem` was signed by the CA in `caCertPem` (signature check only, no validity dates). */
export function isSignedBy(certPem: string, caCertPem: string): boolean {
  try {
    return new NodeX509(certPem).verify(new NodeX509(caCertPem).publicKey);
  } catch {
    return false;
  }
}
