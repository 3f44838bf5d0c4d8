// The pure parts of the node setup: pinned versions, linker flags, build markers, the kube-network-policies
// patch, the dpkg and /proc parsers, and the reasons a machine gets no node.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CONTAINERD_MODULE,
  CRI_TOOLS_MODULE,
  KNP_PATCHES,
  KUBE_NETWORK_POLICIES_MODULE,
  type GoBuild,
  type HostFacts,
  aptInstallCommand,
  binaryNames,
  buildMarker,
  containerdLdflags,
  crictlLdflags,
  missingNodePackages,
  moduleSourceDir,
  NODE_PACKAGES,
  ensureNodePackages,
  nodeBuilds,
  nodeSupport,
  nodeVersions,
  parseChildCpuSeconds,
  parseDpkgInstalled,
  requiredVersion,
} from './node-setup.ts';
import { controlPlaneVersions } from './paths.ts';
import { findGo } from './setup.ts';

const NODE_BINARY_NAMES = [
  'kubelet',
  'kube-proxy',
  'kube-scheduler',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'crictl',
  'kube-network-policies',
];

/** Where the Go module cache would hold module@version, when it does (tests needing sources skip otherwise). */
/**
 * A pinned module's source, downloaded by `go mod download` when the module cache lacks it (a fresh machine runs
 * the unit tests before any build has fetched it).
 */
async function moduleSource(module: string, version: string): Promise<string> {
  const go = findGo();
  assert.ok(go, 'go is needed to read the pinned module sources (the node is built from Go modules)');
  return moduleSourceDir(go, module, version);
}

test('a required version is read from the block or single form; tool lines and longer module paths do not count', () => {
  const goMod = [
    'module x',
    'go 1.26.6',
    'tool (',
    '\tgithub.com/containerd/containerd/v2/cmd/ctr',
    ')',
    'require (',
    '\tgithub.com/containerd/containerd/v2/extra v9.9.9',
    '\tgithub.com/containerd/containerd/v2 v2.4.2 // indirect',
    ')',
    'require sigs.k8s.io/cri-tools v1.34.0',
  ].join('\n');
  assert.equal(requiredVersion(goMod, CONTAINERD_MODULE, 'x/go.mod'), 'v2.4.2');
  assert.equal(requiredVersion(goMod, CRI_TOOLS_MODULE, 'x/go.mod'), 'v1.34.0');
  assert.throws(
    () => requiredVersion(goMod, KUBE_NETWORK_POLICIES_MODULE, 'x/go.mod'),
    /^Error: x\/go\.mod: no "require sigs\.k8s\.io\/kube-network-policies vX\.Y\.Z" line/,
  );
  const replaceOnly = `replace (\n\t${CONTAINERD_MODULE} => ../containerd\n)\n`;
  assert.throws(() => requiredVersion(replaceOnly, CONTAINERD_MODULE, 'y/go.mod'), /y\/go\.mod/);
});

test('the node follows the control plane Kubernetes version; the committed wrapper modules pin semver versions', () => {
  const v = nodeVersions();
  assert.equal(v.kubernetes, controlPlaneVersions().kubernetes);
  for (const version of [v.containerd, v.crictl, v.kubeNetworkPolicies]) assert.match(version, /^v\d+\.\d+\.\d+/);
});

test('every upstream command built from a wrapper module is declared as a tool there (so go.sum covers it)', () => {
  for (const build of nodeBuilds(nodeVersions())) {
    const goMod = readFileSync(join(build.moduleDir, 'go.mod'), 'utf8');
    const module = /^module\s+(\S+)/m.exec(goMod)?.[1] ?? '';
    for (const pkg of build.packages.filter((p) => !p.startsWith('./') && !p.startsWith(`${module}`))) {
      assert.ok(
        new RegExp(`^\\s*(tool\\s+)?${pkg.replace(/[.]/g, '\\.')}\\s*$`, 'm').test(goMod),
        `${pkg} in ${module}`,
      );
    }
  }
});

test('the builds produce exactly the node binaries, each build in its own version-keyed folder', () => {
  const v = { kubernetes: 'v1.99.1', containerd: 'v7.0.3', crictl: 'v1.77.2', kubeNetworkPolicies: 'v0.42.0' };
  const builds = nodeBuilds(v);
  assert.deepEqual(builds.flatMap((b) => binaryNames(b)).sort(), [...NODE_BINARY_NAMES].sort());
  const outDirs = builds.map((b) => b.outDir);
  assert.equal(new Set(outDirs).size, builds.length);
  for (const [i, version] of [v.kubernetes, v.containerd, v.crictl, v.kubeNetworkPolicies].entries()) {
    assert.ok(outDirs[i]?.endsWith(`-${version}`), `${String(outDirs[i])} is keyed by ${version}`);
  }
  // Every input file of every build exists (a typo would only surface as a failed digest at setup time).
  for (const build of nodeBuilds(nodeVersions())) for (const file of build.inputs) assert.ok(existsSync(file), file);
});

