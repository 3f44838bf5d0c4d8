// The admission contract: what a handler receives and returns. Envelopes, HTTP, patches, logs and metrics are
// done once at the edge (server.ts, admission.ts); handlers are small functions of (request, context).
import type { Logger } from '../lib/log.ts';
import type { Config } from '../policies/config.ts';
import type { Violation } from '../policies/violation.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
}

/** The `request` of an admission.k8s.io/v1 AdmissionReview (fields k8s-ee uses). */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

/** What a handler decides. A mutation returns the mutated copy; the edge turns it into a JSON Patch. */
export type Decision =
  | { allowed: true; mutated?: unknown; warnings?: string[] }
  | { allowed: false; code: number; message: string; violations?: Violation[]; reason?: string };

/** What k8s-ee needs from the cluster during admission. Absent with --no-cluster. */
export interface ClusterServices {
  /** Names of the managed namespaces that carry the pin label now. */
  pinnedNamespaces(): Promise<string[]>;
  /**
   * Grants a new pin to `namespace` unless `limit` others are pinned or being pinned. The API server arbitrates
   * (a pin slot per pin, webhooks/pin-slots.ts), so a burst of pin requests cannot pass the limit together, on one
   * replica or several. A refusal names the namespaces really pinned, and counts those being pinned (`pending`).
   * A dry-run request is answered without reserving anything.
   */
  reservePin(
    namespace: string,
    limit: number,
    options: { dryRun: boolean },
  ): Promise<{ ok: true } | { ok: false; pinned: string[]; pending?: number }>;
  /** Frees the pin slot of a namespace whose pin is being removed (best effort: a slot is freed lazily anyway). */
  releasePin?(namespace: string): Promise<void>;
  /**
   * Makes sure every baseline object exists in the namespace before a pod is admitted (the zero-window gate).
   * With dryRun nothing is written: it only reports whether the baseline is in place.
   */
  ensureBaseline(
    namespace: string,
    options: { dryRun: boolean },
  ): Promise<{ ok: true } | { ok: false; reason: string }>;
  /**
   * Before an environment ConfigMap is admitted: makes sure the quota it implies is in place (the baseline gate's
   * ensureEnvironment). Absent: the ConfigMap is admitted without waiting.
   */
  /**
   * Capacity-aware admission (webhooks/capacity.ts): room for a new PR environment (`configMap` undefined), or for
   * an existing one to grow to the quota its new environment ConfigMap implies. Absent: no capacity gate.
   */
  reserveCapacity?(namespace: string, configMap: unknown, options: { dryRun: boolean }): Promise<CapacityGrant>;
  ensureEnvironment?(
    namespace: string,
    configMap: unknown,
    options: { dryRun: boolean },
  ): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** The capacity gate's answer: granted, or the violation to show (policies/capacity.ts). */
export type CapacityGrant = { ok: true } | { ok: false; violation: Violation };

export interface HandlerContext {
  config: Config;
  log: Logger;
  /** The clock, injected so tests can move it. */
  now: () => Date;
  cluster?: ClusterServices;
}

export type Handler = (request: AdmissionRequest, context: HandlerContext) => Decision | Promise<Decision>;

/** Helpers for building decisions. */
export const allow = (warnings?: string[]): Decision =>
  warnings?.length ? { allowed: true, warnings } : { allowed: true };
export const mutate = (mutated: unknown, warnings?: string[]): Decision =>
  warnings?.length ? { allowed: true, mutated, warnings } : { allowed: true, mutated };
export const deny = (message: string, violations?: Violation[], code = 403): Decision =>
  violations ? { allowed: false, code, message, violations } : { allowed: false, code, message };
