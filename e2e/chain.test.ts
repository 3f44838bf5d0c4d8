// The chain of issue 3: the real API server calls our webhook (a local process registered by URL and caBundle).
// A PR namespace comes back labelled for PodSecurity `restricted`, privileged workloads are refused with our
// message, and a namespace that does not match the pattern is left alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deleteNamespaces, getTestCluster, type TestCluster } from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';

interface Meta {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

const privilegedContainer = { name: 'app', image: 'nginx:1.27', securityContext: { privileged: true } };

describe('webhook chain on a real API server', () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook;

  before(async () => {
    cluster = await getTestCluster();
    // Other files on the shared cluster may have used these names; start from nothing.
    await deleteNamespaces(cluster, ['shop-pr-1', 'kube-public-like']);
    webhook = await startWebhook({ cluster });
  });

  after(async () => {
    // Deleted while the webhook still runs, as in a real cluster: the namespace controller must get through.
    if (cluster) await deleteNamespaces(cluster, ['shop-pr-1', 'kube-public-like']);
    await webhook?.stop();
  });

  test('kubectl create namespace shop-pr-1 comes back labelled enforce=restricted', async () => {
    const created = JSON.parse(
      (await cluster.kubectl(['create', 'namespace', 'shop-pr-1', '-o', 'json'])).stdout,
    ) as Meta;
    const labels = created.metadata.labels ?? {};
    assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted', JSON.stringify(labels));
    assert.equal(labels['k8s-ee.io/managed'], 'true');
    assert.equal(labels['k8s-ee.io/project'], 'shop');
    assert.equal(labels['k8s-ee.io/pr'], '1');
    // What a later reader sees, not only what the create returned.
    const stored = JSON.parse((await cluster.kubectl(['get', 'namespace', 'shop-pr-1', '-o', 'json'])).stdout) as Meta;
    assert.equal(stored.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('a privileged pod in shop-pr-1 is refused by the API server with our message', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged', namespace: 'shop-pr-1' },
      spec: { containers: [privilegedContainer] },
    };
    const res = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(pod), allowFail: true });
    assert.notEqual(res.code, 0, `the pod was admitted: ${res.stdout}`);
    // Refused in the mutating phase, before the API server's own PodSecurity check, so kubectl shows our text.
    assert.match(
      res.stderr,
      /admission webhook "pods\.mutate\.k8s-ee\.io" denied the request: k8s-ee denied CREATE Pod\/privileged/,
    );
    assert.match(res.stderr, /spec\.containers\[0\]\.securityContext\.privileged: .* Fix: /);
    const got = await cluster.kubectl(['get', 'pod', 'privileged', '-n', 'shop-pr-1'], { allowFail: true });
    assert.match(got.stderr, /NotFound/);
  });

  test('a Deployment with a privileged pod template is refused with our message', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'privileged', namespace: 'shop-pr-1' },
      spec: {
        selector: { matchLabels: { app: 'privileged' } },
        template: { metadata: { labels: { app: 'privileged' } }, spec: { containers: [privilegedContainer] } },
      },
    };
    const res = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(deployment), allowFail: true });
    assert.notEqual(res.code, 0, `the deployment was admitted: ${res.stdout}`);
    assert.match(res.stderr, /admission webhook "pods\.mutate\.k8s-ee\.io" denied the request/);
    assert.match(res.stderr, /k8s-ee denied/);
    assert.match(res.stderr, /spec\.template\.spec\.containers\[0\]\.securityContext\.privileged/);
  });

  test('a namespace that does not match the pattern is untouched', async () => {
    const created = JSON.parse(
      (await cluster.kubectl(['create', 'namespace', 'kube-public-like', '-o', 'json'])).stdout,
    ) as Meta;
    assert.deepEqual(created.metadata.labels, { 'kubernetes.io/metadata.name': 'kube-public-like' });
    assert.equal(created.metadata.annotations, undefined);
  });
});
