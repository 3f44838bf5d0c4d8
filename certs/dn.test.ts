// dn.ts prints names as @peculiar/x509 does (the messages of served.ts read as they did when it used that library):
// every string type, escapes, multi-valued RDNs, unknown attribute types and non-string values, against the library.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { certificateNames, nameString } from './dn.ts';

const hex = (tag: number, bytes: number[]): string => `#${Buffer.from([tag, bytes.length, ...bytes]).toString('hex')}`;
const utf16be = (s: string): number[] => [...Buffer.from(s, 'utf16le').swap16()];

const NAMES: x509.JsonNameParams[] = [
  [],
  [{ CN: ['k8s-ee.k8s-ee-system.svc'] }],
  [{ C: ['DE'] }, { O: ['k8s-ee'] }, { OU: ['platform', 'ops'] }, { CN: ['ca'] }],
  [
    { CN: [{ utf8String: 'a, b + c "d" <e> f;g\\h=i' }] },
    { O: [' leading and trailing '] },
    { OU: [{ utf8String: '#hash' }] },
  ],
  [{ CN: ['line\nbreak\ttab\nagain'] }, { L: ['Zürich'] }, { ST: ['東京'] }],
  [{ E: ['ops@example.com'] }, { DC: ['example'] }, { DC: ['com'] }],
  [{ G: ['Ada'], SN: ['Lovelace'], I: ['AL'], T: ['Countess'] }],
  [{ '2.5.4.5': ['serial-42'] }, { '1.3.6.1.4.1.311.60.2.1.3': ['DE'] }, { '2.999.1': ['big arc'] }],
  [{ CN: [{ utf8String: 'utf8 é' }] }, { O: [{ bmpString: 'bmp ☃' }] }, { OU: [{ universalString: 'univ' }] }],
  [{ CN: [{ ia5String: 'ia5' }] }, { O: [{ printableString: 'printable' }] }],
  // Not directory strings (kept as "#" and the DER); a TeletexString and a BMPString given as raw DER.
  [{ CN: [hex(0x12, [0x31, 0x32])] }, { O: [hex(0x04, [1, 2, 3])] }, { OU: [hex(0x14, [0x74, 0xe9])] }],
  [{ CN: [hex(0x1e, utf16be('raw bmp'))] }, { O: [hex(0x0c, [0xff, 0xfe, 0x41])] }, { OU: [hex(0x0c, [])] }],
];

describe('dn', () => {
  it('prints every name as @peculiar/x509 does', () => {
    for (const json of NAMES) {
      const name = new x509.Name(json);
      const der = new Uint8Array(name.toArrayBuffer());
      const expected = new x509.Name(der).toString();
      assert.equal(nameString(der), expected, JSON.stringify(json));
    }
  });

  it('finds the subject and issuer of a certificate', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
    const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    for (const [subject, issuer] of [
      [NAMES[2], NAMES[3]],
      [NAMES[4], NAMES[1]],
      [NAMES[0], NAMES[8]],
    ] as Array<[x509.JsonNameParams, x509.JsonNameParams]>) {
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: '01',
        subject: new x509.Name(subject),
        issuer: new x509.Name(issuer),
        notBefore: new Date('2020-01-01T00:00:00Z'),
        notAfter: new Date('2060-01-01T00:00:00Z'),
        publicKey: keys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      });
      const parsed = new x509.X509Certificate(cert.rawData);
      const names = certificateNames(new X509Certificate(Buffer.from(cert.rawData)).raw);
      assert.deepEqual(names, { subject: parsed.subject, issuer: parsed.issuer });
    }
  });

  it('refuses DER that is not a certificate', () => {
    assert.throws(() => certificateNames(new Uint8Array([0x30, 0x05, 0x02])), /truncated DER/);
    assert.throws(() => certificateNames(new Uint8Array([0x04, 0x00])), /no Certificate/);
  });
});
