// Running commands and building our Go programs (the image builder, pause, sample-app) into
// .cache/images/bin, each keyed by a hash of its sources and the Go version, so a warm run only hashes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findGo } from '../cluster/setup.ts';
import { sha256, staleOutputs } from './inputs.ts';

export type Progress = (line: string) => void;

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command; resolves with its stdout, rejects with the tail of its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise(Buffer.concat(out).toString('utf8'));
      const tail = Buffer.concat([...out, ...err])
        .toString('utf8')
        .trim()
        .split('\n')
        .slice(-25)
        .join('\n');
      reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit code ${String(code)}`})\n${tail}`));
    });
  });
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export interface GoProgram {
  /** The binary's name; the cached file is `<name>-<key>`. */
  name: string;
  moduleDir: string;
  /** The package folder, relative to moduleDir ("." for the module root). */
  pkg: string;
  /** linux/amd64 for images; the builder runs here and is built for this machine. */
  target?: { goos: string; goarch: string };
}

let goVersionMemo: Promise<string> | undefined;

function requireGo(): string {
  const go = findGo();
  if (!go) {
    throw new Error(
      'the Go toolchain is needed to build the local images (the image builder, pause, sample-app), and `go` ' +
        'is neither on PATH nor in /usr/local/go/bin. Install Go 1.25 or newer (https://go.dev/dl/).',
    );
  }
  return go;
}

function goVersion(go: string): Promise<string> {
  goVersionMemo ??= run(go, ['env', 'GOVERSION']).then((out) => out.trim());
  return goVersionMemo;
}

/** The files a program's build depends on: go.mod, go.sum and the package's .go files. */
export async function goSources(p: GoProgram): Promise<string[]> {
  const pkgDir = join(p.moduleDir, p.pkg);
  const goFiles = (await readdir(pkgDir)).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  const moduleFiles = ['go.mod', 'go.sum'].map((f) => join(p.moduleDir, f)).filter((f) => existsSync(f));
  return [...moduleFiles, ...goFiles.map((f) => join(pkgDir, f))];
}

export const GO_BUILD_FLAGS = ['-trimpath', '-buildvcs=false', '-ldflags=-s -w'];

/** The build key: the Go version, target, flags and the contents of the sources (by their relative names). */
export function goBuildKey(version: string, p: GoProgram, sources: { name: string; content: Buffer }[]): string {
  const target = p.target ? `${p.target.goos}/${p.target.goarch}` : 'host';
  const lines = [version, target, p.pkg, ...GO_BUILD_FLAGS, ...sources.map((s) => `${s.name} ${sha256(s.content)}`)];
  return sha256(lines.join('\n'));
}

/** The program's binary in binDir, built (statically, CGO_ENABLED=0) when its key has no binary yet. */
export async function ensureGoProgram(
  p: GoProgram,
  binDir: string,
  progress: Progress,
): Promise<{ path: string; key: string }> {
  const go = requireGo();
  if (!existsSync(join(p.moduleDir, 'go.mod'))) {
    throw new Error(`${p.moduleDir}/go.mod is missing: the local images are built from a source checkout of k8s-ee`);
  }
  const files = await goSources(p);
  const sources = await Promise.all(
    files.map(async (f) => ({ name: f.slice(p.moduleDir.length), content: await readFile(f) })),
  );
  const key = goBuildKey(await goVersion(go), p, sources);
  const file = `${p.name}-${key.slice(0, 16)}`;
  const path = join(binDir, file);
  if (existsSync(path)) return { path, key };
  await mkdir(binDir, { recursive: true });
  const started = Date.now();
  const tmp = await mkdtemp(join(binDir, `.build-${p.name}-`));
  try {
    const env = { ...process.env, CGO_ENABLED: '0' };
    if (p.target) Object.assign(env, { GOOS: p.target.goos, GOARCH: p.target.goarch });
    await run(go, ['build', ...GO_BUILD_FLAGS, '-o', join(tmp, p.name), `./${p.pkg}`], { cwd: p.moduleDir, env });
    await rename(join(tmp, p.name), path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  for (const old of staleOutputs(await readdir(binDir), p.name, '', file)) await rm(join(binDir, old), { force: true });
  progress(`images: built ${p.name} with ${go} in ${formatSeconds(Date.now() - started)}`);
  return { path, key };
}
