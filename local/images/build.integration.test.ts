// Builds real archives and reads them back with go-containerregistry: the sample app (config, files, the
// server itself, reuse on a second call, byte-identical rebuilds) and, as root, the product image run
// in a chroot of its own file tree (node with only the libraries the image carries).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ArchiveReport, ensureImages, extractArchive, inspectArchive } from './build.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'k8s-ee-images-it-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const files = (report: ArchiveReport): Map<string, ArchiveReport['layers'][number]['files'][number]> =>
  new Map(report.layers.flatMap((l) => l.files.map((f) => [f.path, f] as const)));

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePromise(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function fetchRetry(url: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await (await fetch(url)).text();
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('the sample-app archive: numeric user, port 8080, sh and nc, reused when nothing changed', async () => {
  const lines: string[] = [];
  const [image] = await ensureImages({ progress: (l) => lines.push(l), only: ['sample-app'], dir });
  assert.equal(image?.ref, 'k8s-ee.local/sample-app:dev');
  const report = await inspectArchive(image.archive);
  assert.deepEqual(report.tags, ['k8s-ee.local/sample-app:dev']);
  assert.equal(report.config.os, 'linux');
  assert.equal(report.config.architecture, 'amd64');
  assert.equal(report.config.config.User, '10001');
  assert.deepEqual(Object.keys(report.config.config.ExposedPorts ?? {}), ['8080/tcp']);
  const listed = files(report);
  for (const name of ['bin/sh', 'bin/nc']) {
    assert.equal(listed.get(name)?.type, 'symlink', name);
    assert.equal(listed.get(name)?.linkname, 'busybox', name);
  }
  assert.equal(listed.get('bin/busybox')?.mode, '0755');
  assert.equal(listed.get('usr/local/bin/sample-app')?.mode, '0755');
  assert.equal(listed.get('tmp/')?.mode, '1777');
  assert.ok(
    lines.some((l) => l.includes('built k8s-ee.local/sample-app:dev')),
    lines.join('\n'),
  );

  const again: string[] = [];
  const started = Date.now();
  const [second] = await ensureImages({ progress: (l) => again.push(l), only: ['sample-app'], dir });
  assert.deepEqual(second, image, 'same inputs, same archive and key');
  assert.ok(
    again.some((l) => l.includes('(0 built)')),
    again.join('\n'),
  );
  assert.ok(Date.now() - started < 5000, 'a warm call only hashes');

  await rm(image.archive);
  const [rebuilt] = await ensureImages({ progress: () => undefined, only: ['sample-app'], dir });
  assert.equal((await inspectArchive(rebuilt!.archive)).digest, report.digest, 'a rebuild is byte-identical');
});

test("the sample app answers with its pod's namespace and name, and stops at once on SIGTERM", async () => {
  const [image] = await ensureImages({ progress: () => undefined, only: ['sample-app'], dir });
  const rootfs = join(dir, 'sample-rootfs');
  await extractArchive(image!.archive, rootfs);
  const port = await freePort();
  const env = { PORT: String(port), POD_NAMESPACE: 'pr-42', POD_NAME: 'web-0' };
  const app = spawn(join(rootfs, 'usr/local/bin/sample-app'), [], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => app.on('exit', (code) => r(code)));
  try {
    assert.equal(await fetchRetry(`http://127.0.0.1:${String(port)}/`), 'namespace=pr-42 pod=web-0\n');
    assert.equal(await fetchRetry(`http://127.0.0.1:${String(port)}/healthz`), 'ok\n');
  } finally {
    const stopping = Date.now();
    app.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - stopping < 3000);
  }
});

const chrootBin = ['/usr/sbin/chroot', '/usr/bin/chroot', '/sbin/chroot'].find((p) => existsSync(p));
const canChroot = process.getuid?.() === 0 && chrootBin !== undefined;

test(
  'the k8s-ee image runs node and the CLI with nothing but its own files',
  { skip: canChroot ? false : 'needs root and chroot' },
  async () => {
    const [image] = await ensureImages({ progress: () => undefined, only: ['k8s-ee'] });
    const report = await inspectArchive(image!.archive);
    assert.equal(report.config.config.User, '10001:10001');
    // node, its own flags (the Dockerfile's: a small young generation, bench/results.md), then the CLI.
    const entrypoint = report.config.config.Entrypoint ?? [];
    assert.equal(entrypoint[0], 'node');
    assert.equal(entrypoint.at(-1), 'dist/cli/main.js');
    assert.ok(
      entrypoint.slice(1, -1).every((a) => a.startsWith('--')),
      `node flags only: ${entrypoint.join(' ')}`,
    );
    const rootfs = join(dir, 'k8s-ee-rootfs');
    await extractArchive(image!.archive, rootfs);
    const env = { PATH: '/usr/local/bin', NODE_ENV: 'production' };
    const chroot = (...args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(chrootBin!, ['--userspec=10001:10001', rootfs, ...args], { env, encoding: 'utf8' });
    const version = chroot('node', '-p', 'process.version');
    assert.equal(version.status, 0, String(version.stderr));
    assert.match(String(version.stdout), /^v24\./);
    const help = chroot(...entrypoint.slice(0, -1), '/app/dist/cli/main.js', '--help');
    assert.equal(help.status, 0, String(help.stderr));
    assert.match(String(help.stdout), /^Usage: k8s-ee/);
  },
);
