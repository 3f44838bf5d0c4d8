import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { silentLogger } from '../lib/log.ts';
import { createRegistry } from '../lib/metrics.ts';
import { defaultConfig } from '../policies/config.ts';
import { mutateHandler, validateHandler } from './handlers.ts';
import { createApp, TurnBatch, TurnGate } from './server.ts';
import { review } from './testing/review.ts';
import type { ClusterServices, HandlerContext } from './types.ts';

function app(options: { cluster?: ClusterServices; maxBodyBytes?: number } = {}) {
  const registry = createRegistry();
  const context: HandlerContext = {
    config: defaultConfig(),
    log: silentLogger(),
    now: () => new Date('2026-11-25T12:00:00Z'),
    ...(options.cluster ? { cluster: options.cluster } : {}),
  };
  const routes = [
    { path: '/mutate', name: 'mutate', handler: mutateHandler },
    { path: '/validate', name: 'validate', handler: validateHandler },
  ];
  return {
    app: createApp({ routes, context, registry, maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024, ready: () => true }),
    registry,
  };
}

const privilegedPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'evil', namespace: 'shop-pr-1' },
  spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
};

test('mutate: a new PR namespace gets its labels as a JSON patch, with the uid echoed', async () => {
  const body = review({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-pr-1' } }, 'Namespace');
  const res = await request(app().app).post('/mutate').send(body).expect(200);
  assert.equal(res.body.response.uid, (body['request'] as { uid: string }).uid);
  assert.equal(res.body.response.allowed, true);
  const patch = JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString());
  const labels = patch.find((op: { path: string }) => op.path === '/metadata/labels').value;
  assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(labels['k8s-ee.io/project'], 'shop');
});

test('mutate: a namespace that does not match is left alone', async () => {
  const res = await request(app().app)
    .post('/mutate')
    .send(review({ kind: 'Namespace', metadata: { name: 'kube-public-like' } }, 'Namespace'))
    .expect(200);
  assert.deepEqual(Object.keys(res.body.response).sort(), ['allowed', 'uid']);
});

test('validate: a privileged pod is denied with the field path and the fix', async () => {
  const res = await request(app().app).post('/validate').send(review(privilegedPod, 'Pod')).expect(200);
  assert.equal(res.body.response.allowed, false);
  assert.match(res.body.response.status.message, /spec\.containers\[0\]\.securityContext\.privileged/);
  assert.match(res.body.response.status.message, /Fix:/);
});

test('validate: the zero-window gate asks the cluster, and a failing gate denies with a retry hint', async () => {
  const calls: [string, boolean][] = [];
  const cluster: ClusterServices = {
    pinnedNamespaces: () => Promise.resolve([]),
    reservePin: () => Promise.resolve({ ok: true }),
    ensureBaseline: (ns, { dryRun }) => {
      calls.push([ns, dryRun]);
      return Promise.resolve(ns === 'shop-pr-2' ? { ok: false, reason: 'the API server timed out' } : { ok: true });
    },
  };
  const pod = (ns: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ok', namespace: ns },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'c',
          image: 'nginx',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  });
  const ok = await request(app({ cluster }).app)
    .post('/validate')
    .send(review(pod('shop-pr-1'), 'Pod', { dryRun: true }))
    .expect(200);
  assert.equal(ok.body.response.allowed, true);
  const bad = await request(app({ cluster }).app)
    .post('/validate')
    .send(review(pod('shop-pr-2'), 'Pod'))
    .expect(200);
  assert.equal(bad.body.response.allowed, false);
  assert.match(bad.body.response.status.message, /the API server timed out.*retry/);
  assert.deepEqual(calls, [
    ['shop-pr-1', true],
    ['shop-pr-2', false],
  ]);
});

test('validate: the fourth pin is refused and names the pinned ones', async () => {
  const pinned = ['a-pr-1', 'b-pr-2', 'c-pr-3'];
  const cluster: ClusterServices = {
    pinnedNamespaces: () => Promise.resolve(pinned),
    reservePin: (_ns, limit) => Promise.resolve(pinned.length >= limit ? { ok: false, pinned } : { ok: true }),
    ensureBaseline: () => Promise.resolve({ ok: true }),
  };
  const ns = { kind: 'Namespace', metadata: { name: 'shop-pr-9', labels: { preserve: 'true' } } };
  const res = await request(app({ cluster }).app).post('/validate').send(review(ns, 'Namespace')).expect(200);
  assert.equal(res.body.response.allowed, false);
  assert.match(res.body.response.status.message, /at most 3 .* a-pr-1, b-pr-2, c-pr-3/);
});

