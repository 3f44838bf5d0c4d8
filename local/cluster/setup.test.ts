// The pure parts of the setup: versions from go.mod, linker flags, where go is found.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseControlPlaneVersions } from './paths.ts';
import { buildLdflags, findGo } from './setup.ts';

test('versions come from the require lines of go.mod, block or single form', () => {
  const block = `module x\n\ngo 1.25.0\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.5\n\tk8s.io/kubernetes v1.35.4\n)\n`;
  assert.deepEqual(parseControlPlaneVersions(block), { kubernetes: 'v1.35.4', etcd: 'v3.6.5' });
  const single = `module x\nrequire k8s.io/kubernetes v1.36.0\nrequire go.etcd.io/etcd/server/v3 v3.7.0-rc.1\n`;
  assert.deepEqual(parseControlPlaneVersions(single), { kubernetes: 'v1.36.0', etcd: 'v3.7.0-rc.1' });
  // A replace target or a longer module path with the same prefix is not the require line.
  const lookalike = `require (\n\tk8s.io/kubernetes-extra v9.9.9\n)\nreplace k8s.io/api => k8s.io/api v0.35.4\n`;
  assert.throws(() => parseControlPlaneVersions(lookalike), /no "require k8s\.io\/kubernetes vX\.Y\.Z" line/);
});

test('the linker flags strip the binaries and stamp the Kubernetes version into both version packages', () => {
  const flags = buildLdflags({ kubernetes: 'v1.35.4', etcd: 'v3.6.5' });
  assert.ok(flags.startsWith('-s -w '));
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    assert.ok(flags.includes(`-X ${pkg}.gitVersion=v1.35.4`), flags);
    assert.ok(flags.includes(`-X ${pkg}.gitMajor=1 `), flags);
    assert.ok(flags.includes(`-X ${pkg}.gitMinor=35 `), flags);
  }
});

test('go is looked up on PATH first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-findgo-'));
  try {
    await writeFile(join(dir, 'go'), '#!/bin/sh\n');
    await chmod(join(dir, 'go'), 0o755);
    assert.equal(findGo({ PATH: `/nonexistent:${dir}` }), join(dir, 'go'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
