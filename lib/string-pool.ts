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