test('the kubelet, kube-proxy and kube-scheduler report the Kubernetes version of the control plane', () => {
  const [k8s] = nodeBuilds({
    kubernetes: 'v1.36.2',
    containerd: 'v2.0.0',
    crictl: 'v1.0.0',
    kubeNetworkPolicies: 'v0.1.0',
  });
  assert.ok(k8s?.ldflags.includes('-X k8s.io/component-base/version.gitVersion=v1.36.2'), k8s?.ldflags);
  assert.ok(k8s?.ldflags.includes('-X k8s.io/component-base/version.gitMinor=36 '), k8s?.ldflags);
});

test('containerd and crictl are stamped with their version the way their Makefiles do', () => {
  const c = containerdLdflags('v2.5.1');
  assert.ok(c.startsWith('-s -w '), c);
  assert.ok(c.includes(`-X ${CONTAINERD_MODULE}/version.Version=v2.5.1`), c);
  const k = crictlLdflags('v1.35.7');
  assert.ok(k.startsWith('-s -w '), k);
  assert.ok(k.endsWith(`-X ${CRI_TOOLS_MODULE}/pkg/version.Version=1.35.7`), k);
});

test('the -X targets exist in the pinned sources (a wrong path would be ignored by the linker)', async () => {
  const v = nodeVersions();
  const containerd = await moduleSource(CONTAINERD_MODULE, v.containerd);
  const criTools = await moduleSource(CRI_TOOLS_MODULE, v.crictl);
  assert.match(readFileSync(join(containerd, 'version', 'version.go'), 'utf8'), /^\s*Version\s*=\s*"/m);
  assert.match(readFileSync(join(criTools, 'pkg', 'version', 'version.go'), 'utf8'), /^var Version\s*=/m);
});

test('the build marker changes with the flags, tags, environment and input digest, not with env order', () => {
  const base: GoBuild = {
    label: 'x',
    moduleDir: '/m',
    packages: ['a/cmd/x'],
    outDir: '/o',
    ldflags: '-s -w',
    tags: ['t1'],
    env: { CGO_ENABLED: '0', GOAMD64: 'v1' },
    inputs: [],
  };
  const marker = buildMarker(base, 'd1');
  assert.notEqual(buildMarker({ ...base, ldflags: '-s' }, 'd1'), marker);
  assert.notEqual(buildMarker({ ...base, tags: ['t1', 't2'] }, 'd1'), marker);
  assert.notEqual(buildMarker({ ...base, env: { CGO_ENABLED: '1', GOAMD64: 'v1' } }, 'd1'), marker);
  assert.notEqual(buildMarker({ ...base, packages: ['a/cmd/x', 'a/cmd/y'] }, 'd1'), marker);
  assert.notEqual(buildMarker(base, 'd2'), marker);
  assert.equal(buildMarker({ ...base, env: { GOAMD64: 'v1', CGO_ENABLED: '0' } }, 'd1'), marker);
  assert.deepEqual(binaryNames({ packages: ['./cmd/kubelet', 'example.com/m/v2/cmd/ctr'] }), ['kubelet', 'ctr']);
});

/** The lines a unified diff adds and removes, per file it touches. */
function diffLines(text: string): { files: string[]; added: string[]; removed: string[] } {
  const lines = text.split('\n');
  return {
    files: [...text.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1] ?? ''),
    added: lines.filter((l) => l.startsWith('+') && !l.startsWith('+++')),
    removed: lines.filter((l) => l.startsWith('-') && !l.startsWith('---')),
  };
}

