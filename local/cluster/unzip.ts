// Extracts named entries of a zip file into a folder, flattened (the last path segment is the file name).
// The fallback of setup when the `unzip` command is missing; yauzl checks sizes and names as it reads.
import { createWriteStream } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';

export async function extractEntries(zipPath: string, names: string[], dir: string): Promise<void> {
  const zip = await yauzl.openPromise(zipPath, { lazyEntries: true, autoClose: true });
  const wanted = new Set(names);
  try {
    for await (const entry of zip.eachEntry()) {
      if (!wanted.has(entry.fileName)) continue;
      await pipeline(
        await zip.openReadStreamPromise(entry),
        createWriteStream(join(dir, basename(entry.fileName)), { mode: 0o755 }),
      );
      wanted.delete(entry.fileName);
    }
  } finally {
    zip.close();
  }
  if (wanted.size > 0) throw new Error(`${zipPath} has no ${[...wanted].join(', ')}`);
}
