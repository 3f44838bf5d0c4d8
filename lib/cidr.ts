// CIDR overlap with node's own BlockList (no hand-written IP arithmetic).
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText = '', ...rest] = text.trim().split('/');
  const version = isIP(address);
  const prefix = Number(prefixText);
  if (rest.length > 0 || version === 0 || prefixText === '' || !Number.isInteger(prefix)) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefix < 0 || prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function contains(outer: Cidr, address: string, family: Cidr['family']): boolean {
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
