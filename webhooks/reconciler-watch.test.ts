// The watcher against a small HTTP server that speaks the API server's list and watch shapes, so the failure
// modes a real API server will not produce on demand (a watch that goes silent, 410 Gone) can be staged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../lib/log.ts';
import { backoffMs, createResilientWatch, type RestartReason, type WatchEventType } from './reconciler-watch.ts';

type WatchScript = (res: ServerResponse, query: URLSearchParams) => void;

interface FakeApi {
  kc: KubeConfig;
  lists: string[];
  watches: URLSearchParams[];
  listItems: { name: string; rv: string }[];
  listVersion: string;
  scripts: WatchScript[];
  close(): Promise<void>;
}

const ns = (name: string, rv: string): object => ({ metadata: { name, resourceVersion: rv } });
const send = (res: ServerResponse, type: string, object: object): void =>
  void res.write(`${JSON.stringify({ type, object })}\n`);

async function fakeApi(): Promise<FakeApi> {
  const open = new Set<ServerResponse>();
  const api: Omit<FakeApi, 'kc' | 'close'> = { lists: [], watches: [], listItems: [], listVersion: '1', scripts: [] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/api/v1') {
      res.end(
        JSON.stringify({
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [{ name: 'namespaces', namespaced: false, kind: 'Namespace', verbs: ['list', 'watch'] }],
        }),
      );
    } else if (url.pathname === '/api/v1/namespaces' && url.searchParams.get('watch') !== 'true') {
      api.lists.push(api.listVersion);
      res.end(
        JSON.stringify({
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: api.listVersion },
          items: api.listItems.map((i) => ns(i.name, i.rv)),
        }),
      );
    } else if (url.pathname === '/api/v1/namespaces') {
      api.watches.push(url.searchParams);
      res.writeHead(200);
      open.add(res);
      res.on('close', () => open.delete(res));
      const script = api.scripts.shift();
      if (script) script(res, url.searchParams);
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return Object.assign(api, {
    kc,
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function recorder(api: FakeApi, idleMs: number) {
  const events: string[] = [];
  const restarts: RestartReason[] = [];
  const watcher = createResilientWatch({
    kc: api.kc,
    apiVersion: 'v1',
    kind: 'Namespace',
    path: '/api/v1/namespaces',
    idleMs,
    log: silentLogger(),
    onEvent: (type: WatchEventType, o) => events.push(`${type} ${o.metadata?.name ?? ''}`),
    onRestart: (reason) => restarts.push(reason),
  });
  return { events, restarts, watcher };
}

test('a watch that goes silent (no event, no bookmark) is restarted from the last version seen', async () => {
  const api = await fakeApi();
  api.listItems = [{ name: 'a', rv: '5' }];
  api.listVersion = '10';
  api.scripts.push((res) => send(res, 'ADDED', ns('b', '11'))); // then silence, connection left open
  api.scripts.push((res) => {
    send(res, 'BOOKMARK', { metadata: { resourceVersion: '12' } });
    send(res, 'DELETED', ns('a', '13'));
  });
  const { events, restarts, watcher } = recorder(api, 300);
  await watcher.start();
  await until(() => events.length >= 3);
  assert.deepEqual(events, ['ADDED a', 'ADDED b', 'DELETED a']);
  assert.deepEqual(restarts, ['idle']);
  assert.deepEqual(api.lists, ['10'], 'a silent watch resumes without a relist');
  assert.equal(api.watches[0]?.get('resourceVersion'), '10');
  assert.equal(api.watches[0]?.get('allowWatchBookmarks'), 'true');
  assert.equal(api.watches[1]?.get('resourceVersion'), '11');
  assert.deepEqual(
    watcher.list().map((o) => o.metadata?.name),
    ['b'],
  );
  assert.equal(watcher.synced(), true);
  await watcher.stop();
  await api.close();
});

test('410 Gone relists, and objects deleted meanwhile arrive as DELETED; a normal end resumes', async () => {
  const api = await fakeApi();
  api.listItems = [
    { name: 'a', rv: '5' },
    { name: 'b', rv: '6' },
  ];
  api.scripts.push((res) => {
    api.listItems = [
      { name: 'b', rv: '20' },
      { name: 'c', rv: '21' },
    ];
    api.listVersion = '22';
    send(res, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    res.end();
  });
  api.scripts.push((res) => {
    send(res, 'ADDED', ns('d', '23'));
    res.end(); // the server's timeoutSeconds ran out
  });
  const { events, restarts, watcher } = recorder(api, 60_000);
  await watcher.start();
  await until(() => restarts.length >= 2 && api.watches.length >= 3);
  assert.deepEqual(events, ['ADDED a', 'ADDED b', 'DELETED a', 'MODIFIED b', 'ADDED c', 'ADDED d']);
  assert.deepEqual(restarts, ['expired', 'ended']);
  assert.deepEqual(api.lists, ['1', '22']);
  assert.equal(api.watches[2]?.get('resourceVersion'), '23');
  await watcher.stop();
  await api.close();
});

test('a consumer that keeps the versions itself: a relist compares with its record, the watcher keeps none', async () => {
  const api = await fakeApi();
  api.listItems = [
    { name: 'kept', rv: '5' },
    { name: 'ignored', rv: '6' },
    { name: 'gone', rv: '7' },
  ];
  api.scripts.push((res) => {
    api.listItems = [
      { name: 'kept', rv: '5' }, // unchanged: not announced again
      { name: 'ignored', rv: '6' }, // not recorded by the consumer: announced again
      { name: 'new', rv: '21' },
    ];
    api.listVersion = '22';
    send(res, 'MODIFIED', ns('kept', '5')); // same version as listed later
    send(res, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    res.end();
  });
  // The consumer records what it keeps (everything but "ignored"), as the reconciler does.
  const record = new Map<string, string>();
  const events: string[] = [];
  const watcher = createResilientWatch({
    kc: api.kc,
    apiVersion: 'v1',
    kind: 'Namespace',
    path: '/api/v1/namespaces',
    log: silentLogger(),
    versions: {
      version: (namespace, name) => (namespace === '' ? record.get(name) : undefined),
      entries: () => [...record].map(([name, rv]) => ['', name, rv] as const),
    },
    onEvent: (type: WatchEventType, o) => {
      const name = o.metadata?.name ?? '';
      events.push(`${type} ${name}`);
      if (name === 'ignored') return;
      if (type === 'DELETED') record.delete(name);
      else record.set(name, o.metadata?.resourceVersion ?? '');
    },
  });
  await watcher.start();
  await until(() => api.lists.length >= 2 && events.length >= 7);
  assert.deepEqual(events, [
    'ADDED kept',
    'ADDED ignored',
    'ADDED gone',
    'MODIFIED kept',
    'DELETED gone', // in the consumer's record, not in the new list
    'ADDED ignored', // listed, unknown to the consumer
    'ADDED new',
  ]);
  assert.deepEqual(
    [...record],
    [
      ['kept', '5'],
      ['new', '21'],
    ],
  );
  // What the watcher reports is the consumer's record.
  assert.equal(watcher.get(undefined, 'kept')?.metadata?.resourceVersion, '5');
  assert.equal(watcher.get(undefined, 'ignored'), undefined);
  assert.deepEqual(
    watcher.list().map((o) => o.metadata?.name),
    ['kept', 'new'],
  );
  await watcher.stop();
  await api.close();
});

test('errors are retried with a growing backoff', () => {
  assert.deepEqual([1, 2, 3, 4, 10].map(backoffMs), [250, 500, 1000, 2000, 10_000]);
});
