// How a PR environment may be reached: only through the ingress, only at its own host.
import type { Config } from './config.ts';
import { matchNamespace, previewHost } from './namespace.ts';
import { arr, describeType, obj, str, type Obj } from './objects.ts';
import { violation, type Violation } from './violation.ts';

export function hostBelongsTo(host: string, namespace: string, config: Pick<Config, 'previewDomain'>): boolean {
  const base = previewHost(namespace, config).toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === base || h.endsWith(`.${base}`);
}

function hostViolation(path: string, host: string, namespace: string, config: Config): Violation {
  const base = previewHost(namespace, config);
  return violation(
    'ingress-host',
    path,
    `host "${host}" does not belong to this PR environment: every PR may only use its own URL`,
    `use host "${base}" (or a name below it, such as "api.${base}")`,
  );
}

/** Ingress (networking.k8s.io/v1): every host must be {namespace}.{previewDomain} or below it. */
export function validateIngress(ingress: unknown, namespace: string, config: Config): Violation[] {
  const spec = obj(obj(ingress)['spec']);
  const out: Violation[] = [];
  if (spec['defaultBackend'] !== undefined) {
    out.push(
      violation(
        'ingress-host',
        'spec.defaultBackend',
        'a default backend answers for every host, including other PR environments',
        `remove spec.defaultBackend and route host "${previewHost(namespace, config)}" in spec.rules`,
      ),
    );
  }
  arr(spec['rules']).forEach((rule, i) => {
    const host = str(obj(rule)['host']);
    if (!host) {
      out.push(
        violation(
          'ingress-host',
          `spec.rules[${i}].host`,
          'a rule without a host answers for every host, including other PR environments',
          `set host: "${previewHost(namespace, config)}"`,
        ),
      );
    } else if (!hostBelongsTo(host, namespace, config)) {
      out.push(hostViolation(`spec.rules[${i}].host`, host, namespace, config));
    }
  });
  arr(spec['tls']).forEach((tls, i) => {
    arr(obj(tls)['hosts']).forEach((host, j) => {
      if (typeof host === 'string' && !hostBelongsTo(host, namespace, config))
        out.push(hostViolation(`spec.tls[${i}].hosts[${j}]`, host, namespace, config));
    });
  });
  return out;
}

/** Gateway API HTTPRoute/GRPCRoute: the same rule for spec.hostnames. */
export function validateRouteHostnames(route: unknown, namespace: string, config: Config): Violation[] {
  const spec = obj(obj(route)['spec']);
  const hostnames = arr(spec['hostnames']);
  if (hostnames.length === 0) {
    return [
      violation(
        'ingress-host',
        'spec.hostnames',
        'a route without hostnames answers for every host of its gateway',
        `set hostnames: ["${previewHost(namespace, config)}"]`,
      ),
    ];
  }
  return hostnames.flatMap((host, i) =>
    typeof host === 'string' && !hostBelongsTo(host, namespace, config)
      ? [hostViolation(`spec.hostnames[${i}]`, host, namespace, config)]
      : [],
  );
}

/**
 * Every namespace a DNS name can resolve into, read the way cluster DNS and a pod's resolver do, so that no
 * spelling slips past: lowercase, one trailing dot ignored;
 * - `…{ns}.svc.{clusterDomain}` and `…{ns}.pod.{clusterDomain}`, at any label depth before (`web-0.db.{ns}.svc…`,
 *   `_http._tcp.db.{ns}.svc…`, `10-0-0-5.{ns}.pod…`), and the same without the domain, which the search path
 *   completes (`db.{ns}.svc`);
 * - a `svc` or `pod` label anywhere after the first, whatever follows it (another or a stale cluster domain);
 * - a name of two labels or more, completed by the search path (`db.{ns}` becomes `db.{ns}.svc.{clusterDomain}`,
 *   `web-0.db.{ns}` a pod of service db): its last label, and its last label before the cluster domain.
 * A single label is a service of the namespace itself.
 */
export function dnsNamespaces(name: string, clusterDomain: string): string[] {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.');
  const domain = clusterDomain.toLowerCase().replace(/\.$/, '').split('.');
  const withoutDomain =
    labels.length > domain.length && domain.every((d, i) => labels[labels.length - domain.length + i] === d)
      ? labels.slice(0, labels.length - domain.length)
      : labels;
  const out = new Set<string>();
  withoutDomain.forEach((label, i) => {
    if (i >= 1 && (label === 'svc' || label === 'pod')) out.add(withoutDomain[i - 1] ?? '');
  });
  // Completed by the search path; with the domain cut off, whatever precedes it (no name there is safe to allow).
  for (const name of [labels, withoutDomain]) if (name.length >= 2) out.add(name[name.length - 1] ?? '');
  return [...out].filter((label) => label !== '');
}

function externalNameViolations(spec: Obj, namespace: string, config: Config): Violation[] {
  const value = spec['externalName'];
  if (value === undefined || value === '') return [];
  if (typeof value !== 'string')
    return [
      violation(
        'service-type',
        'spec.externalName',
        `must be a DNS name, got ${describeType(value)}`,
        'write the external host name, such as api.example.com',
      ),
    ];
  const targets = dnsNamespaces(value, config.clusterDomain).filter(
    (target) => target !== namespace && matchNamespace(target, config),
  );
  return targets.map((target) =>
    violation(
      'service-type',
      'spec.externalName',
      `"${value}" resolves into another PR environment (${target})`,
      'PR environments are isolated from each other: point at a service of this namespace or an external host',
    ),
  );
}

/** Services: no NodePort or LoadBalancer, no externalIPs, no ExternalName into another PR environment. */
export function validateService(service: unknown, namespace: string, config: Config): Violation[] {
  const spec = obj(obj(service)['spec']);
  const out: Violation[] = [];
  const type = str(spec['type']);
  if (type === 'NodePort' || type === 'LoadBalancer') {
    out.push(
      violation(
        'service-type',
        'spec.type',
        `type ${type} opens the environment outside the ingress`,
        `use type ClusterIP (the default) and reach the app at its preview host ${previewHost(namespace, config)} through the Ingress`,
      ),
    );
  }
  if (arr(spec['externalIPs']).length > 0) {
    out.push(
      violation(
        'service-type',
        'spec.externalIPs',
        'external IPs can capture traffic meant for other addresses',
        'remove spec.externalIPs',
      ),
    );
  }
  // Only an ExternalName service resolves its externalName (the field is ignored, and cleared, for other types).
  if (type === 'ExternalName') out.push(...externalNameViolations(spec, namespace, config));
  return out;
}
