// `k8s-ee check` against the real thing: a chart rendered with `helm template` is checked, then installed with
// plain helm into a PR namespace behind the real webhook, on the real node. What check passes is admitted and
// reaches Ready, and the quota's own accounting (status.used) equals check's sum; what check reports as over the
// quota or above the LimitRange maximum is what the cluster refuses (the ReplicaSet's FailedCreate events). And a
// failed `helm template` piped into check does not pass.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseQuantity } from '../lib/quantity.ts';
import { helmPath, projectRoot } from '../local/cluster/paths.ts';
import { deleteNamespaces, runCommand, type TestCluster } from '../local/harness/cluster.ts';
import { clusterWithNode, describePods, waitPodsReady } from '../local/harness/pods.ts';
import { startWebhook, type StartedWebhook } from '../local/harness/webhook.ts';
import type { CheckResult } from '../webhooks/check.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CHART = join(projectRoot, 'e2e', 'fixtures', 'charts', 'sample-app');
const NODE = join(projectRoot, 'node_modules', '.bin', 'node');
const CLI = join(projectRoot, 'cli', 'main.ts');
const NS = { fits: 'f8-pr-2', over: 'f8-pr-3', max: 'f8-pr-4' } as const;

const { cluster: maybeCluster, skip } = await clusterWithNode();
if (skip) console.log(`e2e/quota-check: skipped: ${skip}`);

/** `k8s-ee check -n NS --output json -` on the rendered text. */
function check(namespace: string, rendered: string): { status: number; result: CheckResult; text: string } {
  const run = (output: string) =>
    spawnSync(NODE, [CLI, 'check', '-n', namespace, '--output', output, '-'], {
      cwd: projectRoot,
      input: rendered,
      encoding: 'utf8',
    });
  const json = run('json');
  const text = run('text');
  assert.equal(json.status, text.status);
  return { status: json.status ?? -1, result: JSON.parse(json.stdout) as CheckResult, text: text.stdout };
}

