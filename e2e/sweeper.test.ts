// The sweeper (issue 5) on a real control plane with real helm: `k8s-ee sweeper --once` as a process, its clock
// moved with --now, PR states served by the fake GitHub. Each scenario uses its own project name and a config
// whose namespace pattern only matches that project, so other tests' namespaces never meet this sweeper.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { parseDuration } from '../lib/duration.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { freePort } from '../local/cluster/net.ts';
import { getTestCluster, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { startFakeGitHub, type FakeGitHub } from './fakes/github.ts';
import { startWebhook } from '../local/harness/webhook.ts';

const CHART = join(projectRoot, 'e2e', 'fixtures', 'charts', 'configmap-only');
const MAIN = join(projectRoot, 'cli', 'main.ts');
const TOKEN = 'ghp_sweeper_e2e';
const TOKEN_ENV = 'SWEEPER_E2E_GITHUB_TOKEN';
const E2E_LABEL = 'k8s-ee.io/e2e';
const MIN = 60_000;
const HOUR = 60 * MIN;

/** One action of `k8s-ee sweeper --once --output json` (also read by e2e/sweeper-node.test.ts). */
export interface JsonAction {
  kind: string;
  target: { kind: string; name: string };
  reason: string;
  result: string;
  message: string;
  details: Record<string, unknown>;
  note?: string;
}
interface OnceOutput {
  now: string;
  dryRun: boolean;
  runs: { kind: string; completed: boolean; errors: string[]; actions: JsonAction[] }[];
}
interface NamespaceState {
  exists: boolean;
  terminating: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

let cluster: TestCluster;
let gh: FakeGitHub;
let dir: string;

async function writeConfig(project: string, extra = ''): Promise<string> {
  const file = join(dir, `${project}.yaml`);
  const yaml = [
    `namespacePattern: '^(?<project>${project})-pr-(?<number>[1-9][0-9]*)$'`,
    'sweeper:',
    '  github:',
    `    apiUrl: ${gh.url}`,
    `    tokenEnv: ${TOKEN_ENV}`,
    `    repositories: { ${project}: acme/${project} }`,
    extra,
  ].join('\n');
  await writeFile(file, `${yaml}\n`);
  return file;
}

async function once(
  config: string,
  at: number,
  opts: { dryRun?: boolean } = {},
): Promise<{ code: number; out: OnceOutput; stderr: string; actions: JsonAction[] }> {
  const args = [
    MAIN,
    'sweeper',
    '--once',
    '--only',
    'namespaces',
    '--output',
    'json',
    '--kubeconfig',
    cluster.kubeconfig,
    '--config',
    config,
    '--now',
    new Date(at).toISOString(),
  ];
  if (opts.dryRun) args.push('--dry-run');
  const res = await runCommand(process.execPath, args, {
    allowFail: true,
    env: { ...process.env, [TOKEN_ENV]: TOKEN },
  });
  let out: OnceOutput;
  try {
    out = JSON.parse(res.stdout) as OnceOutput;
  } catch {
    throw new Error(`sweeper --once printed no JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
  }
  return { code: res.code, out, stderr: res.stderr, actions: out.runs.flatMap((r) => r.actions) };
}

const summary = (actions: JsonAction[]): string[] =>
  actions.map((a) => `${a.kind} ${a.target.name} ${a.reason} ${a.result}`);

async function namespaceState(name: string): Promise<NamespaceState> {
  const res = await cluster.kubectl(['get', 'namespace', name, '-o', 'json'], { allowFail: true });
  if (res.code !== 0) return { exists: false, terminating: false, labels: {}, annotations: {} };
  const ns = JSON.parse(res.stdout) as {
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  };
  return {
    exists: true,
    terminating: ns.metadata.deletionTimestamp !== undefined,
    labels: ns.metadata.labels ?? {},
    annotations: ns.metadata.annotations ?? {},
  };
}

/**
 * Deleted by the sweeper: Terminating (or gone) at once. Then waits until the namespace controller has finished,
 * so that a later run with the clock moved far ahead does not see it as stuck Terminating.
 */
async function assertDeleted(name: string): Promise<void> {
  const s = await namespaceState(name);
  assert.ok(!s.exists || s.terminating, `${name} should be deleted, but it is still there`);
  for (let i = 0; i < 120 && (await namespaceState(name)).exists; i++) await sleep(500);
}

async function assertUntouched(name: string): Promise<void> {
  const s = await namespaceState(name);
  assert.ok(s.exists && !s.terminating, `${name} should still be there`);
  const sweeperAnnotations = [
    'k8s-ee.io/release-seen-at',
    'k8s-ee.io/release-gone-since',
    'k8s-ee.io/pinned-at',
    'k8s-ee.io/pin-warned-at',
  ];
  assert.deepEqual(
    Object.keys(s.annotations).filter((k) => sweeperAnnotations.includes(k)),
    [],
    `${name} got sweeper annotations`,
  );
}

function managedNamespace(
  name: string,
  project: string,
  pr: number,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: {
        'k8s-ee.io/managed': 'true',
        'k8s-ee.io/project': project,
        'k8s-ee.io/pr': String(pr),
        [E2E_LABEL]: 'sweeper',
        ...extra.labels,
      },
      annotations: { 'k8s-ee.io/created-at': new Date().toISOString(), ...extra.annotations },
    },
  };
}

async function apply(items: unknown[]): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}

async function helmInstall(namespace: string): Promise<void> {
  await cluster.helm(['install', 'app', CHART, '--namespace', namespace]);
}

interface EventItem {
  involvedObject: { name: string; uid?: string };
  reportingComponent?: string;
  count?: number;
  message?: string;
}

/**
 * The Events of `reason` about the given objects, matched by uid (a cluster reused across test runs keeps the
 * Events of earlier namespaces of the same name).
 */
async function events(reason: string, uids: Map<string, string>): Promise<EventItem[]> {
  const res = await cluster.kubectl([
    'get',
    'events',
    '-n',
    'default',
    '--field-selector',
    `reason=${reason}`,
    '-o',
    'json',
  ]);
  const wanted = new Set(uids.values());
  return (JSON.parse(res.stdout) as { items: EventItem[] }).items.filter((e) => wanted.has(e.involvedObject.uid ?? ''));
}

/** name -> uid of namespaces, read while they exist. */
async function namespaceUids(names: string[]): Promise<Map<string, string>> {
  const res = await cluster.kubectl(['get', 'namespaces', ...names, '-o', 'json']);
  type Meta = { metadata: { name: string; uid: string } };
  const parsed = JSON.parse(res.stdout) as Meta | { items: Meta[] };
  const items = 'items' in parsed ? parsed.items : [parsed];
  return new Map(items.map((i) => [i.metadata.name, i.metadata.uid]));
}

interface Daemon {
  port: number;
  logs(): string;
  /** SIGTERM, then the exit code (SIGKILL and 'timeout' after 15 s). */
  stop(): Promise<number | null | 'timeout'>;
}

/** `k8s-ee sweeper` (the long-running sidecar) as a process. */
async function startDaemon(config: string, extra: string[]): Promise<Daemon> {
  const port = await freePort();
  const args = [MAIN, 'sweeper', '--kubeconfig', cluster.kubeconfig, '--config', config, '--port', String(port)];
  const child = spawn(process.execPath, [...args, ...extra], {
    env: { ...process.env, [TOKEN_ENV]: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (logs += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (logs += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    port,
    logs: () => logs,
    async stop() {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') child.kill('SIGKILL');
      return code;
    },
  };
}

before(async () => {
  cluster = await getTestCluster();
  gh = await startFakeGitHub({ token: TOKEN });
  dir = await mkdtemp(join(tmpdir(), 'k8s-ee-sweeper-e2e-'));
});

after(async () => {
  await cluster?.kubectl(['delete', 'namespace', '-l', `${E2E_LABEL}=sweeper`, '--wait=false'], { allowFail: true });
  await cluster?.kubectl(['delete', 'pv', '-l', `${E2E_LABEL}=sweeper`, '--wait=false'], { allowFail: true });
  await gh?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sweeper: orphans, PR states, pins, TTL and the namespaces it must never touch', () => {
  const P = 'sweep';
  let config: string;
  let t0: number;
  let uids: Map<string, string>;

  before(async () => {
    config = await writeConfig(P);
    const prs = [1, 2, 3, 4, 5];
    await apply([
      ...prs.map((n) => managedNamespace(`${P}-pr-${n}`, P, n)),
      managedNamespace(`${P}-preview-1`, P, 1), // the managed labels on a name that does not match
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${P}-pr-77`, labels: { [E2E_LABEL]: 'sweeper' } } }, // a matching name without them
    ]);
    for (const n of prs) {
      await helmInstall(`${P}-pr-${n}`);
      gh.setPull(`acme/${P}`, n, 'open');
    }
    gh.setPull(`acme/${P}`, 77, 'closed');
    uids = await namespaceUids([1, 2, 3, 4, 5].map((n) => `${P}-pr-${n}`));
    t0 = Date.now();
  });

  test('the first sweep marks the 5 environments as deployed and nothing else', async () => {
    const { code, actions } = await once(config, t0);
    assert.equal(code, 0);
    assert.deepEqual(
      summary(actions),
      [1, 2, 3, 4, 5].map((n) => `mark-release-seen ${P}-pr-${n} release-seen done`),
    );
    assert.ok((await namespaceState(`${P}-pr-1`)).annotations['k8s-ee.io/release-seen-at']);
  });

  test('helm uninstall of 2 (one with --keep-history): dry-run reports, then they are gone within one sweep after the grace', async () => {
    await cluster.helm(['uninstall', 'app', '--namespace', `${P}-pr-2`]);
    await cluster.helm(['uninstall', 'app', '--namespace', `${P}-pr-4`, '--keep-history']);
    const marked = await once(config, t0 + 10_000);
    assert.deepEqual(summary(marked.actions), [
      `mark-release-gone ${P}-pr-2 release-gone done`,
      `mark-release-gone ${P}-pr-4 release-gone done`,
    ]);
    // Marked at t0 + 10 s; 20 s later is still within the default grace (30s).
    const withinGrace = await once(config, t0 + 30_000);
    assert.deepEqual(summary(withinGrace.actions), [], 'nothing happens within the grace');

    const dry = await once(config, t0 + 2 * MIN, { dryRun: true });
    assert.equal(dry.out.dryRun, true);
    assert.deepEqual(summary(dry.actions), [
      `delete-namespace ${P}-pr-2 release-gone planned`,
      `delete-namespace ${P}-pr-4 release-gone planned`,
    ]);
    for (const n of [2, 4])
      assert.ok(!(await namespaceState(`${P}-pr-${n}`)).terminating, 'dry-run deleted a namespace');

    const swept = await once(config, t0 + 2 * MIN);
    assert.deepEqual(summary(swept.actions), [
      `delete-namespace ${P}-pr-2 release-gone done`,
      `delete-namespace ${P}-pr-4 release-gone done`,
    ]);
    await assertDeleted(`${P}-pr-2`);
    await assertDeleted(`${P}-pr-4`);
    for (const n of [1, 3, 5]) assert.ok(!(await namespaceState(`${P}-pr-${n}`)).terminating);
    const deletedEvents = (await events('EnvironmentDeleted', uids)).filter(
      (e) => e.involvedObject.name === `${P}-pr-2`,
    );
    assert.equal(deletedEvents.length, 1);
    assert.equal(deletedEvents[0]?.reportingComponent, 'k8s-ee/sweeper');
    assert.match(deletedEvents[0]?.message ?? '', /no live Helm release for/);
  });

  test('GitHub answering 500 or rate-limited deletes nothing; the PR closed on GitHub then goes', async () => {
    gh.setPull(`acme/${P}`, 3, 'closed');
    gh.fail(500);
    const failing = await once(config, t0 + 3 * MIN);
    assert.deepEqual(summary(failing.actions), []);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /GitHub answered HTTP 500/);
    gh.fail(undefined);
    for (const mode of ['primary', 'secondary', '429'] as const) {
      gh.rateLimit(mode);
      const limited = await once(config, t0 + 3 * MIN);
      assert.deepEqual(summary(limited.actions), [], `rate limit ${mode}`);
      assert.match(limited.stderr, /rate limited/);
    }
    gh.rateLimit(undefined);
    assert.ok(!(await namespaceState(`${P}-pr-3`)).terminating);
    const closed = await once(config, t0 + 3 * MIN);
    assert.deepEqual(summary(closed.actions), [`delete-namespace ${P}-pr-3 pr-closed done`]);
    await assertDeleted(`${P}-pr-3`);
  });

  test('a pin protects an orphan for 48h: warned 1h before, then unpinned and swept', async () => {
    await cluster.kubectl(['label', 'namespace', `${P}-pr-1`, 'preserve=true']);
    await cluster.helm(['uninstall', 'app', '--namespace', `${P}-pr-1`]);
    const pinAt = t0 + 4 * MIN;
    const stamped = await once(config, pinAt);
    assert.deepEqual(summary(stamped.actions), [
      `stamp-pin ${P}-pr-1 pin-unstamped done`,
      `mark-release-gone ${P}-pr-1 release-gone done`,
    ]);
    assert.equal((await namespaceState(`${P}-pr-1`)).annotations['k8s-ee.io/pinned-at'], new Date(pinAt).toISOString());
    assert.deepEqual(summary((await once(config, pinAt + HOUR)).actions), [], 'a pinned orphan stays');
    assert.deepEqual(summary((await once(config, pinAt + 47.5 * HOUR)).actions), [
      `warn-pin ${P}-pr-1 pin-expiring done`,
    ]);
    assert.deepEqual(summary((await once(config, pinAt + 47.6 * HOUR)).actions), [], 'warned once');
    const expired = await once(config, pinAt + 48 * HOUR + MIN);
    assert.deepEqual(summary(expired.actions), [
      `unpin ${P}-pr-1 pin-expired done`,
      `delete-namespace ${P}-pr-1 release-gone done`,
    ]);
    await assertDeleted(`${P}-pr-1`);
    assert.equal((await events('PinExpiring', uids)).filter((e) => e.involvedObject.name === `${P}-pr-1`).length, 1);
  });

  test('after the TTL the last environment goes; the unmanaged look-alikes are never touched', async () => {
    const far = await once(config, t0 + 8 * 24 * HOUR);
    assert.deepEqual(summary(far.actions), [`delete-namespace ${P}-pr-5 ttl-expired done`]);
    await assertDeleted(`${P}-pr-5`);
    const farther = await once(config, t0 + 60 * 24 * HOUR);
    assert.deepEqual(summary(farther.actions), []);
    await assertUntouched(`${P}-preview-1`);
    await assertUntouched(`${P}-pr-77`);
  });
});

