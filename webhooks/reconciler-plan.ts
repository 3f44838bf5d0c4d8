// What the reconciler does for one namespace, as a pure function of what its caches hold: which baseline objects
// to apply (missing, outdated, or drifted), which to delete (no longer configured), whether to stamp the namespace,
// which applications are repairs (the baseline was complete and current, and someone changed or deleted a part), and
// which managed labels (k8s-ee.io/*, Pod Security) to restore on the namespace, whoever removed or changed them.
import { objectKey, objectMatches, type BaselineKind, type BaselineObject } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import { desiredBaseline } from '../policies/environment-pending.ts';
import { BASELINE_NAMES, LABELS } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { requiredNamespaceLabels } from '../policies/namespace-labels.ts';
import type { LiveBaselineObject } from './reconciler-kube.ts';

export interface NamespaceState {
  name: string;
  labels: Record<string, string>;
  terminating: boolean;
  /** The environment ConfigMap, if any. */
  environment: unknown;
  /** The namespace's objects carrying the baseline label. */
  live: readonly LiveBaselineObject[];
  /**
   * Epoch milliseconds, for a pending declaration on the quota (policies/environment-pending.ts); without it a
   * pending declaration is not honoured.
   */
  now?: number;
}

export interface ReconcilePlan {
  hash: string;
  apply: BaselineObject[];
  /** The objects of `apply` the namespace has none of (by kind and name): created rather than applied. */
  absent: ReadonlySet<BaselineObject>;
  remove: LiveBaselineObject[];
  stamp: boolean;
  /** Managed labels the namespace lacks or carries with another value, with the values to restore. */
  labels: Record<string, string>;
  repairs: BaselineKind[];
  unknownDatabases: string[];
  /** When a pending declaration the plan honours stops counting: plan again then. */
  recheckAt?: number;
}

const KNOWN_NAMES = new Set<string>(Object.values(BASELINE_NAMES));

/** The plan for a managed, live namespace; undefined for namespaces k8s-ee does not manage or that are going away. */
export function planNamespace(state: NamespaceState, config: Config): ReconcilePlan | undefined {
  const ns = matchNamespace(state.name, config);
  if (state.terminating || !ns) return undefined;
  const baseline = desiredBaseline(state.name, state.environment, state.live, config, state.now ?? 0);
  const { objects: desired, hash } = baseline;
  const live = new Map(state.live.map((o) => [objectKey(o), o]));
  const apply = desired.filter((d) => !objectMatches(d, live.get(objectKey(d))));
  const wanted = new Set(desired.map(objectKey));
  const remove = state.live.filter((o) => KNOWN_NAMES.has(o.metadata?.name ?? '') && !wanted.has(objectKey(o)));
  const current = state.labels[LABELS.baselineHash] === hash;
  return {
    hash,
    apply,
    absent: new Set(apply.filter((d) => !live.has(objectKey(d)))),
    remove,
    stamp: !current,
    labels: driftedLabels(state.labels, requiredNamespaceLabels(ns, config)),
    repairs: current ? apply.map((o) => o.kind) : [],
    unknownDatabases: baseline.unknown,
    ...(baseline.recheckAt === undefined ? {} : { recheckAt: baseline.recheckAt }),
  };
}

/** The required labels whose live value differs (absent included). */
function driftedLabels(live: Record<string, string>, required: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(required).filter(([key, value]) => live[key] !== value));
}

/** True when the plan has nothing to do. */
export const isNoop = (plan: ReconcilePlan): boolean =>
  plan.apply.length === 0 && plan.remove.length === 0 && !plan.stamp && Object.keys(plan.labels).length === 0;
