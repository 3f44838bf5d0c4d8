// `k8s-ee demo --once`: the README's run command, non-interactively. It must show k8s-ee at work on its own
// cluster and leave nothing running. It runs after the main e2e run (package.json's test:e2e), when this
// machine's node is free: as root the demo then installs k8s-ee in-cluster and shows the network at work.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../local/cluster/paths.ts';
import { nodeSupport } from '../local/cluster/node-setup.ts';
import { builtInSkipReason, runCommand } from '../local/harness/cluster.ts';

/** Command lines of the processes that mention `text` (Linux /proc). */
function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
        return cmdline.includes(text) && state !== 'Z' ? [`${pid}: ${cmdline}`] : [];
      } catch {
        return [];
      }
    });
}

let dir = '';
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('k8s-ee demo --once shows what k8s-ee did, then cleans up', { skip: builtInSkipReason() }, async () => {
  dir = await mkdtemp(join(tmpdir(), 'k8s-ee-demo-test-'));
  const res = await runCommand(
    process.execPath,
    [join(projectRoot, 'cli', 'main.ts'), 'demo', '--once', '--dir', dir],
    {
      allowFail: true,
    },
  );
  assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /label pod-security\.kubernetes\.io\/enforce=restricted/);
  assert.match(res.stdout, /label k8s-ee\.io\/project=demo/);
  assert.match(res.stdout, /admission webhook "pods\.(mutate|validate)\.k8s-ee\.io" denied the request: k8s-ee denied/);
  assert.match(res.stdout, /export KUBECONFIG=\S+kubeconfig/);
  assert.match(res.stdout, /baseline objects: resourcequota\/k8s-ee-quota/);
  if (nodeSupport().ok) {
    assert.match(res.stdout, /helm upgrade --install k8s-ee charts\/k8s-ee -n k8s-ee-system/);
    assert.match(res.stdout, /ready in [0-9.]+ s: 2 webhook pods/);
    assert.match(
      res.stdout,
      /in demo-pr-1 asks its own Service[^\n]*\n\s+answered: namespace=demo-pr-1 pod=demo-pr-1-/,
    );
    assert.match(res.stdout, /in demo-pr-2, another PR, asks the same Service:\n\s+no answer within 3 s/);
    assert.match(res.stdout, /webhook metrics: kubectl port-forward -n k8s-ee-system deploy\/k8s-ee 8080/);
  } else {
    assert.match(res.stdout, /webhook metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
    assert.match(res.stdout, /sweeper metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
  }
  assert.match(res.stdout, /delete-namespace Namespace\/demo-pr-1/);
  assert.match(res.stdout, /namespace demo-pr-2 is gone, [0-9.]+ s after helm uninstall/);
  assert.match(res.stdout, /EnvironmentDeleted +orphan environment: no live Helm release/);
  assert.match(res.stdout, /\ndone\n/);
  assert.deepEqual(processesMentioning(dir), []);
});
