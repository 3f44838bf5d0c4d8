// `k8s-ee envs`: every managed preview environment at a glance, from any kubeconfig with read rights.
import { parseFlags } from '../cli/args.ts';
import { loadConfigForCli } from '../cli/config.ts';
import { CliError } from '../cli/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import { loadKubeAccess } from '../lib/kube-access.ts';
import type { Config } from '../policies/config.ts';
import { formatMoney } from '../policies/cost.ts';
import { gitHubClientFromConfig } from './github.ts';
import { buildInventory, type EnvironmentRow } from './inventory.ts';
import { readInventory } from './inventory-kube.ts';
import { kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';

const HELP = `Usage: k8s-ee envs [-o table|wide|json] [--now RFC3339] [--kubeconfig FILE] [--config FILE]

Lists every managed preview environment, oldest first: status, age, last deploy (release and revision),
pinned until, when the sweeper will delete it and why (release gone, never deployed, TTL, PR closed or
merged, pin expiry), quota requests used/hard, databases, URL, and the estimated cost so far and per month
(the quota's requests and the bound volume claims at the configured prices: cost.cpuHour,
cost.memoryGiBHour, cost.storageGiBMonth). Needs only read rights (namespaces, secrets' metadata,
resourcequotas, persistentvolumeclaims, configmaps, ingresses); a list it may not read is reported and its
columns stay empty. PR states come from GitHub when $GITHUB_TOKEN (sweeper.github.tokenEnv) is set.

Options:
  -o, --output FORMAT   table (default), wide (adds project, PR, databases, URL, cost so far, why), json
  --now RFC3339         the time to compute ages, expiries and costs at (default: now)
  --kubeconfig FILE     cluster to read (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --config FILE         k8s-ee configuration (YAML): the namespace pattern, TTLs, pins and prices
`;

const FLAGS = {
  output: { type: 'string', short: 'o' },
  now: { type: 'string' },
  kubeconfig: { type: 'string' },
  config: { type: 'string' },
} as const;

type Format = 'table' | 'wide' | 'json';

function parse(argv: string[]): { format: Format; now: Date; kubeconfig?: string; config?: string } | undefined {
  const { values, positionals } = parseFlags('envs', argv, FLAGS, HELP);
  if (values.help) return undefined;
  if (positionals.length > 0) throw new CliError(`envs: unexpected argument "${positionals[0]}"\n\n${HELP}`);
  const format = values.output ?? 'table';
  if (format !== 'table' && format !== 'wide' && format !== 'json')
    throw new CliError(`envs: --output must be table, wide or json, not "${format}"`);
  let now = new Date();
  if (values.now !== undefined) {
    const t = Date.parse(values.now);
    if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}T/.test(values.now))
      throw new CliError(`envs: --now "${values.now}" is not an RFC 3339 time; use e.g. 2026-12-01T12:00:00Z`);
    now = new Date(t);
  }
  return {
    format,
    now,
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.config ? { config: values.config } : {}),
  };
}

const ago = (iso: string, now: Date): string => formatDuration(Math.max(0, now.getTime() - Date.parse(iso)));

function expires(row: EnvironmentRow, now: Date): string {
  if (!row.expiresAt) return row.status === 'terminating' ? 'now (deleting)' : 'unknown';
  const ms = Date.parse(row.expiresAt) - now.getTime();
  return `${ms <= 0 ? 'now' : `in ${formatDuration(ms)}`} (${row.expiresReason ?? ''})`;
}

function usedHard(row: EnvironmentRow, key: string): string {
  if (!row.quota) return '-';
  return `${row.quota.used[key] ?? '0'}/${row.quota.hard[key] ?? '-'}`;
}

function columns(row: EnvironmentRow, now: Date, wide: boolean): string[] {
  const deploy = row.lastDeploy
    ? `${row.lastDeploy.release} v${row.lastDeploy.revision}, ${ago(row.lastDeploy.at, now)} ago`
    : '-';
  const base = [
    row.namespace,
    row.status,
    ago(row.createdAt, now),
    deploy,
    row.pinnedUntil ?? '-',
    expires(row, now),
    usedHard(row, 'requests.cpu'),
    usedHard(row, 'requests.memory'),
    formatMoney(row.cost.perMonth, row.cost.currency),
  ];
  if (!wide) return base;
  return [
    ...base,
    row.project,
    String(row.pr),
    row.databases.join(',') || '-',
    row.url ?? '-',
    formatMoney(row.cost.soFar, row.cost.currency),
    row.expiresWhy,
  ];
}

const HEAD = [
  'NAMESPACE',
  'STATUS',
  'AGE',
  'LAST DEPLOY',
  'PINNED UNTIL',
  'EXPIRES',
  'CPU REQ',
  'MEMORY REQ',
  'COST/MONTH',
];
const WIDE = ['PROJECT', 'PR', 'DATABASES', 'URL', 'COST SO FAR', 'WHY'];

export function formatTable(rows: EnvironmentRow[], config: Config, now: Date, wide: boolean): string {
  if (rows.length === 0) return 'no managed preview environments\n';
  const table = [wide ? [...HEAD, ...WIDE] : HEAD, ...rows.map((r) => columns(r, now, wide))];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((line) => (line[i] ?? '').length)));
  const lines = table.map((line) =>
    line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
  );
  const month = rows.reduce((sum, r) => sum + r.cost.perMonth, 0);
  const soFar = rows.reduce((sum, r) => sum + r.cost.soFar, 0);
  const footer = `${rows.length} environment${rows.length === 1 ? '' : 's'}; estimated ${formatMoney(month, config.cost.currency)} a month, ${formatMoney(soFar, config.cost.currency)} so far (quota requests and bound volumes at the configured prices)`;
  return `${lines.join('\n')}\n${footer}\n`;
}

async function kube(path: string | undefined): Promise<KubeHttp> {
  try {
    return kubeHttp(await loadKubeAccess(path));
  } catch (err) {
    throw new CliError(`envs: ${(err as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (!args) {
    process.stdout.write(HELP);
    return 0;
  }
  const config = await loadConfigForCli(args.config);
  const http = await kube(args.kubeconfig);
  let read;
  try {
    read = await readInventory(http, config, gitHubClientFromConfig(config));
  } catch (err) {
    throw new CliError(`envs: cannot list namespaces: ${(err as Error).message}`, 1);
  } finally {
    http.close();
  }
  for (const w of read.warnings) process.stderr.write(`k8s-ee envs: could not read ${w} (shown as unknown)\n`);
  const rows = buildInventory(read.input, config, args.now);
  process.stdout.write(
    args.format === 'json'
      ? `${JSON.stringify({ now: args.now.toISOString(), currency: config.cost.currency, environments: rows }, null, 2)}\n`
      : formatTable(rows, config, args.now, args.format === 'wide'),
  );
  return 0;
}
