// How a PR environment may be reached: only through the ingress, only at its own host.
import type { Config } from './config.ts';
import { matchNamespace, previewHost } from './namespace.ts';
import { arr, obj, str } from './objects.ts';
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

const SERVICE_DNS = /^[a-z0-9-]+\.([a-z0-9-]+)(\.svc(\.[a-z0-9.-]+)?)?\.?$/;

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
        `use type ClusterIP (the default) and reach the app at https://${previewHost(namespace, config)} through the Ingress`,
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
  const target = type === 'ExternalName' ? SERVICE_DNS.exec(str(spec['externalName']) ?? '')?.[1] : undefined;
  if (target && target !== namespace && matchNamespace(target, config)) {
    out.push(
      violation(
        'service-type',
        'spec.externalName',
        `points into another PR environment (${target})`,
        'PR environments are isolated from each other: point at a service of this namespace or an external host',
      ),
    );
  }
  return out;
}
