// The baseline on the real control plane: 20 PR environments installed at once by helm, each pod admitted only
// after every baseline object of its namespace existed (creation timestamps, resource versions and watch events
// agree), the quota enforced by the API server, baseline objects guarded against users and repaired after admins,
// the quota growing and shrinking with the declared databases, and the ValidatingAdmissionPolicy holding alone.
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { silentLogger } from '../lib/log.ts';
import { startLeaderElection } from '../lib/leader.ts';
import { parseQuantity } from '../lib/quantity.ts';
import { buildBaseline, quotaHard } from '../policies/baseline.ts';
import { defaultConfig } from '../policies/config.ts';
import { BASELINE_NAMES, ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { vapYaml } from '../policies/vap-print.ts';
import { STAMP_PROBE_NAME } from '../policies/vap.ts';
import { kubeBaselineClient } from '../webhooks/reconciler-kube.ts';
import { kubeHttp } from '../webhooks/reconciler-http.ts';
import { startReconciler } from '../webhooks/reconciler.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { httpsGet } from '../local/cluster/net.ts';
import { getTestCluster, type TestCluster } from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';

const CHART = join(projectRoot, 'e2e', 'fixtures', 'charts', 'baseline-env');
const ENVS = 20;
const envName = (i: number): string => `blt-pr-${i}`;
const DB_NS = 'bldb-pr-1';
const GUARD_NS = envName(1);
const DEV = 'dev@example.com';
const config = defaultConfig();
const BASELINE = buildBaseline('x-pr-1', [], config).map((o) => `${o.kind}/${o.metadata.name}`);

interface Seen {
  rv: bigint;
  created: string;
}

/** First ADDED event of every pod and baseline object in the test's namespaces, from watches started first. */
class Recorder {
  readonly first = new Map<string, Seen>();
  /** Watches that ended before stop(), and why: each was started again (its objects come back as ADDED). */
  readonly ended: string[] = [];
  private readonly aborts: AbortController[] = [];
  private stopped = false;
  private readonly kc: KubeConfig;
  constructor(kubeconfig: string) {
    this.kc = new KubeConfig();
    this.kc.loadFromFile(kubeconfig);
  }
  async start(): Promise<void> {
    const watch = new Watch(this.kc);
    const paths: [string, string][] = [
      ['Pod', '/api/v1/pods'],
      ['ResourceQuota', '/api/v1/resourcequotas'],
      ['LimitRange', '/api/v1/limitranges'],
      ['NetworkPolicy', '/apis/networking.k8s.io/v1/networkpolicies'],
    ];
    for (const [kind, path] of paths) {
      const onEvent = (
        type: string,
        o: { metadata?: { namespace?: string; name?: string; resourceVersion?: string; creationTimestamp?: string } },
      ): void => {
        const key = `${o.metadata?.namespace ?? ''}/${kind}/${o.metadata?.name ?? ''}`;
        if (type === 'ADDED' && !this.first.has(key))
          this.first.set(key, {
            rv: BigInt(o.metadata?.resourceVersion ?? '0'),
            created: o.metadata?.creationTimestamp ?? '',
          });
      };
      const begin = async (): Promise<void> => {
        this.aborts.push(
          await watch.watch(path, { allowWatchBookmarks: false }, onEvent, (err: unknown) => {
            if (this.stopped) return;
            this.ended.push(`${new Date().toISOString()} ${kind}: ${(err as Error | null)?.message ?? 'closed'}`);
            void begin();
          }),
        );
      };
      await begin();
    }
  }
  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }
}

interface Item {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
  };
  spec?: { hard?: Record<string, string>; policyTypes?: string[] };
  status?: { hard?: Record<string, string> };
}

async function getJson<T>(cluster: TestCluster, args: string[]): Promise<T> {
  return JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as T;
}

/** Polls `probe` until it has a value; `what` (or what it returns at the deadline) names it in the error. */
async function until<T>(
  what: string | (() => string),
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(50);
  }
}

const sameAmounts = (a: Record<string, string> | undefined, b: Record<string, string>): boolean =>
  a !== undefined &&
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(b).every(([k, v]) => parseQuantity(a[k] ?? 'x') === parseQuantity(v));

const restrictedPod = (name: string, cpu: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'registry.k8s.io/pause:3.10',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu, memory: '16Mi' }, limits: { cpu, memory: '32Mi' } },
        },
      ],
    },
  });

