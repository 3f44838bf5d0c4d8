// NetworkPolicies written by the app are additive to k8s-ee's default deny, so each one may only open paths
// that keep PR environments apart: ingress from its own namespace, the ingress controller and monitoring;
// egress anywhere but into another PR namespace or the private ranges where other pods live.
import type { Config } from './config.ts';
import { matchNamespace } from './namespace.ts';
import { arr, isObj, obj, str } from './objects.ts';
import { violation, type Violation } from './violation.ts';
import { covers, overlaps, parseCidr } from '../lib/cidr.ts';

const NAME_LABEL = 'kubernetes.io/metadata.name';

/** Namespace names a selector is pinned to through kubernetes.io/metadata.name, or undefined if not pinned. */
export function pinnedNamespaceNames(selector: unknown): string[] | undefined {
  const sel = obj(selector);
  let names: string[] | undefined;
  const restrict = (values: string[]): void => {
    names = names === undefined ? values : names.filter((n) => values.includes(n));
  };
  const byLabel = str(obj(sel['matchLabels'])[NAME_LABEL]);
  if (byLabel !== undefined) restrict([byLabel]);
  for (const expr of arr(sel['matchExpressions'])) {
    const e = obj(expr);
    if (e['key'] === NAME_LABEL && e['operator'] === 'In')
      restrict(arr(e['values']).filter((v): v is string => typeof v === 'string'));
  }
  return names;
}

function privateOverlap(ipBlock: unknown, config: Config): string | undefined {
  const block = obj(ipBlock);
  const cidr = parseCidr(str(block['cidr']) ?? '');
  if (!cidr) return undefined; // the API server rejects malformed CIDRs itself
  const excepts = arr(block['except']).flatMap((e) => {
    const parsed = parseCidr(String(e));
    return parsed ? [parsed] : [];
  });
  for (const text of config.networkPolicy.internetEgress.exceptCidrs) {
    const range = parseCidr(text);
    if (range && overlaps(cidr, range) && !excepts.some((e) => covers(e, range))) return text;
  }
  return undefined;
}

interface PeerContext {
  path: string;
  direction: 'ingress' | 'egress';
  namespace: string;
  config: Config;
}

function namespacePeerViolations(peer: Record<string, unknown>, ctx: PeerContext): Violation[] {
  const { config, namespace, path, direction } = ctx;
  const names = pinnedNamespaceNames(peer['namespaceSelector']);
  const allowedIngress = [
    namespace,
    config.networkPolicy.ingressController.namespace,
    config.networkPolicy.monitoring.namespace,
  ];
  if (names === undefined) {
    const fix =
      direction === 'ingress'
        ? `select namespaces by name: namespaceSelector.matchLabels["${NAME_LABEL}"] one of ${allowedIngress.join(', ')}`
        : `select the destination namespace by name: namespaceSelector.matchLabels["${NAME_LABEL}"]`;
    return [
      violation(
        'network-policy',
        `${path}.namespaceSelector`,
        `selects namespaces by labels that other PR environments can match`,
        fix,
      ),
    ];
  }
  const bad =
    direction === 'ingress'
      ? names.filter((n) => !allowedIngress.includes(n))
      : names.filter((n) => n !== namespace && matchNamespace(n, config));
  return bad.map((n) =>
    violation(
      'network-policy',
      `${path}.namespaceSelector`,
      direction === 'ingress'
        ? `admits traffic from namespace "${n}"`
        : `sends traffic into another PR environment ("${n}")`,
      direction === 'ingress'
        ? `only ${allowedIngress.join(', ')} may send traffic into a PR environment; remove "${n}"`
        : `PR environments are isolated from each other; remove "${n}"`,
    ),
  );
}

function peerViolations(peer: unknown, ctx: PeerContext): Violation[] {
  const p = obj(peer);
  const out: Violation[] = [];
  if (isObj(p['namespaceSelector'])) out.push(...namespacePeerViolations(p, ctx));
  if (isObj(p['ipBlock'])) {
    const range = privateOverlap(p['ipBlock'], ctx.config);
    if (range) {
      out.push(
        violation(
          'network-policy',
          `${ctx.path}.ipBlock.cidr`,
          `covers the private range ${range}, where pods of other PR environments live`,
          `add ${range} to ipBlock.except, or use a podSelector for pods of this namespace`,
        ),
      );
    }
  }
  return out;
}

function ruleViolations(
  rules: unknown,
  direction: 'ingress' | 'egress',
  namespace: string,
  config: Config,
): Violation[] {
  const key = direction === 'ingress' ? 'from' : 'to';
  return arr(rules).flatMap((rule, i) => {
    const peers = arr(obj(rule)[key]);
    const path = `spec.${direction}[${i}].${key}`;
    if (peers.length === 0) {
      const message =
        direction === 'ingress'
          ? 'an ingress rule without "from" admits traffic from every namespace, including other PR environments'
          : 'an egress rule without "to" sends traffic to every destination, including other PR environments';
      const fix =
        direction === 'ingress'
          ? 'list the peers: a podSelector for pods of this namespace, or the ingress controller namespace by name'
          : "list the destinations; DNS and the internet are already open through k8s-ee's own policies";
      return [violation('network-policy', path, message, fix)];
    }
    return peers.flatMap((peer, j) => peerViolations(peer, { path: `${path}[${j}]`, direction, namespace, config }));
  });
}

export function validateAppNetworkPolicy(policy: unknown, namespace: string, config: Config): Violation[] {
  const spec = obj(obj(policy)['spec']);
  return [
    ...ruleViolations(spec['ingress'], 'ingress', namespace, config),
    ...ruleViolations(spec['egress'], 'egress', namespace, config),
  ];
}