test('each kube-network-policies patch opens with comment lines saying why and when to drop it', () => {
  assert.equal(KNP_PATCHES.length, new Set(KNP_PATCHES).size);
  for (const file of KNP_PATCHES) {
    const text = readFileSync(file, 'utf8');
    const header = text.slice(0, text.indexOf('\ndiff --git'));
    assert.ok(header.length > 0 && header.split('\n').every((l) => l.startsWith('#')), `${file}: comment header`);
    assert.match(header, /^# Why: /m, file);
    assert.match(header, /^# Drop this patch when /m, file);
    const { files } = diffLines(text);
    assert.ok(files.length > 0 && files.every((f) => f.startsWith('pkg/networkpolicy/')), files.join(' '));
  }
});

test('the NFQUEUE patch swaps every native queue expression for the xtables target, and nothing else', () => {
  const file = KNP_PATCHES.find((p) => p.endsWith('nfqueue-xt-target.patch'));
  assert.ok(file);
  const text = readFileSync(file, 'utf8');
  assert.match(text.slice(0, text.indexOf('\ndiff --git')), /CONFIG_NFT_QUEUE/);
  const { added, removed } = diffLines(text);
  assert.equal(removed.filter((l) => l.includes('&expr.Queue{')).length, 3);
  assert.ok(!added.some((l) => l.includes('expr.Queue{')), 'no native queue expression is added back');
  assert.ok(added.some((l) => /Name: "NFQUEUE", Rev: 3/.test(l)));
  // Smallest patch: besides the new helper file, only lines that build the queue change.
  const helper = diffLines(text.slice(text.indexOf('+++ b/pkg/networkpolicy/xtqueue.go'))).added.length;
  assert.ok(added.length - helper <= removed.length, `${String(added.length - helper)} vs ${String(removed.length)}`);
});

test('the NRI patch only adds a guard for a missing NRI plugin', () => {
  const file = KNP_PATCHES.find((p) => p.endsWith('nri-disabled-no-plugin.patch'));
  assert.ok(file);
  const { files, added, removed } = diffLines(readFileSync(file, 'utf8'));
  assert.deepEqual(files, ['pkg/networkpolicy/controller.go']);
  assert.deepEqual(removed, []);
  assert.ok(added.length <= 3 && added.some((l) => l.includes('c.nriPlugin == nil')), added.join('\n'));
});

test('the patches apply, in order and without fuzz, to the pinned kube-network-policies source', async () => {
  const source = await moduleSource(KUBE_NETWORK_POLICIES_MODULE, nodeVersions().kubeNetworkPolicies);
  // patch(1) is one of the node's packages: installed here as it is for a build when missing (as root).
  await ensureNodePackages(() => undefined, { patch: NODE_PACKAGES['patch'] ?? ['/usr/bin/patch'] });
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-knp-'));
  try {
    cpSync(source, join(dir, 'src'), { recursive: true });
    spawnSync('chmod', ['-R', 'u+w', dir]);
    for (const file of KNP_PATCHES) {
      const r = spawnSync('patch', ['-p1', '--batch', '-d', join(dir, 'src'), '-i', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
      assert.ok(!/offset|fuzz/i.test(r.stdout), r.stdout);
    }
    const controller = readFileSync(join(dir, 'src', 'pkg', 'networkpolicy', 'controller.go'), 'utf8');
    assert.ok(!controller.includes('expr.Queue{'));
  } finally {
    spawnSync('chmod', ['-R', 'u+w', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CPU seconds of finished children come from cutime and cstime of /proc/<pid>/stat', () => {
  // fields 3.. of a stat line: state, then numbers; cutime is field 16 and cstime field 17.
  const fields = ['S', ...Array.from({ length: 48 }, (_, i) => String(i + 4))];
  fields[13] = '1234';
  fields[14] = '66';
  assert.equal(parseChildCpuSeconds(`4711 (go (build) x) ${fields.join(' ')}`), 13);
  assert.equal(parseChildCpuSeconds('no such line'), undefined);
  assert.equal(parseChildCpuSeconds('1 (short) S 1 2'), undefined);
});

test('dpkg-query output: only packages whose status is "installed" count, arch suffixes dropped', () => {
  const out = 'runc installed\nnftables not-installed\nconntrack config-files\nbusybox-static:amd64 installed\n\n';
  assert.deepEqual([...parseDpkgInstalled(out)].sort(), ['busybox-static', 'runc']);
});

test('a package that is not installed is missing; an installed one is not', () => {
  const missing = missingNodePackages({
    'k8s-ee-no-such-package': ['/nonexistent/k8s-ee'],
    dpkg: [process.execPath],
  });
  assert.deepEqual(missing, ['k8s-ee-no-such-package']);
  assert.match(
    aptInstallCommand(missing),
    /^apt-get update && apt-get install -y --no-install-recommends k8s-ee-no-such-package$/,
  );
});

test('a node needs Linux, root, cgroups and Go, and says which is missing', () => {
  const good: HostFacts = { platform: 'linux', uid: 0, go: '/usr/local/go/bin/go', cgroups: true };
  assert.deepEqual(nodeSupport(good), { ok: true });
  const why = (host: Partial<HostFacts>): string => {
    const r = nodeSupport({ ...good, ...host });
    assert.equal(r.ok, false);
    return r.ok ? '' : r.why;
  };
  assert.match(why({ platform: 'darwin' }), /Linux only \(this is darwin\)/);
  assert.match(why({ uid: 1000 }), /root.*uid 1000/);
  assert.match(why({ uid: undefined }), /root/);
  assert.match(why({ cgroups: false }), /cgroup/);
  assert.match(why({ go: undefined }), /Go toolchain/);
  assert.doesNotMatch(why({ platform: 'win32', uid: 1000 }), /root/, 'the first missing requirement is named');
  assert.ok(why({ uid: 5 }).split('\n').length === 1, 'one line');
});
