// The API calls the baseline needs, behind one narrow interface, so the gate and the reconciler are tested with an
// in-memory implementation and run against client-node in production. Writes are under the field manager `k8s-ee`:
// an object the namespace lacks is created, one it has is server-side applied with force (k8s-ee owns every field
// it sets, whoever set it before), and either is replaced when fields it does not set survive (writeBaselineObject).
import type { KubeAccess } from '../lib/kube-access.ts';
import {
  BASELINE_KINDS,
  BASELINE_SELECTOR,
  objectMatches,
  type BaselineKind,
  type BaselineObject,
} from '../policies/baseline.ts';
import { ENVIRONMENT_CONFIGMAP, FIELD_MANAGER, LABELS } from '../policies/names.ts';
import { STAMP_PROBE_NAME } from '../policies/vap.ts';
import { kubeHttp, type KubeHttp } from './reconciler-http.ts';

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
  /** Creates the object (field manager k8s-ee); fails with 409 when it exists. Returns the object as stored. */
  create(object: BaselineObject): Promise<LiveBaselineObject>;
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
  /** Sets these labels on the namespace (a merge patch; never creates the namespace). */
  labelNamespace(name: string, labels: Record<string, string>): Promise<void>;
  listNamespaces(labelSelector: string): Promise<NamespaceInfo[]>;
  /**
   * Asks the API server whether it would admit the stamp probe in the namespace now (a dry-run create): undefined
   * when admitted, else the refusal's message.
   */
  probeStamp(namespace: string): Promise<string | undefined>;
}

/** The dry-run probe of the gate: a NetworkPolicy the baseline ValidatingAdmissionPolicy judges (policies/vap.ts). */
export function stampProbeManifest(namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: STAMP_PROBE_NAME, namespace, labels: { 'app.kubernetes.io/managed-by': 'k8s-ee' } },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  };
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

interface Meta {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
}

function namespaceInfo(ns: Meta): NamespaceInfo {
  return {
    name: ns.metadata?.name ?? '',
    labels: { ...(ns.metadata?.labels ?? {}) },
    terminating: ns.metadata?.deletionTimestamp !== undefined,
  };
}

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

/**
 * Writes one baseline object and returns it as stored. One the caller saw none of is created: a plain create costs
 * the API server about a third less CPU than a server-side apply of the same object (issue 10's notes: 2.7-3.1 vs
 * 4.1-5.0 ms per object on the bench machine), and a new PR namespace's baseline is nothing but creations. A create
 * that finds the object (written meanwhile by the gate or another replica) falls back to the apply. Fields the
 * write did not take away (added by someone else, or set by an earlier version of the baseline and owned by the
 * create's manager entry, which a later apply does not remove) get the whole object replaced.
 */
export async function writeBaselineObject(
  client: BaselineClient,
  object: BaselineObject,
  absent: boolean,
): Promise<LiveBaselineObject> {
  let stored: LiveBaselineObject | undefined;
  if (absent) {
    try {
      stored = await client.create(object);
    } catch (error) {
      if (statusCodeOf(error) !== 409) throw error;
    }
  }
  stored ??= await client.apply(object);
  if (!objectMatches(object, stored)) stored = await client.replace(object, stored.metadata?.resourceVersion ?? '');
  return stored;
}

/** The API path of a baseline kind's collection in a namespace, or of one object. */
export function baselinePath(kind: string, namespace: string, name?: string): string {
  const k = BASELINE_KINDS.find((b) => b.kind === kind);
  if (!k) throw new Error(`not a baseline kind: ${kind}`);
  const group = k.apiVersion === 'v1' ? '/api/v1' : `/apis/${k.apiVersion}`;
  const collection = `${group}/namespaces/${encodeURIComponent(namespace)}/${k.plural}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

const withKind = (kind: string, o: unknown): LiveBaselineObject => ({
  ...(o as LiveBaselineObject),
  kind,
  apiVersion: BASELINE_KINDS.find((k) => k.kind === kind)?.apiVersion ?? 'v1',
});

interface List {
  items?: unknown[];
}

async function listBaselineOf(http: KubeHttp, namespace: string): Promise<LiveBaselineObject[]> {
  const lists = await Promise.all(
    BASELINE_KINDS.map(async (k) => {
      const list = await http.request<List>('GET', baselinePath(k.kind, namespace), {
        query: { labelSelector: BASELINE_SELECTOR },
      });
      return (list.items ?? []).map((o) => withKind(k.kind, o));
    }),
  );
  return lists.flat();
}

const nsPath = (name: string): string => `/api/v1/namespaces/${encodeURIComponent(name)}`;

export function kubeBaselineClient(kc: KubeAccess, http: KubeHttp = kubeHttp(kc)): BaselineClient {
  const write = { fieldManager: FIELD_MANAGER };
  return {
    create: async (object) =>
      withKind(
        object.kind,
        await http.request('POST', baselinePath(object.kind, object.metadata.namespace), {
          query: write,
          body: object,
        }),
      ),
    apply: async (object) =>
      withKind(
        object.kind,
        await http.request('PATCH', baselinePath(object.kind, object.metadata.namespace, object.metadata.name), {
          query: { ...write, force: true },
          body: object,
          contentType: 'application/apply-patch+yaml',
        }),
      ),
    replace: async (object, resourceVersion) =>
      withKind(
        object.kind,
        await http.request('PUT', baselinePath(object.kind, object.metadata.namespace, object.metadata.name), {
          query: write,
          body: { ...object, metadata: { ...object.metadata, resourceVersion } },
        }),
      ),
    remove: async (kind, namespace, name) => {
      await notFoundIsUndefined(http.request('DELETE', baselinePath(kind, namespace, name)));
    },
    listBaseline: (namespace) => listBaselineOf(http, namespace),
    readQuota: async (namespace, name) => {
      const quota = await notFoundIsUndefined(http.request('GET', baselinePath('ResourceQuota', namespace, name)));
      return quota ? withKind('ResourceQuota', quota) : undefined;
    },
    readNamespace: async (name) => {
      const ns = await notFoundIsUndefined(http.request<Meta>('GET', nsPath(name)));
      return ns ? namespaceInfo(ns) : undefined;
    },
    readEnvironment: (namespace) =>
      notFoundIsUndefined(http.request('GET', `${nsPath(namespace)}/configmaps/${ENVIRONMENT_CONFIGMAP}`)),
    stampNamespace: async (name, hash) => {
      // A merge patch, not an apply: an apply would re-create a namespace deleted a moment ago.
      const body = { metadata: { labels: { [LABELS.baselineHash]: hash } } };
      await http.request('PATCH', nsPath(name), { query: write, body, contentType: 'application/merge-patch+json' });
    },
    labelNamespace: async (name, labels) => {
      const body = { metadata: { labels } };
      await http.request('PATCH', nsPath(name), { query: write, body, contentType: 'application/merge-patch+json' });
    },
    probeStamp: async (namespace) => {
      try {
        await http.request('POST', baselinePath('NetworkPolicy', namespace), {
          query: { dryRun: 'All', fieldManager: FIELD_MANAGER },
          body: stampProbeManifest(namespace),
        });
        return undefined;
      } catch (error) {
        if (statusCodeOf(error) === undefined) throw error;
        return describeApiError(error);
      }
    },
    listNamespaces: async (labelSelector) => {
      const list = await http.request<List>('GET', '/api/v1/namespaces', { query: { labelSelector } });
      return (list.items ?? []).map((o) => namespaceInfo(o as Meta));
    },
  };
}
