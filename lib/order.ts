// Sorting names (namespaces, releases, nodes: DNS labels and subdomains; annotation keys) by their UTF-16 code units.
// Not String.prototype.localeCompare: that one orders by the process's locale (a container with another LANG could
// order differently), is several times slower, and its first call maps ICU's collation data into the process, ~2.5
// MiB of resident memory in each of the webhook and the sweeper (issue 10). For the lowercase letters, digits,
// hyphens and dots of Kubernetes names both give the same order.

/** -1, 0 or 1, as Array.prototype.sort wants it. */
export function byCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
