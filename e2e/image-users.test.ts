// The pod user defaults on the real node (policies/pod-defaults.ts): pods of images whose USER is numeric, a name
// or root, written without any securityContext, are admitted behind the real webhook and reach Running and Ready,
// because the mutation gives them a numeric non-root user. An explicit runAsUser is kept, and the per-workload
// opt-out keeps the image's own user (which the kubelet then refuses for a named USER: the reason for the default).
// Needs a cluster whose pods run (the built-in one with its node); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_POD_USER } from '../policies/config.ts';
import { KEEP_IMAGE_USER } from '../policies/pod-defaults.ts';
import { deleteNamespaces, type TestCluster } from '../local/harness/cluster.ts';
import { clusterWithNode, waitingReason, waitPodsReady } from '../local/harness/pods.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';
import { APP_UID, IMAGE_REFS } from '../local/images/specs.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'f8-pr-1';
const EXPLICIT_UID = 4321;

const { cluster: maybeCluster, skip } = await clusterWithNode();
if (skip) console.log(`e2e/image-users: skipped: ${skip}`);

/** A pod of the sample app as a developer writes it: no securityContext at all. */
function pod(name: string, image: string, extra: { annotations?: Json; securityContext?: Json } = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      ...(extra.securityContext ? { securityContext: extra.securityContext } : {}),
      containers: [
        {
          name: 'app',
          image,
          imagePullPolicy: 'Never',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        },
      ],
    },
  };
}

describe('image users: the mutation gives pods that name no user a numeric non-root one', { skip }, () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook | undefined;

  const ids = async (name: string): Promise<string> =>
    (await cluster.kubectl(['exec', '-n', NS, name, '--', 'id'])).stdout.trim();
  const podSecurityContext = async (name: string): Promise<Json> =>
    (JSON.parse((await cluster.kubectl(['get', 'pod', '-n', NS, name, '-o', 'json'])).stdout) as Json)['spec'][
      'securityContext'
    ] as Json;
  /** The base quota holds four pods of the default limits (4 x 256Mi): each test removes its pods. */
  const removePods = () => cluster.kubectl(['delete', 'pods', '--all', '-n', NS, '--wait=true', '--timeout=60s']);
  const create = (...pods: Json[]) =>
    cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }) });

  before(async () => {
    cluster = maybeCluster!;
    await deleteNamespaces(cluster, [NS]);
    webhook = await startWebhook({ cluster, configYaml: 'previewDomain: image-users.e2e.test\n' });
    await cluster.kubectl(['create', 'namespace', NS]);
  });

  after(async () => {
    await deleteNamespaces(cluster, [NS]).catch(() => undefined);
    await webhook?.stop();
  });

  test('pods of images whose USER is numeric, a name or root, with no securityContext, reach Ready', async (t) => {
    const started = Date.now();
    const cases = [
      { name: 'numeric-user', image: IMAGE_REFS['sample-app'] },
      { name: 'named-user', image: IMAGE_REFS['sample-app-named-user'] },
      { name: 'root-user', image: IMAGE_REFS['sample-app-root'] },
    ];
    await create(...cases.map((c) => pod(c.name, c.image)));
    await waitPodsReady(
      cluster,
      NS,
      cases.map((c) => `pod/${c.name}`),
    );
    for (const c of cases) {
      const sc = await podSecurityContext(c.name);
      assert.equal(sc['runAsUser'], DEFAULT_POD_USER, `${c.name}: runAsUser filled`);
      assert.equal(sc['runAsGroup'], DEFAULT_POD_USER, `${c.name}: runAsGroup filled`);
      assert.equal(sc['fsGroup'], DEFAULT_POD_USER, `${c.name}: fsGroup filled`);
      assert.equal(sc['runAsNonRoot'], true);
      const id = await ids(c.name);
      assert.match(id, new RegExp(`^uid=${String(DEFAULT_POD_USER)}\\b.* gid=${String(DEFAULT_POD_USER)}\\b`), id);
      t.diagnostic(`${c.image}: Ready, ${id}`);
    }
    t.diagnostic(`three pods Ready in ${String(Date.now() - started)} ms`);
    await removePods();
  });

  test('an explicit runAsUser is kept, and no group or fsGroup is added to it', async (t) => {
    await create(pod('explicit-user', IMAGE_REFS['sample-app-root'], { securityContext: { runAsUser: EXPLICIT_UID } }));
    await waitPodsReady(cluster, NS, ['pod/explicit-user']);
    const sc = await podSecurityContext('explicit-user');
    assert.equal(sc['runAsUser'], EXPLICIT_UID);
    assert.equal(sc['runAsGroup'], undefined);
    assert.equal(sc['fsGroup'], undefined);
    const id = await ids('explicit-user');
    assert.match(id, new RegExp(`^uid=${String(EXPLICIT_UID)}\\b`), id);
    t.diagnostic(id);
    await removePods();
  });

  test('the keep-image-user opt-out: a numeric USER runs as itself, a named USER is refused by the kubelet', async (t) => {
    const optOut = { annotations: { [KEEP_IMAGE_USER]: 'true' } };
    await create(
      pod('keep-numeric', IMAGE_REFS['sample-app'], optOut),
      pod('keep-named', IMAGE_REFS['sample-app-named-user'], optOut),
    );
    await waitPodsReady(cluster, NS, ['pod/keep-numeric']);
    assert.equal((await podSecurityContext('keep-numeric'))['runAsUser'], undefined);
    const id = await ids('keep-numeric');
    assert.match(id, new RegExp(`^uid=${String(APP_UID)}\\b`), id);
    const refused = await waitingReason(cluster, NS, 'keep-named');
    assert.equal(refused.reason, 'CreateContainerConfigError', refused.message);
    assert.match(refused.message, /non-numeric user|runAsNonRoot/, refused.message);
    t.diagnostic(`keep-numeric: ${id}; keep-named: ${refused.reason}: ${refused.message}`);
  });
});
