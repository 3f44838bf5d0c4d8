import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, encodeAnswer, parseAdmissionReview, toReview } from './admission.ts';
import { silentLogger } from '../lib/log.ts';
import { defaultConfig } from '../policies/config.ts';
import { request } from './testing/review.ts';
import type { AdmissionRequest, Decision, HandlerContext } from './types.ts';

const context: HandlerContext = {
  config: defaultConfig(),
  log: silentLogger(),
  now: () => new Date('2026-11-25T12:00:00Z'),
};

test('parse: says exactly what is wrong with a body that is not an AdmissionReview', () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ kind: 'Pod' }, /kind must be "AdmissionReview", got "Pod"/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1' }, /apiVersion must be "admission.k8s.io\/v1"/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, /request is missing/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: '' } }, /request.uid/],
    [
      { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 'x', kind: 'Pod' } },
      /request.kind/,
    ],
    [
      {
        kind: 'AdmissionReview',
        apiVersion: 'admission.k8s.io/v1',
        request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'PATCH' },
      },
      /request.operation/,
    ],
  ];
  for (const [body, message] of cases) {
    const parsed = parseAdmissionReview(body);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.message, message);
  }
  const ok = parseAdmissionReview({
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' },
  });
  assert.equal(ok.ok, true);
});

test('toReview: the patch is the diff of the mutated copy, and no change means no patch', () => {
  const req = request({ metadata: { name: 'a', labels: { x: '1' } } }, 'Pod', { namespace: 'shop-pr-1' });
  const patched = toReview(req, { allowed: true, mutated: { metadata: { name: 'a', labels: { x: '1', y: '2' } } } });
  assert.equal(patched.response.uid, req.uid);
  assert.equal(patched.response.patchType, 'JSONPatch');
  assert.deepEqual(JSON.parse(Buffer.from(patched.response.patch ?? '', 'base64').toString()), [
    { op: 'add', path: '/metadata/labels/y', value: '2' },
  ]);
  const same = toReview(req, { allowed: true, mutated: structuredClone(req.object) });
  assert.deepEqual(same.response, { uid: req.uid, allowed: true });
});

test('toReview: a denial lists every violation with path and fix under one heading', () => {
  const req = request({ metadata: { name: 'web' } }, 'Deployment', { namespace: 'shop-pr-1' });
  const review = toReview(req, {
    allowed: false,
    code: 403,
    message: 'denied',
    violations: [
      {
        rule: 'pss:privileged',
        path: 'spec.template.spec.containers[0].securityContext.privileged',
        message: 'privileged containers are not allowed',
        fix: 'remove it',
      },
      {
        rule: 'pss:runAsNonRoot',
        path: 'spec.template.spec.securityContext.runAsNonRoot',
        message: 'must be true',
        fix: 'set it to true',
      },
    ],
  });
  assert.equal(review.response.allowed, false);
  assert.equal(review.response.status?.code, 403);
  const message = review.response.status?.message ?? '';
  assert.match(message, /^k8s-ee denied CREATE Deployment\/web in namespace shop-pr-1: 2 problems:/);
  assert.match(message, /\(1\) spec\.template\.spec\.containers\[0\]\.securityContext\.privileged: .* Fix: remove it/);
  assert.match(message, /\(2\) spec\.template\.spec\.securityContext\.runAsNonRoot/);
});

test('decide: an exception inside a handler becomes an errored answer, not a crash', async () => {
  const req = request({ metadata: { name: 'a' } }, 'Pod', { namespace: 'shop-pr-1' });
  const decision = await decide(
    () => {
      throw new Error('boom');
    },
    req,
    context,
  );
  assert.equal(decision.allowed, false);
  if (!decision.allowed) {
    assert.equal(decision.code, 500);
    assert.match(decision.message, /could not evaluate CREATE Pod\/a in namespace shop-pr-1: boom/);
  }
});

test('encodeAnswer writes exactly what JSON.stringify(toReview) writes, for every kind of answer', () => {
  const req = request({ metadata: { name: 'p', labels: { gone: 'x', keep: 'y' } } }, 'Pod', { namespace: 'shop-pr-1' });
  const long = 'no "privileged"\n\\ é'.repeat(40);
  const labels = (extra: Record<string, unknown>) => ({ metadata: { name: 'p', labels: { keep: 'y', ...extra } } });
  const cases: [AdmissionRequest, Decision][] = [
    [{ ...req, uid: 'u-"1"\\é' }, { allowed: true }],
    [req, { allowed: true, mutated: req.object }],
    [req, { allowed: true, mutated: labels({ 'a/b~c': 'é"', 'ü"\\': 'k' }) }],
    // Patches of every length modulo 3 (base64's padding), with multi-byte text; numbers, nested values, a removal.
    ...['x', 'xy', 'xyz', '€', '€€', 'ü'].map((v): [AdmissionRequest, Decision] => [
      req,
      { allowed: true, mutated: labels({ v, gone: 'x' }) },
    ]),
    [
      req,
      {
        allowed: true,
        mutated: {
          metadata: { name: 'q' },
          spec: {
            n: [0, -1, 65532, 1.5, -0, 1e21, 2 ** 53, null, true, false, 'é'],
            o: { a: [], b: {}, u: undefined },
          },
        },
      },
    ],
    [req, { allowed: true, warnings: ['mind the "quota"', 'é'] }],
    [req, { allowed: true, mutated: labels({ x: 'y' }), warnings: ['w'] }],
    [req, { allowed: false, code: 403, message: 'no "privileged"\nfix it', reason: 'Forbidden' }],
    [req, { allowed: false, code: 500, message: 'broken' }],
    [req, { allowed: false, code: 403, message: 'plain and long '.repeat(30), reason: 'Forbidden' }],
    // A long message (remembered by jsonString), twice, with and without a reason.
    [req, { allowed: false, code: 403, message: long, reason: 'Forbidden' }],
    [req, { allowed: false, code: 403, message: long }],
  ];
  const padding = new Set<number>();
  for (const [r, decision] of cases) {
    const review = toReview(r, decision);
    const encoded = encodeAnswer(r, decision);
    assert.equal(encoded.body.toString(), JSON.stringify(review));
    assert.equal(encoded.patched, review.response.patch !== undefined);
    assert.equal(encoded.message, review.response.status?.message);
    if (review.response.patch) padding.add(Buffer.from(review.response.patch, 'base64').length % 3);
  }
  assert.deepEqual([...padding].sort(), [0, 1, 2], 'patches of each length modulo 3 are among them');
});
