// A violation is one broken rule on one field, with what to do about it. Every check returns a list of them,
// so a developer sees all problems of an object in one message.
export interface Violation {
  /** Short rule id, e.g. `pss:privileged`, `ingress-host`, `managed-labels`. */
  rule: string;
  /** Field path in the object, Kubernetes style: `spec.template.spec.containers[0].securityContext.privileged`. */
  path: string;
  /** What is wrong, in a sentence. */
  message: string;
  /** How to fix it, in a sentence. */
  fix: string;
}

export function violation(rule: string, path: string, message: string, fix: string): Violation {
  return { rule, path, message, fix };
}

/**
 * No violations: one shared, frozen list. The checks run on every pod template admission sees, and almost all of
 * them find nothing: returning this instead of a fresh (or filtered and mapped) list lets a clean object cost them
 * no allocation.
 */
export const NONE: readonly Violation[] = Object.freeze([]);

/** What `find` reports for each item, in order; NONE when it reports nothing. */
export function findEach<T>(
  items: readonly T[],
  find: (item: T, index: number) => Violation | undefined,
): readonly Violation[] {
  let found: Violation[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const v = find(items[i] as T, i);
    if (v) (found ??= []).push(v);
  }
  return found ?? NONE;
}

/** One line per violation: `path: message (rule). Fix: fix` */
export function formatViolation(v: Violation): string {
  return `${v.path}: ${v.message} [${v.rule}]. Fix: ${v.fix}`;
}

/** The denial message for an object: a heading and every violation on its own line. */
export function formatViolations(subject: string, violations: Violation[]): string {
  // Added piece by piece, not joined from a list of lines: V8 then flattens the text once, where a join made it
  // whole and the heading's concatenation was flattened again (a denial, issue 10).
  let text = `k8s-ee denied ${subject}: ${violations.length} problem${violations.length === 1 ? '' : 's'}:`;
  for (let i = 0; i < violations.length; i++) {
    text += `\n(${i + 1}) ${formatViolation(violations[i] as Violation)}`;
  }
  return text;
}