describe('sweeper: the deletion cap holds with 30 orphans', () => {
  const P = 'swcap';
  let config: string;
  let t1: number;
  let uids: Map<string, string>;

  before(async () => {
    gh.fail(undefined);
    gh.rateLimit(undefined);
    config = await writeConfig(P);
    await apply(Array.from({ length: 30 }, (_, i) => managedNamespace(`${P}-pr-${i + 1}`, P, i + 1)));
    uids = await namespaceUids(Array.from({ length: 30 }, (_, i) => `${P}-pr-${i + 1}`));
    t1 = Date.now();
  });

  test('never-deployed namespaces are marked, then deleted 10 per run with the rest deferred', async () => {
    const marked = await once(config, t1);
    assert.equal(
      marked.actions.filter((a) => a.kind === 'mark-release-gone' && a.reason === 'never-deployed').length,
      30,
    );
    assert.deepEqual(summary((await once(config, t1 + 10 * MIN)).actions), [], 'within neverDeployedGrace');
    const remaining = [20, 10, 0];
    for (const [i, left] of remaining.entries()) {
      const run = await once(config, t1 + (31 + i) * MIN);
      const deleted = run.actions.filter((a) => a.kind === 'delete-namespace' && a.result === 'done');
      const deferred = run.actions.filter((a) => a.kind === 'defer-deletion');
      assert.equal(deleted.length, 10, `run ${i + 1} deleted ${deleted.length}`);
      assert.equal(deferred.length, left, `run ${i + 1} deferred ${deferred.length}`);
      assert.ok(deleted.every((a) => a.reason === 'never-deployed'));
      for (const a of deleted) await assertDeleted(a.target.name);
    }
    const capEvents = await events('DeletionCapReached', uids);
    assert.equal(capEvents.length, 20, 'one Event per deferred namespace (repeats aggregated)');
    assert.ok(capEvents.some((e) => e.count === 2));
  });
});

