// The subject and issuer names of a DER certificate, printed the way @peculiar/x509's `Name.toString()` prints them
// (RDNs in certificate order joined by ", ", multi-valued RDNs by "+", short names for the usual attribute types, the
// dotted OID otherwise, "#" and the hex DER for a value that is not a directory string), so that the webhook's
// messages read as before without loading that library (~200 CommonJS modules, ~20 MiB of resident memory).
// node's X509Certificate prints names differently (one RDN a line, OpenSSL's short names) and exposes no parser.
// The DER has been parsed by OpenSSL already (node's X509Certificate): this walks a well-formed structure.

interface Tlv {
  /** The first identifier octet (class, constructed bit, low tag number). */
  tag: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the contents. */
  body: number;
  /** Offset just past the contents. */
  end: number;
}

const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const VERSION = 0xa0; // [0] EXPLICIT Version in a TBSCertificate

function readTlv(der: Uint8Array, start: number, limit: number): Tlv {
  let pos = start;
  const byte = (): number => {
    if (pos >= limit) throw new Error('truncated DER');
    return der[pos++] as number;
  };
  const tag = byte();
  if ((tag & 0x1f) === 0x1f) while (byte() & 0x80); // high tag number: skip its octets
  let length = byte();
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + byte();
  }
  const end = pos + length;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start, body: pos, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.body; pos < parent.end;) {
    const tlv = readTlv(der, pos, parent.end);
    out.push(tlv);
    pos = tlv.end;
  }
  return out;
}

function expect(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv?.tag !== tag) throw new Error(`unexpected DER: no ${what}`);
  return tlv;
}

const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
  '2.5.4.42': 'G',
  '2.5.4.43': 'I',
  '2.5.4.4': 'SN',
  '2.5.4.12': 'T',
};

function oidString(bytes: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) arcs.push(value < 40 ? 0 : value < 80 ? 1 : 2, value < 80 ? value % 40 : value - 80);
    else arcs.push(value);
    value = 0;
  }
  return arcs.join('.');
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Big-endian code units of `width` octets, each cut to 16 bits (asn1js reads UniversalString so). */
function codeUnits(bytes: Uint8Array, width: 2 | 4): string {
  let text = '';
  for (let i = 0; i + width <= bytes.length; i += width) {
    text += String.fromCharCode(((bytes[i + width - 2] as number) << 8) | (bytes[i + width - 1] as number));
  }
  return text;
}

/** The text of a directory string (as asn1js decodes it), or undefined for any other type. */
function directoryString(tag: number, bytes: Uint8Array): string | undefined {
  switch (tag) {
    case 0x13: // PrintableString
    case 0x14: // TeletexString
    case 0x16: // IA5String
      return Buffer.from(bytes).toString('latin1');
    case 0x0c: // UTF8String (asn1js falls back to one character per octet)
      try {
        return utf8.decode(bytes);
      } catch {
        return Buffer.from(bytes).toString('latin1');
      }
    case 0x1e: // BMPString
      return codeUnits(bytes, 2);
    case 0x1c: // UniversalString
      return codeUnits(bytes, 4);
    default:
      return undefined;
  }
}

/** @peculiar/x509's escaping (RFC 4514's specials; only the first control character becomes \XX). */
function escape(value: string): string {
  return value
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/([ ]$)/, '\\$1')
    .replace(/([\r\n\t])/, (c) => `\\${Buffer.from(c).toString('hex').toUpperCase()}`);
}

function attribute(der: Uint8Array, atv: Tlv): string {
  const [typeTlv, value] = children(der, expect(atv, SEQUENCE, 'AttributeTypeAndValue'));
  const type = expect(typeTlv, OID, 'attribute type');
  const oid = oidString(der.subarray(type.body, type.end));
  if (!value) throw new Error('unexpected DER: no attribute value');
  const text = directoryString(value.tag, der.subarray(value.body, value.end));
  const printed =
    text === undefined ? `#${Buffer.from(der.subarray(value.start, value.end)).toString('hex')}` : escape(text);
  return `${SHORT_NAMES[oid] ?? oid}=${printed}`;
}

function formatName(der: Uint8Array, name: Tlv): string {
  return children(der, expect(name, SEQUENCE, 'Name'))
    .map((rdn) =>
      children(der, expect(rdn, SET, 'RelativeDistinguishedName'))
        .map((atv) => attribute(der, atv))
        .join('+'),
    )
    .join(', ');
}

/** A DER Name, printed as @peculiar/x509 prints it. */
export function nameString(der: Uint8Array): string {
  return formatName(der, readTlv(der, 0, der.length));
}

/** The subject and issuer of a DER certificate (node's `X509Certificate.raw`), printed as @peculiar/x509 prints them. */
export function certificateNames(der: Uint8Array): { subject: string; issuer: string } {
  const certificate = expect(readTlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = children(der, expect(children(der, certificate)[0], SEQUENCE, 'TBSCertificate'));
  // [0] version?, serialNumber, signature, issuer, validity, subject
  const first = tbs[0]?.tag === VERSION ? 1 : 0;
  return { issuer: formatName(der, tbs[first + 2] as Tlv), subject: formatName(der, tbs[first + 4] as Tlv) };
}
