// A memory-reducing garbage collection, asked for when a service knows a burst of work is over (or, during a long
// one, every so often: the pages V8 keeps after its own collections add up).
// V8 shrinks its heap by itself (its "memory reducer") only while the process allocates little. A webhook that keeps
// receiving watch events after a burst (the quota controller's status updates of thousands of new quotas, every pod
// start and stop) never qualifies, and kept the heap the burst grew: 114-118 MiB with 5,000 PR namespaces, against a
// ~100 MiB budget (bench/results.md, issue 10). The services run with --expose-gc for this (cli/runtime.ts).

interface GcOptions {
  type: 'major';
  execution: 'async';
  /** "last-resort": V8's most thorough collection (what it runs before giving up on memory): compacts, shrinks the
   *  young generation and gives unused pages back. */
  flavor: 'last-resort';
}

/**
 * Schedules one memory-reducing collection (on the main thread, soon after this returns). False, doing nothing, when
 * the process runs without --expose-gc.
 */
export function reduceMemory(): boolean {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') return false;
  (gc as (options: GcOptions) => void)({ type: 'major', execution: 'async', flavor: 'last-resort' });
  return true;
}
