import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from './config.ts';
import { dnsNamespaces, hostBelongsTo, validateIngress, validateRouteHostnames, validateService } from './exposure.ts';

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

test('ExternalName: every DNS form that resolves into another PR namespace is refused, with any cluster domain', () => {
  const external = (externalName: string, cfg = config) =>
    validateService({ spec: { type: 'ExternalName', externalName } }, ns, cfg);
  const custom = { ...defaultConfig(), clusterDomain: 'k8s.acme.internal' };
  // {target} stands for the namespace; each form is tried with another PR, this PR and a namespace outside k8s-ee.
  const forms: [string, typeof config][] = [
    ['db.{target}', config],
    ['db.{target}.svc', config],
    ['db.{target}.svc.cluster.local', config],
    ['db.{target}.svc.cluster.local.', config],
    ['DB.{TARGET}.SVC.Cluster.Local', config],
    ['DB.{TARGET}.SVC.Cluster.Local.', config],
    ['web-0.db.{target}.svc.cluster.local', config],
    ['a.b.web-0.db.{target}.svc.cluster.local', config],
    ['_http._tcp.db.{target}.svc.cluster.local', config],
    ['web-0.db.{target}', config],
    ['web-0.db.{target}.svc', config],
    ['10-0-0-5.{target}.pod.cluster.local', config],
    ['10-0-0-5.{target}.pod.cluster.local.', config],
    ['10-0-0-5.{target}.pod', config],
    ['fd00--5.{target}.pod.cluster.local', config],
    ['10-0-0-5.db.{target}.svc.cluster.local', config],
    ['db.{target}.svc.k8s.acme.internal', custom],
    ['db.{target}.svc.k8s.acme.internal.', custom],
    ['web-0.db.{target}.svc.K8S.acme.internal', custom],
    ['10-0-0-5.{target}.pod.k8s.acme.internal', custom],
    ['db.{target}.svc.cluster.local', custom], // another (or a stale) cluster domain
    ['db.{target}.svc.other-domain', config],
    ['{target}.svc.cluster.local', config],
    ['{target}.pod.cluster.local', config],
    ['db.{target}.cluster.local', config],
  ];
  for (const [form, cfg] of forms) {
    for (const other of ['shop-pr-41', 'blog-pr-7']) {
      const name = form.replace('{target}', other).replace('{TARGET}', other.toUpperCase());
      const violations = external(name, cfg);
      assert.deepEqual(
        violations.map((v) => [v.path, v.rule]),
        [['spec.externalName', 'service-type']],
        name,
      );
      assert.match(violations[0]?.message ?? '', new RegExp(`another PR environment \\(${other}\\)`), name);
    }
    for (const fine of [ns, 'shared-services', 'kube-system']) {
      const name = form.replace('{target}', fine).replace('{TARGET}', fine.toUpperCase());
      assert.deepEqual(external(name, cfg), [], name);
    }
  }
  for (const fine of [
    'db',
    'db.',
    'api.stripe.com',
    'shop-pr-41.example.com',
    'svc.example.com',
    'db.svc.cluster.local',
  ])
    assert.deepEqual(external(fine), [], fine);
  // Only an ExternalName service resolves its externalName.
  assert.deepEqual(
    validateService({ spec: { type: 'ClusterIP', externalName: 'db.shop-pr-41.svc.cluster.local' } }, ns, config),
    [],
  );
  assert.equal(external(42 as unknown as string)[0]?.path, 'spec.externalName');
});

test('dnsNamespaces: the namespaces a name can resolve into', () => {
  assert.deepEqual(dnsNamespaces('web-0.db.a.svc.cluster.local.', 'cluster.local').sort(), ['a', 'local', 'svc']);
  assert.deepEqual(dnsNamespaces('db.a.cluster.local', 'cluster.local').sort(), ['a', 'local']);
  assert.deepEqual(dnsNamespaces('db.a', 'cluster.local'), ['a']);
  assert.deepEqual(dnsNamespaces('db', 'cluster.local'), []);
  assert.deepEqual(dnsNamespaces('x.a.svc.b.pod.cluster.local', 'cluster.local').sort(), ['a', 'b', 'local', 'pod']);
  assert.deepEqual(dnsNamespaces('api.example.com', 'cluster.local'), ['com']);
});
