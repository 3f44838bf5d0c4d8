// The product image's inputs besides our Go programs: node's shared libraries (from ldd), the production
// node_modules (npm ci --omit=dev into a folder keyed by package.json and the lock file) and dist/
// (npm run build into a folder keyed by the TypeScript sources), each made once per key.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { projectRoot } from '../cluster/paths.ts';
import { dockerIgnored, dockerignorePatterns } from './dockerfile.ts';
import { sha256 } from './inputs.ts';
import type { SharedLibrary } from './specs.ts';
import { formatSeconds, type Progress, run } from './toolchain.ts';

/** The libraries and the loader in ldd's output (paths as the binary finds them); [] for a static binary. */
export function parseLdd(output: string): string[] {
  if (/not a dynamic executable|statically linked/.test(output)) return [];
  const paths: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const missing = /^(\S+) => not found/.exec(line);
    if (missing) throw new Error(`ldd: ${missing[1]!} not found`);
    const linked = /^\S+ => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line) ?? /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (linked) paths.push(linked[1]!);
    else if (!/^\S+ \(0x[0-9a-f]+\)$/.test(line)) throw new Error(`ldd: unexpected line "${line}"`);
  }
  return paths;
}

/** What a binary needs at run time besides itself: each library and the loader, with the real file behind it. */
export async function sharedLibraries(binary: string): Promise<SharedLibrary[]> {
  let output: string;
  try {
    output = await run('ldd', [binary]);
  } catch (err) {
    // ldd exits 1 for a static binary.
    if (err instanceof Error && /not a dynamic executable/.test(err.message)) return [];
    throw err;
  }
  const paths = parseLdd(output);
  return Promise.all(paths.map(async (path) => ({ path, source: await realpath(path) })));
}

const npmEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  // npm runs on the project's Node 24 (the system node may be older).
  PATH: `${join(projectRoot, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}`,
});

/** Makes `final` from a fresh temporary folder next to it; a half-made folder never counts. */
async function makeFolder(final: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const parent = join(final, '..');
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, '.tmp-'));
  try {
    await fill(tmp);
    // Keyed by its inputs: when another run made it meanwhile, that one is as good and may be in use.
    if (!existsSync(final)) await rename(tmp, final);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function removeOthers(parent: string, keep: string): Promise<void> {
  for (const name of await readdir(parent)) {
    if (name !== keep && /^[0-9a-f]{16}$/.test(name)) await rm(join(parent, name), { recursive: true, force: true });
  }
}

/** A folder with package.json, package-lock.json and the production node_modules, as the Dockerfile's npm ci. */
export async function ensureProductionPackages(
  cacheRoot: string,
  progress: Progress,
): Promise<{ dir: string; key: string }> {
  const files = ['package.json', 'package-lock.json'];
  const contents = await Promise.all(files.map((f) => readFile(join(projectRoot, f))));
  const key = sha256(contents.map((c) => sha256(c)).join('\n'));
  const parent = join(cacheRoot, 'npm');
  const dir = join(parent, key.slice(0, 16));
  if (existsSync(join(dir, 'node_modules'))) return { dir, key };
  const started = Date.now();
  progress('images: npm ci --omit=dev for the k8s-ee image');
  await makeFolder(dir, async (tmp) => {
    await Promise.all(files.map((f, i) => writeFile(join(tmp, f), contents[i]!)));
    const args = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'];
    await run('npm', args, { cwd: tmp, env: npmEnv() });
    await mkdir(join(tmp, 'node_modules'), { recursive: true }); // a project without dependencies has none
  });
  await removeOthers(parent, key.slice(0, 16));
  progress(`images: production node_modules ready in ${formatSeconds(Date.now() - started)}`);
  return { dir, key };
}

/** What `npm run build` compiles: the TypeScript of the CLI's folders (tests excluded) and the build's config. */
export const DIST_SOURCE_DIRS = ['cli', 'lib', 'policies', 'webhooks', 'sweeper', 'certs', 'local'];
const DIST_SKIP = new Set(['node_modules', 'dist', '.cache', 'controlplane']);

async function tsFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map(async (e) => {
      if (e.isDirectory()) return DIST_SKIP.has(e.name) ? [] : tsFiles(join(dir, e.name));
      return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [];
    }),
  );
  return nested.flat().sort();
}

/** A hash of what dist/ is compiled from. */
export async function distKey(): Promise<string> {
  const config = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', '.dockerignore']
    .map((f) => join(projectRoot, f))
    .filter((f) => existsSync(f));
  const sources = (await Promise.all(DIST_SOURCE_DIRS.map((d) => tsFiles(join(projectRoot, d))))).flat();
  const lines = await Promise.all(
    [...config, ...sources].map(async (f) => `${relative(projectRoot, f)} ${sha256(await readFile(f))}`),
  );
  return sha256(lines.join('\n'));
}

/**
 * dist/ compiled afresh by `npm run build` (tsc -p tsconfig.build.json) into a folder keyed by its sources,
 * so the image gets exactly what the Dockerfile's build stage makes: no file left over from an older build.
 */
export async function ensureDist(cacheRoot: string, progress: Progress): Promise<{ dir: string; key: string }> {
  const key = await distKey();
  const parent = join(cacheRoot, 'dist');
  const dir = join(parent, key.slice(0, 16));
  if (existsSync(join(dir, 'cli', 'main.js'))) return { dir, key };
  const started = Date.now();
  progress('images: npm run build (dist/ for the k8s-ee image)');
  await makeFolder(dir, async (tmp) => {
    await run('npm', ['run', 'build', '--', '--outDir', tmp], { cwd: projectRoot, env: npmEnv() });
    if (!existsSync(join(tmp, 'cli', 'main.js'))) throw new Error('npm run build made no cli/main.js');
    await pruneIgnoredOutputs(tmp);
  });
  await removeOthers(parent, key.slice(0, 16));
  progress(`images: dist compiled in ${formatSeconds(Date.now() - started)}`);
  return { dir, key };
}

/** The compiled file of each source the Docker build context leaves out (.dockerignore), removed from dist. */
async function pruneIgnoredOutputs(dist: string): Promise<void> {
  const ignore = join(projectRoot, '.dockerignore');
  const patterns = existsSync(ignore) ? dockerignorePatterns(await readFile(ignore, 'utf8')) : [];
  const files = await readdir(dist, { recursive: true, withFileTypes: true });
  for (const f of files.filter((e) => e.isFile())) {
    const rel = relative(dist, join(f.parentPath, f.name));
    if (dockerIgnored(sourceOf(rel), patterns)) await rm(join(dist, rel));
  }
  await removeEmptyDirs(dist);
}

/** The TypeScript source an output of tsc comes from. */
export function sourceOf(output: string): string {
  return output.replace(/(\.d)?\.js(\.map)?$/, '.ts');
}

async function removeEmptyDirs(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  let empty = true;
  for (const e of entries) {
    if (e.isDirectory() && (await removeEmptyDirs(join(dir, e.name)))) await rm(join(dir, e.name), { recursive: true });
    else empty = false;
  }
  return empty;
}

/** The node binary of the project (the `node` devDependency), the one the product image runs. */
export async function projectNode(): Promise<string> {
  const node = join(projectRoot, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) throw new Error(`${node} is missing: run \`npm ci\` (the node devDependency installs it)`);
  return realpath(node);
}
