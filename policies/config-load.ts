// Loading the configuration: YAML text -> schema check (every error with its field path) -> merged with defaults
// -> semantic checks the schema cannot express (the namespace pattern compiles and has the right groups).
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { readFile } from 'node:fs/promises';
import cron from 'node-cron';
import { defaultConfig, type Config } from './config.ts';
import { validate as generatedValidate } from './generated/config-validator.ts';
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

/** policies/config-schema.ts, compiled ahead of time (scripts/generate-validators.ts): no schema compiler at run time. */
const validate = generatedValidate as unknown as ValidateFunction;

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

/** True when the schema already reported `path`, a field around it or one inside it: its meaning is unknown. */
function reported(schemaProblems: readonly ConfigProblem[], path: string): boolean {
  return schemaProblems.some((p) => p.path === path || path.startsWith(`${p.path}.`) || p.path.startsWith(`${path}.`));
}

function patternProblems(pattern: unknown): ConfigProblem[] {
  if (typeof pattern !== 'string') return [];
  try {
    const re = new RegExp(pattern);
    if (!/\(\?<project>/.test(re.source) || !/\(\?<number>/.test(re.source))
      return [{ path: 'namespacePattern', message: 'must have named groups (?<project>…) and (?<number>…)' }];
  } catch (err) {
    return [{ path: 'namespacePattern', message: `not a valid regular expression: ${(err as Error).message}` }];
  }
  return [];
}

function cronProblems(sweeper: Partial<Config['sweeper']>, field: 'schedule' | 'diskSchedule'): ConfigProblem[] {
  const expression = sweeper[field];
  if (typeof expression !== 'string') return [];
  const result = cron.validateDetailed(expression);
  if (result.valid) return [];
  const detail = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return [{ path: `sweeper.${field}`, message: `"${expression}" is not a valid cron expression (${detail})` }];
}

function exceptCidrProblems(config: Config, skip: (path: string) => boolean): ConfigProblem[] {
  const cidrs: unknown = isPlainObject(config.networkPolicy) ? config.networkPolicy.internetEgress?.exceptCidrs : [];
  if (!Array.isArray(cidrs)) return [];
  const texts = cidrs.map((c) => (typeof c === 'string' ? c : ''));
  return cidrProblems(texts).filter((p, i) => typeof cidrs[i] === 'string' && !skip(p.path));
}

function pinProblems(config: Config, skip: (path: string) => boolean): ConfigProblem[] {
  const pins = isPlainObject(config.pins) ? config.pins : undefined;
  if (!pins || skip('pins.warnBefore') || skip('pins.maxDuration')) return [];
  const warn = typeof pins.warnBefore === 'string' ? parseDuration(pins.warnBefore) : undefined;
  const max = typeof pins.maxDuration === 'string' ? parseDuration(pins.maxDuration) : undefined;
  if (warn === undefined || max === undefined || warn < max) return [];
  return [{ path: 'pins.warnBefore', message: 'must be shorter than pins.maxDuration' }];
}

/**
 * The checks the schema cannot express. They run next to the schema's, so one run reports every problem: a field
 * the schema already found wrong is not judged again (its value may not even have the right type).
 */
function semanticProblems(config: Config, schemaProblems: readonly ConfigProblem[] = []): ConfigProblem[] {
  const skip = (path: string): boolean => reported(schemaProblems, path);
  const problems: ConfigProblem[] = [];
  if (!skip('namespacePattern')) problems.push(...patternProblems(config.namespacePattern));
  const sweeper = isPlainObject(config.sweeper) ? config.sweeper : {};
  for (const field of ['schedule', 'diskSchedule'] as const)
    if (!skip(`sweeper.${field}`)) problems.push(...cronProblems(sweeper, field));
  problems.push(...exceptCidrProblems(config, skip), ...pinProblems(config, skip));
  return problems;
}

/** Validates a parsed document and returns the full configuration, or throws ConfigError with every problem. */
export function configFromObject(document: unknown, source = 'config'): Config {
  if (document === null || document === undefined) return defaultConfig();
  if (!isPlainObject(document)) throw new ConfigError(source, [{ path: '', message: 'expected a mapping of fields' }]);
  // Schema and semantic problems together, so one run of `config check` shows them all.
  const schemaProblems = validate(document) ? [] : (validate.errors ?? []).map(describe);
  const config = mergeConfig(defaultConfig(), document);
  const problems = [...schemaProblems, ...semanticProblems(config, schemaProblems)];
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
