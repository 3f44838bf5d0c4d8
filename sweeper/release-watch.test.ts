// The release watch against a small HTTP server speaking the API server's list and watch shapes: it must ask for
// metadata only (lists and watch), select Helm release records, and feed what it sees to the tracker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeHttp } from '../webhooks/reconciler-http.ts';
import { defaultConfig } from '../policies/config.ts';
import { createRegistry } from '../lib/metrics.ts';
import { silentLogger } from '../lib/log.ts';
import { createSweeperMetrics } from './metrics.ts';
import { MemoryCluster } from './memory-cluster.ts';
import { helmRecordLists, releaseFollowUp } from './release-watch.ts';
import { SWEEPER_ANNOTATIONS as SA } from './types.ts';

interface Seen {
  path: string;
  accept: string;
  query: URLSearchParams;
}

const meta = (revision: number) => ({
  name: `sh.helm.release.v1.app.v${revision}`,
  namespace: 'shop-pr-1',
  resourceVersion: String(10 + revision),
  creationTimestamp: '2025-06-01T11:00:00Z',
  labels: { owner: 'helm', name: 'app', version: String(revision), status: 'deployed' },
});

async function fakeApi() {
  const seen: Seen[] = [];
  const watches: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ path: url.pathname, accept: req.headers.accept ?? '', query: url.searchParams });
    res.setHeader('content-type', 'application/json');
    if (url.pathname !== '/api/v1/secrets') {
      res.statusCode = 404;
      res.end('{}');
    } else if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200);
      watches.push(res);
    } else {
      const items = [{ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta(1) }];
      res.end(JSON.stringify({ kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '20' }, items }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 't0ken' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  const close = async () => {
    for (const res of watches) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { kc, seen, watches, close };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await sleep(10);
  }
}

test('lists and watches Helm release records as metadata only, and an uninstall seen on the watch is stamped and swept', async () => {
  const api = await fakeApi();
  const cluster = new MemoryCluster();
  cluster.addNamespace({
    name: 'shop-pr-1',
    uid: 'u1',
    labels: { 'k8s-ee.io/managed': 'true' },
    annotations: { [SA.releaseSeenAt]: '2025-06-01T11:00:00Z' },
    phase: 'Active',
    creationTimestamp: '2025-06-01T10:00:00Z',
    conditions: [],
    finalizers: [],
  });
  const config = defaultConfig();
  config.sweeper.releaseGrace = '0s';
  const registry = createRegistry();
  let sweeps = 0;
  const followUp = releaseFollowUp({
    kc: api.kc,
    api: cluster,
    config,
    log: silentLogger(),
    metrics: createSweeperMetrics(registry),
    dryRun: false,
    clock: () => new Date(),
    sweep: () => {
      sweeps += 1;
      return Promise.resolve();
    },
  });
  try {
    followUp.start();
    followUp.start(); // idempotent
    await until(() => api.watches.length === 1, 'the watch');
    const [list, watch] = api.seen;
    assert.equal(api.seen.length, 2, 'one list, one watch');
    for (const request of [list, watch]) {
      assert.equal(request?.query.get('labelSelector'), 'owner=helm');
      assert.equal(request?.query.get('fieldSelector'), 'type=helm.sh/release.v1');
    }
    assert.match(list?.accept ?? '', /^application\/json;as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1/);
    assert.match(watch?.accept ?? '', /^application\/json;as=PartialObjectMetadata;g=meta\.k8s\.io;v=v1/);
    assert.equal(watch?.query.get('resourceVersion'), '20');
    assert.deepEqual(cluster.calls, [], 'the first list is the state, not a change');

    const before = Date.now();
    const object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta(1) };
    api.watches[0]?.write(`${JSON.stringify({ type: 'DELETED', object })}\n`);
    await until(() => cluster.namespaces.get('shop-pr-1')?.annotations[SA.releaseGoneSince] !== undefined, 'stamp');
    const stamp = Date.parse(cluster.namespaces.get('shop-pr-1')?.annotations[SA.releaseGoneSince] ?? '');
    assert.ok(stamp >= before && stamp <= Date.now(), 'stamped with the time the event arrived');
    await until(() => sweeps === 1, 'the follow-up sweep, 1 s after the (zero) grace');
    assert.ok(Date.now() - stamp >= 1000);
  } finally {
    await followUp.stop();
    await api.close();
  }
  assert.equal(api.watches.length, 1, 'no restart after stop');
});

test('the list adapter serves the Helm record list only', async () => {
  const api = await fakeApi();
  const lists = helmRecordLists(kubeHttp(api.kc));
  await assert.rejects(lists.request('GET', '/api/v1/namespaces'), /serves GET \/api\/v1\/secrets only/);
  const page = await lists.request<{ items: { metadata: { name: string; creationTimestamp: string } }[] }>(
    'GET',
    '/api/v1/secrets',
  );
  assert.deepEqual(page.items[0]?.metadata.creationTimestamp, '2025-06-01T11:00:00Z', 'dates as sent, as text');
  assert.equal(page.items[0]?.metadata.name, 'sh.helm.release.v1.app.v1');
  lists.close();
  await api.close();
});
