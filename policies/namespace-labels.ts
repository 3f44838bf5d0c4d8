// The labels and annotations of a managed namespace: what the mutating webhook fills in and what the validating
// webhook defends. Rule of thumb: mutation fills gaps, validation refuses conflicts, so nothing a developer
// writes is silently overwritten.
import type { Config } from './config.ts';
import { parseDuration } from '../lib/duration.ts';
import { isPlatform, type Identity } from './identity.ts';
import { ANNOTATIONS, LABELS, PSS_MODES, pssLabel, pssVersionLabel } from './names.ts';
import type { ManagedNamespace } from './namespace.ts';
import { annotationOf, child, labelOf, type Obj } from './objects.ts';
import { violation, type Violation } from './violation.ts';

export const labelPath = (key: string): string => `metadata.labels["${key}"]`;
export const annotationPath = (key: string): string => `metadata.annotations["${key}"]`;

/** The Pod Security Standards labels of a configuration (the same for every namespace), built once per configuration. */
const pssLabelsOf = new WeakMap<Config['podSecurity'], readonly (readonly [string, string])[]>();

function pssLabels(podSecurity: Config['podSecurity']): readonly (readonly [string, string])[] {
  let pairs = pssLabelsOf.get(podSecurity);
  if (pairs === undefined) {
    pairs = PSS_MODES.flatMap((mode) => [
      [pssLabel(mode), podSecurity.level] as const,
      [pssVersionLabel(mode), podSecurity.version] as const,
    ]);
    pssLabelsOf.set(podSecurity, pairs);
  }
  return pairs;
}

/** Labels every managed namespace must carry, as [key, value] pairs (read on every namespace admission). */
export function requiredLabelPairs(
  ns: ManagedNamespace,
  config: Pick<Config, 'podSecurity'>,
): (readonly [string, string])[] {
  return [
    [LABELS.managed, 'true'],
    [LABELS.project, ns.project],
    [LABELS.pr, String(ns.number)],
    ...pssLabels(config.podSecurity),
  ];
}

/** Labels every managed namespace must carry, with their values. */
export function requiredNamespaceLabels(
  ns: ManagedNamespace,
  config: Pick<Config, 'podSecurity'>,
): Record<string, string> {
  return Object.fromEntries(requiredLabelPairs(ns, config));
}

export function isPinned(object: unknown, config: Pick<Config, 'pins'>): boolean {
  return labelOf(object, config.pins.label) === config.pins.value;
}

export interface NamespaceChange {
  ns: ManagedNamespace;
  operation: 'CREATE' | 'UPDATE';
  object: Obj;
  oldObject?: unknown;
}

/** Pin stamps: pinned-at for the current pin, first-pinned-at for the first pin of the namespace's life. */
function stampPin(change: NamespaceChange, annotations: Record<string, unknown>, config: Config, now: Date): void {
  const { object, oldObject, operation } = change;
  const pinnedNow = isPinned(object, config);
  const pinnedBefore = operation === 'UPDATE' && isPinned(oldObject, config);
  // The first pin of the namespace's life is k8s-ee's record: kept as it was, set when the first pin appears
  // (on a pin kept from before the record existed, what the change brings is left to the validation: k8s-ee's
  // sweeper stamps it, anyone else is refused).
  const firstPinnedAt = annotationOf(oldObject, ANNOTATIONS.firstPinnedAt);
  if (firstPinnedAt !== undefined) annotations[ANNOTATIONS.firstPinnedAt] = firstPinnedAt;
  else if (pinnedNow && !pinnedBefore) annotations[ANNOTATIONS.firstPinnedAt] = now.toISOString();
  else if (!pinnedNow) delete annotations[ANNOTATIONS.firstPinnedAt];
  if (pinnedNow && !pinnedBefore) {
    annotations[ANNOTATIONS.pinnedAt] = now.toISOString(); // a new pin starts now, whatever the manifest says
  } else if (pinnedNow && annotations[ANNOTATIONS.pinnedAt] === undefined) {
    annotations[ANNOTATIONS.pinnedAt] = annotationOf(oldObject, ANNOTATIONS.pinnedAt) ?? now.toISOString();
  } else if (!pinnedNow) {
    delete annotations[ANNOTATIONS.pinnedAt];
  }
}

/**
 * Mutates `change.object` in place (pass a clone): fills in missing managed labels (on UPDATE only those the old
 * object lacked too, which adopts namespaces created before k8s-ee), stamps created-at on CREATE, pinned-at when
 * the pin appears (first-pinned-at too, once in the namespace's life), and drops pinned-at when the pin goes.
 */
export function mutateNamespace(change: NamespaceChange, config: Config, now: Date): void {
  const { object, oldObject, operation } = change;
  const metadata = child(object, 'metadata');
  const labels = child(metadata, 'labels');
  for (const [key, value] of requiredLabelPairs(change.ns, config)) {
    if (labels[key] === undefined && (operation === 'CREATE' || labelOf(oldObject, key) === undefined)) {
      labels[key] = value;
    }
  }
  const annotations = child(metadata, 'annotations');
  if (operation === 'CREATE' && annotations[ANNOTATIONS.createdAt] === undefined) {
    annotations[ANNOTATIONS.createdAt] = now.toISOString();
  }
  stampPin(change, annotations, config, now);
  if (Object.keys(annotations).length === 0) delete metadata['annotations'];
}

