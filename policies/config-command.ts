// `k8s-ee config check FILE` and `k8s-ee config defaults`.
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from './config-load.ts';
import { defaultConfig } from './config.ts';
import { CliError } from '../cli/errors.ts';

const HELP = `Usage:
  k8s-ee config check FILE   validate FILE; prints every problem with its field path, exits 1 if any
  k8s-ee config defaults     print the built-in defaults as YAML (a starting point for your own file)
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, file] = argv;
  if (sub === 'defaults') {
    process.stdout.write(stringify(defaultConfig()));
    return 0;
  }
  if (sub === 'check' && file) {
    try {
      await loadConfig(file);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
      throw err;
    }
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  throw new CliError(`config: expected "check FILE" or "defaults"\n\n${HELP}`);
}
