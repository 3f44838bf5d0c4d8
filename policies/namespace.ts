// Which namespaces are managed: a pure function of the name and the configured pattern.
import type { Config } from './config.ts';

export interface ManagedNamespace {
  name: string;
  project: string;
  number: number;
}

const cache = new Map<string, RegExp>();

function patternOf(config: Pick<Config, 'namespacePattern'>): RegExp {
  let re = cache.get(config.namespacePattern);
  if (!re) {
    re = new RegExp(config.namespacePattern);
    cache.set(config.namespacePattern, re);
  }
  return re;
}

/** The project and PR number of a managed namespace, or undefined when the name does not match. */
export function matchNamespace(
  name: string | undefined,
  config: Pick<Config, 'namespacePattern'>,
): ManagedNamespace | undefined {
  if (!name || name.length > 63) return undefined;
  const groups = patternOf(config).exec(name)?.groups;
  const project = groups?.['project'];
  const number = Number(groups?.['number']);
  if (!project || !Number.isSafeInteger(number) || number < 1) return undefined;
  return { name, project, number };
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
