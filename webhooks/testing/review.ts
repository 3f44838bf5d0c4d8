// Test helpers: AdmissionReview requests built from plain objects, always fresh copies.
import type { AdmissionRequest, Operation } from '../types.ts';

let counter = 0;

const GROUPS: Record<string, [string, string]> = {
  Namespace: ['', 'v1'],
  Pod: ['', 'v1'],
  Service: ['', 'v1'],
  ConfigMap: ['', 'v1'],
  ResourceQuota: ['', 'v1'],
  LimitRange: ['', 'v1'],
  ReplicationController: ['', 'v1'],
  Deployment: ['apps', 'v1'],
  StatefulSet: ['apps', 'v1'],
  DaemonSet: ['apps', 'v1'],
  ReplicaSet: ['apps', 'v1'],
  Job: ['batch', 'v1'],
  CronJob: ['batch', 'v1'],
  NetworkPolicy: ['networking.k8s.io', 'v1'],
  Ingress: ['networking.k8s.io', 'v1'],
  HTTPRoute: ['gateway.networking.k8s.io', 'v1'],
};

export interface RequestOptions {
  operation?: Operation;
  namespace?: string;
  oldObject?: unknown;
  username?: string;
  groups?: string[];
  dryRun?: boolean;
  subResource?: string;
}

export function request(
  object: Record<string, unknown> | undefined,
  kind: string,
  options: RequestOptions = {},
): AdmissionRequest {
  const [group, version] = GROUPS[kind] ?? ['', 'v1'];
  const source = (object ?? options.oldObject ?? {}) as { metadata?: { name?: string; namespace?: string } };
  const name = source.metadata?.name;
  const namespace = kind === 'Namespace' ? name : (options.namespace ?? source.metadata?.namespace);
  counter += 1;
  return {
    uid: `uid-${counter}`,
    kind: { group, version, kind },
    ...(name ? { name } : {}),
    ...(namespace ? { namespace } : {}),
    operation: options.operation ?? 'CREATE',
    userInfo: { username: options.username ?? 'dev@example.com', groups: options.groups ?? ['system:authenticated'] },
    ...(object ? { object: structuredClone(object) } : {}),
    ...(options.oldObject ? { oldObject: structuredClone(options.oldObject) } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.subResource ? { subResource: options.subResource } : {}),
  };
}

export function review(
  object: Record<string, unknown> | undefined,
  kind: string,
  options: RequestOptions = {},
): Record<string, unknown> {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: request(object, kind, options) };
}

/** The body of an answer "allowed, unchanged" to the review with this uid (what a bare recording webhook sends). */
export function allowedAnswer(uid: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true },
  });
}