describe('baseline objects with a zero window', () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook;
  let recorder: Recorder;

  before(async () => {
    cluster = await getTestCluster();
    recorder = new Recorder(cluster.kubeconfig);
    await recorder.start();
    await cluster.kubectl(['apply', '-f', '-'], { input: vapYaml() });
    webhook = await startWebhook({ cluster });
  });

  after(async () => {
    recorder?.stop();
    const namespaces = [
      ...Array.from({ length: ENVS }, (_, i) => envName(i + 1)),
      DB_NS,
      'blvap-pr-1',
      'blvap-plain',
      'k8s-ee-e2e-lease',
    ];
    await cluster?.kubectl(['delete', 'namespace', ...namespaces, '--ignore-not-found', '--wait=false'], {
      allowFail: true,
    });
    await cluster?.kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: vapYaml(), allowFail: true });
    await webhook?.stop();
  });

  test(`${ENVS} PR environments installed at once: every admitted pod came after its whole baseline`, async () => {
    const started = Date.now();
    const installs = await Promise.all(
      Array.from({ length: ENVS }, (_, i) =>
        cluster.helm(
          ['upgrade', '--install', 'env', CHART, '-n', envName(i + 1), '--create-namespace', '--wait=false'],
          { allowFail: true },
        ),
      ),
    );
    const failed = installs
      .map((r, i) => (r.code === 0 ? '' : `${envName(i + 1)}: ${r.stderr.trim()}`))
      .filter(Boolean);
    assert.deepEqual(failed, [], 'every helm install succeeds (the gate runs before the ValidatingAdmissionPolicy)');
    process.stderr.write(`baseline e2e: ${ENVS} concurrent helm installs in ${Date.now() - started} ms\n`);

    for (let i = 1; i <= ENVS; i++) {
      const ns = envName(i);
      // The Deployment's 2 pods (made by the ReplicaSet controller, admitted through the same gate) and the bare Pod.
      const pods = await until(`3 pods in ${ns}`, 30_000, async () => {
        const list = await getJson<{ items: Item[] }>(cluster, ['get', 'pods', '-n', ns]);
        return list.items.length >= 3 ? list.items : undefined;
      });
      const objects = [
        ...(await getJson<{ items: Item[] }>(cluster, ['get', 'resourcequotas', '-n', ns])).items.map((o) => ({
          kind: 'ResourceQuota',
          o,
        })),
        ...(await getJson<{ items: Item[] }>(cluster, ['get', 'limitranges', '-n', ns])).items.map((o) => ({
          kind: 'LimitRange',
          o,
        })),
        ...(await getJson<{ items: Item[] }>(cluster, ['get', 'networkpolicies', '-n', ns])).items.map((o) => ({
          kind: 'NetworkPolicy',
          o,
        })),
      ];
      assert.deepEqual(
        objects.map(({ kind, o }) => `${kind}/${o.metadata.name}`).sort(),
        [...BASELINE].sort(),
        `${ns} has exactly the baseline`,
      );
      const namespace = await getJson<Item>(cluster, ['get', 'namespace', ns]);
      assert.match(namespace.metadata.labels?.[LABELS.baselineHash] ?? '', /^[0-9a-f]{20}$/);

      for (const pod of pods) {
        for (const { kind, o } of objects) {
          // Creation timestamps (second resolution) never put a baseline object after a pod.
          assert.ok(
            o.metadata.creationTimestamp <= pod.metadata.creationTimestamp,
            `${ns}: ${kind}/${o.metadata.name} created after pod ${pod.metadata.name}`,
          );
        }
        // Resource versions of the creations, from the watches (the quota's own version moves with its status).
        const restarts = (): string =>
          recorder.ended.length ? ` (watches restarted: ${recorder.ended.join('; ')})` : '';
        const podSeen = await until(
          () => `watch event of pod ${ns}/${pod.metadata.name}${restarts()}`,
          10_000,
          () => Promise.resolve(recorder.first.get(`${ns}/Pod/${pod.metadata.name}`)),
        );
        for (const key of BASELINE) {
          const seen = await until(
            () => `watch event of ${ns}/${key}${restarts()}`,
            10_000,
            () => Promise.resolve(recorder.first.get(`${ns}/${key}`)),
          );
          assert.ok(
            seen.rv < podSeen.rv,
            `${ns}: ${key} (created at resourceVersion ${seen.rv}) was not there before pod ${pod.metadata.name} (${podSeen.rv})`,
          );
        }
      }
    }
  });

  test('the quota is enforced by the API server: a pod over it is refused', async () => {
    const over = await cluster.kubectl(['apply', '-n', GUARD_NS, '-f', '-'], {
      input: restrictedPod('too-big', '400m'),
      allowFail: true,
    });
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /exceeded quota: k8s-ee-quota/);
    assert.match(over.stderr, /requests\.cpu/);
    const fits = await cluster.kubectl(['apply', '-n', GUARD_NS, '-f', '-'], {
      input: restrictedPod('fits', '10m'),
      allowFail: true,
    });
    assert.equal(fits.code, 0, fits.stderr);
  });

  test('a user with edit rights cannot delete or edit k8s-ee-default-deny; an admin can, and it comes back within 2 s', async () => {
    await cluster.kubectl(['create', 'rolebinding', 'dev-edit', '--clusterrole=edit', `--user=${DEV}`, '-n', GUARD_NS]);
    const as = [`--as=${DEV}`, '--as-group=system:authenticated', '-n', GUARD_NS];
    const rights = await cluster.kubectl(['auth', 'can-i', 'delete', 'networkpolicies', ...as], { allowFail: true });
    assert.equal(rights.stdout.trim(), 'yes', 'RBAC alone would let the user delete it');
    const del = await cluster.kubectl(['delete', 'networkpolicy', BASELINE_NAMES.defaultDeny, ...as], {
      allowFail: true,
    });
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /admission webhook .* denied the request/);
    assert.match(del.stderr, /k8s-ee-default-deny is a baseline object managed by k8s-ee/);
    const edit = await cluster.kubectl(
      [
        'patch',
        'networkpolicy',
        BASELINE_NAMES.defaultDeny,
        ...as,
        '--type=merge',
        '-p',
        '{"spec":{"policyTypes":["Ingress"]}}',
      ],
      {
        allowFail: true,
      },
    );
    assert.notEqual(edit.code, 0);
    assert.match(edit.stderr, /baseline object managed by k8s-ee/);

    const before = await getJson<Item>(cluster, ['get', 'networkpolicy', BASELINE_NAMES.defaultDeny, '-n', GUARD_NS]);
    await cluster.kubectl(['delete', 'networkpolicy', BASELINE_NAMES.defaultDeny, '-n', GUARD_NS, '--wait=false']);
    const deletedAt = Date.now();
    await until('default-deny re-created', 2000, async () => {
      const r = await cluster.kubectl(
        ['get', 'networkpolicy', BASELINE_NAMES.defaultDeny, '-n', GUARD_NS, '-o', 'json'],
        { allowFail: true },
      );
      return r.code === 0 && (JSON.parse(r.stdout) as Item).metadata.resourceVersion !== before.metadata.resourceVersion
        ? true
        : undefined;
    });
    const recreatedMs = Date.now() - deletedAt;

    await cluster.kubectl([
      'patch',
      'networkpolicy',
      BASELINE_NAMES.defaultDeny,
      '-n',
      GUARD_NS,
      '--type=merge',
      '-p',
      '{"spec":{"policyTypes":["Ingress"]}}',
    ]);
    const editedAt = Date.now();
    await until('default-deny restored', 2000, async () => {
      const np = await getJson<Item>(cluster, ['get', 'networkpolicy', BASELINE_NAMES.defaultDeny, '-n', GUARD_NS]);
      return np.spec?.policyTypes?.join(',') === 'Ingress,Egress' ? true : undefined;
    });
    process.stderr.write(
      `baseline e2e: default-deny re-created ${recreatedMs} ms after delete, restored ${Date.now() - editedAt} ms after an edit\n`,
    );
    const metrics = await httpsGet(`${webhook.url}/metrics`, { ca: webhook.caBundle });
    const repairs = /^k8s_ee_baseline_repairs_total\{kind="NetworkPolicy"\} (\d+)/m.exec(metrics.body);
    assert.ok(Number(repairs?.[1] ?? 0) >= 2, `repairs counted: ${repairs?.[0] ?? 'none'}`);
    assert.match(metrics.body, /^k8s_ee_namespaces_managed \d+/m);
    assert.match(metrics.body, /^k8s_ee_baseline_reconcile_seconds_count\{outcome="changed"\} \d+/m);
  });

  test('a namespace declaring postgresql and redis gets base + 2 increments; removing redis shrinks it back', async () => {
    const install = (dbs: string): Promise<unknown> =>
      cluster.helm([
        'upgrade',
        '--install',
        'env',
        CHART,
        '-n',
        DB_NS,
        '--create-namespace',
        '--set',
        `databases={${dbs}}`,
      ]);
    await install('postgresql,redis');
    const quotaIs = async (want: Record<string, string>, timeoutMs = 5000): Promise<Item> =>
      until(`quota ${JSON.stringify(want)}`, timeoutMs, async () => {
        const q = await getJson<Item>(cluster, ['get', 'resourcequota', BASELINE_NAMES.quota, '-n', DB_NS]);
        return sameAmounts(q.spec?.hard, want) && sameAmounts(q.status?.hard, want) ? q : undefined;
      });
    const two = quotaHard(['postgresql', 'redis'], config);
    assert.deepEqual(two['requests.cpu'], '450m');
    await quotaIs(two);
    // The quota was in place before the database pods: the gate read the declaration first.
    const q = await getJson<Item>(cluster, ['get', 'resourcequota', BASELINE_NAMES.quota, '-n', DB_NS]);
    assert.ok(sameAmounts(q.spec?.hard, two));
    await install('postgresql');
    // A grown quota keeps the declaration that grew it for 30 s (the gate's pending window, so the reconciler
    // cannot shrink it before the ConfigMap is stored); a removal shrinks it once that window has passed.
    await quotaIs(quotaHard(['postgresql'], config), 40_000);
    const refused = await cluster.helm(
      ['upgrade', '--install', 'env', CHART, '-n', DB_NS, '--set', 'databases={postgresql,oracle}'],
      { allowFail: true },
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /unknown database "oracle"/);
    assert.match(refused.stderr, /postgresql, mariadb, mongodb, redis, minio/);
  });

  test('the Lease election works against the API server: one leader, and the other takes over when it stops', async () => {
    await cluster.kubectl(['create', 'namespace', 'k8s-ee-e2e-lease']);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const events: string[] = [];
    const start = (identity: string): ReturnType<typeof startLeaderElection> =>
      startLeaderElection({
        kc,
        namespace: 'k8s-ee-e2e-lease',
        name: 'e2e',
        identity,
        leaseSeconds: 1,
        log: silentLogger(),
        onStart: () => events.push(`${identity}:start`),
        onStop: () => events.push(`${identity}:stop`),
      });
    const a = start('a');
    await until('a leads', 5000, () => Promise.resolve(a.isLeader() || undefined));
    const b = start('b');
    await sleep(1500);
    assert.equal(b.isLeader(), false);
    await a.stop();
    await until('b leads', 3000, () => Promise.resolve(b.isLeader() || undefined));
    const lease = await getJson<{ spec: { holderIdentity: string; leaseTransitions: number } }>(cluster, [
      'get',
      'lease',
      'e2e',
      '-n',
      'k8s-ee-e2e-lease',
    ]);
    assert.equal(lease.spec.holderIdentity, 'b');
    await b.stop();
    assert.deepEqual(events, ['a:start', 'a:stop', 'b:start', 'b:stop']);
  });

  test('with the webhook gone, the ValidatingAdmissionPolicy alone refuses pods in unstamped managed namespaces', async () => {
    await webhook.stop();
    // Selected by name: without the webhook, the namespace is not created unlabelled...
    const unlabelled = await cluster.kubectl(['create', 'namespace', 'blvap-pr-1'], { allowFail: true });
    assert.notEqual(unlabelled.code, 0, 'an unlabelled PR namespace was created');
    assert.match(unlabelled.stderr, /metadata\.labels: a PR namespace is created only with .*\[vap:namespace-labels\]/);
    // ...only with the labels the webhook would have added.
    const pss = ['enforce', 'audit', 'warn'].map((m) => [`pod-security.kubernetes.io/${m}`, 'restricted']);
    const labels = Object.fromEntries([[LABELS.managed, 'true'], ...pss]);
    await cluster.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'blvap-pr-1', labels } }),
    });
    const refused = await cluster.kubectl(['apply', '-n', 'blvap-pr-1', '-f', '-'], {
      input: restrictedPod('early', '10m'),
      allowFail: true,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ValidatingAdmissionPolicy 'k8s-ee-baseline-required'/);
    assert.match(refused.stderr, /pods may not be created in blvap-pr-1 yet: its baseline .* is not in place/);
    const deployment = await cluster.kubectl(
      ['create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '-n', 'blvap-pr-1'],
      { allowFail: true },
    );
    assert.match(deployment.stderr, /deployments may not be created in blvap-pr-1 yet/);
    // NetworkPolicies are not judged (the baseline's own come before the stamp), except the gate's probe.
    const np = (name: string): string =>
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      });
    const own = await cluster.kubectl(['apply', '-n', 'blvap-pr-1', '-f', '-'], {
      input: np(BASELINE_NAMES.defaultDeny),
      allowFail: true,
    });
    assert.equal(own.code, 0, own.stderr);
    const probe = await cluster.kubectl(['create', '--dry-run=server', '-n', 'blvap-pr-1', '-f', '-'], {
      input: np(STAMP_PROBE_NAME),
      allowFail: true,
    });
    assert.match(probe.stderr, /networkpolicies may not be created in blvap-pr-1 yet/);
    // Unmanaged namespaces are not concerned.
    await cluster.kubectl(['create', 'namespace', 'blvap-plain']);
    const plain = await cluster.kubectl(['apply', '-n', 'blvap-plain', '-f', '-'], {
      input: restrictedPod('free', '10m'),
      allowFail: true,
    });
    assert.equal(plain.code, 0, plain.stderr);
    // Once stamped (what k8s-ee does after the baseline exists), the policy lets pods in.
    await cluster.kubectl(['label', 'namespace', 'blvap-pr-1', `${LABELS.baselineHash}=0123456789abcdef0123`]);
    const admitted = await until('the policy sees the stamp', 5000, async () => {
      const r = await cluster.kubectl(['apply', '-n', 'blvap-pr-1', '-f', '-'], {
        input: restrictedPod('late', '10m'),
        allowFail: true,
      });
      return r.code === 0 ? r : undefined;
    });
    assert.match(admitted.stdout, /pod\/late created/);
  });
});

