// The labels and annotations of a managed namespace: what the mutating webhook fills in and what the validating
// webhook defends. Rule of thumb: mutation fills gaps, validation refuses conflicts, so nothing a developer
// writes is silently overwritten.
import type { Config } from './config.ts';
import { isPlatform, type Identity } from './identity.ts';
import { ANNOTATIONS, LABELS, PSS_MODES, pssLabel, pssVersionLabel } from './names.ts';
import type { ManagedNamespace } from './namespace.ts';
import { annotationsOf, child, labelsOf, type Obj } from './objects.ts';
import { violation, type Violation } from './violation.ts';

export const labelPath = (key: string): string => `metadata.labels["${key}"]`;
export const annotationPath = (key: string): string => `metadata.annotations["${key}"]`;

/** Labels every managed namespace must carry, with their values. */
export function requiredNamespaceLabels(
  ns: ManagedNamespace,
  config: Pick<Config, 'podSecurity'>,
): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.managed]: 'true',
    [LABELS.project]: ns.project,
    [LABELS.pr]: String(ns.number),
  };
  for (const mode of PSS_MODES) {
    labels[pssLabel(mode)] = config.podSecurity.level;
    labels[pssVersionLabel(mode)] = config.podSecurity.version;
  }
  return labels;
}

export function isPinned(object: unknown, config: Pick<Config, 'pins'>): boolean {
  return labelsOf(object)[config.pins.label] === config.pins.value;
}

export interface NamespaceChange {
  ns: ManagedNamespace;
  operation: 'CREATE' | 'UPDATE';
  object: Obj;
  oldObject?: unknown;
}

/**
 * Mutates `change.object` in place (pass a clone): fills in missing managed labels (on UPDATE only those the old
 * object lacked too, which adopts namespaces created before k8s-ee), stamps created-at on CREATE and pinned-at when
 * the pin appears, and drops pinned-at when the pin goes.
 */
export function mutateNamespace(change: NamespaceChange, config: Config, now: Date): void {
  const { object, oldObject, operation } = change;
  const metadata = child(object, 'metadata');
  const labels = child(metadata, 'labels');
  const oldLabels = labelsOf(oldObject);
  for (const [key, value] of Object.entries(requiredNamespaceLabels(change.ns, config))) {
    if (labels[key] === undefined && (operation === 'CREATE' || oldLabels[key] === undefined)) labels[key] = value;
  }
  const annotations = child(metadata, 'annotations');
  if (operation === 'CREATE' && annotations[ANNOTATIONS.createdAt] === undefined) {
    annotations[ANNOTATIONS.createdAt] = now.toISOString();
  }
  const pinnedNow = isPinned(object, config);
  const pinnedBefore = operation === 'UPDATE' && isPinned(oldObject, config);
  if (pinnedNow && !pinnedBefore) {
    annotations[ANNOTATIONS.pinnedAt] = now.toISOString(); // a new pin starts now, whatever the manifest says
  } else if (pinnedNow && annotations[ANNOTATIONS.pinnedAt] === undefined) {
    annotations[ANNOTATIONS.pinnedAt] = annotationsOf(oldObject)[ANNOTATIONS.pinnedAt] ?? now.toISOString();
  } else if (!pinnedNow) {
    delete annotations[ANNOTATIONS.pinnedAt];
  }
  if (Object.keys(annotations).length === 0) delete metadata['annotations'];
}

function labelConflicts(change: NamespaceChange, config: Config): Violation[] {
  const labels = labelsOf(change.object);
  const oldLabels = labelsOf(change.oldObject);
  const out: Violation[] = [];
  for (const [key, required] of Object.entries(requiredNamespaceLabels(change.ns, config))) {
    const value = labels[key];
    if (value === required) continue;
    if (change.operation === 'UPDATE' && value === oldLabels[key]) continue; // pre-existing, not this change's doing
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
  const hash = labelsOf(change.object)[LABELS.baselineHash];
  const oldHash = labelsOf(change.oldObject)[LABELS.baselineHash];
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
  const pinnedAt = annotationsOf(change.object)[ANNOTATIONS.pinnedAt];
  const oldPinnedAt = annotationsOf(change.oldObject)[ANNOTATIONS.pinnedAt];
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

/** Everything wrong with a managed namespace's labels and stamps after this change (platform identities pass). */
export function validateNamespace(change: NamespaceChange, user: Identity, config: Config): Violation[] {
  if (isPlatform(user, config)) return [];
  return [...labelConflicts(change, config), ...stampConflicts(change, config)];
}

/** True when this change makes the namespace pinned (it was not before). */
export function pinAppears(change: NamespaceChange, config: Config): boolean {
  return isPinned(change.object, config) && !(change.operation === 'UPDATE' && isPinned(change.oldObject, config));
}
