// The table of subcommands. Adding a command is one line here and one module exporting `run`.
import type { Service } from './runtime.ts';

export interface CommandModule {
  run(argv: string[]): Promise<number>;
}

export interface Command {
  name: string;
  summary: string;
  /** A long-running service: runs with its runtime settings (cli/runtime.ts). */
  service?: Service;
  load(): Promise<CommandModule>;
}

export const commands: Command[] = [
  {
    name: 'webhook',
    summary: 'serve the mutating and validating admission webhooks over HTTPS',
    service: 'webhook',
    load: () => import('../webhooks/command.ts'),
  },
  {
    name: 'check',
    summary: 'run the admission rules on rendered manifests (helm template … | k8s-ee check -n NS -)',
    load: () => import('../webhooks/check-command.ts'),
  },
  {
    name: 'config',
    summary: 'config check FILE: validate a configuration file; config defaults: print the defaults',
    load: () => import('../policies/config-command.ts'),
  },
  {
    name: 'prepare',
    summary: 'prepare a PR namespace for the CI identity before helm upgrade --install (docs/runbooks/runners.md)',
    load: () => import('./prepare-command.ts'),
  },
  {
    name: 'sweeper',
    summary: 'expire pins, remove orphan environments, free volumes, watch disk',
    service: 'sweeper',
    load: () => import('../sweeper/command.ts'),
  },
  {
    name: 'envs',
    summary: 'every preview environment: status, age, last deploy, pin, expiry and why, quota, cost',
    load: () => import('../sweeper/envs-command.ts'),
  },
  {
    name: 'certs',
    summary: "issue and rotate the webhook's own TLS certificates",
    service: 'certs',
    load: () => import('../certs/command.ts'),
  },
  {
    name: 'cluster',
    summary: 'cluster up|down|kubeconfig: a local Kubernetes control plane without Docker',
    load: () => import('../local/cluster/command.ts'),
  },
  {
    name: 'demo',
    summary: 'start a local control plane, k8s-ee and a sample PR environment, and show what happens',
    load: () => import('../local/demo/command.ts'),
  },
];

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: k8s-ee <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`k8s-ee <command> --help\` for a command's options.\n`;
}
