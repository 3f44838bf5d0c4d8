// Issue 11, classes 3 to 5 on a real API server: labels through namespace subresources (finalize, status) are
// judged like the namespace, and the reconciler restores labels changed while the webhooks were away; with both
// webhook configurations deleted, the ValidatingAdmissionPolicy (selecting PR namespaces by name) refuses an
// unlabelled PR namespace and pods cannot run privileged; two webhook processes sharing the API server grant
// exactly three of five simultaneous pins (the pin slots are Leases the API server hands out once).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import { LABELS } from '../policies/names.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import { managedLabelVapYaml, vapYaml } from '../policies/vap-print.ts';
import { request as admissionRequest } from '../webhooks/testing/review.ts';
import { getTestCluster, type TestCluster } from '../local/harness/cluster.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';

const ID = `bs${Date.now().toString(36).slice(-5)}`;
const NS = `${ID}-pr-1`;
const LABELLED = `${ID}-pr-13`;
const SLIPPED = `${ID}-pr-14`;
const SLOTS_NS = `${ID}-system`;
const NOT_PR = `${ID}-staging`;
const DEV_USER = 'dev-backstop@example.com';
const DEV = [`--as=${DEV_USER}`, '--as-group=system:authenticated'];
const config = defaultConfig();

const devRbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: e2e-backstop-dev }
rules:
  - apiGroups: ['']
    resources: [namespaces, namespaces/finalize, namespaces/status]
    verbs: [get, list, create, update, patch]
  - apiGroups: ['']
    resources: [pods]
    verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: e2e-backstop-dev }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-backstop-dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: ${DEV_USER} }]
