// Flag parsing shared by the subcommands: node's util.parseArgs, with errors that say which flag and why.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends Options>(command: string, argv: string[], options: T, help: string) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new CliError(`${command}: ${(err as Error).message}\n\n${help}`);
  }
}

export function intFlag(command: string, name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CliError(`${command}: --${name} must be a port number (0-65535), got "${value}"`);
  return n;
}
