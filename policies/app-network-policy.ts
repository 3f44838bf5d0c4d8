// NetworkPolicies written by the app are additive to k8s-ee's default deny, so each one may only open paths
// that keep PR environments apart: ingress from its own namespace, the ingress controller and monitoring (by
// namespace, never by address: see ingressIpBlockViolation); egress anywhere but into another PR namespace or the
// private ranges where other pods live.
import type { Config } from './config.ts';
import { BASELINE_NAMES } from './names.ts';
import { matchNamespace } from './namespace.ts';
import { arr, describeType, isObj, obj, str, type Obj } from './objects.ts';
import { violation, type Violation } from './violation.ts';
import { covers, overlaps, parseCidr, type ParsedCidr } from '../lib/cidr.ts';

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

const RANGE_FIX = 'write a CIDR the API server accepts, such as 203.0.113.0/24 or 2001:db8::/32';

/** Why a range written this way cannot be trusted to mean one thing, or undefined when it can. */
function notationProblem(text: string, cidr: ParsedCidr, exception: boolean): string | undefined {
  if (cidr.mapped)
    return `"${text}" writes an IPv4 range as IPv4-mapped IPv6: the API server reads it as ${cidr.canonical}, data planes that keep IPv6 apart never match it`;
  if (cidr.leadingZeros)
    return `"${text}" has leading zeros: the API server reads them as decimal (${cidr.canonical}), other software as octal or not at all (kube-network-policies then matches every address)`;
  // In `cidr` either reading lies inside the network, which is what is judged; an exception must be exact.
  if (exception && cidr.hostBits)
    return `"${text}" is ambiguous: the network ${cidr.canonical} or a single address? an exception must say exactly what it excludes`;
  return undefined;
}

/**
 * The range a field holds as the API server reads it (undefined when it cannot be read), and the violation when
 * it is not a plain CIDR. A range in a refused notation is still judged, so every problem shows at once.
 */
function readRange(path: string, value: unknown, exception: boolean): { range?: ParsedCidr; problem?: Violation } {
  const bad = (message: string, fix = RANGE_FIX): Violation => violation('network-policy', path, message, fix);
  if (typeof value !== 'string') return { problem: bad(`must be a CIDR string, got ${describeType(value)}`) };
  const range = parseCidr(value);
  if (!range)
    return {
      problem: bad(`"${value}" is not an address range the API server accepts, so where it leads cannot be judged`),
    };
  const problem = notationProblem(value, range, exception);
  return problem ? { range, problem: bad(problem, `write "${range.canonical}"`) } : { range };
}

function privateRanges(config: Config): ParsedCidr[] {
  return config.networkPolicy.internetEgress.exceptCidrs.flatMap((text) => {
    const range = parseCidr(text);
    return range ? [range] : [];
  });
}

function ipBlockViolations(ipBlock: Obj, path: string, config: Config): Violation[] {
  const out: Violation[] = [];
  const cidr = readRange(`${path}.cidr`, ipBlock['cidr'], false);
  if (cidr.problem) out.push(cidr.problem);
  const exceptValue = ipBlock['except'];
  if (exceptValue !== undefined && !Array.isArray(exceptValue)) {
    const message = `must be a list of CIDRs, got ${describeType(exceptValue)}`;
    out.push(violation('network-policy', `${path}.except`, message, RANGE_FIX));
  }
  // Only exceptions that mean one thing everywhere count as closing a range.
  const excepts = arr(exceptValue).flatMap((value, k) => {
    const read = readRange(`${path}.except[${k}]`, value, true);
    if (read.problem) out.push(read.problem);
    return read.range && !read.problem ? [read.range] : [];
  });
  const range = cidr.range;
  if (!range) return out;
  const open = privateRanges(config).filter((p) => overlaps(range, p) && !excepts.some((e) => covers(e, p)));
  if (open.length > 0) out.push(privateViolation(`${path}.cidr`, range, open));
  return out;
}