describe('sweeper: Released volumes of deleted PR namespaces', () => {
  const P = 'swpv';
  let config: string;

  function pv(name: string, claimNamespace: string | undefined): unknown {
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, labels: { [E2E_LABEL]: 'sweeper' } },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: `/tmp/${name}` },
        ...(claimNamespace
          ? {
              claimRef: {
                apiVersion: 'v1',
                kind: 'PersistentVolumeClaim',
                namespace: claimNamespace,
                name: 'data',
                uid: crypto.randomUUID(),
              },
            }
          : {}),
      },
    };
  }

  before(async () => {
    config = await writeConfig(P);
    await apply([managedNamespace(`${P}-pr-2`, P, 2)]);
    await apply([
      pv(`${P}-gone-pr`, `${P}-pr-1`),
      pv(`${P}-live-pr`, `${P}-pr-2`),
      pv(`${P}-not-pr`, 'payments'),
      pv(`${P}-unclaimed`, undefined),
    ]);
    for (const name of [`${P}-gone-pr`, `${P}-live-pr`, `${P}-not-pr`]) {
      await cluster.kubectl([
        'patch',
        'pv',
        name,
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"status":{"phase":"Released"}}',
      ]);
    }
  });

  test('only the Released volume whose PR namespace is gone is deleted, with its capacity counted', async () => {
    const run = await once(config, Date.now());
    const volumes = run.actions.filter((a) => a.target.kind === 'PersistentVolume');
    assert.deepEqual(summary(volumes), [`delete-volume ${P}-gone-pr released-orphan done`]);
    assert.equal(volumes[0]?.details['capacityBytes'], 1024 ** 3);
    const left = await cluster.kubectl([
      'get',
      'pv',
      '-l',
      `${E2E_LABEL}=sweeper`,
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    assert.deepEqual(left.stdout.split(' ').filter(Boolean).sort(), [`${P}-live-pr`, `${P}-not-pr`, `${P}-unclaimed`]);
  });
});

