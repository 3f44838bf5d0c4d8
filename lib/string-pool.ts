// One copy of each string that repeats across many objects a watch delivers: namespace names, object names, label
// values. JSON.parse gives every object its own copies, so with 5,000 PR namespaces each name sat in the webhook's
// heap ~11 times, and "restricted" 15,000 times (bench/results.md, issue 10). Bounded: when full it starts over;
// strings already handed out stay valid, only their sharing with later copies is lost.
export class StringPool {
  private readonly strings = new Map<string, string>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** The pooled string equal to `value` (the first one seen). */
  get(value: string): string {
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    if (this.strings.size >= this.max) this.strings.clear();
    this.strings.set(value, value);
    return value;
  }

  /** The same map with pooled values, in a new object; undefined stays undefined. */
  values<T extends Record<string, string> | undefined>(map: T): T {
    if (!map) return map;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(map)) out[key] = typeof value === 'string' ? this.get(value) : value;
    return out as T;
  }

  get size(): number {
    return this.strings.size;
  }
}

/**
 * The process's pool for names and label values of watched objects: enough for every namespace and baseline object
 * name of a large cluster (5,000 PR namespaces need ~5,100).
 */
export const watchedNames = new StringPool(50_000);

/** JSON with object keys sorted, so equal data always gives equal text (and equal hashes). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * One shared copy of each object value that repeats (equal as canonical JSON): the baseline objects' specs, labels
 * and annotations are the same in most PR namespaces, so the webhook's 5,000 namespaces keep a handful of copies
 * instead of 40,000 (~30 MiB, bench/results.md, issue 10), and a sweeper pass shares the label sets of the
 * namespaces it lists. Read-only by contract: nothing changes a shared value. Bounded: when full it starts over
 * (holders keep their copies; only the sharing is lost).
 */
export class Interner {
  private readonly values = new Map<string, unknown>();
  private readonly max: number;

  constructor(max = 2_000) {
    this.max = max;
  }

  share<T>(value: T): T {
    if (typeof value !== 'object' || value === null) return value;
    const key = canonicalJson(value);
    const known = this.values.get(key);
    if (known !== undefined) return known as T;
    if (this.values.size >= this.max) this.values.clear();
    this.values.set(key, value);
    return value;
  }
}