function privateViolation(path: string, range: ParsedCidr, open: ParsedCidr[]): Violation {
  const list = open.map((p) => p.canonical).join(', ');
  const ipv6 = range.family === 'ipv6' ? ' (for the IPv6 internet, 2000::/3 stays clear of them)' : '';
  return violation(
    'network-policy',
    path,
    `${range.canonical} covers the private range${open.length === 1 ? '' : 's'} ${list}, where pods of other PR environments live`,
    `add ${list} to ipBlock.except${ipv6}, or use a podSelector for pods of this namespace`,
  );
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

/**
 * Ingress by address is refused whatever the range. The README's rule is that only the namespace itself, the
 * ingress controller and monitoring get in, and those are named by namespace. An ipBlock instead admits whatever
 * holds such an address, and which pods and nodes do is the cluster's address plan, not the app's: pods with
 * global IPv6 addresses, pod or node ranges outside the configured private list, hostNetwork pods on nodes, all
 * of which other PR environments can be or reach. Nothing legitimate needs it either: outside clients come in
 * through the ingress controller (NodePort and LoadBalancer Services are refused), so the source a pod sees is
 * the controller's pod, which k8s-ee-allow-ingress-controller already admits.
 */
function ingressIpBlockViolation(ipBlock: Obj, ctx: PeerContext): Violation {
  const np = ctx.config.networkPolicy;
  const cidr = typeof ipBlock['cidr'] === 'string' ? ` ${ipBlock['cidr']}` : '';
  const except = arr(ipBlock['except']).length > 0 ? ' (its exceptions included)' : '';
  return violation(
    'network-policy',
    `${ctx.path}.ipBlock`,
    `admits traffic by address (ipBlock${cidr}${except}): whatever has such an address gets in, other PR environments included wherever their pods or nodes are not in the private ranges; a PR environment admits only its own namespace, the ingress controller and monitoring, by namespace`,
    `remove the ipBlock: visitors come through the ingress controller (namespace ${np.ingressController.namespace}), which ${BASELINE_NAMES.allowIngressController} already admits, and monitoring (namespace ${np.monitoring.namespace}) through ${BASELINE_NAMES.allowMonitoring}; to name one of them yourself write namespaceSelector.matchLabels["${NAME_LABEL}"]: ${np.ingressController.namespace}`,
  );
}

function peerViolations(peer: unknown, ctx: PeerContext): Violation[] {
  const p = obj(peer);
  const out: Violation[] = [];
  if (isObj(p['namespaceSelector'])) out.push(...namespacePeerViolations(p, ctx));
  if (isObj(p['ipBlock']))
    out.push(
      ...(ctx.direction === 'ingress'
        ? [ingressIpBlockViolation(p['ipBlock'], ctx)]
        : ipBlockViolations(p['ipBlock'], `${ctx.path}.ipBlock`, ctx.config)),
    );
  return out;
}

/** A rule's ports as written (`port 53 (UDP, TCP)`, `ports 80, 443 (TCP)`), or undefined when it has none. */
function describePorts(rule: Obj): { text: string; numbers: unknown[] } | undefined {
  const ports = arr(rule['ports']).map(obj);
  if (ports.length === 0) return undefined;
  const label = (p: Obj): string => {
    const value = p['port'];
    const port =
      value === undefined
        ? 'every port'
        : typeof value === 'number' || typeof value === 'string'
          ? String(value)
          : JSON.stringify(value);
    return typeof p['endPort'] === 'number' ? `${port}-${p['endPort']}` : port;
  };
  const list = [...new Set(ports.map(label))];
  const protocols = [...new Set(ports.map((p) => str(p['protocol']) ?? 'TCP'))];
  const text = `${list.length === 1 ? 'port' : 'ports'} ${list.join(', ')} (${protocols.join(', ')})`;
  // A range or a missing port never counts as DNS only.
  const numbers = ports.map((p) => (p['endPort'] === undefined ? p['port'] : undefined));
  return { text, numbers };
}

/** The egress rule that reaches the cluster's DNS, as k8s-ee-allow-dns writes it, in a form to paste (JSON is YAML). */
export function dnsEgressRule(config: Config): Obj {
  const dns = config.networkPolicy.dns;
  const peer: Obj = { namespaceSelector: { matchLabels: { [NAME_LABEL]: dns.namespace } } };
  if (Object.keys(dns.podLabels).length > 0) peer['podSelector'] = { matchLabels: { ...dns.podLabels } };
  return {
    to: [peer],
    ports: dns.ports.flatMap((port) => [
      { protocol: 'UDP', port },
      { protocol: 'TCP', port },
    ]),
  };
}

/** An egress rule without `to`: what it opens, and the rule to write instead. */
function openEgressViolation(rule: Obj, path: string, config: Config): Violation {
  const np = config.networkPolicy;
  const ports = describePorts(rule);
  const what = ports ? ports.text : 'every port';
  const message = `an egress rule without "to" opens ${what} to every destination, including other PR environments (their pods and Services) and the private ranges`;
  const dnsPorts: unknown[] = np.dns.ports;
  const onlyDns = ports !== undefined && ports.numbers.every((n) => dnsPorts.includes(n));
  if (onlyDns) {
    return violation(
      'network-policy',
      path,
      message,
      `DNS is already open through ${BASELINE_NAMES.allowDns}, so remove this rule; to keep it, send it to the cluster DNS only: ${JSON.stringify(dnsEgressRule(config))}`,
    );
  }
  const internet = np.internetEgress.enabled ? `, the internet through ${BASELINE_NAMES.allowInternetEgress}` : '';
  return violation(
    'network-policy',
    path,
    message,
    `list the destinations in "to": a podSelector for pods of this namespace, a namespace by name (namespaceSelector.matchLabels["${NAME_LABEL}"]), or an ipBlock outside the private ranges; DNS is already open through ${BASELINE_NAMES.allowDns}${internet}`,
  );
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
      if (direction === 'egress') return [openEgressViolation(obj(rule), path, config)];
      const message = `an ingress rule without "from" admits traffic from every namespace and address, including other PR environments`;
      const fix = `list the peers: a podSelector for pods of this namespace, or the ingress controller's namespace by name (namespaceSelector.matchLabels["${NAME_LABEL}"]: ${config.networkPolicy.ingressController.namespace})`;
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
