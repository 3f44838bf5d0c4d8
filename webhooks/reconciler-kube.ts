// The API calls the baseline needs, behind one narrow interface, so the gate and the reconciler are tested with an
// in-memory implementation and run against client-node in production. Writes are server-side apply under the
// field manager `k8s-ee` with force: k8s-ee owns every field it sets, whoever set it before.
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { BASELINE_KINDS, BASELINE_SELECTOR, type BaselineKind, type BaselineObject } from '../policies/baseline.ts';
import { ENVIRONMENT_CONFIGMAP, FIELD_MANAGER, LABELS } from '../policies/names.ts';

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
  terminating: boolean;
}

/** A live object as the API returns it (kind filled in). */
export interface LiveBaselineObject {
  apiVersion?: string;
  kind: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: Date | string;
  };
  spec?: unknown;
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

export interface BaselineClient {
  /** Server-side apply (field manager k8s-ee, force); returns the object as stored. */
  apply(object: BaselineObject): Promise<LiveBaselineObject>;
  /** Replaces the whole object (drops fields others added that apply cannot take away). */
  replace(object: BaselineObject, resourceVersion: string): Promise<LiveBaselineObject>;
  /** Deletes; an object already gone counts as deleted. */
  remove(kind: BaselineKind, namespace: string, name: string): Promise<void>;
  /** Every k8s-ee baseline object (label selected) of a namespace, all kinds. */
  listBaseline(namespace: string): Promise<LiveBaselineObject[]>;
  readQuota(namespace: string, name: string): Promise<LiveBaselineObject | undefined>;
  readNamespace(name: string): Promise<NamespaceInfo | undefined>;
  /** The environment ConfigMap of a namespace, if it exists. */
  readEnvironment(namespace: string): Promise<unknown>;
  /** Sets the namespace's baseline-hash label; never creates the namespace. */
  stampNamespace(name: string, hash: string): Promise<void>;
  listNamespaces(labelSelector: string): Promise<NamespaceInfo[]>;
}

export const statusCodeOf = (error: unknown): number | undefined => {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  return typeof e?.statusCode === 'number' ? e.statusCode : undefined;
};

const notFoundIsUndefined = async <T>(call: Promise<T>): Promise<T | undefined> => {
  try {
    return await call;
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    throw error;
  }
};

function namespaceInfo(ns: KubernetesObject): NamespaceInfo {
  return {
    name: ns.metadata?.name ?? '',
    labels: { ...(ns.metadata?.labels ?? {}) },
    terminating: ns.metadata?.deletionTimestamp !== undefined,
  };
}

const apiVersionOf = (kind: string): string => BASELINE_KINDS.find((k) => k.kind === kind)?.apiVersion ?? 'v1';

/** Short, readable description of an API error for messages and logs (no response bodies with secrets). */
export function describeApiError(error: unknown): string {
  const code = statusCodeOf(error);
  const body = (error as { body?: unknown } | null)?.body;
  let message: string | undefined;
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: string }).message;
    } catch {
      message = undefined;
    }
  } else if (body && typeof body === 'object') message = (body as { message?: string }).message;
  message ??= error instanceof Error ? error.message.split('\n')[0] : String(error);
  return code ? `HTTP ${code}: ${message ?? ''}` : (message ?? 'unknown error');
}

const withKind = (kind: string, o: KubernetesObject): LiveBaselineObject => ({
  ...(o as LiveBaselineObject),
  kind,
  apiVersion: apiVersionOf(kind),
});

async function listBaselineOf(api: KubernetesObjectApi, namespace: string): Promise<LiveBaselineObject[]> {
  const lists = await Promise.all(
    BASELINE_KINDS.map(async (k) => {
      const list = await api.list(
        k.apiVersion,
        k.kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        BASELINE_SELECTOR,
      );
      return list.items.map((o) => withKind(k.kind, o));
    }),
  );
  return lists.flat();
}

export function kubeBaselineClient(kc: KubeConfig): BaselineClient {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const withKind = (kind: string, o: KubernetesObject): LiveBaselineObject => ({
    ...(o as LiveBaselineObject),
    kind,
    apiVersion: apiVersionOf(kind),
  });
  return {
    apply: async (object) =>
      withKind(
        object.kind,
        await api.patch(
          structuredClone(object),
          undefined,
          undefined,
          FIELD_MANAGER,
          true,
          PatchStrategy.ServerSideApply,
        ),
      ),
    replace: async (object, resourceVersion) =>
      withKind(
        object.kind,
        await api.replace(
          { ...structuredClone(object), metadata: { ...object.metadata, resourceVersion } },
          undefined,
          undefined,
          FIELD_MANAGER,
        ),
      ),
    remove: async (kind, namespace, name) => {
      await notFoundIsUndefined(api.delete({ apiVersion: apiVersionOf(kind), kind, metadata: { name, namespace } }));
    },
    listBaseline: (namespace) => listBaselineOf(api, namespace),
    readQuota: async (namespace, name) => {
      const quota = await notFoundIsUndefined(
        api.read({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name, namespace } }),
      );
      return quota ? withKind('ResourceQuota', quota) : undefined;
    },
    readNamespace: async (name) => {
      const ns = await notFoundIsUndefined(api.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      return ns ? namespaceInfo(ns) : undefined;
    },
    readEnvironment: (namespace) =>
      notFoundIsUndefined(
        api.read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ENVIRONMENT_CONFIGMAP, namespace } }),
      ),
    stampNamespace: async (name, hash) => {
      // A merge patch, not an apply: an apply would re-create a namespace deleted a moment ago.
      const patch = {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { [LABELS.baselineHash]: hash } },
      };
      await api.patch(patch, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
    },
    listNamespaces: async (labelSelector) => {
      const list = await api.list(
        'v1',
        'Namespace',
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
      return list.items.map(namespaceInfo);
    },
  };
}
