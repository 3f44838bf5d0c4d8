// The Pod Security Standards corpus (e2e/fixtures/pss/*.yaml, format in its README): loaded and checked for
// shape, so a typo in a fixture fails loudly instead of silently testing nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PSS_RULES } from '../policies/pss.ts';

export const CORPUS_DIR = join(import.meta.dirname, 'fixtures', 'pss');

export interface CorpusCase {
  file: string;
  name: string;
  about: string;
  expect: 'allow' | 'deny';
  /** For denials: exactly the rule ids checkRestricted reports (sorted, unique). */
  rules: string[];
  pod: { metadata?: Record<string, unknown>; spec: Record<string, unknown> };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toCase(file: string, entry: unknown, index: number): CorpusCase {
  const where = `${file} entry ${index}`;
  if (!isRecord(entry)) throw new Error(`${where}: not a mapping`);
  const { name, about, expect, rules = [], pod } = entry;
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
    throw new Error(`${where}: name must be a DNS label`);
  if (typeof about !== 'string' || about === '')
    throw new Error(`${where} (${name}): about must say what the case pins`);
  if (expect !== 'allow' && expect !== 'deny') throw new Error(`${where} (${name}): expect must be allow or deny`);
  if (!Array.isArray(rules) || rules.some((r) => !(PSS_RULES as readonly unknown[]).includes(r))) {
    throw new Error(`${where} (${name}): rules must list ids from PSS_RULES (${PSS_RULES.join(', ')})`);
  }
  if ((expect === 'deny') !== rules.length > 0)
    throw new Error(`${where} (${name}): a deny lists its rules, an allow lists none`);
  if (!isRecord(pod) || !isRecord(pod['spec'])) throw new Error(`${where} (${name}): pod.spec must be a mapping`);
  if (pod['metadata'] !== undefined && !isRecord(pod['metadata']))
    throw new Error(`${where} (${name}): pod.metadata must be a mapping`);
  return {
    file,
    name,
    about,
    expect,
    rules: [...new Set(rules as string[])].sort(),
    pod: pod as CorpusCase['pod'],
  };
}

/** Every case of the corpus, fresh copies on each call. Throws on a malformed fixture or a duplicate name. */
export function loadCorpus(dir = CORPUS_DIR): CorpusCase[] {
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) => {
      const doc = parse(readFileSync(join(dir, file), 'utf8')) as unknown;
      if (!Array.isArray(doc)) throw new Error(`${file}: must be a YAML list of cases`);
      return doc.map((entry, i) => toCase(file, entry, i));
    });
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`${c.file}: case name ${c.name} is used twice`);
    seen.add(c.name);
  }
  return cases;
}

/** The sorted, unique rule ids of a list of violations. */
export function rulesOf(violations: readonly { rule: string }[]): string[] {
  return [...new Set(violations.map((v) => v.rule))].sort();
}
