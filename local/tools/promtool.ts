// promtool (`promtool test rules` for the chart's alerts), built from its Go module at the version pinned in
// local/tools/promtool/go.mod into .cache/tools/bin, like the control plane is built from local/controlplane.
// Rebuilt only when go.mod or go.sum change (a stamp beside the binary records their hash).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot, toolsBinDir } from '../cluster/paths.ts';
import { findGo, type Progress } from '../cluster/setup.ts';

export const promtoolModuleDir = join(projectRoot, 'local', 'tools', 'promtool');
export const promtoolPath = join(toolsBinDir, 'promtool');
const STAMP = join(toolsBinDir, '.promtool-module');
const PACKAGE = 'github.com/prometheus/prometheus/cmd/promtool';
/** Part of the stamp: a change of how it is built rebuilds it. */
const BUILD_FLAGS = '-trimpath -tags remove_all_sd';

/** The prometheus module version our go.mod pins (a pure parse of the text). */
export function parsePromtoolVersion(goMod: string): string {
  const match = /^\s*(?:require\s+)?github\.com\/prometheus\/prometheus\s+(v[0-9][^\s]*)/m.exec(goMod);
  if (!match?.[1]) throw new Error('local/tools/promtool/go.mod: no "require github.com/prometheus/prometheus vX.Y.Z"');
  return match[1];
}

async function moduleHash(): Promise<{ hash: string; version: string }> {
  const goMod = await readFile(join(promtoolModuleDir, 'go.mod'), 'utf8');
  const goSum = await readFile(join(promtoolModuleDir, 'go.sum'), 'utf8');
  const hash = createHash('sha256')
    .update(BUILD_FLAGS)
    .update('\0')
    .update(goMod)
    .update('\0')
    .update(goSum)
    .digest('hex');
  return { hash, version: parsePromtoolVersion(goMod) };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit code ${String(code)}`}):\n${output}`));
    });
  });
}

/**
 * promtool in .cache/tools/bin, built from local/tools/promtool when absent or when its module changed (through
 * a temporary folder, so a half build never counts); `{ skip }` with the reason when there is no Go toolchain.
 */
export async function ensurePromtool(progress: Progress): Promise<{ path: string } | { skip: string }> {
  const { hash, version } = await moduleHash();
  const stamp = existsSync(STAMP) ? (await readFile(STAMP, 'utf8')).trim() : '';
  if (stamp === hash && existsSync(promtoolPath)) return { path: promtoolPath };
  const go = findGo();
  if (!go) return { skip: 'no Go toolchain (go on PATH or /usr/local/go/bin/go) to build promtool' };
  progress(`promtool: building ${PACKAGE}@${version} with ${go} into ${toolsBinDir} (the first build takes minutes)`);
  await mkdir(toolsBinDir, { recursive: true });
  const tmp = await mkdtemp(join(toolsBinDir, '.build-promtool-'));
  const started = Date.now();
  try {
    const env = { ...process.env, CGO_ENABLED: '0' };
    // remove_all_sd (an upstream build tag) leaves out the service discovery plugins (cloud SDKs, client-go):
    // `promtool test rules` needs none of them, and they are most of the build.
    const args = ['build', '-trimpath', '-tags', 'remove_all_sd', '-o', join(tmp, 'promtool'), PACKAGE];
    await run(go, args, promtoolModuleDir, env);
    await rename(join(tmp, 'promtool'), promtoolPath);
    await writeFile(STAMP, `${hash}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  progress(`promtool: built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { path: promtoolPath };
}
