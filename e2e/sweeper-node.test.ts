// The sweeper's data-plane checks on the built-in cluster's real node (kubelet + containerd): `k8s-ee sweeper` runs
// as a local process against the cluster (as in e2e/sweeper.test.ts), PR namespaces are labelled and given their
// baseline by the real webhook (local/harness/webhook.ts), and pods really run.
//
// 1. A Released static `local` volume of a deleted PR is deleted by the sweeper; what the pod wrote stays on the
//    node's disk (sweeper/README.md: the sweeper deletes the PersistentVolume object, never node storage).
// 2. The node disk ratio comes from the real kubelet summary API and matches statfs of the kubelet's root dir.
// 3. Image cleanup for real: the prune Job (node-tools image, crictl, pinned to the node) removes images no
//    container uses; the pinned sandbox image and the images of running pods stay; the image filesystem's drop
//    shows in k8s_ee_sweeper_image_prune_freed_bytes_total.
//
// Needs the built-in cluster with its node (host paths of the node and its containerd socket): skipped with the
// reason printed otherwise. Everything it creates is named swn-* or labelled k8s-ee.io/e2e=sweeper-node and removed
// at the end. The node is shared with other tests: `crictl rmi --prune` removes every image no container uses, so
// before the prune runs a keeper pod runs every image that was on the node before this test (and the test refuses
// to prune if an image would still be unprotected).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { readState } from '../local/cluster/controlplane.ts';
import { freePort } from '../local/cluster/net.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { BUILTIN_NODE_ENV, getTestCluster, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';
import { HOST, nodeLayout } from '../local/node/layout.ts';
import { imagePruneJob } from '../sweeper/kube.ts';
import type { JsonAction } from './sweeper.test.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MAIN = join(projectRoot, 'cli', 'main.ts');
const P = 'swn';
const PATTERN = `^(?<project>${P})-pr-(?<number>[1-9][0-9]*)$`;
const E2E_LABEL = 'k8s-ee.io/e2e';
const E2E_VALUE = 'sweeper-node';
/** The sweeper's own namespace (its Lease and its prune Jobs), as k8s-ee-system is for the chart's sweeper. */
const SYSTEM_NS = `${P}-system`;
const PV_NS = `${P}-pr-1`;
const APP_NS = `${P}-pr-2`;
const PV_NAME = `${P}-local-1`;
const STORAGE_CLASS = `${P}-local`;
const SAMPLE_APP = 'k8s-ee.local/sample-app:dev';
const NODE_TOOLS = 'k8s-ee.local/node-tools:dev';
const UNUSED = ['k8s-ee.local/swn-unused-a:dev', 'k8s-ee.local/swn-unused-b:dev'];
/** Another name of the running pod's image (same image id): crictl prunes by id, so it stays. */
const ALIAS = 'k8s-ee.local/swn-alias:dev';
const UNUSED_LAYER_BYTES = 8 * 1024 * 1024;
const MiB = 1024 * 1024;

interface NodeFacts {
  name: string;
  socket: string;
  kubeletRoot: string;
  crictl: string;
  ctr: string;
}

/** The node's host paths, or why this file cannot run. */
async function nodeFacts(cluster: TestCluster): Promise<NodeFacts | string> {
  if (!cluster.node) {
    const why = process.env[BUILTIN_NODE_ENV]?.replace(/^no: /, '') ?? 'this machine cannot run one (root on Linux)';
    return `the built-in cluster has no node, so pods never run: ${why}`;
  }
  if (!cluster.builtIn) return 'needs the built-in cluster: the checks read its node folders and containerd socket';
  const dir = dirname(cluster.kubeconfig);
  const state = await readState(dir);
  const containerd = state?.processes.find((p) => p.name === 'containerd');
  if (!state?.node || !containerd) return `no node recorded in ${dir}/state.json`;
  const layout = nodeLayout(dir, state.node.ports, state.server);
  return {
    name: state.node.name,
    socket: layout.containerdSocket,
    kubeletRoot: layout.kubeletRoot,
    crictl: state.node.crictl,
    ctr: join(dirname(containerd.binary), 'ctr'),
  };
}