function labelConflicts(change: NamespaceChange, config: Config): Violation[] {
  const out: Violation[] = [];
  for (const [key, required] of requiredLabelPairs(change.ns, config)) {
    const value = labelOf(change.object, key);
    if (value === required) continue;
    if (change.operation === 'UPDATE' && value === labelOf(change.oldObject, key)) continue; // pre-existing, not this change's doing
    if (change.operation === 'CREATE' && value === undefined) continue; // a gap the mutating webhook fills
    const what = value === undefined ? 'was removed' : `is "${value}"`;
    out.push(
      violation(
        'managed-labels',
        labelPath(key),
        `${what}, but every PR namespace must carry ${key}=${required}`,
        value === undefined
          ? `keep the label: k8s-ee manages it`
          : `remove the label from your manifest (k8s-ee sets it) or set it to "${required}"`,
      ),
    );
  }
  return out;
}

function stampConflicts(change: NamespaceChange, config: Config): Violation[] {
  const out: Violation[] = [];
  const hash = labelOf(change.object, LABELS.baselineHash);
  const oldHash = labelOf(change.oldObject, LABELS.baselineHash);
  if (hash !== oldHash && !(change.operation === 'CREATE' && hash === undefined)) {
    out.push(
      violation(
        'managed-labels',
        labelPath(LABELS.baselineHash),
        'is written only by k8s-ee once the baseline objects are in place',
        'remove it from your manifest and do not edit it',
      ),
    );
  }
  const pinnedAt = annotationOf(change.object, ANNOTATIONS.pinnedAt);
  const oldPinnedAt = annotationOf(change.oldObject, ANNOTATIONS.pinnedAt);
  const keptPin =
    change.operation === 'UPDATE' && isPinned(change.oldObject, config) && isPinned(change.object, config);
  if (keptPin && oldPinnedAt !== undefined && pinnedAt !== oldPinnedAt) {
    out.push(
      violation(
        'pins',
        annotationPath(ANNOTATIONS.pinnedAt),
        `records when the pin was set and cannot be changed (a pin lasts at most ${config.pins.maxDuration})`,
        `leave the annotation as it is; to pin again later, remove ${config.pins.label}=${config.pins.value} first`,
      ),
    );
  }
  return out;
}

/** The pin label with a value other than the configured one is no pin and would not count: refused. */
function pinSpelling(change: NamespaceChange, config: Config): Violation[] {
  const { label, value: accepted } = config.pins;
  const value = labelOf(change.object, label);
  if (value === undefined || value === accepted) return [];
  if (change.operation === 'UPDATE' && labelOf(change.oldObject, label) === value) return []; // not this change's
  return [
    violation(
      'pins',
      labelPath(label),
      `is "${value}", but a pin is ${label}=${accepted} exactly (any other value is no pin and does not count)`,
      `set ${label}=${accepted} to pin the namespace, or remove the label`,
    ),
  ];
}

/** When the first pin of the namespace's life was set, as epoch milliseconds (undefined when never or unreadable). */
export function firstPinnedAtOf(object: unknown): number | undefined {
  const text = annotationOf(object, ANNOTATIONS.firstPinnedAt);
  const ms = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The record of the first pin may not be forged or changed, and a pin does not come back once the namespace's
 * pin time (maxDuration from its first pin) is used up: unpinning and pinning again does not restart the clock.
 */
function firstPinConflicts(change: NamespaceChange, config: Config, now: Date | undefined): Violation[] {
  const { label, value, maxDuration } = config.pins;
  const old = annotationOf(change.oldObject, ANNOTATIONS.firstPinnedAt);
  const current = annotationOf(change.object, ANNOTATIONS.firstPinnedAt);
  const appears = pinAppears(change, config);
  if (current !== old && !(appears && old === undefined)) {
    return [
      violation(
        'pins',
        annotationPath(ANNOTATIONS.firstPinnedAt),
        `records when the namespace was first pinned (pins last ${maxDuration} from then) and is written only by k8s-ee`,
        'remove it from your manifest and do not edit it',
      ),
    ];
  }
  const first = firstPinnedAtOf(change.oldObject);
  const maxMs = parseDuration(maxDuration);
  if (!appears || first === undefined || maxMs === undefined || now === undefined) return [];
  if (now.getTime() - first < maxMs) return [];
  return [
    violation(
      'pins',
      labelPath(label),
      `pins ${change.ns.name} again, but it was first pinned at ${new Date(first).toISOString()} and a namespace may be pinned for ${maxDuration} in its life (unpinning does not restart the clock)`,
      `remove ${label}=${value}; to keep the environment, redeploy it (the sweeper keeps a namespace with a live release)`,
    ),
  ];
}

/**
 * Everything wrong with a managed namespace's labels and stamps after this change (platform identities pass).
 * Without `now`, the used-up pin time is not judged.
 */
export function validateNamespace(change: NamespaceChange, user: Identity, config: Config, now?: Date): Violation[] {
  if (isPlatform(user, config)) return [];
  return [
    ...labelConflicts(change, config),
    ...stampConflicts(change, config),
    ...pinSpelling(change, config),
    ...firstPinConflicts(change, config, now),
  ];
}

/** True when this change makes the namespace pinned (it was not before). */
export function pinAppears(change: NamespaceChange, config: Config): boolean {
  return isPinned(change.object, config) && !(change.operation === 'UPDATE' && isPinned(change.oldObject, config));
}