describe('sweeper: behind the admission webhook, as in a real cluster', () => {
  const P = 'swh';

  test('helm upgrade --install --create-namespace, the webhook labels it; after helm uninstall the sweeper removes it', async () => {
    const pattern = `^(?<project>${P})-pr-(?<number>[1-9][0-9]*)$`;
    const webhook = await startWebhook({ cluster, configYaml: `namespacePattern: '${pattern}'\n` });
    try {
      const config = await writeConfig(P);
      gh.fail(undefined);
      gh.rateLimit(undefined);
      gh.setPull(`acme/${P}`, 1, 'open');
      const ns = `${P}-pr-1`;
      await cluster.helm(['upgrade', '--install', 'app', CHART, '--namespace', ns, '--create-namespace']);
      await cluster.kubectl(['label', 'namespace', ns, `${E2E_LABEL}=sweeper`]);
      const labels = (await namespaceState(ns)).labels;
      assert.equal(labels['k8s-ee.io/managed'], 'true', `the webhook did not label ${ns}: ${JSON.stringify(labels)}`);
      const t = Date.now();
      assert.deepEqual(summary((await once(config, t)).actions), [`mark-release-seen ${ns} release-seen done`]);
      await cluster.helm(['uninstall', 'app', '--namespace', ns]);
      assert.deepEqual(summary((await once(config, t + 5_000)).actions), [`mark-release-gone ${ns} release-gone done`]);
      assert.deepEqual(summary((await once(config, t + 70_000)).actions), [`delete-namespace ${ns} release-gone done`]);
      await assertDeleted(ns);
    } finally {
      await webhook.stop();
    }
  });
});