const cluster = await getTestCluster();
const facts = await nodeFacts(cluster);
const skip = typeof facts === 'string' ? facts : false;
if (skip) console.log(`e2e/sweeper-node: skipped: ${skip}`);
const node = typeof facts === 'string' ? undefined : facts;

let dir: string;
let webhook: StartedWebhook | undefined;

// ---- small helpers --------------------------------------------------------------------------------------------

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

async function getJson(args: string[]): Promise<Json | undefined> {
  const r = await cluster.kubectl([...args, '-o', 'json'], { allowFail: true });
  return r.code === 0 ? (JSON.parse(r.stdout) as Json) : undefined;
}

async function apply(items: Json[]): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}

const crictl = (args: string[]) => runCommand(node!.crictl, ['--runtime-endpoint', `unix://${node!.socket}`, ...args]);
const ctr = (args: string[]) => runCommand(node!.ctr, ['--address', node!.socket, '--namespace', 'k8s.io', ...args]);

interface CriImage {
  id: string;
  repoTags: string[];
  pinned: boolean;
}

async function images(): Promise<CriImage[]> {
  const out = JSON.parse((await crictl(['images', '-o', 'json'])).stdout) as { images: Json[] };
  return out.images.map((i) => ({
    id: String(i['id']),
    repoTags: (i['repoTags'] as string[]) ?? [],
    pinned: !!i['pinned'],
  }));
}

/** Ids of the images of every container on the node (running or not), as `crictl rmi --prune` counts them. */
async function usedImageIds(): Promise<Set<string>> {
  const out = JSON.parse((await crictl(['ps', '-a', '-o', 'json'])).stdout) as { containers: Json[] };
  return new Set(out.containers.map((c) => String(c['imageRef'])));
}

async function summary(): Promise<Json> {
  const r = await cluster.kubectl(['get', '--raw', `/api/v1/nodes/${node!.name}/proxy/stats/summary`]);
  return JSON.parse(r.stdout) as Json;
}

async function podPhase(ns: string, name: string): Promise<string | undefined> {
  return (await getJson(['get', 'pod', name, '-n', ns]))?.['status']?.['phase'] as string | undefined;
}

async function waitRunning(ns: string, name: string, timeoutMs = 90_000): Promise<void> {
  try {
    await until(`pod ${ns}/${name} Running`, timeoutMs, async () => (await podPhase(ns, name)) === 'Running');
  } catch (err) {
    const described = await cluster.kubectl(['describe', 'pod', name, '-n', ns], { allowFail: true });
    throw new Error(`${(err as Error).message}\n${described.stdout}${described.stderr}`, { cause: err });
  }
}

async function waitNamespaceGone(name: string, timeoutMs = 120_000): Promise<void> {
  await until(`namespace ${name} to be gone`, timeoutMs, async () => {
    const r = await cluster.kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name'], {
      allowFail: true,
    });
    return r.code === 0 && r.stdout.trim() === '';
  });
}

/** A namespace of this file; PR namespaces get their labels and baseline from the webhook. */
function namespace(name: string, labels: Record<string, string> = {}): Json {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [E2E_LABEL]: E2E_VALUE, ...labels } } };
}

async function writeConfig(name: string, sweeper: string[]): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  const lines = sweeper.length > 0 ? ['sweeper:', ...sweeper.map((l) => `  ${l}`)] : [];
  await writeFile(file, [`namespacePattern: '${PATTERN}'`, ...lines, ''].join('\n'));
  return file;
}

