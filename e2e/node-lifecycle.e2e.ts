// `k8s-ee cluster up|down` with a real node, end to end, and what it leaves on the host. Runs in a test run of
// its own (after the main e2e run has released the machine's only node: see package.json's test:e2e), as root
// on Linux; skipped with the reason elsewhere.
// Checks: one Ready node; a pod runs, its logs and exec work through the kubelet's authenticated API; the
// kubelet refuses anonymous callers; a connection to an unassigned service IP fails on this machine and the
// route never points at the default gateway; `up` after a crash (everything SIGKILLed) cleans what was left and
// comes up again; `down` leaves no process, bridge, nft table, mount, network namespace, cgroup or sysctl change.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readState } from '../local/cluster/controlplane.ts';
import { nodeSupport } from '../local/cluster/node-setup.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { runCommand, startWatchdog, type TestCluster, testClusterFor } from '../local/harness/cluster.ts';
import { sh } from '../local/node/host.ts';
import { HOST, NET, SAVED_SYSCTLS } from '../local/node/layout.ts';

const cli = (args: string[]): ReturnType<typeof runCommand> =>
  runCommand(process.execPath, [join(projectRoot, 'cli', 'main.ts'), ...args], { allowFail: true });

const support = nodeSupport();
const skip = support.ok ? false : support.why;
if (skip) console.log(`e2e/node-lifecycle: skipped: ${skip}`);

interface HostSnapshot {
  links: string[];
  tables: string[];
  routes: string[];
  mounts: string[];
  netns: string[];
  sysctls: Record<string, string>;
  cgroupRoots: string[];
}

async function snapshot(): Promise<HostSnapshot> {
  const lines = (text: string): string[] =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const sysctls: Record<string, string> = {};
  for (const key of SAVED_SYSCTLS)
    if (existsSync(`/proc/sys/${key}`)) sysctls[key] = readFileSync(`/proc/sys/${key}`, 'utf8').trim();
  return {
    links: lines(await sh('ip', ['-o', 'link', 'show'])).map((l) => l.split(':')[1]?.trim() ?? ''),
    tables: lines(await sh('nft', ['list', 'tables'])),
    routes: lines(await sh('ip', ['route', 'show'])),
    mounts: lines(readFileSync('/proc/self/mountinfo', 'utf8')).map((l) => l.split(' ')[4] ?? ''),
    netns: lines(await sh('ip', ['netns', 'list'])),
    sysctls,
    cgroupRoots: readdirSync('/sys/fs/cgroup').filter((h) => existsSync(join('/sys/fs/cgroup', h, HOST.cgroupRoot))),
  };
}

