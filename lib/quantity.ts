// Kubernetes resource quantities ("300m", "512Mi", "1.5", "2G") as exact integers of milli-units, so sums and
// comparisons never suffer from floating point. client-node's quantityToScalar returns floats and has no
// formatter, which is why this small module exists.
const SUFFIX: Record<string, bigint> = {
  '': 1000n,
  m: 1n,
  k: 1000n * 1000n,
  M: 1000n * 1000n ** 2n,
  G: 1000n * 1000n ** 3n,
  T: 1000n * 1000n ** 4n,
  P: 1000n * 1000n ** 5n,
  E: 1000n * 1000n ** 6n,
  Ki: 1000n * 1024n,
  Mi: 1000n * 1024n ** 2n,
  Gi: 1000n * 1024n ** 3n,
  Ti: 1000n * 1024n ** 4n,
  Pi: 1000n * 1024n ** 5n,
  Ei: 1000n * 1024n ** 6n,
};

const QUANTITY = /^([0-9]+)(?:\.([0-9]+))?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$';

/** Milli-units of a quantity ("300m" -> 300n, "1" -> 1000n, "1Ki" -> 1024000n), or undefined if malformed. */
export function parseQuantity(text: string | number): bigint | undefined {
  const match = QUANTITY.exec(String(text).trim());
  if (!match) return undefined;
  const [, whole = '0', fraction = '', suffix = ''] = match;
  const unit = SUFFIX[suffix];
  if (unit === undefined) return undefined;
  const scale = 10n ** BigInt(fraction.length);
  const value = (BigInt(whole) * scale + BigInt(fraction || '0')) * unit;
  return (value + scale - 1n) / scale; // round up, as Kubernetes does
}

const BINARY: [string, bigint][] = [
  ['Ei', SUFFIX['Ei']!],
  ['Pi', SUFFIX['Pi']!],
  ['Ti', SUFFIX['Ti']!],
  ['Gi', SUFFIX['Gi']!],
  ['Mi', SUFFIX['Mi']!],
  ['Ki', SUFFIX['Ki']!],
];

/** Formats milli-units back into a canonical quantity, preferring the style of the hint ("cpu" or "memory"). */
export function formatQuantity(milli: bigint, style: 'cpu' | 'memory' | 'count' = 'cpu'): string {
  if (style === 'memory') {
    for (const [suffix, size] of BINARY) if (milli % size === 0n && milli >= size) return `${milli / size}${suffix}`;
  }
  if (milli % 1000n === 0n) return `${milli / 1000n}`;
  return `${milli}m`;
}

/** Sums quantities; undefined entries count as zero. */
export function addQuantities(values: (string | undefined)[], style: 'cpu' | 'memory' | 'count'): string {
  let total = 0n;
  for (const v of values) if (v !== undefined) total += parseQuantity(v) ?? 0n;
  return formatQuantity(total, style);
}
