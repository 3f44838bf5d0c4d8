// Which namespaces are managed: a pure function of the name and the configured pattern.
import type { Config } from './config.ts';

export interface ManagedNamespace {
  readonly name: string;
  readonly project: string;
  readonly number: number;
}

interface Pattern {
  re: RegExp;
  /** The last answers for recent names (every admission request asks, mostly about the same few namespaces). */
  recent: Map<string, ManagedNamespace | null>;
}

const patterns = new Map<string, Pattern>();
/** How many names' answers a pattern keeps; past it, the answers start over (a match is ~1 µs to redo). */
const RECENT_NAMES = 256;

function patternOf(config: Pick<Config, 'namespacePattern'>): Pattern {
  let pattern = patterns.get(config.namespacePattern);
  if (!pattern) {
    pattern = { re: new RegExp(config.namespacePattern), recent: new Map() };
    patterns.set(config.namespacePattern, pattern);
  }
  return pattern;
}

/** The project and PR number of a managed namespace, or undefined when the name does not match. */
export function matchNamespace(
  name: string | undefined,
  config: Pick<Config, 'namespacePattern'>,
): ManagedNamespace | undefined {
  if (!name || name.length > 63) return undefined;
  const pattern = patternOf(config);
  const known = pattern.recent.get(name);
  if (known !== undefined) return known ?? undefined;
  const groups = pattern.re.exec(name)?.groups;
  const project = groups?.['project'];
  const number = Number(groups?.['number']);
  const managed = !project || !Number.isSafeInteger(number) || number < 1 ? null : { name, project, number };
  if (pattern.recent.size >= RECENT_NAMES) pattern.recent.clear();
  pattern.recent.set(name, managed);
  return managed ?? undefined;
}

/**
 * The managed-namespace pattern for CEL, whose RE2 has no JavaScript-style named groups: `(?<name>…)` is written
 * `(?P<name>…)` there (same groups, same matches).
 */
export function celPattern(pattern: string): string {
  return pattern.replace(/\(\?<(?=[A-Za-z])/g, '(?P<');
}

/** A CEL string literal of a value: backslashes and single quotes escaped. */
export const celString = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The preview host of a namespace: {namespace}.{previewDomain}. */
export function previewHost(namespace: string, config: Pick<Config, 'previewDomain'>): string {
  return `${namespace}.${config.previewDomain}`;
}