describe('k8s-ee check knows the quota: what it passes runs, what it reports the cluster refuses', { skip }, () => {
  let cluster: TestCluster;
  let webhook: StartedWebhook | undefined;

  const render = async (release: string, namespace: string, set: string[]): Promise<string> =>
    (await cluster.helm(['template', release, CHART, '-n', namespace, ...set.flatMap((s) => ['--set', s])])).stdout;
  const install = (release: string, namespace: string, set: string[], wait: boolean) =>
    cluster.helm([
      'upgrade',
      '--install',
      release,
      CHART,
      '-n',
      namespace,
      '--create-namespace',
      ...set.flatMap((s) => ['--set', s]),
      ...(wait ? ['--wait', '--timeout', '180s'] : []),
    ]);
  /** The messages of the namespace's FailedCreate events once one contains `needle`. */
  const failedCreate = async (namespace: string, needle: RegExp): Promise<string> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const events = JSON.parse(
        (
          await cluster.kubectl([
            'get',
            'events',
            '-n',
            namespace,
            '--field-selector',
            'reason=FailedCreate',
            '-o',
            'json',
          ])
        ).stdout,
      ) as Json;
      const messages = (events['items'] as Json[]).map((e) => String(e['message']));
      const hit = messages.find((m) => needle.test(m));
      if (hit) return hit;
      if (Date.now() > deadline)
        assert.fail(`${namespace}: no FailedCreate event matching ${String(needle)}:\n${messages.join('\n')}`);
      await sleep(500);
    }
  };

  before(async () => {
    cluster = maybeCluster!;
    await deleteNamespaces(cluster, Object.values(NS));
    webhook = await startWebhook({ cluster, configYaml: 'previewDomain: quota-check.e2e.test\n' });
  });

  after(async () => {
    for (const ns of Object.values(NS)) await cluster.helm(['uninstall', ns, '-n', ns], { allowFail: true });
    await deleteNamespaces(cluster, Object.values(NS)).catch(() => undefined);
    await webhook?.stop();
  });

  test('a chart that check passes reaches Ready, and the quota counts what check counted', async (t) => {
    // No resources: every container gets the LimitRange's defaults, which check applies too.
    const set = ['replicas=3', 'resources=null'];
    const started = Date.now();
    const checked = check(NS.fits, await render(NS.fits, NS.fits, set));
    assert.equal(checked.status, 0, checked.text);
    t.diagnostic(checked.text.trim().split('\n').join(' | '));
    await install(NS.fits, NS.fits, set, true);
    const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-n', NS.fits, '-o', 'json'])).stdout) as Json;
    const names = (pods['items'] as Json[]).map((p) => `pod/${String(p['metadata']['name'])}`);
    assert.equal(names.length, 3);
    await waitPodsReady(cluster, NS.fits, names);
    const expected = checked.result.quotas[0]!.used;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const quota = JSON.parse(
        (await cluster.kubectl(['get', 'resourcequota', 'k8s-ee-quota', '-n', NS.fits, '-o', 'json'])).stdout,
      ) as Json;
      const used = (quota['status']?.['used'] ?? {}) as Record<string, string>;
      const differ = Object.keys(expected).filter((k) => parseQuantity(used[k] ?? '0') !== parseQuantity(expected[k]!));
      if (differ.length === 0) break;
      if (Date.now() > deadline)
        assert.fail(
          `status.used of the quota differs from check in ${differ.join(', ')}: ${JSON.stringify({ used, expected })}`,
        );
      await sleep(500);
    }
    t.diagnostic(`checked, installed, 3 pods Ready, quota status.used = check's sum, in ${Date.now() - started} ms`);
  });

  test('a chart over the quota is reported by check with the resource, the objects and the fix', async (t) => {
    const set = ['replicas=5', 'resources=null'];
    const checked = check(NS.over, await render(NS.over, NS.over, set));
    assert.equal(checked.status, 1, checked.text);
    const quota = checked.result.objects.find((o) => o.kind === 'ResourceQuota');
    assert.deepEqual(
      quota?.violations.map((v) => v.rule),
      ['quota:limits.memory'],
    );
    assert.match(
      quota.violations[0]!.message,
      /need 1280Mi of limits.memory, the quota \(base, no databases declared\) allows 1Gi/,
    );
    assert.match(quota.violations[0]!.message, /Deployment\/f8-pr-3 5 x 256Mi = 1280Mi/);
    assert.match(
      quota.violations[0]!.fix,
      /so they get the default: set a smaller limits.memory \(values: resources.limits.memory\), or fewer replicas/,
    );
    t.diagnostic(checked.text.trim().split('\n')[1] ?? '');
    // The cluster agrees: the Deployment is admitted, its fifth pod is not.
    await install(NS.over, NS.over, set, false);
    const refused = await failedCreate(NS.over, /exceeded quota: k8s-ee-quota/);
    assert.match(refused, /limits\.memory/);
    t.diagnostic(`cluster: ${refused}`);
  });

  test('a container above the LimitRange maximum is reported by check, and its pods are refused', async (t) => {
    const set = ['resources.limits.cpu=2'];
    const checked = check(NS.max, await render(NS.max, NS.max, set));
    assert.equal(checked.status, 1, checked.text);
    const deployment = checked.result.objects.find((o) => o.kind === 'Deployment');
    assert.deepEqual(
      deployment?.violations.map((v) => [v.rule, v.path]),
      [['limit-range:max', 'spec.template.spec.containers[0].resources.limits.cpu']],
    );
    await install(NS.max, NS.max, set, false);
    const refused = await failedCreate(NS.max, /maximum cpu usage per Container is 1/);
    t.diagnostic(`check: ${deployment.violations[0]!.message} | cluster: ${refused}`);
    assert.equal((await describePods(cluster, NS.max)).trim(), '');
  });

  test('helm template of a missing chart piped into check exits non-zero', async () => {
    const script = `"${helmPath}" template x /nonexistent/chart | "${NODE}" "${CLI}" check -n ${NS.fits} -`;
    const r = await runCommand('sh', ['-c', script], { allowFail: true });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /nonexistent/);
    assert.match(r.stdout, /holds no Kubernetes object/);
  });
});
