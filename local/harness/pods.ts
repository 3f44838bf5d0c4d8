// For e2e tests whose pods must really run: the cluster when it has a Ready node, or why not (then they skip),
// and small helpers to wait for pods and explain why one is not Ready.
import { BUILTIN_NODE_ENV, getTestCluster, type TestCluster } from './cluster.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The cluster, or why pods cannot run on it (a built-in cluster without its node, no Ready node). */
export async function clusterWithNode(): Promise<{ cluster?: TestCluster; skip: string | false }> {
  const cluster = await getTestCluster();
  if (!cluster.node) {
    const why = process.env[BUILTIN_NODE_ENV]?.replace(/^no: /, '') ?? 'this machine cannot run one (root on Linux)';
    return { skip: `the built-in cluster has no node, so pods never run: ${why}` };
  }
  const nodes = JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as Json;
  const ready = (nodes['items'] as Json[]).filter(
    (n) =>
      n['spec']?.['unschedulable'] !== true &&
      (n['status']?.['conditions'] as Json[] | undefined)?.some((c) => c['type'] === 'Ready' && c['status'] === 'True'),
  );
  if (ready.length === 0) return { skip: 'the cluster has no Ready, schedulable node: pods cannot run there' };
  return { cluster, skip: false };
}

/** One line per pod of the namespace: phase, and each container's waiting reason and message. */
export async function describePods(cluster: TestCluster, namespace: string): Promise<string> {
  const r = await cluster.kubectl(['get', 'pods', '-n', namespace, '-o', 'json'], { allowFail: true });
  if (r.code !== 0) return r.stderr;
  const pods = (JSON.parse(r.stdout) as Json)['items'] as Json[];
  return pods
    .map((p) => {
      const statuses = [
        ...((p['status']?.['initContainerStatuses'] as Json[]) ?? []),
        ...((p['status']?.['containerStatuses'] as Json[]) ?? []),
      ];
      const waiting = statuses
        .filter((s) => s['state']?.['waiting'])
        .map(
          (s) =>
            `${String(s['name'])}: ${String(s['state']['waiting']['reason'])} ${String(s['state']['waiting']['message'] ?? '')}`,
        );
      return `${String(p['metadata']['name'])}: ${String(p['status']?.['phase'])} ${waiting.join('; ')}`.trim();
    })
    .join('\n');
}

/** Waits until the pods are Ready; on timeout fails with what each pod of the namespace is waiting for. */
export async function waitPodsReady(
  cluster: TestCluster,
  namespace: string,
  targets: string[],
  timeoutS = 180,
): Promise<void> {
  const r = await cluster.kubectl(
    ['wait', '-n', namespace, '--for=condition=Ready', ...targets, `--timeout=${String(timeoutS)}s`],
    { allowFail: true },
  );
  if (r.code !== 0)
    throw new Error(
      `${namespace}: ${targets.join(', ')} not Ready within ${String(timeoutS)} s:\n${r.stderr}\n${await describePods(cluster, namespace)}`,
    );
}

/** The reason a container of the pod is waiting for (CreateContainerConfigError, ...), once there is one. */
export async function waitingReason(
  cluster: TestCluster,
  namespace: string,
  pod: string,
  timeoutMs = 120_000,
): Promise<{ reason: string; message: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await cluster.kubectl(['get', 'pod', '-n', namespace, pod, '-o', 'json']);
    const status = (JSON.parse(r.stdout) as Json)['status'] as Json | undefined;
    const waiting = ((status?.['containerStatuses'] as Json[] | undefined) ?? [])
      .map((s) => s['state']?.['waiting'] as Json | undefined)
      .find((w) => w?.['reason'] && w['reason'] !== 'ContainerCreating');
    if (waiting) return { reason: String(waiting['reason']), message: String(waiting['message'] ?? '') };
    if (Date.now() > deadline) throw new Error(`${namespace}/${pod}: no waiting reason within ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
