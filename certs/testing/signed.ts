// Certificates with any dates and any issuer, for tests of what a tampered or stale file can hold (pki.ts never
// issues a leaf that outlives its CA, nor one dated in the future).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyPairPem } from '../pki.ts';

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export interface SignedOptions {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints CA) rather than a leaf. */
  ca: boolean;
  ipAddresses?: string[];
}

/** A certificate and its new key, signed by `issuer` with exactly the given dates. */
export async function signedCert(issuer: KeyPairPem, opts: SignedOptions): Promise<KeyPairPem> {
  const issuerCert = new x509.X509Certificate(issuer.certPem);
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(issuer.keyPem),
    ALG,
    false,
    ['sign'],
  );
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.ca, opts.ca ? 0 : undefined, true),
    await x509.AuthorityKeyIdentifierExtension.create(issuerCert, false, webcrypto),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
  ];
  if (opts.ipAddresses?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        opts.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        false,
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
        .toString('hex')
        .replace(/^./, '1'),
      subject: opts.subject,
      issuer: issuerCert.subject,
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
    },
    webcrypto,
  );
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: `${cert.toString('pem')}\n`, keyPem: `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n` };
}
