// Differential test: every pod spec of the corpus (e2e/fixtures/pss) goes both to our checkRestricted and to the
// real API server's PodSecurity admission, in a namespace labelled enforce=restricted (latest) where k8s-ee's
// webhook is not registered, with server-side dry-run. The verdicts must agree on every case, and the reasons
// upstream gives must be the ones our rule ids stand for. Mismatches are reported all together, in detail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { checkRestricted } from '../policies/pss.ts';
import { getTestCluster } from '../local/harness/cluster.ts';
import { loadCorpus, rulesOf, type CorpusCase } from './pss-corpus.ts';
import { parseUpstreamDenial, upstreamReasonsCoverRules } from './pss-upstream.ts';

const corpus = loadCorpus();
const namespace = `pss-differential-${Date.now().toString(36)}`;

interface ServerVerdict {
  verdict: 'allow' | 'deny' | 'error';
  message: string;
  reasons: string[];
}

function errorMessage(error: unknown): { code: number; message: string } {
  if (error instanceof ApiException) {
    const body: unknown = typeof error.body === 'string' ? safeParse(error.body) : error.body;
    const message =
      typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : String(error.body);
    return { code: error.code, message };
  }
  return { code: 0, message: error instanceof Error ? error.message : String(error) };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function verdictOf(error: unknown): ServerVerdict {
  const { code, message } = errorMessage(error);
  if (code === 403 && message.includes('violates PodSecurity'))
    return { verdict: 'deny', message, reasons: parseUpstreamDenial(message) };
  return { verdict: 'error', message: `HTTP ${code}: ${message}`, reasons: [] };
}

function podOf(c: CorpusCase, withEphemeral: boolean): V1Pod {
  const spec = structuredClone(c.pod.spec);
  if (!withEphemeral) delete spec['ephemeralContainers'];
  // Irrelevant to PodSecurity; keeps the ServiceAccount admission plugin from adding a token volume.
  spec['automountServiceAccountToken'] ??= false;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...structuredClone(c.pod.metadata ?? {}), name: c.name, namespace },
    spec,
  } as unknown as V1Pod;
}

/**
 * Replaces the pod's ephemeral containers (dry run) on its latest version: with a node the kubelet updates the
 * pod's status meanwhile, so a conflict (409) is retried on a fresh read.
 */
async function addEphemeralContainers(core: CoreV1Api, c: CorpusCase): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await core.readNamespacedPod({ name: c.name, namespace });
    const body = {
      ...current,
      spec: { ...current.spec, ephemeralContainers: podOf(c, true).spec?.ephemeralContainers },
    } as V1Pod;
    try {
      await core.replaceNamespacedPodEphemeralcontainers({ name: c.name, namespace, body, dryRun: 'All' });
      return;
    } catch (error) {
      if (errorMessage(error).code !== 409 || attempt >= 5) throw error;
    }
  }
}

async function serverVerdict(core: CoreV1Api, c: CorpusCase): Promise<ServerVerdict> {
  const ephemeral = Array.isArray(c.pod.spec['ephemeralContainers']);
  try {
    if (!ephemeral) {
      await core.createNamespacedPod({ namespace, body: podOf(c, false), dryRun: 'All' });
      return { verdict: 'allow', message: '', reasons: [] };
    }
    // Ephemeral containers can only be added to an existing Pod, through their subresource.
    await core.createNamespacedPod({ namespace, body: podOf(c, false) });
    await addEphemeralContainers(core, c);
    return { verdict: 'allow', message: '', reasons: [] };
  } catch (error) {
    return verdictOf(error);
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}

describe('PSS differential: checkRestricted vs the API server PodSecurity admission', () => {
  let core: CoreV1Api;

  before(async () => {
    const cluster = await getTestCluster();
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({
      body: {
        metadata: {
          name: namespace,
          labels: {
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
          },
        },
      },
    });
    await waitFor(`namespace ${namespace} to be Active`, async () => {
      const ns = await core.readNamespace({ name: namespace });
      return ns.status?.phase === 'Active' ? true : undefined;
    });
    // Every pod is admitted by the ServiceAccount plugin only once the namespace's default account exists.
    await waitFor(`ServiceAccount ${namespace}/default`, async () => {
      try {
        return await core.readNamespacedServiceAccount({ name: 'default', namespace });
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) {
          // No service account controller (an unusual cluster): create it ourselves.
          await core
            .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } })
            .catch(() => undefined);
        }
        throw error;
      }
    });
  });

  after(async () => {
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test(`${corpus.length} pod specs: same verdict, and upstream's reasons match our rule ids`, async (t) => {
    const mismatches: string[] = [];
    let denied = 0;
    for (const c of corpus) {
      const ours = checkRestricted(c.pod.spec, c.pod.metadata, 'spec');
      const oursVerdict = ours.length > 0 ? 'deny' : 'allow';
      const server = await serverVerdict(core, c);
      if (server.verdict === 'deny') denied++;
      const head = `${c.file}: ${c.name} (${c.about})`;
      const ourText = ours.map((v) => `    ours: ${v.path}: ${v.message} [${v.rule}]`).join('\n');
      if (server.verdict === 'error') {
        mismatches.push(
          `${head}: the API server refused the pod for another reason, fix the fixture: ${server.message}`,
        );
      } else if (server.verdict !== oursVerdict) {
        mismatches.push(
          `${head}: server says ${server.verdict}, we say ${oursVerdict}\n    server: ${server.message || '(allowed)'}\n${ourText}`,
        );
      } else if (server.verdict === 'deny') {
        const problem = upstreamReasonsCoverRules(server.reasons, rulesOf(ours));
        if (problem) mismatches.push(`${head}: both deny, but ${problem}\n    server: ${server.message}\n${ourText}`);
      }
      if (server.verdict !== c.expect && server.verdict !== 'error') {
        mismatches.push(`${head}: the fixture expects ${c.expect}, the server says ${server.verdict}: fix the fixture`);
      }
    }
    t.diagnostic(`${corpus.length} cases sent to the API server: ${denied} denied, ${corpus.length - denied} allowed`);
    assert.deepEqual(mismatches, [], `${mismatches.length} disagreement(s):\n${mismatches.join('\n')}`);
  });
});