/** `k8s-ee sweeper --once --only KIND --output json`. */
async function once(config: string, only: 'namespaces' | 'disk'): Promise<{ code: number; actions: JsonAction[] }> {
  const args = [MAIN, 'sweeper', '--once', '--only', only, '--output', 'json', '--kubeconfig', cluster.kubeconfig];
  const r = await runCommand(process.execPath, [...args, '--config', config, '--lease-namespace', SYSTEM_NS], {
    allowFail: true,
  });
  try {
    const out = JSON.parse(r.stdout) as { runs: { actions: JsonAction[] }[] };
    return { code: r.code, actions: out.runs.flatMap((x) => x.actions) };
  } catch {
    throw new Error(`sweeper --once printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

interface Daemon {
  metrics(): Promise<string>;
  logs(): string;
  stop(): Promise<number | null | 'timeout'>;
}

/** The long-running sidecar, leading through a Lease in SYSTEM_NS (so its prune Jobs go there). */
async function startDaemon(config: string): Promise<Daemon> {
  const port = await freePort();
  const args = [MAIN, 'sweeper', '--kubeconfig', cluster.kubeconfig, '--config', config, '--port', String(port)];
  const child = spawn(process.execPath, [...args, '--lease-namespace', SYSTEM_NS], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (logs += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (logs += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    metrics: () =>
      fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      ),
    logs: () => logs,
    async stop() {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') child.kill('SIGKILL');
      return code;
    },
  };
}

/** The value of a metric line (name with its labels, exactly), or undefined. */
function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface EventItem {
  reason: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  reportingComponent?: string;
  involvedObject: { kind: string; name: string; uid?: string };
}

async function events(reason: string, filter: (e: EventItem) => boolean): Promise<EventItem[]> {
  const list = await getJson(['get', 'events', '-n', 'default', '--field-selector', `reason=${reason}`]);
  return ((list?.['items'] as EventItem[] | undefined) ?? []).filter(filter);
}

// ---- suite ------------------------------------------------------------------------------------------------------

describe('sweeper on a real node', { skip }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-ee-sweeper-node-'));
    await cleanUp();
    webhook = await startWebhook({ cluster, configYaml: `namespacePattern: '${PATTERN}'\n` });
    // The prune Job runs as root with a hostPath: its namespace must allow that (sweeper/README.md).
    await apply([namespace(SYSTEM_NS, { 'pod-security.kubernetes.io/enforce': 'privileged' })]);
  });

  after(async () => {
    await cleanUp();
    await webhook?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('1. a Released volume of a deleted PR', () => {
    test('is deleted by the sweeper once the namespace is gone; the data the pod wrote stays on the node', async (t) => {
      const data = join(dir, 'pv-data');
      await mkdir(data);
      await chmod(dir, 0o755);
      await chmod(data, 0o777); // the pod runs as a non-root user
      await apply([
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: PV_NAME, labels: { [E2E_LABEL]: E2E_VALUE } },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: STORAGE_CLASS,
            volumeMode: 'Filesystem',
            local: { path: data },
            nodeAffinity: {
              required: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node!.name] }] },
                ],
              },
            },
          },
        },
        namespace(PV_NS),
      ]);
      const ns = await getJson(['get', 'namespace', PV_NS]);
      assert.equal(ns?.['metadata']?.['labels']?.['pod-security.kubernetes.io/enforce'], 'restricted');
      await apply([
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', namespace: PV_NS },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: STORAGE_CLASS,
            volumeName: PV_NAME,
            resources: { requests: { storage: '100Mi' } },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'writer', namespace: PV_NS },
          spec: {
            terminationGracePeriodSeconds: 1,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            containers: [
              {
                name: 'app',
                image: SAMPLE_APP,
                imagePullPolicy: 'Never',
                command: [
                  'sh',
                  '-c',
                  'echo "written by $POD_NAMESPACE/$POD_NAME" > /data/hello.txt && exec sleep 3600',
                ],
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
            volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
          },
        },
      ]);
      await waitRunning(PV_NS, 'writer');
      const file = join(data, 'hello.txt');
      const written = await until('the pod to write its file', 30_000, async () =>
        existsSync(file) ? await readFile(file, 'utf8') : undefined,
      );
      assert.equal(written, `written by ${PV_NS}/writer\n`);
      const pv = await getJson(['get', 'pv', PV_NAME]);
      assert.equal(pv?.['status']?.['phase'], 'Bound');
      const pvUid = String(pv?.['metadata']?.['uid']);

      const deleted = Date.now();
      await cluster.kubectl(['delete', 'namespace', PV_NS, '--wait=false']);
      await waitNamespaceGone(PV_NS);
      await until(
        `PersistentVolume ${PV_NAME} Released`,
        60_000,
        async () => (await getJson(['get', 'pv', PV_NAME]))?.['status']?.['phase'] === 'Released',
      );
      t.diagnostic(`namespace deletion -> volume Released: ${((Date.now() - deleted) / 1000).toFixed(1)} s`);

      const config = await writeConfig('volumes', []);
      const run = await once(config, 'namespaces');
      const volumes = run.actions.filter((a) => a.target.kind === 'PersistentVolume');
      assert.deepEqual(
        volumes.map((a) => `${a.kind} ${a.target.name} ${a.reason} ${a.result}`),
        [`delete-volume ${PV_NAME} released-orphan done`],
      );
      assert.equal(volumes[0]?.details['capacityBytes'], 1024 ** 3);
      await until(
        `PersistentVolume ${PV_NAME} to be gone`,
        30_000,
        async () => !(await getJson(['get', 'pv', PV_NAME])),
      );
      const [event] = await events('VolumeDeleted', (e) => e.involvedObject.uid === pvUid);
      assert.equal(event?.reportingComponent, 'k8s-ee/sweeper');
      assert.equal(event?.message, `Released volume of deleted namespace ${PV_NS} (claim ${PV_NS}/data) deleted`);
      // sweeper/README.md: the sweeper deletes the PersistentVolume object; a static volume's folder stays.
      assert.equal(await readFile(file, 'utf8'), written, 'the data on the node is left as it was');
    });
  });

  describe('2. node disk from the real kubelet summary', () => {
    test('the disk ratio of the node is on /metrics and matches statfs of the kubelet root dir', async (t) => {
      const config = await writeConfig('disk', ["diskSchedule: '*/2 * * * * *'", "schedule: '0 0 1 1 *'"]);
      const daemon = await startDaemon(config);
      const series = `k8s_ee_sweeper_node_disk_usage_ratio{node="${node!.name}"}`;
      let ratio: number | undefined;
      try {
        ratio = await until('the disk ratio on /metrics', 30_000, async () =>
          metricValue(await daemon.metrics(), series),
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${daemon.logs().slice(-3000)}`, { cause: err });
      } finally {
        assert.equal(await daemon.stop(), 0, `the sweeper did not stop cleanly:\n${daemon.logs().slice(-3000)}`);
      }
      const fs = await statfs(node!.kubeletRoot);
      const fsSummary = (await summary())['node']['fs'] as Json;
      const capacity = fs.blocks * fs.bsize;
      const available = fs.bavail * fs.bsize;
      const used = (fs.blocks - fs.bfree) * fs.bsize;
      const kubeletRatio = 1 - available / capacity;
      const dfUse = used / (used + available);
      t.diagnostic(
        `sweeper ${ratio.toFixed(4)}; statfs of ${node!.kubeletRoot}: 1 - avail/size ${kubeletRatio.toFixed(4)}, ` +
          `used/size ${(used / capacity).toFixed(4)}, df Use% ${(dfUse * 100).toFixed(1)}% ` +
          `(size ${capacity}, used ${used}, avail ${available})`,
      );
      // The kubelet reports the same filesystem as df: same size, used and available within 1% of the size.
      assert.equal(fsSummary?.['capacityBytes'], capacity);
      assert.ok(Math.abs(Number(fsSummary?.['availableBytes']) - available) < 0.01 * capacity);
      assert.ok(Math.abs(Number(fsSummary?.['usedBytes']) - used) < 0.01 * capacity);
      // The sweeper's ratio is the kubelet's (image GC, eviction): reserved blocks count as full.
      assert.ok(
        Math.abs(ratio - kubeletRatio) < 0.02,
        `sweeper ratio ${ratio} vs 1 - available/size ${kubeletRatio} from statfs`,
      );
    });
  });

  describe('3. image cleanup for real', () => {
    test('the prune Job is admitted in the sweeper namespace by PodSecurity only when it allows privileged pods', async () => {
      await apply([
        namespace(`${P}-nolabels`),
        namespace(`${P}-baseline`, { 'pod-security.kubernetes.io/enforce': 'baseline' }),
      ]);
      const pod = (ns: string): Json => {
        const job = imagePruneJob(node!.name, NODE_TOOLS, ns);
        return {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'prune-probe', namespace: ns },
          spec: job.spec?.template.spec,
        };
      };
      const dryRun = (ns: string) =>
        cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod(ns)), allowFail: true });
      // Labelled privileged (as this test labels its sweeper namespace), and without any label (what
      // `helm install --create-namespace` leaves, judged by the API server's default level, privileged here).
      for (const ns of [SYSTEM_NS, `${P}-nolabels`]) {
        const r = await dryRun(ns);
        assert.equal(r.code, 0, `the prune pod was refused in ${ns}: ${r.stderr}`);
      }
      const refused = await dryRun(`${P}-baseline`);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /violates PodSecurity "baseline:latest": hostPath volumes \(volume "run"\)/);
    });

    test("unused images are removed; the sandbox image and the running pods' images stay; the drop is counted", async (t) => {
      const before = await images();
      const pinned = before.filter((i) => i.pinned).flatMap((i) => i.repoTags);
      assert.ok(pinned.includes(HOST.sandboxImage), `the sandbox image is pinned: ${JSON.stringify(before)}`);

      // Two images no pod uses, each with its own 8 MiB layer, and a second name of the running app's image.
      for (const ref of UNUSED) await ctr(['images', 'import', await unusedImageArchive(ref)]);
      await ctr(['images', 'tag', '--force', SAMPLE_APP, ALIAS]);
      const imported = Date.now();

      // A PR environment running the sample app, and a keeper pod running every other image the node had.
      await apply([namespace(APP_NS)]);
      await apply([appPod(APP_NS)]);
      const keep = before.filter((i) => !i.pinned && !i.repoTags.includes(SAMPLE_APP) && i.repoTags.length > 0);
      await apply([keeperPod(keep.map((i) => i.repoTags[0]!))]);
      await waitRunning(APP_NS, 'app');
      await waitRunning(SYSTEM_NS, 'keeper');
      const used = await usedImageIds();
      const mine = new Set((await images()).filter((i) => i.repoTags.some((r) => UNUSED.includes(r))).map((i) => i.id));
      assert.equal(mine.size, UNUSED.length);
      const exposed = (await images()).filter((i) => !i.pinned && !used.has(i.id) && !mine.has(i.id));
      assert.deepEqual(exposed, [], 'refusing to prune: these images of other tests are used by no container');

      // The sweeper starts the Job on a sample of the image filesystem that already holds the new images.
      const sizeBefore = await until('an image filesystem sample taken after the import', 30_000, async () => {
        const fs = (await summary())['node']['runtime']['imageFs'] as Json;
        return Date.parse(String(fs['time'])) > imported + 1000 ? Number(fs['usedBytes']) : undefined;
      });
      const config = await writeConfig('prune', [
        "diskSchedule: '*/3 * * * * *'",
        "schedule: '0 0 1 1 *'",
        `imagePrune: { enabled: true, thresholdRatio: 0.01, image: '${NODE_TOOLS}' }`,
      ]);
      const daemon = await startDaemon(config);
      const freedSeries = `k8s_ee_sweeper_image_prune_freed_bytes_total{node="${node!.name}"}`;
      let metrics = '';
      let jobPod: Json | undefined;
      let pruneLog: string | undefined;
      const started = Date.now();
      try {
        await until('the finished prune on /metrics', 120_000, async () => {
          const pods = await getJson(['get', 'pods', '-n', SYSTEM_NS, '-l', 'app.kubernetes.io/component=image-prune']);
          const items = (pods?.['items'] as Json[] | undefined) ?? [];
          jobPod ??= items[0];
          // Its log, if read before the sweeper deletes the finished Job (and its pod) with the accounting.
          const done = items.find((p) => p['status']?.['phase'] === 'Succeeded');
          if (done && pruneLog === undefined) {
            const r = await cluster.kubectl(['logs', '-n', SYSTEM_NS, String(done['metadata']['name'])], {
              allowFail: true,
            });
            if (r.code === 0) pruneLog = r.stdout;
          }
          metrics = await daemon.metrics();
          return metricValue(metrics, freedSeries) !== undefined;
        });
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${daemon.logs().slice(-4000)}`, { cause: err });
      } finally {
        assert.equal(await daemon.stop(), 0, `the sweeper did not stop cleanly:\n${daemon.logs().slice(-3000)}`);
        await stopPruneJobs();
      }
      const freed = metricValue(metrics, freedSeries)!;
      t.diagnostic(
        `prune started -> accounted: ${((Date.now() - started) / 1000).toFixed(1)} s; image filesystem ` +
          `${(sizeBefore / MiB).toFixed(1)} MiB before, ${(freed / MiB).toFixed(1)} MiB freed`,
      );
      t.diagnostic(`prune Job log: ${pruneLog?.trim().replace(/\n/g, '; ') ?? '(gone before it could be read)'}`);

      const after = await images();
      const tags = after.flatMap((i) => i.repoTags);
      for (const ref of UNUSED) assert.ok(!tags.includes(ref), `${ref} was not pruned`);
      assert.ok(tags.includes(HOST.sandboxImage), 'the pinned sandbox image stays');
      assert.ok(tags.includes(SAMPLE_APP), "the running pod's image stays");
      assert.ok(tags.includes(ALIAS), 'another name of a running image stays (crictl prunes by image id)');
      for (const image of before)
        assert.ok(
          after.some((i) => i.id === image.id),
          `${image.repoTags.join(',')} was removed`,
        );

      // Two 8 MiB layers unpacked: the image filesystem (containerd's snapshots) lost at least that much.
      assert.ok(freed >= 0.9 * UNUSED.length * UNUSED_LAYER_BYTES, `freed ${freed} bytes`);
      assert.match(
        metrics,
        /k8s_ee_sweeper_actions_total\{kind="prune-images",reason="disk-high",result="done"\} [1-9]/,
      );
      assert.match(
        metrics,
        /k8s_ee_sweeper_actions_total\{kind="finish-image-prune",reason="pruned",result="done"\} 1/,
      );
      const recent = (e: EventItem) =>
        e.involvedObject.name === node!.name && Date.parse(e.lastTimestamp ?? '') >= started - 1000;
      assert.equal((await events('ImagePruneStarted', recent)).length, 1);
      const [finished] = await events('ImagePruneFinished', recent);
      assert.match(
        finished?.message ?? '',
        /^unused images pruned by Job k8s-ee-image-prune-[0-9a-f]{10}: image filesystem .* MiB freed\)$/,
      );

      // Where and how it ran: the sweeper's namespace, pinned to the node, root with the host's /run.
      assert.ok(jobPod, 'the prune pod was seen');
      assert.equal(jobPod['metadata']['namespace'], SYSTEM_NS);
      assert.equal(jobPod['spec']['nodeName'], node!.name);
      assert.equal(jobPod['spec']['containers'][0]['image'], NODE_TOOLS);
      assert.equal(jobPod['spec']['containers'][0]['securityContext']['runAsUser'], 0);
      assert.deepEqual(jobPod['spec']['volumes'][0]['hostPath'], { path: '/run', type: 'Directory' });
    });
  });
});

// ---- fixtures ---------------------------------------------------------------------------------------------------

/**
 * A docker-archive of an image with one layer of random bytes (a distinct image id and an 8 MiB snapshot once
 * unpacked), written with the system tar.
 */
async function unusedImageArchive(ref: string): Promise<string> {
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const work = await mkdtemp(join(dir, 'image-'));
  const root = join(work, 'archive');
  await mkdir(root);
  await writeFile(join(work, 'blob.bin'), randomBytes(UNUSED_LAYER_BYTES));
  const layerTar = join(work, 'layer.tar');
  await runCommand('tar', ['-cf', layerTar, '-C', work, 'blob.bin']);
  const layer = sha(await readFile(layerTar));
  await mkdir(join(root, layer));
  await runCommand('mv', [layerTar, join(root, layer, 'layer.tar')]);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'k8s-ee.io/e2e': E2E_VALUE } },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layer}`] },
  });
  const configFile = `${sha(config)}.json`;
  await writeFile(join(root, configFile), config);
  await writeFile(
    join(root, 'manifest.json'),
    JSON.stringify([{ Config: configFile, RepoTags: [ref], Layers: [`${layer}/layer.tar`] }]),
  );
  const archive = join(work, 'image.tar');
  await runCommand('tar', ['-cf', archive, '-C', root, '.']);
  return archive;
}

