// The config of the product image comes from the Dockerfile's runtime stage (ENV, WORKDIR, USER, EXPOSE,
// ENTRYPOINT, CMD, LABEL), so the locally built image cannot drift from the published one. Its file
// instructions are checked against the ones local/images reproduces; any other one is an error.

import { matchesGlob } from 'node:path';

export interface RuntimeStage {
  env: string[];
  workingDir: string;
  user: string;
  exposedPorts: string[];
  entrypoint: string[];
  cmd: string[];
  labels: Record<string, string>;
}

interface Instruction {
  op: string;
  args: string;
  text: string;
}

/** The file instructions of the runtime stage that local/images reproduces (see productSpec in specs.ts). */
export const REPRODUCED_INSTRUCTIONS: readonly RegExp[] = [
  /^COPY package\.json package-lock\.json \.\/?$/,
  /^RUN npm ci --omit=dev\b/,
  /^COPY --from=build \/src\/dist \.\/dist\/?$/,
];

/** The Dockerfile's instructions: continuation lines joined, comments and blank lines dropped. */
export function instructions(dockerfile: string): Instruction[] {
  const result: Instruction[] = [];
  let pending = '';
  const flush = (): void => {
    const text = pending.replace(/\s+/g, ' ').trim();
    pending = '';
    if (text === '') return;
    const [op = '', ...rest] = text.split(' ');
    result.push({ op: op.toUpperCase(), args: rest.join(' '), text });
  };
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue; // also inside a continued instruction, as docker does
    const continued = line.endsWith('\\');
    pending += `${continued ? line.slice(0, -1) : line} `;
    if (!continued) flush();
  }
  flush();
  return result;
}

/** The instructions of the stage named `name` (`FROM … AS name`). */
export function stageInstructions(all: Instruction[], name: string): Instruction[] {
  const start = all.findIndex((i) => i.op === 'FROM' && new RegExp(`\\sAS\\s+${name}$`, 'i').test(i.args));
  if (start < 0) throw new Error(`Dockerfile: no stage "FROM … AS ${name}"`);
  const end = all.findIndex((i, n) => n > start && i.op === 'FROM');
  return all.slice(start + 1, end < 0 ? undefined : end);
}

/** KEY=value pairs, values optionally double-quoted (with backslash escapes). */
export function keyValues(args: string): [string, string][] {
  const pairs: [string, string][] = [];
  const re = /\s*([^=\s]+)=(?:"((?:[^"\\]|\\.)*)"|((?:[^\s\\]|\\.)*))(?=\s|$)/y;
  const text = args.trim();
  while (re.lastIndex < text.length) {
    const match = re.exec(text);
    if (!match) throw new Error(`Dockerfile: cannot read key=value pairs from "${args}"`);
    pairs.push([match[1]!, (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1')]);
  }
  if (pairs.length === 0) throw new Error(`Dockerfile: no key=value pairs in "${args}"`);
  return pairs;
}

function execForm(i: Instruction): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(i.args);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`Dockerfile: ${i.op} must be in exec form (a JSON array of strings); the image has no shell`);
  }
  return parsed;
}

function envPairs(args: string): [string, string][] {
  const first = args.split(' ')[0] ?? '';
  if (first.includes('=')) return keyValues(args);
  return [[first, args.slice(first.length).trim()]]; // the legacy `ENV KEY value` form
}

function setEnv(env: string[], key: string, value: string): string[] {
  return [...env.filter((e) => !e.startsWith(`${key}=`)), `${key}=${value}`];
}

function resolveDir(current: string, dir: string): string {
  const joined = dir.startsWith('/') ? dir : `${current.replace(/\/$/, '')}/${dir}`;
  return joined.length > 1 ? joined.replace(/\/+$/, '') : joined;
}

function apply(stage: RuntimeStage, i: Instruction): void {
  switch (i.op) {
    case 'ENV':
      for (const [k, v] of envPairs(i.args)) stage.env = setEnv(stage.env, k, v);
      return;
    case 'LABEL':
      for (const [k, v] of keyValues(i.args)) stage.labels[k] = v;
      return;
    case 'WORKDIR':
      stage.workingDir = resolveDir(stage.workingDir, i.args);
      return;
    case 'USER':
      stage.user = i.args;
      return;
    case 'EXPOSE':
      stage.exposedPorts.push(...i.args.split(' ').map((p) => (p.includes('/') ? p : `${p}/tcp`)));
      return;
    case 'ENTRYPOINT':
      stage.entrypoint = execForm(i);
      return;
    case 'CMD':
      stage.cmd = execForm(i);
      return;
    case 'ARG':
      return;
    default:
      if (!REPRODUCED_INSTRUCTIONS.some((re) => re.test(i.text))) {
        throw new Error(
          `Dockerfile: the runtime stage's "${i.text}" is not reproduced by local/images; update local/images/specs.ts and dockerfile.ts`,
        );
      }
  }
}

/** The config the Dockerfile's runtime stage gives the image. */
export function parseRuntimeStage(dockerfile: string, name = 'runtime'): RuntimeStage {
  const stage: RuntimeStage = {
    env: [],
    workingDir: '/',
    user: '',
    exposedPorts: [],
    entrypoint: [],
    cmd: [],
    labels: {},
  };
  for (const i of stageInstructions(instructions(dockerfile), name)) apply(stage, i);
  if (stage.user === '' || stage.entrypoint.length === 0) {
    throw new Error(`Dockerfile: the ${name} stage needs a USER and an ENTRYPOINT`);
  }
  return stage;
}

/** The patterns of a .dockerignore: comments and blank lines dropped, leading "/" and trailing "/" removed. */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/^\/+/, '').replace(/\/+$/, ''));
}

/** Whether the build context leaves out `path` (relative, "/"-separated): it or a parent matches; "!" re-includes. */
export function dockerIgnored(path: string, patterns: readonly string[]): boolean {
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (candidates.some((c) => matchesGlob(c, glob))) ignored = !negated;
  }
  return ignored;
}
