// Every configuration field is checked before k8s-ee uses it: a value of the wrong form is refused with the
// field's path (a wrong namespace name, label, CIDR or port would otherwise weaken a policy silently).
// One row per field; each row is a document that must be refused at exactly that path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, configFromObject } from './config-load.ts';

const rows: [string, unknown][] = [
  ['namespacePattern', { namespacePattern: '' }],
  ['podSecurity.level', { podSecurity: { level: 'baseline' } }],
  ['podSecurity.version', { podSecurity: { version: 'v2.0' } }],
  ['platformIdentities.users', { platformIdentities: { users: 'ops' } }],
  ['platformIdentities.groups', { platformIdentities: { groups: [1] } }],
  ['selfUser', { selfUser: '' }],
  ['limitRange.max', { limitRange: { max: { cpu: 'lots' } } }],
  ['limitRange.default', { limitRange: { default: { memory: 'big' } } }],
  ['limitRange.defaultRequest', { limitRange: { defaultRequest: { cpu: 'x' } } }],
  ['networkPolicy.dns.ports', { networkPolicy: { dns: { ports: [0] } } }],
  ['networkPolicy.dns.ports too high', { networkPolicy: { dns: { ports: [65536] } } }],
  ['networkPolicy.dns.namespace', { networkPolicy: { dns: { namespace: 'Kube_System' } } }],
  ['networkPolicy.dns.podLabels', { networkPolicy: { dns: { podLabels: { app: 1 } } } }],
  ['networkPolicy.monitoring.namespace', { networkPolicy: { monitoring: { namespace: '-x' } } }],
  [
    'networkPolicy.ingressController.namespace',
    { networkPolicy: { ingressController: { namespace: 'a'.repeat(64) } } },
  ],
  ['networkPolicy.internetEgress.enabled', { networkPolicy: { internetEgress: { enabled: 'yes' } } }],
  ['networkPolicy.internetEgress.exceptCidrs', { networkPolicy: { internetEgress: { exceptCidrs: ['10.0.0.0'] } } }],
  ['pins.label', { pins: { label: 'not a label!' } }],
  ['pins.value', { pins: { value: 'v'.repeat(64) } }],
  ['pins.maxDuration', { pins: { maxDuration: 'two days' } }],
  ['mutation.runAsUser', { mutation: { runAsUser: -1 } }],
  ['mutation.fsGroup', { mutation: { fsGroup: 'root' } }],
  ['mutation.defaultResources.limits.memory', { mutation: { defaultResources: { limits: { memory: 'lots' } } } }],
  ['sweeper.maxDeletionsPerRun', { sweeper: { maxDeletionsPerRun: 0 } }],
  ['sweeper.diskWarnRatio', { sweeper: { diskWarnRatio: 0 } }],
  ['sweeper.imagePrune.thresholdRatio', { sweeper: { imagePrune: { thresholdRatio: 1.5 } } }],
  ['sweeper.imagePrune.image', { sweeper: { imagePrune: { image: '' } } }],
  ['sweeper.deleteReleasedVolumes', { sweeper: { deleteReleasedVolumes: 'no' } }],
  ['sweeper.github.apiUrl', { sweeper: { github: { apiUrl: 'ftp://x' } } }],
  ['sweeper.github.tokenEnv', { sweeper: { github: { tokenEnv: '1TOKEN' } } }],
  ['sweeper.github.repositories', { sweeper: { github: { repositories: { shop: 'no-slash' } } } }],
  ['webhook.maxBodyBytes', { webhook: { maxBodyBytes: 100 } }],
];

for (const [name, document] of rows) {
  test(`configuration ${name}: a value of the wrong form is refused at its path`, () => {
    const field = name.split(' ')[0]!;
    assert.throws(
      () => configFromObject(document, 'k8s-ee.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(
          err.problems.some(
            (p) => p.path === field || p.path.startsWith(`${field}.`) || p.path.startsWith(`${field}[`),
          ),
          JSON.stringify(err.problems),
        );
        return true;
      },
    );
  });
}

test('configuration: the documented forms are accepted', () => {
  const config = configFromObject({
    podSecurity: { level: 'restricted', version: 'v1.30' },
    platformIdentities: { users: ['ops'], groups: ['platform'] },
    networkPolicy: { dns: { ports: [53, 65535] }, internetEgress: { exceptCidrs: ['10.0.0.0/8', 'fd00::/8'] } },
    pins: { label: 'example.com/preserve', value: 'yes' },
    sweeper: {
      github: { apiUrl: 'https://api.github.com', tokenEnv: 'GH_TOKEN', repositories: { shop: 'acme/shop' } },
    },
  });
  assert.equal(config.pins.label, 'example.com/preserve');
  assert.deepEqual(config.networkPolicy.dns.ports, [53, 65535]);
});
