// Which of k8s-ee's webhook entries the real API server calls, namespace by namespace (issue 10: the namespaced
// entries select PR namespaces by k8s-ee's label, with no CEL, and fall back to the name in CEL where the label is
// missing). The configurations webhooks/registration.ts builds (the chart renders the same, charts/k8s-ee.test.ts)
// are registered against a recording HTTPS server, each entry at its own URL path, so every call names its entry.
// Its own namespace pattern keeps this registration away from every other test's namespaces.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig } from '../policies/config.ts';
import { ENVIRONMENT_CONFIGMAP, LABELS } from '../policies/names.ts';
import { getTestCluster, type TestCluster } from '../local/harness/cluster.ts';
import { webhookTls } from '../local/harness/webhook.ts';
import { buildWebhookConfigurations, byNameEntry } from '../webhooks/registration.ts';
import { allowedAnswer } from '../webhooks/testing/review.ts';

const NAME = 'k8s-ee-e2e-registration';
const config = { ...defaultConfig(), namespacePattern: '^(?<project>e2ereg)-preview-(?<number>[1-9][0-9]*)$' };
// namespace -> its labels; what each is for is said where the calls are checked.
const NAMESPACES: Record<string, Record<string, string>> = {
  'e2ereg-preview-1': { [LABELS.managed]: 'true' },
  'e2ereg-preview-2': {},
  'e2ereg-preview-3': { [LABELS.managed]: 'false' },
  'e2ereg-preview-4': { [LABELS.managed]: 'true' },
  'e2ereg-other': { [LABELS.managed]: 'true' },
  'e2ereg-plain': {},
};
const EXCLUDED = 'e2ereg-preview-4';

interface Call {
  entry: string;
  namespace: string;
}

/** Answers every review "allowed, unchanged" and remembers which entry (the URL path) was called for what. */
function recorder(key: string, cert: string): { server: Server; calls: Call[] } {
  const calls: Call[] = [];
  const server = createServer({ key, cert }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const review = JSON.parse(body) as {
        request: { uid: string; namespace?: string };
      };
      calls.push({
        entry: new URL(req.url ?? '/', 'https://recorder').pathname.replace(/^\/entry\//, ''),
        namespace: review.request.namespace ?? '',
      });
      res.setHeader('content-type', 'application/json');
      res.end(allowedAnswer(review.request.uid));
    });
  });
  return { server, calls };
}

const pod = (namespace: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', namespace },
    spec: { containers: [{ name: 'c', image: 'k8s-ee.local/none:dev' }] },
  });

describe('issue 10: the API server sends a namespaced write to the labelled entry, or by name where the label is missing', () => {
  let cluster: TestCluster;
  let rec: ReturnType<typeof recorder>;

  /** The entries called while `action` ran, for writes in `namespace`. */
  async function entriesCalled(namespace: string, action: () => Promise<unknown>): Promise<string[]> {
    const from = rec.calls.length;
    await action();
    return rec.calls
      .slice(from)
      .filter((c) => c.namespace === namespace)
      .map((c) => c.entry)
      .sort();
  }

  const dryRunCreate = (namespace: string, input: string) => () =>
    cluster.kubectl(['create', '--dry-run=server', '-n', namespace, '-f', '-'], { input });

  before(async () => {
    cluster = await getTestCluster();
    const { host, listenHost, ca, serving } = await webhookTls('k8s-ee e2e registration CA');
    rec = recorder(serving.keyPem, serving.certPem);
    await new Promise<void>((resolve) => rec.server.listen(0, listenHost, resolve));
    const url = `https://${host}:${String((rec.server.address() as AddressInfo).port)}`;
    const { mutating, validating } = buildWebhookConfigurations({
      name: NAME,
      url,
      caBundle: ca.certPem,
      config,
      excludeNamespaces: [EXCLUDED],
      timeoutSeconds: 5,
    });
    for (const configuration of [mutating, validating])
      for (const entry of configuration.webhooks ?? []) entry.clientConfig.url = `${url}/entry/${entry.name}`;
    for (const [name, labels] of Object.entries(NAMESPACES))
      await cluster.kubectl(['create', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }),
      });
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [mutating, validating] }),
    });
    // The API server picks the registration up within moments.
    const deadline = Date.now() + 20_000;
    while (
      (await entriesCalled('e2ereg-preview-1', dryRunCreate('e2ereg-preview-1', pod('e2ereg-preview-1')))).length === 0
    ) {
      assert.ok(Date.now() < deadline, 'the registration was not in effect within 20 s');
      await sleep(200);
    }
  });

  after(async () => {
    await cluster?.kubectl(
      ['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', NAME, '--ignore-not-found'],
      {
        allowFail: true,
      },
    );
    await cluster?.kubectl(['delete', 'namespace', ...Object.keys(NAMESPACES), '--ignore-not-found', '--wait=false'], {
      allowFail: true,
    });
    rec?.server.close();
  });

  test('a pod: the labelled pair where k8s-ee.io/managed=true, the by-name pair where it is absent or not "true"', async () => {
    const labelled = ['pods.mutate.k8s-ee.io', 'pods.validate.k8s-ee.io'];
    const byName = labelled.map(byNameEntry);
    const expected: Record<string, string[]> = {
      'e2ereg-preview-1': labelled, // a PR namespace k8s-ee labelled: no CEL
      'e2ereg-preview-2': byName, // a PR namespace without the label (it existed before k8s-ee): judged by name
      'e2ereg-preview-3': byName, // its label changed to another value: judged by name all the same
      'e2ereg-preview-4': [], // excluded by name, label or not
      'e2ereg-other': labelled, // the label alone sends it; the webhook leaves a namespace that is not a PR's alone
      'e2ereg-plain': [], // neither a PR name nor the label: no call
    };
    for (const [namespace, entries] of Object.entries(expected))
      assert.deepEqual(
        await entriesCalled(namespace, dryRunCreate(namespace, pod(namespace))),
        entries.sort(),
        namespace,
      );
  });

  test('every namespaced purpose has its pair: the environment ConfigMap and a Service, labelled or by name', async () => {
    const configMap = (namespace: string): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ENVIRONMENT_CONFIGMAP, namespace } });
    const service = (namespace: string): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace },
        spec: { ports: [{ port: 80 }] },
      });
    for (const [namespace, pick] of [
      ['e2ereg-preview-1', (n: string) => n],
      ['e2ereg-preview-2', byNameEntry],
    ] as const) {
      assert.deepEqual(
        await entriesCalled(namespace, dryRunCreate(namespace, configMap(namespace))),
        [pick('environment.validate.k8s-ee.io')],
        namespace,
      );
      assert.deepEqual(
        await entriesCalled(namespace, dryRunCreate(namespace, service(namespace))),
        [pick('exposure.validate.k8s-ee.io')],
        namespace,
      );
    }
    // Another ConfigMap is not the environment's: the extra condition still applies on both sides.
    const other = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' } });
    for (const namespace of ['e2ereg-preview-1', 'e2ereg-preview-2'])
      assert.deepEqual(await entriesCalled(namespace, dryRunCreate(namespace, other)), [], namespace);
  });
});