`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function post(url: string, ca: string, body: unknown): Promise<Json> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        ca,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as Json);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const hostNetworkPod = (ns: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hostnet', namespace: ns },
    spec: { hostNetwork: true, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
  });

describe('issue 11: namespace subresources, the backstop by name, pins across webhook replicas', () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook;
  let second: StartedWebhook | undefined;
  let dir: string;
  const previousNamespace = process.env['K8S_EE_NAMESPACE'];

  const labelsOf = async (name: string): Promise<Record<string, string>> =>
    JSON.parse(
      (await cluster.kubectl(['get', 'namespace', name, '-o', 'jsonpath={.metadata.labels}'])).stdout || '{}',
    ) as Record<string, string>;

  before(async () => {
    cluster = await getTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'k8s-ee-backstop-'));
    await cluster.kubectl(['create', 'namespace', SLOTS_NS]);
    // The webhook processes keep their pin slots (and their reconciler's Lease) in this namespace.
    process.env['K8S_EE_NAMESPACE'] = SLOTS_NS;
    await cluster.kubectl(['apply', '-f', '-'], { input: devRbac });
    webhook = await startWebhook({ cluster });
  });

  after(async () => {
    await second?.stop();
    await webhook?.stop();
    if (previousNamespace === undefined) delete process.env['K8S_EE_NAMESPACE'];
    else process.env['K8S_EE_NAMESPACE'] = previousNamespace;
    await cluster?.kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: vapYaml(), allowFail: true });
    await cluster?.kubectl(['delete', '-f', '-', '--ignore-not-found'], {
      input: managedLabelVapYaml(),
      allowFail: true,
    });
    await cluster?.kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: devRbac, allowFail: true });
    await cluster?.kubectl(
      [
        'delete',
        'namespace',
        NS,
        LABELLED,
        SLIPPED,
        `${ID}-pr-12`,
        SLOTS_NS,
        NOT_PR,
        `${NOT_PR}-2`,
        '--ignore-not-found',
        '--wait=false',
      ],
      { allowFail: true },
    );
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('labels written through namespaces/finalize and namespaces/status are refused like the namespace own', async () => {
    const created = await cluster.kubectl(['create', 'namespace', NS, ...DEV], { allowFail: true });
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await labelsOf(NS))['pod-security.kubernetes.io/enforce'], 'restricted');
    // The reconciler stamps the namespace right after its creation: read it once that is done, or the writes below
    // would meet a Conflict (a stale resourceVersion) instead of the webhook.
    for (let i = 0; i < 100 && !(await labelsOf(NS))[LABELS.baselineHash]; i += 1) await sleep(100);
    const live = JSON.parse((await cluster.kubectl(['get', 'namespace', NS, '-o', 'json'])).stdout) as Json;
    const attempts: [string, (labels: Record<string, string>) => void, RegExp][] = [
      [
        'enforce=privileged',
        (l) => (l['pod-security.kubernetes.io/enforce'] = 'privileged'),
        /metadata\.labels\["pod-security\.kubernetes\.io\/enforce"\]: is "privileged".*\[managed-labels\]/s,
      ],
      ['managed removed', (l) => delete l['k8s-ee.io/managed'], /k8s-ee\.io\/managed"\]: was removed/],
      ['preserve=True', (l) => (l['preserve'] = 'True'), /is "True", but a pin is preserve=true exactly/],
    ];
    for (const subresource of ['finalize', 'status']) {
      for (const [what, edit, message] of attempts) {
        const object = structuredClone(live);
        edit(object['metadata']['labels'] as Record<string, string>);
        const file = join(dir, `${subresource}.json`);
        writeFileSync(file, JSON.stringify(object));
        const res = await cluster.kubectl(
          ['replace', '--raw', `/api/v1/namespaces/${NS}/${subresource}`, '-f', file, ...DEV],
          { allowFail: true },
        );
        assert.notEqual(res.code, 0, `${subresource} ${what} was accepted`);
        assert.match(res.stderr, message, `${subresource} ${what}`);
      }
    }
    assert.equal((await labelsOf(NS))['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('k8s-ee.io/managed=true is refused on a namespace without a PR name; removing it is allowed', async () => {
    // One that carried it before the guard existed (a mistake the guard then points out).
    await cluster.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: NOT_PR, labels: { [LABELS.managed]: 'true' } },
      }),
    });
    await cluster.kubectl(['apply', '-f', '-'], { input: managedLabelVapYaml() });
    let refused: { code: number; stderr: string } | undefined;
    const deadline = Date.now() + 20_000;
    for (let i = 0; !refused && Date.now() < deadline; i += 1) {
      // Another change that keeps the label: refused once the API server has loaded the policy.
      const res = await cluster.kubectl(['label', 'namespace', NOT_PR, `attempt=${String(i)}`, '--overwrite', ...DEV], {
        allowFail: true,
      });
      if (res.code !== 0) refused = res;
      else await sleep(250);
    }
    assert.ok(refused, 'a change keeping k8s-ee.io/managed=true on a namespace without a PR name was admitted');
    assert.match(
      refused.stderr,
      /metadata\.labels\["k8s-ee\.io\/managed"\]: "true" marks a PR namespace.*\[vap:managed-label\].*Fix: remove the label \(kubectl label namespace \S+-staging k8s-ee\.io\/managed-\)/,
    );
    const created = await cluster.kubectl(['create', '-f', '-', ...DEV], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `${NOT_PR}-2`, labels: { [LABELS.managed]: 'true' } },
      }),
      allowFail: true,
    });
    assert.notEqual(created.code, 0, 'a namespace without a PR name was created with k8s-ee.io/managed=true');
    assert.match(created.stderr, /\[vap:managed-label\]/);
    const removed = await cluster.kubectl(['label', 'namespace', NOT_PR, `${LABELS.managed}-`, ...DEV], {
      allowFail: true,
    });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await labelsOf(NOT_PR))[LABELS.managed], undefined);
    // A PR namespace keeps its label through any other change.
    const other = await cluster.kubectl(['label', 'namespace', NS, 'team=backstop', '--overwrite', ...DEV], {
      allowFail: true,
    });
    assert.equal(other.code, 0, other.stderr);
    assert.equal((await labelsOf(NS))[LABELS.managed], 'true');
  });

  test('with the webhook configurations deleted, labels changed meanwhile are restored by the reconciler', async () => {
    const name = `k8s-ee-e2e-${String(webhook.port)}`;
    await cluster.kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', name]);
    await sleep(1_000); // the API server drops the registration
    const downgrade = await cluster.kubectl(
      [
        'label',
        'namespace',
        NS,
        'pod-security.kubernetes.io/enforce=privileged',
        'k8s-ee.io/managed-',
        '--overwrite',
        ...DEV,
      ],
      { allowFail: true },
    );
    assert.equal(downgrade.code, 0, `without the webhooks the change goes through: ${downgrade.stderr}`);
    const deadline = Date.now() + 20_000;
    let labels = await labelsOf(NS);
    while (Date.now() < deadline && labels['pod-security.kubernetes.io/enforce'] !== 'restricted') {
      await sleep(250);
      labels = await labelsOf(NS);
    }
    assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted', 'the reconciler restored enforce');
    assert.equal(labels['k8s-ee.io/managed'], 'true', 'the reconciler restored managed');
    // A PR namespace that slips in unlabelled (no webhook, no policy yet) is labelled by the reconciler.
    const slipped = await cluster.kubectl(['create', 'namespace', SLIPPED, ...DEV], { allowFail: true });
    assert.equal(slipped.code, 0, slipped.stderr);
    const until = Date.now() + 20_000;
    let got = await labelsOf(SLIPPED);
    while (Date.now() < until && got['pod-security.kubernetes.io/enforce'] !== 'restricted') {
      await sleep(250);
      got = await labelsOf(SLIPPED);
    }
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(got).filter(([k]) => !k.startsWith('kubernetes.io/') && k !== 'k8s-ee.io/baseline-hash'),
      ),
      requiredNamespaceLabels({ name: SLIPPED, project: ID, number: 14 }, config),
    );
  });

  test('with both webhook configurations deleted, the policy refuses an unlabelled PR namespace; no hostNetwork pod', async () => {
    await cluster.kubectl(['apply', '-f', '-'], { input: vapYaml() });
    const unlabelled = `${ID}-pr-12`;
    let refused: { code: number; stderr: string } | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const res = await cluster.kubectl(['create', 'namespace', unlabelled, ...DEV], { allowFail: true });
      if (res.code !== 0) {
        refused = res;
        break;
      }
      // Created before the API server loaded the policy: remove it and try again.
      await cluster.kubectl(['delete', 'namespace', unlabelled, '--wait=true']);
      await sleep(250);
    }
    assert.ok(refused, 'an unlabelled PR namespace was created with the webhooks gone');
    // The API server type-checked every expression of the policy without a warning.
    const status = JSON.parse(
      (await cluster.kubectl(['get', 'validatingadmissionpolicy', 'k8s-ee-baseline-required', '-o', 'json'])).stdout,
    ) as Json;
    assert.deepEqual(
      status['status']?.['typeChecking']?.['expressionWarnings'] ?? [],
      [],
      JSON.stringify(status['status']),
    );
    assert.match(refused.stderr, /ValidatingAdmissionPolicy 'k8s-ee-baseline-required'/);
    assert.match(
      refused.stderr,
      /metadata\.labels: a PR namespace is created only with k8s-ee\.io\/managed=true.*\[vap:namespace-labels\]/,
    );
    // With the labels it is admitted; a hostNetwork pod in it is not (no stamp yet, and Pod Security restricted).
    const ns = { name: LABELLED, project: ID, number: 13 };
    const labels = requiredNamespaceLabels(ns, config);
    await cluster.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LABELLED, labels } }),
    });
    for (const target of [LABELLED, NS]) {
      const pod = await cluster.kubectl(['create', '-f', '-', ...DEV], {
        input: hostNetworkPod(target),
        allowFail: true,
      });
      assert.notEqual(pod.code, 0, `a hostNetwork pod was admitted in ${target}`);
      assert.match(pod.stderr, /hostNetwork|baseline .* is not in place/, target);
    }
  });

  test('two webhook processes, five pins at once, none pinned before: exactly three admitted', async () => {
    second = await startWebhook({ cluster });
    const already = (
      await cluster.kubectl(['get', 'namespace', '-l', 'preserve=true,k8s-ee.io/managed=true', '-o', 'name'])
    ).stdout
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/^namespace\//, ''));
    const names = [21, 22, 23, 24, 25].map((n) => `${ID}-pr-${String(n)}`);
    const review = (name: string): Json => {
      const ns = { name, project: ID, number: Number(name.split('-').pop()) };
      const old = {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: requiredNamespaceLabels(ns, config) },
      };
      const object = structuredClone(old);
      object.metadata.labels['preserve'] = 'true';
      const req = admissionRequest(object, 'Namespace', { operation: 'UPDATE', oldObject: old, username: DEV_USER });
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req };
    };
    const processes = [webhook, second];
    const answers = await Promise.all(
      names.map((name, i) => {
        const target = processes[i % 2]!;
        return post(`https://127.0.0.1:${String(target.port)}/validate`, target.caBundle, review(name));
      }),
    );
    const allowed = answers.filter((a) => a['response']?.['allowed'] === true).length;
    assert.equal(allowed, Math.max(0, 3 - already.length), JSON.stringify(answers.map((a) => a['response'])));
    for (const answer of answers.filter((a) => a['response']?.['allowed'] !== true)) {
      const message = String(answer['response']?.['status']?.['message'] ?? '');
      const named = /pinned now: (.*?)(?: \(and \d+ being pinned at this moment\))? \[pins\]/.exec(message)?.[1] ?? '';
      for (const n of named === 'none yet' ? [] : named.split(', '))
        assert.ok(already.includes(n), `the refusal names ${n}, which is not pinned: ${message}`);
    }
    const leases = JSON.parse(
      (
        await cluster.kubectl([
          'get',
          'leases',
          '-n',
          SLOTS_NS,
          '-l',
          'app.kubernetes.io/component=pin-slot',
          '-o',
          'json',
        ])
      ).stdout,
    ) as Json;
    const holders = (leases['items'] as Json[]).map((l) => String(l['spec']['holderIdentity']));
    assert.equal(holders.length, allowed, `one slot per admitted pin: ${holders.join(', ')}`);
  });
});
