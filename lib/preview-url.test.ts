import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifests, previewUrl } from './preview-url.ts';

const host = 'shop-pr-42.preview.example.com';
const ingress = (spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'a' },
  spec,
});
const rule = (h: string) => ({ host: h, http: { paths: [] } });

test('the scheme follows the Ingress that routes the host: https only when its tls lists (or wildcards) the host', () => {
  const cases: [string, unknown[], string | undefined][] = [
    ['no tls', [ingress({ rules: [rule(host)] })], `http://${host}`],
    ['tls for the host', [ingress({ tls: [{ hosts: [host] }], rules: [rule(host)] })], `https://${host}`],
    ['tls without hosts', [ingress({ tls: [{ secretName: 's' }], rules: [rule(host)] })], `https://${host}`],
    [
      'wildcard tls',
      [ingress({ tls: [{ hosts: ['*.preview.example.com'] }], rules: [rule(host)] })],
      `https://${host}`,
    ],
    [
      'wildcard two labels up',
      [ingress({ tls: [{ hosts: ['*.example.com'] }], rules: [rule(host)] })],
      `http://${host}`,
    ],
    [
      'tls for a subdomain only',
      [ingress({ tls: [{ hosts: [`api.${host}`] }], rules: [rule(host)] })],
      `http://${host}`,
    ],
    [
      'case and trailing dot',
      [ingress({ tls: [{ hosts: [host.toUpperCase()] }], rules: [rule(`${host}.`)] })],
      `https://${host}`,
    ],
    [
      'tls on another Ingress of the same host',
      [ingress({ rules: [rule(host)] }), ingress({ tls: [{ hosts: [host] }], rules: [rule(host)] })],
      `https://${host}`,
    ],
    [
      'tls on an Ingress of another host',
      [ingress({ rules: [rule(host)] }), ingress({ tls: [{}], rules: [rule('x.y')] })],
      `http://${host}`,
    ],
    ['no Ingress for the host', [ingress({ tls: [{ hosts: [host] }], rules: [rule('other.example.com')] })], undefined],
    ['no objects', [], undefined],
    ['malformed', [null, 'x', { kind: 'Ingress' }, ingress({ rules: 'x', tls: 5 })], undefined],
  ];
  for (const [name, objects, expected] of cases) assert.equal(previewUrl(objects, host), expected, name);
});

test('manifests are read from multi-document YAML, documents that do not parse skipped', () => {
  const text = `---\nkind: Service\n---\n# comment only\n---\n{ broken\n---\nkind: Ingress\nspec:\n  rules: [{host: ${host}}]\n`;
  assert.equal(previewUrl(parseManifests(text), host), `http://${host}`);
});
