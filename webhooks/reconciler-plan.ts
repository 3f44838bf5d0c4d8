// What the reconciler does for one namespace, as a pure function of what its caches hold: which baseline objects
// to apply (missing, outdated, or drifted), which to delete (no longer configured), whether to stamp the namespace,
// and which applications are repairs (the baseline was complete and current, and someone changed or deleted a part).
import {
  baselineHash,
  buildBaseline,
  declaredDatabases,
  objectKey,
  objectMatches,
  type BaselineKind,
  type BaselineObject,
} from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import { BASELINE_NAMES, LABELS } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import type { LiveBaselineObject } from './reconciler-kube.ts';

export interface NamespaceState {
  name: string;
  labels: Record<string, string>;
  terminating: boolean;
  /** The environment ConfigMap, if any. */
  environment: unknown;
  /** The namespace's objects carrying the baseline label. */
  live: readonly LiveBaselineObject[];
}

export interface ReconcilePlan {
  hash: string;
  apply: BaselineObject[];
  remove: LiveBaselineObject[];
  stamp: boolean;
  repairs: BaselineKind[];
  unknownDatabases: string[];
}

const KNOWN_NAMES = new Set<string>(Object.values(BASELINE_NAMES));

/** The plan for a managed, live namespace; undefined for namespaces k8s-ee does not manage or that are going away. */
export function planNamespace(state: NamespaceState, config: Config): ReconcilePlan | undefined {
  if (state.terminating || !matchNamespace(state.name, config)) return undefined;
  const declared = declaredDatabases(state.environment);
  const desired = buildBaseline(state.name, declared.databases, config);
  const hash = baselineHash(desired);
  const live = new Map(state.live.map((o) => [objectKey(o), o]));
  const apply = desired.filter((d) => !objectMatches(d, live.get(objectKey(d))));
  const wanted = new Set(desired.map(objectKey));
  const remove = state.live.filter((o) => KNOWN_NAMES.has(o.metadata?.name ?? '') && !wanted.has(objectKey(o)));
  const current = state.labels[LABELS.baselineHash] === hash;
  return {
    hash,
    apply,
    remove,
    stamp: !current,
    repairs: current ? apply.map((o) => o.kind) : [],
    unknownDatabases: declared.unknown,
  };
}

/** True when the plan has nothing to do. */
export const isNoop = (plan: ReconcilePlan): boolean =>
  plan.apply.length === 0 && plan.remove.length === 0 && !plan.stamp;
