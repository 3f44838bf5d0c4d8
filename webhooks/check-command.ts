// `k8s-ee check [-n NAMESPACE] FILE|-`: prints every problem with object, field path and fix; exit 1 if any.
import { readFile } from 'node:fs/promises';
import { parseFlags } from '../cli/args.ts';
import { CliError } from '../cli/errors.ts';
import { loadConfigForCli } from '../cli/config.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { checkManifests, type CheckedObject, type CheckResult } from './check.ts';

const HELP = `Usage: k8s-ee check [-n NAMESPACE] [--config FILE] [--output text|json] FILE|-

Answers "would the cluster admit this, and would it fit?" for rendered manifests, before anything is
deployed: applies k8s-ee's mutations, then its validations, to every object, as admission does; then adds up
what the objects of each PR namespace would use (replicas x requests and limits after the LimitRange's
defaults, volumes, pods, services, PVCs) against the quota k8s-ee gives that namespace (the base plus one
increment per database the rendered k8s-ee-environment ConfigMap declares).

  helm template shop charts/k8s-ee-app -f k8s-ee.yaml | k8s-ee check -n shop-pr-42 -

Options:
  -n, --namespace NS   namespace the objects will be installed into (objects without metadata.namespace)
  --config FILE        k8s-ee configuration (YAML); default: built-in defaults
  --output FORMAT      text (default) or json
  --now RFC3339        the clock for time-dependent rules (default: now)

Exit status: 0 when everything would be admitted and fits, 1 when anything would be refused, a quota would be
exceeded, a document is not a Kubernetes object or the input holds none, 2 on usage errors. Checks that need
the cluster (pin limits, the baseline gate) are skipped.
`;

const FLAGS = {
  namespace: { type: 'string', short: 'n' },
  config: { type: 'string' },
  output: { type: 'string' },
  now: { type: 'string' },
} as const;

function readInput(file: string): Promise<string> {
  if (file !== '-')
    return readFile(file, 'utf8').catch((err: Error) =>
      Promise.reject(new CliError(`check: cannot read ${file}: ${err.message}`, 2)),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function describeObject(o: CheckedObject): string {
  const where = o.kind ? `${o.kind}/${o.name}${o.namespace ? ` in ${o.namespace}` : ''}` : 'document';
  if (o.origin) return o.kind ? `${where} (${o.origin})` : o.origin;
  return `${where} (document ${o.document}, line ${o.line})`;
}

/** One line per namespace: every quota resource, used of allowed. */
function quotaLines(result: CheckResult): string[] {
  return result.quotas.map((q) => {
    const amounts = Object.keys(q.hard).map((k) => `${k} ${q.used[k] ?? '0'}/${q.hard[k] ?? ''}`);
    const origin = q.databases.length ? `base + ${q.databases.join(' + ')}` : 'base';
    return `quota of ${q.namespace} (${origin}), used/allowed: ${amounts.join(', ')}`;
  });
}

export function formatText(result: CheckResult): string {
  const lines: string[] = [];
  for (const o of result.objects) {
    for (const w of o.warnings) lines.push(`warning: ${describeObject(o)}: ${w}`);
    if (o.error) lines.push(`✗ ${describeObject(o)}: ${o.error}`);
    if (o.violations.length === 0) continue;
    lines.push(`✗ ${describeObject(o)}: ${o.violations.length} problem${o.violations.length === 1 ? '' : 's'}`);
    for (const v of o.violations) lines.push(`    ${v.path}: ${v.message} [${v.rule}]`, `      fix: ${v.fix}`);
  }
  lines.push(...quotaLines(result));
  const documents = result.objects.filter((o) => o.document > 0);
  const checked = documents.filter((o) => o.managed).length;
  const refused = documents.filter((o) => o.violations.length > 0 || o.error).length;
  const overQuota = result.objects.filter((o) => o.document === 0 && o.violations.length > 0).length;
  const quotaNote = overQuota > 0 ? `, ${overQuota} quota${overQuota === 1 ? '' : 's'} exceeded` : '';
  if (documents.length === 0) lines.push(`k8s-ee check: no object to check (${result.problems} problem)`);
  else
    lines.push(
      result.problems === 0
        ? `k8s-ee check: ${checked} object${checked === 1 ? '' : 's'} in PR namespaces would be admitted, and fit their quota`
        : `k8s-ee check: ${refused} of ${documents.length} objects would be refused${quotaNote} (${result.problems} problem${result.problems === 1 ? '' : 's'})`,
    );
  return `${lines.join('\n')}\n`;
}

function parseNow(text: string | undefined): Date {
  const now = text ? new Date(text) : new Date();
  if (Number.isNaN(now.getTime()))
    throw new CliError(`check: --now must be an RFC 3339 time such as 2026-11-25T12:00:00Z, got "${text}"`);
  return now;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('check', argv, FLAGS, HELP);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json')
    throw new CliError(`check: --output must be text or json, got "${output}"`);
  if (positionals.length !== 1) throw new CliError(`check: give one FILE, or - for standard input\n\n${HELP}`);
  const now = parseNow(values.now);
  const config = await loadConfigForCli(values.config);
  if (values.namespace && !matchNamespace(values.namespace, config)) {
    process.stderr.write(
      `note: namespace "${values.namespace}" does not match the PR pattern ${config.namespacePattern}; k8s-ee enforces nothing there\n`,
    );
  }
  const result = await checkManifests(await readInput(positionals[0] ?? '-'), {
    ...(values.namespace ? { namespace: values.namespace } : {}),
    config,
    now,
  });
  process.stdout.write(output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatText(result));
  return result.problems === 0 ? 0 : 1;
}
