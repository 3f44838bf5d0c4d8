// The input key decides when an archive is rebuilt: it must change with anything the builder copies or
// writes, and with nothing else.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { archivePath, hashTree, imageKey, needsBuild, SourceDigests, sourcesOf, staleOutputs } from './inputs.ts';
import { type ImageSpec, pauseSpec, sampleAppSpec } from './specs.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'k8s-ee-images-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The key of a spec as ensureImages computes it, with fresh digests (nothing memoized across calls). */
async function keyOf(spec: ImageSpec, builder = 'b1', known?: Map<string, string>): Promise<string> {
  return imageKey(await new SourceDigests(known).resolve(spec), builder);
}

test('the key follows the contents of the sources, not their paths or timestamps', async () => {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  await writeFile(a, 'binary v1');
  await writeFile(b, 'binary v1');
  const first = await keyOf(pauseSpec(a));
  assert.equal(await keyOf(pauseSpec(a)), first, 'same inputs, same key');
  assert.equal(await keyOf(pauseSpec(b)), first, 'same bytes elsewhere, same key');
  await writeFile(a, 'binary v1'); // rewritten, same bytes: a new mtime only
  assert.equal(await keyOf(pauseSpec(a)), first);
  await writeFile(a, 'binary v2');
  assert.notEqual(await keyOf(pauseSpec(a)), first, 'new bytes, new key');
});

test('the key follows the config, the builder and the executable bit of a file without a mode', async () => {
  const app = join(dir, 'app');
  const busybox = join(dir, 'busybox');
  await writeFile(app, 'app');
  await writeFile(busybox, 'busybox');
  const spec = sampleAppSpec('sample-app', { app, busybox });
  const base = await keyOf(spec);
  assert.notEqual(await keyOf(sampleAppSpec('sample-app-root', { app, busybox })), base, 'USER differs');
  assert.notEqual(await keyOf(spec, 'b2'), base, 'a new builder rebuilds everything');
  const plain = { ...spec, layers: [{ comment: 'x', entries: [{ path: '/f', type: 'file' as const, source: app }] }] };
  const before = await keyOf(plain);
  await chmod(app, 0o755);
  assert.notEqual(await keyOf(plain), before, 'the builder writes 0755 now, so the key moves');
});

test('a tree hashes its names, symlink targets, contents and executable bits', async () => {
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'sub'), { recursive: true });
  await writeFile(join(tree, 'sub', 'f.js'), 'x');
  await symlink('sub/f.js', join(tree, 'link'));
  const first = await hashTree(tree);
  assert.equal(await hashTree(tree), first);
  await writeFile(join(tree, 'sub', 'f.js'), 'y');
  const second = await hashTree(tree);
  assert.notEqual(second, first);
  await chmod(join(tree, 'sub', 'f.js'), 0o755);
  const third = await hashTree(tree);
  assert.notEqual(third, second);
  await rm(join(tree, 'link'));
  await symlink('sub/other.js', join(tree, 'link'));
  assert.notEqual(await hashTree(tree), third);
  await mkdir(join(tree, 'empty'));
  assert.notEqual(await hashTree(tree), third, 'an empty folder is in the layer too');
});

test('a folder with a known digest is not read: its key is the digest given', async () => {
  const tree = join(dir, 'immutable');
  await mkdir(tree);
  await writeFile(join(tree, 'f'), '1');
  const spec: ImageSpec = {
    ...pauseSpec(join(dir, 'a')),
    layers: [{ comment: 'deps', entries: [{ path: '/app/node_modules', type: 'tree', source: tree }] }],
  };
  const known = new Map([[tree, 'npm-ci:abc']]);
  const first = await keyOf(spec, 'b1', known);
  await writeFile(join(tree, 'f'), '2');
  assert.equal(await keyOf(spec, 'b1', known), first);
  assert.notEqual(await keyOf(spec, 'b1', new Map([[tree, 'npm-ci:def']])), first);
  assert.deepEqual(sourcesOf(spec), [tree]);
});

test('rebuild decision: an archive named after the key is reused until an input changes', async () => {
  const out = join(dir, 'out');
  await mkdir(out);
  const bin = join(dir, 'pause-bin');
  await writeFile(bin, 'pause v1');
  const archive = archivePath(out, 'pause', await keyOf(pauseSpec(bin)));
  assert.ok(needsBuild(archive));
  await writeFile(archive, 'built');
  assert.ok(!needsBuild(archivePath(out, 'pause', await keyOf(pauseSpec(bin)))), 'warm: nothing to build');
  await writeFile(bin, 'pause v2');
  assert.ok(needsBuild(archivePath(out, 'pause', await keyOf(pauseSpec(bin)))), 'changed input: rebuild');
});

test('stale outputs are the same name with another key, never another image sharing a prefix', () => {
  const files = [
    'sample-app-0123456789abcdef.tar',
    'sample-app-fedcba9876543210.tar',
    'sample-app-named-user-0123456789abcdef.tar',
    'sample-app-0123456789abcdef.tar.tmp',
    'pause-0123456789abcdef.tar',
  ];
  assert.deepEqual(staleOutputs(files, 'sample-app', '.tar', 'sample-app-0123456789abcdef.tar'), [
    'sample-app-fedcba9876543210.tar',
  ]);
  assert.deepEqual(staleOutputs(['pause-0123456789abcdef', 'pause-x'], 'pause', '', 'none'), [
    'pause-0123456789abcdef',
  ]);
});
