// What the demo prints about k8s-ee's work: pure functions of the objects read back from the API server.

interface Meta {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface ListOf<T> {
  items?: T[];
}

const K8S_EE_KEY = /(^|\.)k8s-ee\.io\/|^pod-security\.kubernetes\.io\//;

/** The labels and annotations k8s-ee put on a namespace, one `key=value` a line. */
export function namespaceMarks(ns: Meta): string[] {
  const labels = Object.entries(ns.metadata?.labels ?? {}).filter(([k]) => K8S_EE_KEY.test(k));
  const annotations = Object.entries(ns.metadata?.annotations ?? {}).filter(([k]) => K8S_EE_KEY.test(k));
  return [
    ...labels.sort().map(([k, v]) => `label ${k}=${v}`),
    ...annotations.sort().map(([k, v]) => `annotation ${k}=${v}`),
  ];
}

/** `Kind/name` of every object in the lists. */
export function objectNames(lists: { kind: string; list: ListOf<Meta> }[]): string[] {
  return lists.flatMap(({ kind, list }) => (list.items ?? []).map((o) => `${kind}/${o.metadata?.name ?? '?'}`));
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths (dot notation) of the leaves present in `after` and absent from `before`: what a mutation added. */
export function addedPaths(before: unknown, after: unknown, prefix = ''): string[] {
  if (Array.isArray(after)) {
    const b = Array.isArray(before) ? before : [];
    return after.flatMap((item, i) => addedPaths(b[i], item, `${prefix}[${String(i)}]`));
  }
  if (isObj(after)) {
    const b = isObj(before) ? before : {};
    return Object.entries(after).flatMap(([k, v]) => addedPaths(b[k], v, prefix ? `${prefix}.${k}` : k));
  }
  return before === undefined ? [`${prefix}=${JSON.stringify(after)}`] : [];
}

/** The first lines of kubectl's error output, the part a developer reads. */
export function errorText(stderr: string, maxLines = 12): string {
  return stderr.trim().split('\n').slice(0, maxLines).join('\n');
}
