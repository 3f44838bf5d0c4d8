// What to change when a namespace's quota is exceeded, for the objects that use the most: the values key of the
// chart when the object carries Helm's standard labels (helm.sh/chart, app.kubernetes.io/managed-by: Helm), else
// the field. k8s-ee's own app chart is known exactly; other charts get the `helm create` convention.
import { DATABASES } from './config.ts';
import type { ObjectUsage } from './quota-fit.ts';

interface ValuesKeys {
  chart: string;
  /** Prefix of the resources block: `resources`, `databases.postgresql.resources`. */
  resources: string;
  replicas?: string;
  storage?: string;
  /** A setting that removes the object altogether. */
  disable?: string;
  /** True when the keys are a convention, not known for this chart. */
  convention: boolean;
}

/** `k8s-ee-app-0.1.0` -> `k8s-ee-app`. */
export function chartName(label: string | undefined): string | undefined {
  return label ? (/^(.+?)-v?[0-9]+\.[0-9]+/.exec(label)?.[1] ?? label) : undefined;
}

export function valuesKeys(labels: Record<string, string>): ValuesKeys | undefined {
  const chartLabel = labels['helm.sh/chart'];
  if (labels['app.kubernetes.io/managed-by'] !== 'Helm' && chartLabel === undefined) return undefined;
  const chart = chartName(chartLabel) ?? 'the chart';
  if (chart === 'k8s-ee-app') {
    const component = labels['app.kubernetes.io/component'] ?? '';
    if ((DATABASES as readonly string[]).includes(component)) {
      const prefix = `databases.${component}`;
      return {
        chart,
        resources: `${prefix}.resources`,
        storage: `${prefix}.storage`,
        disable: `${prefix}.enabled=false`,
        convention: false,
      };
    }
    return { chart, resources: 'resources', replicas: 'replicas', convention: false };
  }
  return { chart, resources: 'resources', replicas: 'replicaCount', storage: 'persistence.size', convention: true };
}

const COMPUTE_KEYS = new Set(['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

function computeHint(key: string, u: ObjectUsage, keys: ValuesKeys | undefined): string {
  const ref = `${u.kind}/${u.name}`;
  const options: string[] = [];
  const defaulted = u.defaulted.includes(key);
  const what = defaulted
    ? `its containers declare no ${key}, so they get the default: set a smaller ${key}`
    : `lower ${key}`;
  options.push(keys ? `${what} (values: ${keys.resources}.${key})` : `${what} of its containers`);
  if (u.replicas > 1) options.push(keys?.replicas ? `fewer replicas (values: ${keys.replicas})` : 'fewer replicas');
  if (keys?.disable) options.push(`drop it if this PR does not need it (${keys.disable})`);
  return `${ref}: ${options.join(', or ')}`;
}

function objectHint(key: string, u: ObjectUsage): string {
  const ref = `${u.kind}/${u.name}`;
  const keys = valuesKeys(u.labels);
  if (COMPUTE_KEYS.has(key)) return computeHint(key, u, keys);
  if (key === 'requests.storage')
    return `${ref}: a smaller volume (${keys?.storage ? `values: ${keys.storage}` : 'its storage request'})${keys?.disable ? `, or ${keys.disable}` : ''}`;
  if (key === 'pods')
    return `${ref}: fewer replicas${keys?.replicas ? ` (values: ${keys.replicas})` : ''}${keys?.disable ? `, or ${keys.disable}` : ''}`;
  return `${ref}: remove or merge it${keys?.disable ? ` (${keys.disable})` : ''}`;
}

/** The fix of one exceeded resource: what to change on the biggest users, or a bigger quota. */
export function usageHints(key: string, top: ObjectUsage[], excess: string): string {
  const hints = top.filter((u) => u.id >= 0).slice(0, 2);
  const conventions = [
    ...new Set(
      hints.flatMap((u) => {
        const keys = valuesKeys(u.labels);
        return keys?.convention ? [keys.chart] : [];
      }),
    ),
  ];
  const note = conventions.length
    ? ` (values keys of ${conventions.join(', ')} by the helm create convention; prefixed with the chart name when it is a subchart)`
    : '';
  const changes = hints.map((u) => objectHint(key, u)).join('; ');
  return `free at least ${excess}: ${changes || 'fewer objects'}${note}; or have the platform team raise the quota (quota.base or quota.perDatabase in k8s-ee's configuration)`;
}