/** Pids of processes running one of the binaries in `dir`'s recorded state (or the shim). */
function ourProcesses(binaries: string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const exe = readlinkSync(`/proc/${pid}/exe`);
      if (binaries.includes(exe)) found.push(`${pid} ${exe}`);
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${String(timeoutMs / 1000)} s`);
    await sleep(250);
  }
}

function anonymousStatus(url: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const POD = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'hello', namespace: 'node-e2e' },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'app',
        image: 'k8s-ee.local/sample-app:dev',
        imagePullPolicy: 'Never',
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        ],
        securityContext: {
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      },
    ],
  },
});

describe('k8s-ee cluster with a node', { skip }, () => {
  let dir = '';
  let cluster: TestCluster;
  let before0: HostSnapshot;
  let binaries: string[] = [];
  let stopWatchdog = (): void => undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-node-test-'));
    before0 = await snapshot();
  });

  after(async () => {
    await cli(['cluster', 'down', '--dir', dir]);
    stopWatchdog();
    await rm(dir, { recursive: true, force: true });
  });

  const up = async (): Promise<void> => {
    const res = await cli(['cluster', 'up', '--dir', dir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Ready/);
    const kubeconfig = res.stdout.trim().split('\n').at(-1) ?? '';
    assert.equal(kubeconfig, join(dir, 'kubeconfig'));
    cluster = testClusterFor(kubeconfig, true, true);
    const state = await readState(dir);
    assert.ok(state?.node, 'the state records the node');
    binaries = [...new Set([...state.processes.map((p) => p.binary), state.node.shim])];
  };

  test('up starts a control plane and one Ready node', async () => {
    await up();
    stopWatchdog = startWatchdog(dir);
    const nodes = JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; status: { nodeInfo: { kubeletVersion: string } } }[];
    };
    assert.deepEqual(
      nodes.items.map((n) => n.metadata.name),
      [HOST.nodeName],
    );
    assert.match(nodes.items[0]!.status.nodeInfo.kubeletVersion, /^v1\.35\./);
  });

  test('a pod runs; its logs, exec and the app answer through the real kubelet', async () => {
    await cluster.kubectl(['create', 'namespace', 'node-e2e']);
    await until('service account default', 30_000, async () =>
      (await cluster.kubectl(['get', 'sa', 'default', '-n', 'node-e2e'], { allowFail: true })).code === 0
        ? true
        : undefined,
    );
    await cluster.kubectl(['apply', '-f', '-'], { input: POD });
    await cluster.kubectl(['wait', '-n', 'node-e2e', 'pod/hello', '--for=condition=Ready', '--timeout=120s']);
    const ip = (await cluster.kubectl(['get', 'pod', 'hello', '-n', 'node-e2e', '-o', 'jsonpath={.status.podIP}']))
      .stdout;
    assert.match(ip, /^10\.0\.128\.\d+$/);
    const answer = await cluster.kubectl([
      'exec',
      '-n',
      'node-e2e',
      'hello',
      '--',
      'sh',
      '-c',
      'id -u; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 127.0.0.1 8080',
    ]);
    assert.match(answer.stdout, /^10001$/m);
    assert.match(answer.stdout, /namespace=node-e2e pod=hello/);
    const logs = await cluster.kubectl(['logs', '-n', 'node-e2e', 'hello']);
    assert.ok(logs.stdout.length > 0 || logs.code === 0);
  });

  test('the kubelet API refuses anonymous callers', async () => {
    const state = await readState(dir);
    const status = await anonymousStatus(`https://${NET.nodeIp}:${String(state!.node!.ports.kubelet)}/pods`);
    assert.equal(status, 401);
  });

  test('cluster addresses stay on this machine: an unassigned service IP fails here, never via the gateway', async () => {
    const route = await sh('ip', ['route', 'get', '10.0.0.201']);
    assert.match(route, new RegExp(`dev ${HOST.bridge} `), route);
    const podRoute = await sh('ip', ['route', 'get', '10.0.128.250']);
    assert.match(podRoute, new RegExp(`dev ${HOST.bridge} `), podRoute);
    const guard = await sh('nft', ['list', 'table', 'inet', HOST.guardTable]);
    assert.match(guard, /ip daddr 10\.0\.0\.0\/16/);
    const tried = await runCommand('bash', ['-c', 'timeout 8 bash -c "echo > /dev/tcp/10.0.0.201/80"'], {
      allowFail: true,
    });
    assert.notEqual(tried.code, 0, 'nothing answers an unassigned service IP');
  });

  test('containerd never pulls: any registry resolves to a closed port on 127.0.0.1, with no DNS lookup', async () => {
    const state = await readState(dir);
    const endpoint = `unix://${join(HOST.runDir, 'containerd.sock')}`;
    for (const image of ['docker.io/library/nginx:1.27', 'k8s-ee.local/not-built:dev', 'ghcr.io/k8s-ee/k8s-ee:0.1.0']) {
      const pull = await runCommand(state!.node!.crictl, ['--runtime-endpoint', endpoint, 'pull', image], {
        allowFail: true,
      });
      assert.notEqual(pull.code, 0);
      assert.match(`${pull.stderr}${pull.stdout}`, /127\.0\.0\.1:9\b.*connection refused/, image);
    }
  });

  test('cluster images lists the locally built images', async () => {
    const res = await cli(['cluster', 'images', '--dir', dir]);
    assert.equal(res.code, 0, res.stderr);
    for (const ref of ['k8s-ee.local/pause', 'k8s-ee.local/sample-app', 'k8s-ee.local/k8s-ee'])
      assert.ok(res.stdout.includes(ref), `${ref} in\n${res.stdout}`);
  });

  test('up after a crash (every process SIGKILLed) cleans what was left and starts again', async () => {
    const state = await readState(dir);
    for (const p of state!.processes) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await until('processes gone', 10_000, () =>
      Promise.resolve(state!.processes.every((p) => !existsSync(`/proc/${String(p.pid)}/exe`)) ? true : undefined),
    );
    await up();
    await cluster.kubectl(['get', 'nodes']);
  });

  test('down leaves no process, bridge, nft table, route, mount, netns, cgroup or sysctl change behind', async () => {
    const res = await cli(['cluster', 'down', '--dir', dir]);
    assert.equal(res.code, 0, res.stderr);
    stopWatchdog();
    assert.deepEqual(ourProcesses(binaries), []);
    const now = await snapshot();
    assert.deepEqual(now, before0);
    assert.equal(existsSync(HOST.runDir), false);
  });

  test('--no-node: a control plane alone still routes the service range to the bridge, and down removes it', async () => {
    const res = await cli(['cluster', 'up', '--no-node', '--dir', dir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /no node \(control plane only\): --no-node was given/);
    const state = await readState(dir);
    assert.equal(state?.node, undefined);
    assert.equal(state?.hostGuard, true);
    assert.match(await sh('ip', ['route', 'get', '10.0.0.77']), new RegExp(`dev ${HOST.bridge} `));
    assert.match(await sh('nft', ['list', 'tables']), new RegExp(HOST.guardTable));
    const down = await cli(['cluster', 'down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await snapshot(), before0);
  });
});
