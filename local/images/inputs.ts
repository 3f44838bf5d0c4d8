// The input key of an image: a hash of its spec with every source file or folder replaced by a digest of its
// contents, plus the builder's own key. An archive named after its key is rebuilt only when the key changes.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageSpec, LayerEntry } from './specs.ts';

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export function hashFile(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

/** The bits of a mode the builder keeps: whether a file is executable (it writes 0755 or 0644). */
function executable(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

/**
 * A digest of a folder as the builder copies it: relative paths, types, executable bits, symlink targets
 * and file contents (a file reached through a symlinked path is hashed by the symlink, as it is copied).
 */
export async function hashTree(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(dir, path));
      if (st.isSymbolicLink()) hash.update(`l ${path} ${await readlink(join(dir, path))}\n`);
      else if (st.isDirectory()) {
        hash.update(`d ${path}\n`);
        await walk(path);
      } else if (st.isFile()) {
        const x = executable(st.mode) ? 'x' : '-';
        hash.update(`f ${path} ${x} ${await hashFile(join(dir, path))}\n`);
      } else throw new Error(`${join(dir, path)} is neither a file, a folder nor a symlink`);
    }
  };
  await walk('');
  return hash.digest('hex');
}

/** Every file or folder an image's layers copy from this machine. */
export function sourcesOf(spec: ImageSpec): string[] {
  const sources = spec.layers.flatMap((l) => l.entries.flatMap((e) => (e.source === undefined ? [] : [e.source])));
  return [...new Set(sources)];
}

/** Digests of sources, memoized per path; `known` holds digests of folders that are immutable by construction. */
export class SourceDigests {
  private readonly memo = new Map<string, Promise<string>>();
  private readonly known: ReadonlyMap<string, string>;
  constructor(known: ReadonlyMap<string, string> = new Map()) {
    this.known = known;
  }

  digest(entry: LayerEntry): Promise<string> {
    const source = entry.source!;
    const known = this.known.get(source);
    if (known !== undefined) return Promise.resolve(known);
    const key = `${entry.type}:${source}`;
    let digest = this.memo.get(key);
    if (digest === undefined) {
      digest = entry.type === 'tree' ? hashTree(source) : fileDigest(source);
      this.memo.set(key, digest);
    }
    return digest;
  }

  /** The spec with each source replaced by its digest: what the key is a hash of. */
  async resolve(spec: ImageSpec): Promise<ImageSpec> {
    const layers = await Promise.all(
      spec.layers.map(async (l) => ({
        comment: l.comment,
        entries: await Promise.all(
          l.entries.map(async (e) => (e.source === undefined ? e : { ...e, source: await this.digest(e) })),
        ),
      })),
    );
    return { ...spec, layers };
  }
}

/** A file's digest, with its executable bit (the builder keeps it when the entry gives no mode). */
async function fileDigest(path: string): Promise<string> {
  const st = await stat(path); // follows symlinks, as the builder does
  return `${await hashFile(path)}${executable(st.mode) ? 'x' : ''}`;
}

/** Bumped when the meaning of a spec changes in a way the spec itself does not show. */
export const SPEC_FORMAT = 1;

/** The input key: a hash of the resolved spec (sources as digests) and the builder's key. */
export function imageKey(resolved: ImageSpec, builderKey: string): string {
  return sha256(JSON.stringify({ format: SPEC_FORMAT, builder: builderKey, spec: resolved }));
}

/** Where the archive of an image with this key lives. */
export function archivePath(dir: string, name: string, key: string): string {
  return join(dir, `${name}-${key.slice(0, 16)}.tar`);
}

/** An image needs building when no archive of its key exists. */
export function needsBuild(archive: string): boolean {
  return !existsSync(archive);
}

/** Outputs of the same name made from older inputs (`<name>-<16 hex><suffix>`), except `keep`. */
export function staleOutputs(files: readonly string[], name: string, suffix: string, keep: string): string[] {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${escape(name)}-[0-9a-f]{16}${escape(suffix)}$`);
  return files.filter((f) => re.test(f) && f !== keep);
}
