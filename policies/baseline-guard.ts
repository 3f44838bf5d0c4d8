// Baseline objects belong to k8s-ee: nobody else edits or deletes them, except the control plane's own
// controllers while a namespace is being deleted, and the configured platform identities.
import type { Config } from './config.ts';
import { describeUser, isNamespaceCleaner, isPlatform, type Identity } from './identity.ts';
import { BASELINE_NAMES, BASELINE_PREFIX } from './names.ts';
import { violation, type Violation } from './violation.ts';

export function isBaselineObject(kind: string, name: string | undefined): boolean {
  if (!name) return false;
  if (kind === 'ResourceQuota') return name === BASELINE_NAMES.quota;
  if (kind === 'LimitRange') return name === BASELINE_NAMES.limitRange;
  if (kind === 'NetworkPolicy') return name.startsWith(BASELINE_PREFIX);
  return false;
}

const VERB = { CREATE: 'create', UPDATE: 'change', DELETE: 'delete', CONNECT: 'connect to' } as const;

function fixFor(kind: string): string {
  if (kind === 'ResourceQuota')
    return 'quotas come from the k8s-ee configuration (quota.base, quota.perDatabase) and the databases your k8s-ee-environment ConfigMap declares; ask the platform team to change them';
  if (kind === 'LimitRange')
    return 'container defaults and maxima come from the k8s-ee configuration (limitRange); set resources on your containers instead';
  return `write your own NetworkPolicy under a name that does not start with "${BASELINE_PREFIX}"`;
}

export function validateBaselineChange(
  change: { kind: string; name: string | undefined; operation: keyof typeof VERB; user: Identity },
  config: Config,
): Violation[] {
  const { kind, name, operation, user } = change;
  if (!isBaselineObject(kind, name)) return [];
  if (isPlatform(user, config)) return [];
  if (operation === 'DELETE' && isNamespaceCleaner(user)) return [];
  return [
    violation(
      'baseline-objects',
      'metadata.name',
      `${kind}/${name} is a baseline object managed by k8s-ee; ${describeUser(user)} may not ${VERB[operation]} it`,
      fixFor(kind),
    ),
  ];
}
