// Who may change what k8s-ee manages: k8s-ee itself, the configured platform identities, and the control
// plane's own controllers when they tear a namespace down.
import type { Config } from './config.ts';

export interface Identity {
  username?: string;
  groups?: string[];
}

/** Controllers that delete every object of a namespace being deleted. */
const NAMESPACE_CLEANERS = new Set([
  'system:serviceaccount:kube-system:namespace-controller',
  'system:serviceaccount:kube-system:generic-garbage-collector',
  'system:kube-controller-manager',
]);

export function isSelf(user: Identity, config: Pick<Config, 'selfUser'>): boolean {
  return user.username === config.selfUser;
}

export function isPlatform(user: Identity, config: Pick<Config, 'selfUser' | 'platformIdentities'>): boolean {
  if (isSelf(user, config)) return true;
  if (user.username && config.platformIdentities.users.includes(user.username)) return true;
  return (user.groups ?? []).some((g) => config.platformIdentities.groups.includes(g));
}

export function isNamespaceCleaner(user: Identity): boolean {
  return user.username !== undefined && NAMESPACE_CLEANERS.has(user.username);
}

export function describeUser(user: Identity): string {
  return user.username ? `user "${user.username}"` : 'an anonymous user';
}
