// Loading the configuration for a command: a ConfigError becomes a CliError (printed without a stack trace).
import type { Config } from '../policies/config.ts';
import { ConfigError, loadConfig } from '../policies/config-load.ts';
import { CliError } from './errors.ts';

export async function loadConfigForCli(path: string | undefined, exitCode = 2): Promise<Config> {
  try {
    return await loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, exitCode);
    throw err;
  }
}
