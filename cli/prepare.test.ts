import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepare, PrepareError, type Outcome, type PrepareApi } from './prepare.ts';

/** An API that records calls; RBAC shows the binding after `visibleAfter` checks. */
function fakeApi(opts: { exists?: boolean; refuseNamespace?: string; visibleAfter?: number } = {}) {
  const calls: string[] = [];
  let checks = 0;
  const outcome: Outcome = opts.exists ? 'exists' : 'created';
  const api: PrepareApi = {
    whoAmI: () => Promise.resolve('system:serviceaccount:arc-runners:k8s-ee-ci'),
    createNamespace: (name) => {
      calls.push(`namespace ${name}`);
      return opts.refuseNamespace ? Promise.reject(new Error(opts.refuseNamespace)) : Promise.resolve(outcome);
    },
    createRoleBinding: (ns, name, role, user) => {
      calls.push(`rolebinding ${ns}/${name} ${role} ${user}`);
      return Promise.resolve(outcome);
    },
    canListSecrets: (ns) => {
      calls.push(`can-i list secrets ${ns}`);
      checks += 1;
      return Promise.resolve(checks > (opts.visibleAfter ?? 0));
    },
  };
  return { api, calls };
}

const clock = () => {
  let t = 0;
  return { now: () => t, sleep: (ms: number) => ((t += ms), Promise.resolve()) };
};

describe('prepare (the CI step before helm)', () => {
  it('creates the namespace, binds the deployer role to the caller, and waits until RBAC shows it', async () => {
    const { api, calls } = fakeApi({ visibleAfter: 2 });
    const result = await prepare(api, { namespace: 'shop-pr-42', pollMs: 250, ...clock() });
    assert.deepEqual(result, {
      user: 'system:serviceaccount:arc-runners:k8s-ee-ci',
      namespace: 'created',
      roleBinding: 'created',
      waitedMs: 500,
    });
    assert.deepEqual(calls, [
      'namespace shop-pr-42',
      'rolebinding shop-pr-42/k8s-ee-ci k8s-ee-ci-deployer system:serviceaccount:arc-runners:k8s-ee-ci',
      'can-i list secrets shop-pr-42',
      'can-i list secrets shop-pr-42',
      'can-i list secrets shop-pr-42',
    ]);
  });

  it('is idempotent: a later push finds both and goes on', async () => {
    const { api } = fakeApi({ exists: true });
    const result = await prepare(api, { namespace: 'shop-pr-42', role: 'my-deployer', ...clock() });
    assert.deepEqual([result.namespace, result.roleBinding, result.waitedMs], ['exists', 'exists', 0]);
  });

  it("passes the API server's refusal on, with the fix", async () => {
    const { api, calls } = fakeApi({ refuseNamespace: 'HTTP 403: … [vap:ci-namespace]' });
    await assert.rejects(prepare(api, { namespace: 'evil', ...clock() }), (err: Error) => {
      assert.ok(err instanceof PrepareError);
      assert.match(err.message, /may not create namespace evil: HTTP 403: … \[vap:ci-namespace\]\n {2}fix: /);
      return true;
    });
    assert.deepEqual(calls, ['namespace evil'], 'nothing is bound after a refusal');
  });

  it('gives up after the timeout, naming the role to check', async () => {
    const { api } = fakeApi({ visibleAfter: 1_000 });
    await assert.rejects(
      prepare(api, { namespace: 'shop-pr-42', timeoutMs: 2_000, pollMs: 500, ...clock() }),
      /still may not list Secrets in shop-pr-42 2 s after RoleBinding k8s-ee-ci \(ClusterRole k8s-ee-ci-deployer\) was created[\s\S]*kubectl get clusterrole k8s-ee-ci-deployer/,
    );
  });

  it('refuses a name that is no namespace before calling anything', async () => {
    const { api, calls } = fakeApi();
    await assert.rejects(prepare(api, { namespace: 'Shop_PR_42' }), /"Shop_PR_42" is not a valid name/);
    assert.deepEqual(calls, []);
  });
});