describe('sweeper: the long-running sidecar', () => {
  const P = 'swd';

  test('acts as the Lease holder on its schedule, shows every action on /metrics, and stops on SIGTERM', async () => {
    const config = await writeConfig(
      P,
      ["  schedule: '*/2 * * * * *'", '  releaseGrace: 2s', '  maxDeletionsPerRun: 1'].join('\n'),
    );
    gh.fail(undefined);
    gh.rateLimit(undefined);
    for (let n = 1; n <= 7; n++) gh.setPull(`acme/${P}`, n, 'open');
    const clockOffset = 2 * HOUR;
    const now = Date.now() + clockOffset;
    await apply([
      managedNamespace(`${P}-pr-1`, P, 1),
      managedNamespace(`${P}-pr-2`, P, 2),
      managedNamespace(`${P}-pr-3`, P, 3),
      managedNamespace(`${P}-pr-4`, P, 4, { labels: { preserve: 'true' } }),
      managedNamespace(`${P}-pr-5`, P, 5, {
        labels: { preserve: 'true' },
        annotations: { 'k8s-ee.io/pinned-at': new Date(now - 47.5 * HOUR).toISOString() },
      }),
      managedNamespace(`${P}-pr-6`, P, 6, {
        labels: { preserve: 'true' },
        annotations: { 'k8s-ee.io/pinned-at': new Date(now - 49 * HOUR).toISOString() },
      }),
      managedNamespace(`${P}-pr-7`, P, 7),
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${P}-lease`, labels: { [E2E_LABEL]: 'sweeper' } } },
    ]);
    await helmInstall(`${P}-pr-3`);
    // swd-pr-7 gets stuck Terminating: a ConfigMap whose finalizer nobody removes.
    await apply([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'blocker', namespace: `${P}-pr-7`, finalizers: ['e2e.k8s-ee.io/block'] },
      },
    ]);
    const stuckUid = await namespaceUids([`${P}-pr-7`]);
    await cluster.kubectl(['delete', 'namespace', `${P}-pr-7`, '--wait=false']);
    await apply([
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `${P}-released`, labels: { [E2E_LABEL]: 'sweeper' } },
        spec: {
          capacity: { storage: '2Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: '/tmp/swd' },
          claimRef: { namespace: `${P}-pr-99`, name: 'data', uid: crypto.randomUUID() },
        },
      },
    ]);
    await cluster.kubectl([
      'patch',
      'pv',
      `${P}-released`,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Released"}}',
    ]);

    const daemon = await startDaemon(config, ['--lease-namespace', `${P}-lease`, '--now', new Date(now).toISOString()]);
    const { port } = daemon;
    try {
      const expected = [
        '{kind="mark-release-seen",reason="release-seen",result="done"}',
        '{kind="mark-release-gone",reason="never-deployed",result="done"}',
        '{kind="stamp-pin",reason="pin-unstamped",result="done"}',
        '{kind="warn-pin",reason="pin-expiring",result="done"}',
        '{kind="unpin",reason="pin-expired",result="done"}',
        '{kind="delete-namespace",reason="never-deployed",result="done"}',
        '{kind="defer-deletion",reason="deletion-cap",result="done"}',
        '{kind="delete-volume",reason="released-orphan",result="done"}',
        '{kind="report-stuck",reason="stuck-terminating",result="done"}',
      ];
      let metrics = '';
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.text(),
          () => '',
        );
        if (
          expected.every((e) => metrics.includes(`k8s_ee_sweeper_actions_total${e}`)) &&
          /k8s_ee_sweeper_stuck_namespaces 1/.test(metrics)
        )
          break;
        await sleep(500);
      }
      for (const e of expected)
        assert.ok(
          metrics.includes(`k8s_ee_sweeper_actions_total${e}`),
          `missing ${e} in /metrics:\n${metrics}\n--- logs ---\n${daemon.logs().slice(-4000)}`,
        );
      assert.match(metrics, /k8s_ee_sweeper_runs_total\{kind="namespaces",result="success"\} \d+/);
      assert.match(metrics, /k8s_ee_sweeper_last_success_timestamp_seconds\{kind="namespaces"\} \d+/);
      assert.match(metrics, /k8s_ee_sweeper_capped_deletions_total [1-9]/);
      assert.match(metrics, /k8s_ee_sweeper_freed_bytes_total 2147483648/);
      assert.match(metrics, /k8s_ee_sweeper_stuck_namespaces 1/);
      assert.match(metrics, /k8s_ee_sweeper_leader 1/);
      assert.match(metrics, /k8s_ee_sweeper_pinned_namespaces [12]/);
      assert.match(metrics, /k8s_ee_sweeper_pin_age_seconds\{namespace="swd-pr-5"\} \d+/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
      const lease = JSON.parse(
        (await cluster.kubectl(['get', 'lease', 'k8s-ee-sweeper', '-n', `${P}-lease`, '-o', 'json'])).stdout,
      ) as { spec: { holderIdentity?: string } };
      assert.ok(lease.spec.holderIdentity, 'the Lease has a holder');
      assert.match(daemon.logs(), /"action":"delete-namespace"/);
      // The first report may come before the namespace controller set its conditions; repeats update the Event.
      let stuck: string | undefined;
      for (let i = 0; i < 40 && !/NamespaceFinalizersRemaining/.test(stuck ?? ''); i++) {
        if (i > 0) await sleep(500);
        stuck = (await events('NamespaceStuckTerminating', stuckUid))[0]?.message;
      }
      assert.match(stuck ?? '', /NamespaceFinalizersRemaining: .*e2e\.k8s-ee\.io\/block/);
    } finally {
      const code = await daemon.stop();
      await cluster.kubectl(
        ['patch', 'configmap', 'blocker', '-n', `${P}-pr-7`, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'],
        { allowFail: true },
      );
      assert.equal(code, 0, `the sweeper did not stop cleanly on SIGTERM:\n${daemon.logs().slice(-3000)}`);
    }
    assert.match(daemon.logs(), /sweeper stopped/);
  });
});

/** Resolves when the namespace has a deletionTimestamp (or is gone), with the local time it was seen. */
function watchDeletion(name: string): {
  seen: Promise<{ at: number; annotations: Record<string, string> }>;
  stop(): void;
} {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const watch = new Watch(kc);
  let controller: AbortController | undefined;
  let done = false;
  let settle: (v: { at: number; annotations: Record<string, string> }) => void = () => undefined;
  const seen = new Promise<{ at: number; annotations: Record<string, string> }>((resolve) => (settle = resolve));
  type Ns = { metadata?: { deletionTimestamp?: string; annotations?: Record<string, string> } };
  const onEvent = (type: string, object: Ns) => {
    if (done || (type !== 'DELETED' && !object.metadata?.deletionTimestamp)) return;
    done = true;
    settle({ at: Date.now(), annotations: object.metadata?.annotations ?? {} });
  };
  // client-node ends a watch after 30 s without data; start it again (the first event is the current state).
  const start = async (): Promise<void> => {
    controller = await watch.watch('/api/v1/namespaces', { fieldSelector: `metadata.name=${name}` }, onEvent, () => {
      if (!done) void start();
    });
  };
  void start();
  return {
    seen,
    stop: () => {
      done = true;
      controller?.abort();
    },
  };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('sweeper: helm uninstall acted on as it happens (the release watch)', () => {
  const P = 'swev';
  // K8S_EE_E2E_SWEEPER_GRACE=60s measures the default grace (the test then takes over a minute).
  const grace = process.env['K8S_EE_E2E_SWEEPER_GRACE'] ?? '5s';

  test('default schedule (every minute): the namespace starts deleting about releaseGrace after helm uninstall', async (t) => {
    const graceMs = parseDuration(grace) ?? 5000;
    const config = await writeConfig(P, `  releaseGrace: ${grace}`);
    gh.fail(undefined);
    gh.rateLimit(undefined);
    gh.setPull(`acme/${P}`, 1, 'open');
    const ns = `${P}-pr-1`;
    await apply([
      managedNamespace(ns, P, 1),
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${P}-lease`, labels: { [E2E_LABEL]: 'sweeper' } } },
    ]);
    const daemon = await startDaemon(config, ['--lease-namespace', `${P}-lease`]);
    let deletion: ReturnType<typeof watchDeletion> | undefined;
    try {
      await until('the release watch to sync', 20_000, () => /release watch: synced/.test(daemon.logs()));
      await helmInstall(ns);
      await until(
        'the release to be seen',
        10_000,
        async () => (await namespaceState(ns)).annotations['k8s-ee.io/release-seen-at'] !== undefined,
      );
      deletion = watchDeletion(ns);
      const started = Date.now();
      await cluster.helm(['uninstall', 'app', '--namespace', ns]);
      const uninstalled = Date.now();
      const limitMs = graceMs + 10_000;
      const seen = await Promise.race([deletion.seen, sleep(limitMs + 5000).then(() => undefined)]);
      assert.ok(
        seen,
        `${ns} was not deleted within ${limitMs + 5000} ms of helm uninstall:\n${daemon.logs().slice(-3000)}`,
      );
      const elapsed = seen.at - uninstalled;
      t.diagnostic(
        `helm uninstall -> deletionTimestamp: ${(elapsed / 1000).toFixed(2)} s (releaseGrace ${grace}, schedule '* * * * *')`,
      );
      assert.ok(elapsed <= limitMs, `deletion started ${elapsed} ms after helm uninstall (limit ${limitMs} ms)`);
      const stamp = Date.parse(seen.annotations['k8s-ee.io/release-gone-since'] ?? '');
      assert.ok(
        stamp >= started - 1000 && stamp <= uninstalled + 2000,
        `release-gone-since ${new Date(stamp).toISOString()} is not the time of helm uninstall (${new Date(started).toISOString()})`,
      );
      // The executor counts the action once its Event is written, just after the delete call.
      const deleted = /k8s_ee_sweeper_actions_total\{kind="delete-namespace",reason="release-gone",result="done"\} 1/;
      let metrics = '';
      await until('the deletion on /metrics', 5000, async () => {
        metrics = await (await fetch(`http://127.0.0.1:${daemon.port}/metrics`)).text();
        return deleted.test(metrics);
      });
      assert.match(metrics, /k8s_ee_sweeper_follow_up_runs_total [1-9]/);
    } finally {
      deletion?.stop();
      const code = await daemon.stop();
      assert.equal(code, 0, `the sweeper did not stop cleanly on SIGTERM:\n${daemon.logs().slice(-3000)}`);
    }
  });
});
