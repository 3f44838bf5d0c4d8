// The URL a PR environment is served at, read from its rendered manifests the way the cluster will serve it:
// https when an Ingress that routes the environment's host also lists that host under `tls`, else http. The
// reusable workflow comments this URL on the PR, so the comment says what the app chart's NOTES and PREVIEW_URL
// say (both follow ingress.tls.enabled). Run as a script it reads manifests on stdin and prints the URL (nothing
// when no Ingress routes the host):
//   helm template … | node lib/preview-url.ts shop-pr-42.preview.example.com
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const lower = (v: unknown): string | undefined =>
  typeof v === 'string' ? v.toLowerCase().replace(/\.$/, '') : undefined;

/** Whether a TLS host entry (exact or `*.` wildcard of one label) covers the host. */
function tlsCovers(entry: string, host: string): boolean {
  if (entry === host) return true;
  if (!entry.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === entry.slice(2);
}

/** The environment's URL from rendered objects, or undefined when no Ingress routes `host`. */
export function previewUrl(objects: unknown[], host: string): string | undefined {
  const wanted = host.toLowerCase().replace(/\.$/, '');
  let routed = false;
  let secure = false;
  for (const o of objects) {
    if (!isObj(o) || o['kind'] !== 'Ingress' || !isObj(o['spec'])) continue;
    const spec = o['spec'];
    const hosts = list(spec['rules']).map((r) => (isObj(r) ? lower(r['host']) : undefined));
    if (!hosts.includes(wanted)) continue;
    routed = true;
    for (const tls of list(spec['tls'])) {
      if (!isObj(tls)) continue;
      const tlsHosts = list(tls['hosts']).flatMap((h) => lower(h) ?? []);
      // A tls entry without hosts serves its certificate for the rules' hosts.
      if (tlsHosts.length === 0 || tlsHosts.some((h) => tlsCovers(h, wanted))) secure = true;
    }
  }
  return routed ? `${secure ? 'https' : 'http'}://${wanted}` : undefined;
}

/** Every object of a multi-document YAML text (documents that do not parse are skipped). */
export function parseManifests(text: string): unknown[] {
  return parseAllDocuments(text).flatMap((d) => (d.errors.length > 0 ? [] : [d.toJS() as unknown]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const host = process.argv[2];
  if (!host) {
    process.stderr.write('usage: node lib/preview-url.ts HOST < manifests.yaml\n');
    process.exitCode = 2;
  } else {
    const url = previewUrl(parseManifests(readFileSync(0, 'utf8')), host);
    if (url) process.stdout.write(`${url}\n`);
  }
}