/** The sample app as a developer writes it (k8s-ee supplies the security context in a PR namespace). */
function appPod(ns: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [{ name: 'app', image: SAMPLE_APP, imagePullPolicy: 'Never' }],
    },
  };
}

/** One container per image to keep, each running something that lasts. */
function keeperPod(refs: string[]): Json {
  const command = (ref: string): string[] => {
    if (ref.startsWith('k8s-ee.local/k8s-ee:')) return ['node', '-e', 'setInterval(() => {}, 1 << 30)'];
    if (ref.startsWith(`${HOST.imageDomain}/`)) return ['sleep', '3600'];
    throw new Error(`the node holds ${ref}, which this test cannot keep running: it would be pruned`);
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'keeper', namespace: SYSTEM_NS },
    spec: {
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: refs.map((ref, i) => ({
        name: `keep-${i}`,
        image: ref,
        imagePullPolicy: 'Never',
        command: command(ref),
        resources: { requests: { cpu: '1m', memory: '8Mi' } },
      })),
    },
  };
}

/** Deletes the prune Jobs and waits until no prune pod runs (one must never outlive the keeper pod). */
async function stopPruneJobs(): Promise<void> {
  const selector = 'app.kubernetes.io/component=image-prune';
  await cluster.kubectl(['delete', 'jobs', '-n', SYSTEM_NS, '-l', selector, '--cascade=foreground', '--wait=false'], {
    allowFail: true,
  });
  await until('the prune pods to be gone', 60_000, async () => {
    const pods = await getJson(['get', 'pods', '-n', SYSTEM_NS, '-l', selector]);
    return pods !== undefined && (pods['items'] as Json[]).length === 0;
  });
}

/** Removes what this file creates (also what an interrupted earlier run left). */
async function cleanUp(): Promise<void> {
  if (!node) return;
  await stopPruneJobs().catch(() => undefined);
  const namespaces = [PV_NS, APP_NS, `${P}-nolabels`, `${P}-baseline`, SYSTEM_NS];
  await cluster.kubectl(['delete', 'namespace', ...namespaces, '--ignore-not-found', '--wait=false'], {
    allowFail: true,
  });
  for (const ns of namespaces) await waitNamespaceGone(ns);
  await cluster.kubectl(['delete', 'pv', '-l', `${E2E_LABEL}=${E2E_VALUE}`, '--ignore-not-found'], { allowFail: true });
  for (const ref of [...UNUSED, ALIAS]) await ctr(['images', 'rm', ref]).catch(() => undefined);
}
