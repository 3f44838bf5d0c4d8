// The k8s-ee command line: one binary, one subcommand per job. Each subcommand lives in its own module and is
// loaded only when asked for, so `k8s-ee check` does not pay for express or the Kubernetes client.
import { commands, usage } from './commands.ts';
import { CliError } from './errors.ts';
import { ensureServiceRuntime } from './runtime.ts';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write('k8s-ee 0.1.0\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`k8s-ee: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  // Before anything is loaded: this may replace the process with one that has the service runtime settings.
  if (command.service) ensureServiceRuntime(command.service);
  const mod = await command.load();
  return mod.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`k8s-ee: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(
      `k8s-ee: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  }
}