/** A TCP proxy to the API server whose open connections can be frozen: bytes from the server stop, sockets stay open. */
async function freezingProxy(host: string, port: number) {
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!pair.frozen) client.write(d);
    });
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: (): number => {
      for (const p of pairs) p.frozen = true;
      return pairs.size;
    },
    close: async (): Promise<void> => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('watches that go silent are restarted', () => {
  test('with every watch connection frozen, the reconciler restarts its watches and still reconciles', async () => {
    const cluster = await getTestCluster();
    const direct = new KubeConfig();
    direct.loadFromFile(cluster.kubeconfig);
    const server = new URL(direct.getCurrentCluster()?.server ?? '');
    const proxy = await freezingProxy(server.hostname, Number(server.port));
    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: direct.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy.port}` })),
      users: direct.users,
      contexts: direct.contexts,
      currentContext: direct.currentContext,
    });
    const registry = new Registry();
    const watchHttp = kubeHttp(proxied, { pingTimeoutMs: 500 });
    const reconciler = startReconciler({
      kc: proxied, // watches (and their lists) through the proxy
      // Over HTTP/2 the watches share one connection: a watch restarted for silence has it PINGed, and a frozen one
      // is dropped for a new one after pingTimeoutMs (15 s by default; shortened here to fit the test).
      http: watchHttp,
      client: kubeBaselineClient(direct), // writes straight to the API server
      config,
      log: silentLogger(),
      registry,
      identity: 'e2e',
      leaderElection: false,
      watchIdleMs: 1000,
    });
    const ns = 'blwatch-pr-1';
    try {
      await until('reconciler ready', 10_000, () => Promise.resolve(reconciler.ready() || undefined));
      await sleep(300);
      assert.ok(proxy.freeze() >= 1, 'the seven watches are open through the proxy (over HTTP/2, on one connection)');
      // With the labels the webhook (stopped above) would add: the policy refuses a PR namespace without them.
      const pss = ['enforce', 'audit', 'warn'].map((m) => [`pod-security.kubernetes.io/${m}`, 'restricted']);
      const labels = Object.fromEntries([[LABELS.managed, 'true'], ...pss]);
      await cluster.kubectl(['create', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }),
      });
      const createdAt = Date.now();
      const complete = await until('baseline through restarted watches', 10_000, async () => {
        const r = await cluster.kubectl(['get', 'namespace', ns, '-o', 'json']);
        return (JSON.parse(r.stdout) as Item).metadata.labels?.[LABELS.baselineHash]
          ? Date.now() - createdAt
          : undefined;
      });
      const watches = ['configmaps', 'limitranges', 'namespaces', 'networkpolicies', 'nodes', 'pods', 'resourcequotas'];
      const idleRestarted = async (): Promise<string[]> => {
        const restarts = (await registry.getSingleMetric('k8s_ee_watch_restarts_total')?.get())?.values ?? [];
        return restarts
          .filter((v) => v.labels['reason'] === 'idle')
          .map((v) => String(v.labels['resource']))
          .sort();
      };
      // Each silent watch is restarted on its own idle timer: the baseline may come through the first ones.
      await until('every silent watch restarted', 10_000, async () =>
        (await idleRestarted()).length >= watches.length ? true : undefined,
      ).catch(() => undefined);
      assert.deepEqual(
        await idleRestarted(),
        watches,
        'each silent watch was restarted (metric k8s_ee_watch_restarts_total{reason="idle"})',
      );
      process.stderr.write(
        `baseline e2e: baseline complete ${complete} ms after creation, with all watches frozen at that moment\n`,
      );
      const objects = await cluster.kubectl(['get', 'resourcequota,limitrange,networkpolicy', '-n', ns, '-o', 'name']);
      assert.equal(objects.stdout.trim().split('\n').length, BASELINE.length);
    } finally {
      await reconciler.stop();
      watchHttp.close();
      await proxy.close();
      await cluster.kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], { allowFail: true });
    }
  });
});

describe("the reconciler's view of the environment ConfigMaps (the baseline gate's fast path)", () => {
  test('unknown until its watch has synced, then each namespace as the API server has it, changes included', async () => {
    const cluster = await getTestCluster();
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const http = kubeHttp(kc);
    // Not a PR namespace: the view covers every namespace's ConfigMap of that name, and nothing here is reconciled.
    const ns = 'envview-e2e';
    const reconciler = startReconciler({
      kc,
      http,
      config,
      log: silentLogger(),
      registry: new Registry(),
      identity: 'e2e-view',
      leaderElection: false,
    });
    const environment = (): unknown =>
      (reconciler.watchedEnvironment(ns)?.environment as { data?: Record<string, string> } | undefined)?.data;
    try {
      assert.equal(reconciler.watchedEnvironment(ns), undefined, 'nothing is known before the watch has synced');
      await until('the ConfigMap watch synced', 10_000, () =>
        Promise.resolve(reconciler.watchedEnvironment(ns) ? true : undefined),
      );
      assert.deepEqual(reconciler.watchedEnvironment(ns), { environment: undefined }, 'synced: no ConfigMap there');
      await cluster.kubectl(['create', 'namespace', ns], { allowFail: true });
      const manifest = (databases: string) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ENVIRONMENT_CONFIGMAP, namespace: ns },
          data: { databases },
        });
      await cluster.kubectl(['apply', '-f', '-'], { input: manifest('postgresql') });
      await until('the new ConfigMap seen', 10_000, () =>
        Promise.resolve((environment() as { databases?: string } | undefined)?.databases === 'postgresql' || undefined),
      );
      await cluster.kubectl(['apply', '-f', '-'], { input: manifest('postgresql,redis') });
      await until('the changed ConfigMap seen', 10_000, () =>
        Promise.resolve(
          (environment() as { databases?: string } | undefined)?.databases === 'postgresql,redis' || undefined,
        ),
      );
      await cluster.kubectl(['delete', 'configmap', ENVIRONMENT_CONFIGMAP, '-n', ns]);
      await until('the deleted ConfigMap gone from the view', 10_000, () =>
        Promise.resolve(reconciler.watchedEnvironment(ns)?.environment === undefined || undefined),
      );
    } finally {
      await reconciler.stop();
      http.close();
      await cluster.kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], { allowFail: true });
    }
  });
});
