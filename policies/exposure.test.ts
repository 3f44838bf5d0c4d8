import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from './config.ts';
import { hostBelongsTo, validateIngress, validateRouteHostnames, validateService } from './exposure.ts';

const config = defaultConfig();
const ns = 'shop-pr-42';
const ingress = (spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web' },
  spec,
});
const rule = (host?: string) => ({
  ...(host ? { host } : {}),
  http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] },
});

test('hosts belong to the namespace at its preview host or below it', () => {
  assert.equal(hostBelongsTo('shop-pr-42.preview.example.com', ns, config), true);
  assert.equal(hostBelongsTo('api.shop-pr-42.preview.example.com', ns, config), true);
  assert.equal(hostBelongsTo('SHOP-PR-42.preview.example.com.', ns, config), true);
  assert.equal(hostBelongsTo('shop-pr-4.preview.example.com', ns, config), false);
  assert.equal(hostBelongsTo('xshop-pr-42.preview.example.com', ns, config), false);
  assert.equal(hostBelongsTo('shop-pr-42.preview.example.com.evil.io', ns, config), false);
});

test('ingress: own host passes, another PR host, a missing host and a default backend are refused', () => {
  assert.deepEqual(
    validateIngress(
      ingress({
        rules: [rule('shop-pr-42.preview.example.com')],
        tls: [{ hosts: ['shop-pr-42.preview.example.com'] }],
      }),
      ns,
      config,
    ),
    [],
  );
  const bad = validateIngress(
    ingress({
      defaultBackend: { service: { name: 'web', port: { number: 80 } } },
      rules: [rule('shop-pr-41.preview.example.com'), rule()],
      tls: [{ hosts: ['ok.shop-pr-42.preview.example.com', 'shop.example.com'] }],
    }),
    ns,
    config,
  );
  assert.deepEqual(
    bad.map((v) => v.path),
    ['spec.defaultBackend', 'spec.rules[0].host', 'spec.rules[1].host', 'spec.tls[0].hosts[1]'],
  );
  assert.match(bad[1]?.fix ?? '', /shop-pr-42\.preview\.example\.com/);
});

test('HTTPRoute hostnames follow the same rule', () => {
  assert.deepEqual(validateRouteHostnames({ spec: { hostnames: ['shop-pr-42.preview.example.com'] } }, ns, config), []);
  assert.equal(
    validateRouteHostnames({ spec: { hostnames: ['other-pr-1.preview.example.com'] } }, ns, config).length,
    1,
  );
  assert.equal(validateRouteHostnames({ spec: {} }, ns, config)[0]?.path, 'spec.hostnames');
});

test('services: ClusterIP passes; NodePort, LoadBalancer, externalIPs and ExternalName into another PR are refused', () => {
  assert.deepEqual(validateService({ spec: { type: 'ClusterIP', ports: [{ port: 80 }] } }, ns, config), []);
  assert.deepEqual(validateService({ spec: { ports: [{ port: 80 }] } }, ns, config), []);
  assert.deepEqual(
    validateService({ spec: { type: 'NodePort' } }, ns, config).map((v) => v.path),
    ['spec.type'],
  );
  assert.deepEqual(
    validateService({ spec: { type: 'LoadBalancer' } }, ns, config).map((v) => v.path),
    ['spec.type'],
  );
  assert.deepEqual(
    validateService({ spec: { externalIPs: ['1.2.3.4'] } }, ns, config).map((v) => v.path),
    ['spec.externalIPs'],
  );
  assert.deepEqual(
    validateService(
      { spec: { type: 'ExternalName', externalName: 'db.shop-pr-41.svc.cluster.local' } },
      ns,
      config,
    ).map((v) => v.path),
    ['spec.externalName'],
  );
  assert.deepEqual(
    validateService({ spec: { type: 'ExternalName', externalName: 'db.shop-pr-42.svc.cluster.local' } }, ns, config),
    [],
  );
  assert.deepEqual(validateService({ spec: { type: 'ExternalName', externalName: 'api.stripe.com' } }, ns, config), []);
});
