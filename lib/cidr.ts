// Address ranges as the Kubernetes API server reads them, and what makes a notation non-standard.
//
// The API server validates NetworkPolicy ipBlocks with k8s.io/utils/net ParseCIDRSloppy (Go's pre-1.17 parser,
// ported below): IPv4 octets and prefix lengths may carry leading zeros, read as DECIMAL (`010.0.0.0/8` is
// 10.0.0.0/8), IPv6 groups may have more than four digits when the value fits, and an IPv4-mapped IPv6 network
// (`::ffff:10.0.0.0/104`) is the IPv4 range (10.0.0.0/8), as Go's net.IPNet reads it. Libraries disagree on
// exactly these inputs (ipaddr.js reads `010` as octal 8 and accepts `0x0a` and `10/8`; node's own isIP refuses
// leading zeros), so the parser is a port of the API server's, table-tested against it. Containment is node's
// BlockList.
import { BlockList } from 'node:net';

export type Family = 'ipv4' | 'ipv6';

export interface Cidr {
  /** The network address, canonical (bits after the prefix cleared, RFC 5952 for IPv6). */
  address: string;
  prefix: number;
  family: Family;
}

export interface ParsedCidr extends Cidr {
  /** The range as the API server prints it, e.g. `10.0.0.0/8`. */
  canonical: string;
  /** Leading zeros in an IPv4 octet or the prefix length, or an IPv6 group of more than four digits. */
  leadingZeros: boolean;
  /** Written as an IPv4-mapped IPv6 address (`::ffff:…`). */
  mapped: boolean;
  /** Bits set after the prefix length (`10.1.2.3/8`): the network or the single address? */
  hostBits: boolean;
}

/** Larger than any number a valid address has; Go's parser gives up at this size too. */
const BIG = 0xffffff;

interface Scanned {
  value: number;
  end: number;
}

function digitValue(code: number, radix: 10 | 16): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (radix === 10) return -1;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** Go's dtoi/xtoi: the number at `start`, undefined when there is none or it reaches BIG. */
function scan(s: string, start: number, radix: 10 | 16): Scanned | undefined {
  let value = 0;
  let end = start;
  for (; end < s.length; end++) {
    const digit = digitValue(s.charCodeAt(end), radix);
    if (digit < 0) break;
    value = value * radix + digit;
    if (value >= BIG) return undefined;
  }
  return end === start ? undefined : { value, end };
}

interface Address {
  bytes: number[];
  leadingZeros: boolean;
}

function parseIPv4(s: string): Address | undefined {
  const bytes: number[] = [];
  let leadingZeros = false;
  let at = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (s[at] !== '.') return undefined;
      at += 1;
    }
    const number = scan(s, at, 10);
    if (!number || number.value > 0xff) return undefined;
    if (number.end - at > 1 && s[at] === '0') leadingZeros = true;
    bytes.push(number.value);
    at = number.end;
  }
  return at === s.length ? { bytes, leadingZeros } : undefined;
}

/** Moves the groups after the `::` to the end and fills the gap with zeros. */
function expandEllipsis(bytes: number[], filled: number, ellipsis: number): number[] | undefined {
  if (filled === 16) return ellipsis < 0 ? bytes : undefined; // `::` must stand for at least one group
  if (ellipsis < 0) return undefined;
  const tail = bytes.slice(ellipsis, filled);
  return [...bytes.slice(0, ellipsis), ...new Array<number>(16 - filled).fill(0), ...tail];
}

/** Where parsing an IPv6 address stands. */
interface IPv6Scan {
  bytes: number[];
  filled: number;
  /** Byte index of the `::`, -1 when there is none yet. */
  ellipsis: number;
  at: number;
  leadingZeros: boolean;
}

type Step = 'more' | 'end' | 'invalid';

function readTrailingIPv4(s: string, st: IPv6Scan): Step {
  if ((st.ellipsis < 0 && st.filled !== 12) || st.filled + 4 > 16) return 'invalid';
  const v4 = parseIPv4(s.slice(st.at));
  if (!v4) return 'invalid';
  st.bytes.splice(st.filled, 4, ...v4.bytes);
  st.leadingZeros ||= v4.leadingZeros;
  st.filled += 4;
  st.at = s.length;
  return 'end';
}

