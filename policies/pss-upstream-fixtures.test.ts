// Our Pod Security Standards checks against upstream's own fixtures: k8s.io/pod-security-admission ships, for
// every level and policy version from v1.0 to v1.35, pods that must pass and pods that must fail one named check
// (test/testdata/{level}/v1.N/{pass,fail}/*.yaml). The module is the one the control plane's go.mod pins, read
// from the Go module cache (downloaded through the Go module proxy when missing; nothing of it is copied into this
// repository). A unit test: no cluster needed. Without a Go toolchain it is skipped with the reason, except in CI
// (CI=true), where a skip would hide that nothing was checked, so it fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { checkPodSecurity, type PssLevel } from './pss.ts';

const run = promisify(execFile);
const cacheDir = join(import.meta.dirname, '..', '.cache');
const controlPlaneModule = join(import.meta.dirname, '..', 'local', 'controlplane');

/** Upstream check id (lower-cased, as in the fixture file names) -> the rule ids our checks report for it. */
const RULES_BY_CHECK: Record<string, string[]> = {
  allowprivilegeescalation: ['pss:privilege-escalation'],
  apparmorprofile: ['pss:apparmor'],
  capabilities_baseline: ['pss:capabilities'],
  capabilities_restricted: ['pss:capabilities'],
  hostnamespaces: ['pss:host-namespaces'],
  hostpathvolumes: ['pss:host-path-volumes'],
  hostports: ['pss:host-ports'],
  hostprobesandhostlifecycle: ['pss:probe-host'],
  privileged: ['pss:privileged'],
  procmount: ['pss:proc-mount'],
  procmount_restricted: ['pss:proc-mount'],
  restrictedvolumes: ['pss:volume-types', 'pss:host-path-volumes'],
  runasnonroot: ['pss:run-as-non-root'],
  runasuser: ['pss:run-as-user'],
  seccompprofile_baseline: ['pss:seccomp'],
  seccompprofile_restricted: ['pss:seccomp'],
  selinuxoptions: ['pss:selinux'],
  sysctls: ['pss:sysctls'],
  windowshostprocess: ['pss:host-process'],
};

/**
 * Violations upstream's fail fixtures carry besides the one they test, because the API would refuse the pod
 * otherwise (hostProcess needs hostNetwork; privileged excludes allowPrivilegeEscalation: false), or because
 * they leave out the whole securityContext (allowPrivilegeEscalation unset also means no capabilities.drop).
 */
const EXPECTED_COMPANIONS: Record<string, string[]> = {
  windowshostprocess: ['pss:host-namespaces'],
  privileged: ['pss:privilege-escalation'],
  allowprivilegeescalation: ['pss:capabilities'],
};

async function upstreamTestdata(): Promise<string | { skip: string }> {
  const goCandidates = ['go', '/usr/local/go/bin/go'];
  for (const go of goCandidates) {
    try {
      const { stdout } = await run(go, ['mod', 'download', '-json', 'k8s.io/pod-security-admission'], {
        cwd: controlPlaneModule,
        maxBuffer: 1 << 20,
      });
      const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
      if (dir && existsSync(join(dir, 'test', 'testdata'))) return join(dir, 'test', 'testdata');
      return { skip: `k8s.io/pod-security-admission has no test/testdata in ${String(dir)}` };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        return { skip: `go mod download k8s.io/pod-security-admission failed: ${(error as Error).message}` };
      }
    }
  }
  return { skip: 'no Go toolchain (go on PATH or /usr/local/go/bin/go) to fetch k8s.io/pod-security-admission' };
}

interface Fixture {
  level: PssLevel;
  version: string;
  verdict: 'pass' | 'fail';
  file: string;
  check: string;
  pod: { metadata?: unknown; spec?: unknown };
}

function parseFixtures(testdata: string): Fixture[] {
  const out: Fixture[] = [];
  for (const level of ['baseline', 'restricted'] as const) {
    for (const version of readdirSync(join(testdata, level))) {
      for (const verdict of ['pass', 'fail'] as const) {
        const dir = join(testdata, level, version, verdict);
        if (!existsSync(dir)) continue;
        for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
          const pod = parse(readFileSync(join(dir, file), 'utf8')) as Fixture['pod'];
          out.push({ level, version, verdict, file, check: file.replace(/[0-9]*\.yaml$/, ''), pod });
        }
      }
    }
  }
  return out;
}

/**
 * The fixtures, parsed once per module version and kept in .cache/pss-upstream (4241 YAML files take a second or
 * more to parse; the many short runs of `npm run test:mutation` would pay it each time). Rebuilt when missing or
 * unreadable; the module directory is read-only, so the version in its path names the content.
 */
function loadFixtures(testdata: string): Fixture[] {
  const version = /@(v[^/\\]+)/.exec(testdata)?.[1] ?? 'unknown';
  const cacheFile = join(cacheDir, 'pss-upstream', `${version}.json`);
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { testdata: string; fixtures: Fixture[] };
    if (cached.testdata === testdata && Array.isArray(cached.fixtures)) return cached.fixtures;
  } catch {
    // missing or unreadable: parse the YAML below
  }
  const fixtures = parseFixtures(testdata);
  try {
    mkdirSync(dirname(cacheFile), { recursive: true });
    writeFileSync(`${cacheFile}.${process.pid}`, JSON.stringify({ testdata, fixtures }));
    renameSync(`${cacheFile}.${process.pid}`, cacheFile);
  } catch {
    // a read-only checkout still runs the test, only slower
  }
  return fixtures;
}

const testdata = await upstreamTestdata();

test('upstream PodSecurity fixtures: our verdict and rule agree for every level and version', (t) => {
  if (typeof testdata !== 'string') {
    if (process.env['CI'] === 'true') assert.fail(`CI must check upstream's fixtures: ${testdata.skip}`);
    t.skip(testdata.skip);
    return;
  }
  const fixtures = loadFixtures(testdata);
  assert.ok(fixtures.length > 1000, `expected upstream's fixture corpus, found only ${fixtures.length} files`);
  const mismatches: string[] = [];
  for (const f of fixtures) {
    const violations = checkPodSecurity(f.pod.spec, f.pod.metadata, 'spec', { level: f.level, version: f.version });
    const where = `${f.level}/${f.version}/${f.verdict}/${f.file}`;
    if (f.verdict === 'pass' && violations.length > 0) {
      mismatches.push(
        `${where}: upstream allows, we deny: ${violations.map((v) => `${v.path} [${v.rule}]`).join('; ')}`,
      );
    }
    if (f.verdict === 'fail') {
      const expected = RULES_BY_CHECK[f.check];
      if (violations.length === 0) mismatches.push(`${where}: upstream denies (${f.check}), we allow`);
      else if (!expected) mismatches.push(`${where}: no rule mapping for upstream check ${f.check}`);
      else {
        const allowed = [...expected, ...(EXPECTED_COMPANIONS[f.check] ?? [])];
        const stray = violations.filter((v) => !allowed.includes(v.rule));
        if (!violations.some((v) => expected.includes(v.rule)))
          mismatches.push(`${where}: upstream denies for ${f.check}, we deny for other reasons`);
        else if (stray.length > 0)
          mismatches.push(
            `${where}: expected only ${expected.join('/')}, also got ${stray.map((v) => `${v.path} [${v.rule}]`).join('; ')}`,
          );
      }
    }
  }
  t.diagnostic(`${fixtures.length} upstream fixtures checked from ${testdata}`);
  assert.deepEqual(
    mismatches,
    [],
    `${mismatches.length} disagreements with upstream fixtures:\n${mismatches.join('\n')}`,
  );
});