test('malformed bodies get a 400 that says what is wrong; oversized ones a 413', async () => {
  const { app: a } = app({ maxBodyBytes: 2048 });
  const bad = await request(a).post('/validate').set('content-type', 'application/json').send('{"kind": ').expect(400);
  assert.match(bad.body.response.status.message, /not valid JSON/);
  const wrong = await request(a)
    .post('/validate')
    .send({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' })
    .expect(400);
  assert.match(wrong.body.response.status.message, /request is missing/);
  const empty = await request(a).post('/validate').set('content-type', 'application/json').send('').expect(400);
  assert.match(empty.body.response.status.message, /empty/);
  const big = await request(a)
    .post('/validate')
    .set('content-type', 'application/json')
    .send(JSON.stringify({ pad: 'x'.repeat(5000) }))
    .expect(413);
  assert.match(big.body.response.status.message, /exceeds the limit of 2048 bytes/);
});

test('metrics count requests by route, kind and decision; health endpoints answer', async () => {
  const { app: a, registry } = app();
  await request(a).post('/validate').send(review(privilegedPod, 'Pod')).expect(200);
  await request(a).post('/validate').send('nope').set('content-type', 'text/plain').expect(400);
  const text = (await request(a).get('/metrics').expect(200)).text;
  assert.match(text, /k8s_ee_admission_requests_total\{route="validate",kind="Pod",decision="denied"\} 1/);
  assert.match(text, /k8s_ee_admission_bad_requests_total\{route="validate",status="400"\} 1/);
  assert.match(text, /k8s_ee_admission_violations_total\{rule="pss:privileged"\} 1/);
  assert.match(text, /k8s_ee_admission_duration_seconds_bucket/);
  assert.equal(registry.contentType.length > 0, true);
  await request(a).get('/healthz').expect(200);
  await request(a).get('/readyz').expect(200);
  await request(a).get('/nope').expect(404);
});

test('mutate: a pod that still breaks restricted after the defaults is refused there, before PodSecurity', async () => {
  const res = await request(app().app).post('/mutate').send(review(privilegedPod, 'Pod')).expect(200);
  assert.equal(res.body.response.allowed, false);
  assert.match(res.body.response.status.message, /spec\.containers\[0\]\.securityContext\.privileged/);
  const plain = { ...privilegedPod, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
  const ok = await request(app().app).post('/mutate').send(review(plain, 'Pod')).expect(200);
  assert.equal(ok.body.response.allowed, true);
  assert.equal(ok.body.response.patchType, 'JSONPatch');
});

test("a hand-made review without request.namespace is judged by the object's own namespace", async () => {
  const body = review(privilegedPod, 'Pod');
  delete (body['request'] as { namespace?: string }).namespace;
  const res = await request(app().app).post('/validate').send(body).expect(200);
  assert.equal(res.body.response.allowed, false);
});

test('/readyz answers 503 with the reason when not ready', async () => {
  const registry = createRegistry();
  const context: HandlerContext = { config: defaultConfig(), log: silentLogger(), now: () => new Date() };
  let reason: true | string = 'the served certificate is refused by clients: /certs/tls.crt: the certificate expired';
  const a = createApp({ routes: [], context, registry, maxBodyBytes: 1024, ready: () => reason });
  const res = await request(a).get('/readyz').expect(503);
  assert.equal(res.text, `not ready: ${String(reason)}\n`);
  reason = true;
  assert.equal((await request(a).get('/readyz').expect(200)).text, 'ready\n');
});

test('TurnBatch: what is queued in one turn of the event loop runs together after it, in order', async () => {
  const ran: string[] = [];
  const failures: string[] = [];
  const batch = new TurnBatch<string>(
    (item) => {
      if (item === 'bad') throw new Error('socket gone');
      ran.push(item);
    },
    (err) => failures.push(err.message),
  );
  batch.add('a');
  batch.add('bad');
  batch.add('b');
  assert.deepEqual(ran, [], 'nothing runs before the turn ends');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ran, ['a', 'b'], 'a failing item does not cost the others');
  assert.deepEqual(failures, ['socket gone']);
  batch.add('c');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ran, ['a', 'b', 'c'], 'the next turn gets a batch of its own');
});

test('TurnGate: what arrives in one turn goes on together after it, and its answers are written in the same check phase', async () => {
  const order: string[] = [];
  const answers = new TurnBatch<string>(
    (item) => order.push(`write ${item}`),
    () => undefined,
  );
  let opened = 0;
  const gate = new TurnGate(() => {
    opened += 1;
    answers.arm();
  });
  const request = async (name: string): Promise<void> => {
    await gate.pass();
    order.push(`decide ${name}`);
    // Scheduled from within the check phase: runs in the next turn, so it shows where this one ended.
    if (name === 'a') setImmediate(() => order.push('next turn'));
    await Promise.resolve(); // a handler's own await
    answers.add(name);
  };
  setImmediate(() => order.push('queued before them'));
  const done = Promise.all([request('a'), request('b'), request('c')]);
  order.push('turn goes on');
  assert.equal(opened, 1, 'the first request of the turn opens it, once');
  await done;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, [
    'turn goes on',
    'queued before them',
    'decide a',
    'decide b',
    'decide c',
    'write a',
    'write b',
    'write c',
    'next turn',
  ]);
  await request('d');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(opened, 2, 'the next turn opens the gate again');
  assert.deepEqual(order.slice(-2), ['decide d', 'write d']);
});

test('answers written in batches still go each to its own request', async () => {
  const { app: listener, registry } = app();
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const bodies = Array.from({ length: 48 }, (_, i) =>
      i % 3 === 2
        ? review(privilegedPod, 'Pod')
        : review({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `shop-pr-${i + 1}` } }, 'Namespace'),
    );
    const answers = await Promise.all(
      bodies.map(
        (body, i) =>
          new Promise<{ uid: string; allowed: boolean; patch?: string }>((resolve, reject) => {
            const req = httpRequest(
              { host: '127.0.0.1', port, path: i % 3 === 2 ? '/validate' : '/mutate', method: 'POST', agent },
              (res) => {
                let text = '';
                res.on('data', (chunk: Buffer) => (text += chunk.toString()));
                res.on('end', () => resolve((JSON.parse(text) as { response: never }).response));
              },
            );
            req.on('error', reject);
            req.end(JSON.stringify(body));
          }),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.uid, (bodies[i]?.['request'] as { uid: string }).uid);
      if (i % 3 === 2) assert.equal(answer.allowed, false);
      else {
        const patch = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString()) as { value: unknown }[];
        assert.match(JSON.stringify(patch), new RegExp(`"k8s-ee.io/pr":"${i + 1}"`));
      }
    }
    const metrics = await registry.metrics();
    assert.match(metrics, /k8s_ee_admission_in_flight\{route="mutate"\} 0/);
  } finally {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