function readSeparator(s: string, st: IPv6Scan): Step {
  if (st.at === s.length) return 'end';
  if (s[st.at] !== ':' || st.at + 1 === s.length) return 'invalid';
  st.at += 1;
  if (s[st.at] !== ':') return 'more';
  if (st.ellipsis >= 0) return 'invalid';
  st.ellipsis = st.filled;
  st.at += 1;
  return 'more';
}

/** One group and what follows it; a group followed by a dot starts the trailing IPv4 address. */
function readGroup(s: string, st: IPv6Scan): Step {
  const group = scan(s, st.at, 16);
  if (!group || group.value > 0xffff) return 'invalid';
  if (s[group.end] === '.') return readTrailingIPv4(s, st);
  if (group.end - st.at > 4) st.leadingZeros = true;
  st.bytes[st.filled] = group.value >> 8;
  st.bytes[st.filled + 1] = group.value & 0xff;
  st.filled += 2;
  st.at = group.end;
  return readSeparator(s, st);
}

function parseIPv6(s: string): Address | undefined {
  const st: IPv6Scan = { bytes: new Array<number>(16).fill(0), filled: 0, ellipsis: -1, at: 0, leadingZeros: false };
  if (s.startsWith('::')) {
    st.ellipsis = 0;
    st.at = 2;
  }
  let step: Step = 'more';
  while (step === 'more' && st.at < s.length && st.filled < 16) step = readGroup(s, st);
  if (step === 'invalid' || st.at !== s.length) return undefined;
  const expanded = expandEllipsis(st.bytes, st.filled, st.ellipsis);
  return expanded ? { bytes: expanded, leadingZeros: st.leadingZeros } : undefined;
}

function masked(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((byte, i) => {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
}

function isMapped(bytes: readonly number[]): boolean {
  return bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIPv6(bytes: readonly number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (best.start < 0) return hex(groups);
  return `${hex(groups.slice(0, best.start))}::${hex(groups.slice(best.start + best.length))}`;
}

function formatAddress(bytes: readonly number[]): string {
  return bytes.length === 4 ? bytes.join('.') : formatIPv6(bytes);
}

/**
 * Parses a CIDR exactly as the Kubernetes API server does (ParseCIDRSloppy): undefined when the API server would
 * refuse it. No spaces, no zone, no hex or shorthand IPv4. The range is the network the API server and Go data
 * planes use: host bits cleared, and an IPv4-mapped network read as the IPv4 range.
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const address = parseIPv4(addressText) ?? parseIPv6(addressText);
  const length = scan(prefixText, 0, 10);
  if (!address || !length || length.end !== prefixText.length || length.value > address.bytes.length * 8)
    return undefined;
  const network = masked(address.bytes, length.value);
  const hostBits = network.some((byte, i) => byte !== address.bytes[i]);
  const leadingZeros = address.leadingZeros || (prefixText.length > 1 && prefixText.startsWith('0'));
  const asIPv4 = isMapped(network); // only possible with a prefix of at least 96
  const bytes = asIPv4 ? network.slice(12) : network;
  const prefix = asIPv4 ? length.value - 96 : length.value;
  const family: Family = bytes.length === 4 ? 'ipv4' : 'ipv6';
  const canonicalAddress = formatAddress(bytes);
  return {
    address: canonicalAddress,
    prefix,
    family,
    canonical: `${canonicalAddress}/${prefix}`,
    leadingZeros,
    mapped: isMapped(address.bytes),
    hostBits,
  };
}

/** True when the notation is one the API server only warns about: leading zeros or an IPv4-mapped address. */
export function isNonStandard(cidr: ParsedCidr): boolean {
  return cidr.leadingZeros || cidr.mapped;
}

function contains(outer: Cidr, address: string, family: Family): boolean {
  if (outer.family !== family) return false;
  const list = new BlockList();
  list.addSubnet(outer.address, outer.prefix, outer.family);
  return list.check(address, family);
}

/** True when every address of `inner` is in `outer`. */
export function covers(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && contains(outer, inner.address, inner.family);
}

/** True when the two ranges share an address (CIDR ranges are either nested or disjoint). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.address, b.family) || contains(b, a.address, a.family);
}
