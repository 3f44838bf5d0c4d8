// `k8s-ee cluster up|down|kubeconfig` end to end: a real control plane in a folder of its own, the checks of
// issue 3 (readyz, a namespace that really finishes deleting, a ResourceQuota filled and enforced), and
// nothing left running after `down`.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { readState } from '../local/cluster/controlplane.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { isRunning } from '../local/cluster/processes.ts';
import {
  builtInSkipReason,
  runCommand,
  startWatchdog,
  type TestCluster,
  testClusterFor,
} from '../local/harness/cluster.ts';

const cli = (args: string[]): ReturnType<typeof runCommand> =>
  runCommand(process.execPath, [join(projectRoot, 'cli', 'main.ts'), ...args], { allowFail: true });

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${String(timeoutMs / 1000)} s`);
    await sleep(200);
  }
}

const skip = builtInSkipReason();

describe('k8s-ee cluster', { skip }, () => {
  let dir = '';
  let kubeconfig = '';
  let cluster: TestCluster;
  let stopWatchdog = (): void => undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-cluster-test-'));
  });

  after(async () => {
    await cli(['cluster', 'down', '--dir', dir]);
    stopWatchdog();
    await rm(dir, { recursive: true, force: true });
  });

  test('up starts a control plane and prints the kubeconfig path last', async () => {
    const up = await cli(['cluster', 'up', '--dir', dir]);
    assert.equal(up.code, 0, up.stderr);
    kubeconfig = up.stdout.trim().split('\n').at(-1) ?? '';
    assert.equal(kubeconfig, join(dir, 'kubeconfig'));
    assert.ok(existsSync(kubeconfig));
    cluster = testClusterFor(kubeconfig, true);
    stopWatchdog = startWatchdog(dir); // should this test process die before down, the cluster goes with it
  });

  test('a second up says one already runs, and kubeconfig prints the same path', async () => {
    const again = await cli(['cluster', 'up', '--dir', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already runs/);
    assert.equal(again.stdout.trim(), kubeconfig);
    const printed = await cli(['cluster', 'kubeconfig', '--dir', dir]);
    assert.equal(printed.stdout.trim(), kubeconfig);
  });

  test('kubectl get --raw /readyz answers ok; default and kube-system exist', async () => {
    assert.equal((await cluster.kubectl(['get', '--raw', '/readyz'])).stdout.trim(), 'ok');
    const names = (
      await cluster.kubectl(['get', 'namespaces', '-o', 'jsonpath={.items[*].metadata.name}'])
    ).stdout.split(' ');
    assert.ok(names.includes('default') && names.includes('kube-system'), names.join(' '));
  });

  test('the admin is cluster-admin and another user is limited by RBAC', async () => {
    assert.equal((await cluster.kubectl(['auth', 'can-i', '*', '*'])).stdout.trim(), 'yes');
    const nobody = await cluster.kubectl(['auth', 'can-i', 'list', 'secrets', '--as=e2e-nobody'], { allowFail: true });
    assert.equal(nobody.stdout.trim(), 'no');
  });

  test('a deleted namespace with content is gone within 30 s (namespace controller)', async () => {
    await cluster.kubectl(['create', 'namespace', 'e2e-delete-me']);
    await cluster.kubectl(['create', 'configmap', 'content', '-n', 'e2e-delete-me', '--from-literal=a=b']);
    await cluster.kubectl(['delete', 'namespace', 'e2e-delete-me', '--wait=false']);
    await until('namespace e2e-delete-me gone', 30_000, async () => {
      const got = await cluster.kubectl(['get', 'namespace', 'e2e-delete-me'], { allowFail: true });
      return got.code !== 0 && /NotFound/.test(got.stderr) ? true : undefined;
    });
  });

  test('a ResourceQuota gets status.hard filled and is enforced', async () => {
    await cluster.kubectl(['create', 'namespace', 'e2e-quota']);
    await cluster.kubectl(['create', 'quota', 'q', '-n', 'e2e-quota', '--hard=pods=2,requests.cpu=500m']);
    const hard = await until('status.hard of quota q', 30_000, async () => {
      const out = (await cluster.kubectl(['get', 'quota', 'q', '-n', 'e2e-quota', '-o', 'jsonpath={.status.hard}']))
        .stdout;
      return out ? (JSON.parse(out) as Record<string, string>) : undefined;
    });
    assert.deepEqual(hard, { pods: '2', 'requests.cpu': '500m' });
    // Pods need the namespace's default service account (ServiceAccount admission): the controller makes it.
    await until('service account default in e2e-quota', 30_000, async () =>
      (await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', 'e2e-quota'], { allowFail: true })).code === 0
        ? true
        : undefined,
    );
    const pod = (name: string): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '200m' } } }] },
      });
    await cluster.kubectl(['create', '-n', 'e2e-quota', '-f', '-'], { input: pod('one') });
    await cluster.kubectl(['create', '-n', 'e2e-quota', '-f', '-'], { input: pod('two') });
    const third = await cluster.kubectl(['create', '-n', 'e2e-quota', '-f', '-'], {
      input: pod('three'),
      allowFail: true,
    });
    assert.notEqual(third.code, 0);
    assert.match(third.stderr, /exceeded quota: q/);
  });

  test('down stops every process and removes the data', async () => {
    const state = await readState(dir);
    assert.ok(state);
    assert.equal(state.processes.length, 3);
    assert.ok(state.processes.every(isRunning));
    const down = await cli(['cluster', 'down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.name} (pid ${String(p.pid)}) still runs`);
    assert.equal(existsSync(join(dir, 'etcd')), false);
    assert.equal(existsSync(kubeconfig), false);
    assert.ok(existsSync(join(dir, 'logs', 'kube-apiserver.log')), 'logs are kept');
  });
});
