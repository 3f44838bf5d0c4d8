// What `k8s-ee sweeper --once` prints: one line per action (or planned action with --dry-run), or one JSON
// document. Problems go to stderr.
import { describeAction } from './planner.ts';
import type { SweepResult } from './sweep.ts';

export function formatOnce(
  results: SweepResult[],
  format: 'text' | 'json',
  apiRequests?: number,
): { stdout: string; stderr: string } {
  const problems = results.flatMap((r) => r.errors.map((e) => `k8s-ee sweeper: ${r.kind}: ${e}\n`)).join('');
  if (format === 'json') {
    const document = {
      now: results[0]?.now,
      dryRun: results[0]?.dryRun ?? false,
      ...(apiRequests === undefined ? {} : { apiRequests }),
      runs: results.map((r) => ({
        kind: r.kind,
        completed: r.completed,
        success: r.success,
        durationSeconds: Math.round(r.durationSeconds * 1000) / 1000,
        errors: r.errors,
        actions: r.results.map((x) => ({ ...x.action, result: x.result, ...(x.note ? { note: x.note } : {}) })),
      })),
    };
    return { stdout: `${JSON.stringify(document, null, 2)}\n`, stderr: problems };
  }
  const lines = results.flatMap((r) =>
    r.results.map((x) => `${x.result.padEnd(9)} ${describeAction(x.action)}${x.note ? ` (${x.note})` : ''}\n`),
  );
  const total = results.reduce((n, r) => n + r.results.length, 0);
  const summary = `k8s-ee sweeper: ${total} action${total === 1 ? '' : 's'}${results[0]?.dryRun ? ' planned (dry run)' : ''} at ${results[0]?.now ?? ''}${apiRequests === undefined ? '' : `, ${apiRequests} API requests`}\n`;
  return { stdout: lines.join(''), stderr: problems + summary };
}
