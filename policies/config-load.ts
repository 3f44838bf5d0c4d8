// Loading the configuration: YAML text -> schema check (every error with its field path) -> merged with defaults
// -> semantic checks the schema cannot express (the namespace pattern compiles and has the right groups).
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { readFile } from 'node:fs/promises';
import cron from 'node-cron';
import { defaultConfig, type Config } from './config.ts';
import { configSchema } from './config-schema.ts';
import { isNonStandard, parseCidr } from '../lib/cidr.ts';
import { parseDuration } from '../lib/duration.ts';

export interface ConfigProblem {
  /** Field path in the file, dotted (`quota.base.requestsCpu`); empty for the whole document. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(source: string, problems: ConfigProblem[]) {
    super(
      `${source}: invalid configuration:\n${problems.map((p) => `  - ${p.path || '(document)'}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const validate = ajv.compile(configSchema);

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describe(error: ErrorObject): ConfigProblem {
  const base = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const schema = error.parentSchema as { description?: string } | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String(params['additionalProperty']);
      return { path: base ? `${base}.${field}` : field, message: 'unknown field; remove it or check its spelling' };
    }
    case 'pattern':
      return {
        path: base,
        message: `expected ${schema?.description ?? `a value matching ${String(params['pattern'])}`}`,
      };
    case 'type':
      return { path: base, message: `expected ${String(params['type'])}` };
    default:
      return { path: base, message: error.message ?? 'invalid value' };
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, everything else (arrays included) replaces the default. */
export function mergeConfig<T>(defaults: T, overrides: unknown): T {
  if (!isPlainObject(defaults) || !isPlainObject(overrides))
    return (overrides === undefined ? defaults : overrides) as T;
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) out[key] = mergeConfig(out[key], value);
  return out as T;
}

/** Private ranges must mean one thing to every reader: parsed as the API server does, in plain notation. */
function cidrProblems(cidrs: string[]): ConfigProblem[] {
  return cidrs.flatMap((text, i) => {
    const path = `networkPolicy.internetEgress.exceptCidrs.${i}`;
    const range = parseCidr(text);
    if (!range) return [{ path, message: `"${text}" is not a CIDR (such as 10.0.0.0/8 or fc00::/7)` }];
    if (isNonStandard(range) || range.hostBits)
      return [{ path, message: `"${text}" is not in plain notation: write "${range.canonical}"` }];
    return [];
  });
}

function semanticProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  try {
    const re = new RegExp(config.namespacePattern);
    if (!/\(\?<project>/.test(re.source) || !/\(\?<number>/.test(re.source)) {
      problems.push({ path: 'namespacePattern', message: 'must have named groups (?<project>…) and (?<number>…)' });
    }
  } catch (err) {
    problems.push({ path: 'namespacePattern', message: `not a valid regular expression: ${(err as Error).message}` });
  }
  for (const field of ['schedule', 'diskSchedule'] as const) {
    const result = cron.validateDetailed(config.sweeper[field]);
    if (!result.valid) {
      const detail = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      problems.push({
        path: `sweeper.${field}`,
        message: `"${config.sweeper[field]}" is not a valid cron expression (${detail})`,
      });
    }
  }
  problems.push(...cidrProblems(config.networkPolicy.internetEgress.exceptCidrs));
  if ((parseDuration(config.pins.warnBefore) ?? 0) >= (parseDuration(config.pins.maxDuration) ?? 0)) {
    problems.push({ path: 'pins.warnBefore', message: 'must be shorter than pins.maxDuration' });
  }
  return problems;
}

/** Validates a parsed document and returns the full configuration, or throws ConfigError with every problem. */
export function configFromObject(document: unknown, source = 'config'): Config {
  if (document === null || document === undefined) return defaultConfig();
  if (!isPlainObject(document)) throw new ConfigError(source, [{ path: '', message: 'expected a mapping of fields' }]);
  if (!validate(document)) throw new ConfigError(source, (validate.errors ?? []).map(describe));
  const config = mergeConfig(defaultConfig(), document);
  const problems = semanticProblems(config);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

/** Parses YAML text into a configuration. */
export function configFromYaml(text: string, source = 'config'): Config {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message : String(err);
    throw new ConfigError(source, [{ path: '', message: `not valid YAML: ${detail}` }]);
  }
  return configFromObject(document, source);
}

/** Reads a configuration file; without a path, the built-in defaults. */
export async function loadConfig(path?: string): Promise<Config> {
  if (!path) return defaultConfig();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return configFromYaml(text, path);
}
