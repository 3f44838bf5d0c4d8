// Writes the serving certificate to a directory (an emptyDir shared with the webhook container), atomically per
// file (write a temporary file, then rename), and only when the content changed, so the webhook's file watcher
// sees one change per rotation. The CA bundle is written first (during a CA rotation it holds the old and the new
// CA, so it still trusts the certificate being served), then the key, then the certificate: a reader that sees the
// new certificate also sees its key and the CA that signed it (the webhook serves only a pair whose certificate
// leads to ca.crt).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CertFiles {
  certPem: string;
  keyPem: string;
  caBundle: string;
}

export const FILE_NAMES = { key: 'tls.key', cert: 'tls.crt', ca: 'ca.crt' } as const;

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

async function writeIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  if ((await readOrEmpty(path)) === content) return false;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
  return true;
}

/** Returns the names of the files that changed. */
export async function syncCertFiles(dir: string, files: CertFiles): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const changed: string[] = [];
  const plan: Array<[string, string, number]> = [
    [FILE_NAMES.ca, files.caBundle, 0o644],
    [FILE_NAMES.key, files.keyPem, 0o600],
    [FILE_NAMES.cert, files.certPem, 0o644],
  ];
  for (const [name, content, mode] of plan) {
    if (await writeIfChanged(join(dir, name), content, mode)) changed.push(name);
  }
  return changed;
}
