// The Go programs' build key: a cached binary is reused only for the same sources, Go version and target.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUILDER } from './build.ts';
import { type GoProgram, goBuildKey, goSources } from './toolchain.ts';

const pause: GoProgram = { name: 'pause', moduleDir: '/m', pkg: 'pause', target: { goos: 'linux', goarch: 'amd64' } };
const sources = [
  { name: '/go.mod', content: Buffer.from('module x\n') },
  { name: '/pause/main.go', content: Buffer.from('package main\n') },
];

test('the build key moves with a source, the Go version and the target, and only with them', () => {
  const key = goBuildKey('go1.26.8', pause, sources);
  assert.equal(
    goBuildKey(
      'go1.26.8',
      { ...pause },
      sources.map((s) => ({ ...s })),
    ),
    key,
  );
  assert.notEqual(goBuildKey('go1.26.9', pause, sources), key);
  assert.notEqual(goBuildKey('go1.26.8', { ...pause, target: { goos: 'linux', goarch: 'arm64' } }, sources), key);
  const edited = [sources[0]!, { name: '/pause/main.go', content: Buffer.from('package main\n// edit\n') }];
  assert.notEqual(goBuildKey('go1.26.8', pause, edited), key);
  const renamed = [sources[0]!, { name: '/pause/other.go', content: sources[1]!.content }];
  assert.notEqual(goBuildKey('go1.26.8', pause, renamed), key);
});

test("the builder's sources are its go.mod, go.sum and .go files", async () => {
  const files = (await goSources(BUILDER)).map((f) => f.slice(BUILDER.moduleDir.length + 1));
  assert.deepEqual(files.slice(0, 2), ['go.mod', 'go.sum']);
  assert.ok(files.includes('main.go') && files.includes('layer.go'));
  assert.ok(files.every((f) => f.startsWith('go.') || (f.endsWith('.go') && !f.includes('/'))));
});
