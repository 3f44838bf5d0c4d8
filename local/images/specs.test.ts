// What each image holds and how it is configured, from the pure spec functions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../cluster/paths.ts';
import { builderSpec, selectImages } from './build.ts';
import { parseRuntimeStage } from './dockerfile.ts';
import { parseLdd, sourceOf } from './runtime.ts';
import {
  APP_UID,
  IMAGE_NAMES,
  IMAGE_REFS,
  type ImageSpec,
  type LayerEntry,
  nodeToolsSpec,
  pauseSpec,
  productSpec,
  sampleAppSpec,
} from './specs.ts';

const entries = (spec: ImageSpec): LayerEntry[] => spec.layers.flatMap((l) => l.entries);
const entry = (spec: ImageSpec, path: string): LayerEntry | undefined => entries(spec).find((e) => e.path === path);
const inputs = { app: '/x/sample-app', busybox: '/x/busybox' };

test('the sample app has sh and nc from busybox, a 1777 /tmp, and runs as a numeric non-root user', () => {
  const spec = sampleAppSpec('sample-app', inputs);
  assert.equal(spec.ref, 'k8s-ee.local/sample-app:dev');
  for (const applet of ['sh', 'nc', 'sleep', 'cat', 'id', 'timeout', 'ls']) {
    assert.deepEqual(entry(spec, `/bin/${applet}`), { path: `/bin/${applet}`, type: 'symlink', target: 'busybox' });
  }
  assert.equal(entry(spec, '/bin/busybox')?.source, '/x/busybox');
  assert.equal(entry(spec, '/tmp')?.mode, '1777');
  assert.equal(spec.config.User, String(APP_UID));
  assert.deepEqual(spec.config.ExposedPorts, ['8080/tcp']);
  assert.deepEqual(spec.config.Entrypoint, [entry(spec, '/usr/local/bin/sample-app')?.path]);
});

test('the sample-app variants differ only in USER, so their layers are shared', () => {
  const numeric = sampleAppSpec('sample-app', inputs);
  const named = sampleAppSpec('sample-app-named-user', inputs);
  const root = sampleAppSpec('sample-app-root', inputs);
  assert.deepEqual(named.layers, numeric.layers);
  assert.deepEqual(root.layers, numeric.layers);
  assert.equal(named.config.User, 'app');
  assert.equal(root.config.User, undefined);
  assert.equal(named.ref, 'k8s-ee.local/sample-app:dev-named-user');
  assert.equal(root.ref, 'k8s-ee.local/sample-app:dev-root');
  // The name resolves to uid and gid 10001 inside the image.
  assert.match(entry(named, '/etc/passwd')?.content ?? '', /^app:x:10001:10001:/m);
  assert.match(entry(named, '/etc/group')?.content ?? '', /^app:x:10001:$/m);
});

test('pause: one static binary as the entrypoint, user 65535', () => {
  const spec = pauseSpec('/x/pause');
  assert.deepEqual(spec.config.Entrypoint, ['/pause']);
  assert.equal(spec.config.User, '65535:65535');
  assert.deepEqual(entries(spec), [{ path: '/pause', type: 'file', source: '/x/pause', mode: '0755' }]);
});

test("the product image: the Dockerfile's config, node on PATH, and an account for its numeric user", () => {
  const stage = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  const libraries = [{ path: '/lib64/ld-linux-x86-64.so.2', source: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' }];
  const spec = productSpec({ node: '/x/node', libraries, packageDir: '/s/npm', dist: '/s/dist' }, stage);
  assert.equal(spec.ref, IMAGE_REFS['k8s-ee']);
  assert.deepEqual(spec.config.Entrypoint, stage.entrypoint);
  assert.equal(spec.config.User, stage.user);
  assert.equal(spec.config.WorkingDir, '/app');
  const path =
    spec.config.Env?.find((e) => e.startsWith('PATH='))
      ?.slice(5)
      .split(':') ?? [];
  assert.ok(path.includes('/usr/local/bin') && entry(spec, '/usr/local/bin/node')?.source === '/x/node');
  assert.ok(spec.config.Env?.includes('NODE_ENV=production'));
  assert.equal(entry(spec, '/lib64/ld-linux-x86-64.so.2')?.source, libraries[0]!.source);
  assert.equal(entry(spec, '/app/node_modules')?.source, '/s/npm/node_modules');
  assert.equal(entry(spec, '/app/dist')?.type, 'tree');
  const uid = stage.user.split(':')[0]!;
  assert.match(entry(spec, '/etc/passwd')?.content ?? '', new RegExp(`^k8s-ee:x:${uid}:`, 'm'));
  // Everything in the image belongs to root: the user can read the app, not change it.
  assert.ok(entries(spec).every((e) => (e.uid ?? 0) === 0 && (e.gid ?? 0) === 0));
});

test('node-tools: busybox sh and crictl on PATH, plus the libraries of a dynamic crictl', () => {
  const lib = { path: '/lib/x86_64-linux-gnu/libc.so.6', source: '/usr/lib/x86_64-linux-gnu/libc.so.6' };
  const spec = nodeToolsSpec({ busybox: '/x/busybox', crictl: '/x/crictl', libraries: [lib] });
  assert.equal(entry(spec, '/usr/local/bin/crictl')?.source, '/x/crictl');
  assert.equal(entry(spec, '/bin/sh')?.target, 'busybox');
  assert.equal(entry(spec, lib.path)?.source, lib.source);
});

test('the builder gets only the fields it knows, with the output path', () => {
  const spec = pauseSpec('/x/pause');
  assert.deepEqual(Object.keys(builderSpec(spec, '/out.tar')).sort(), ['config', 'layers', 'output', 'ref']);
});

test('selection: all images by default, node-tools only with crictl, names or refs, unknown ones refused', () => {
  assert.deepEqual(selectImages(undefined, '/x/crictl'), [...IMAGE_NAMES]);
  assert.ok(!selectImages(undefined, undefined).includes('node-tools'));
  assert.deepEqual(selectImages(['k8s-ee.local/pause:dev', 'sample-app'], undefined), ['pause', 'sample-app']);
  assert.throws(() => selectImages(['nginx'], undefined), /unknown image "nginx"/);
});

test('ldd output: libraries and loader by path; a static binary has none; a missing library is an error', () => {
  const dynamic = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f9afb9f8000)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f9afb41e000)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f9afba10000)',
  ].join('\n');
  assert.deepEqual(parseLdd(dynamic), [
    '/lib/x86_64-linux-gnu/libdl.so.2',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
  assert.deepEqual(parseLdd('\tnot a dynamic executable\n'), []);
  assert.deepEqual(parseLdd('\tstatically linked\n'), []);
  assert.throws(() => parseLdd('\tlibfoo.so.1 => not found\n'), /libfoo\.so\.1 not found/);
});

test('a compiled file maps back to its TypeScript source', () => {
  assert.equal(sourceOf('webhooks/testing/review.js'), 'webhooks/testing/review.ts');
  assert.equal(sourceOf('cli/main.js.map'), 'cli/main.ts');
  assert.equal(sourceOf('cli/main.d.ts'), 'cli/main.d.ts');
});
