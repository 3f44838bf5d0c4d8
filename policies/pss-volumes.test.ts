// Pod Security Standards and volume types: baseline refuses hostPath; restricted allows only configMap, csi,
// downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret (upstream's allow-list,
// check_restrictedVolumes.go), and refuses every other source of the Pod API, and any key it does not know.
// One test per type, at both levels, so dropping a type from a list cannot go unnoticed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkPodSecurity, checkRestricted, type PssLevel } from './pss.ts';
import { FORBIDDEN_VOLUME_SOURCES } from './pss-restricted.ts';

const ALLOWED = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'image',
  'persistentVolumeClaim',
  'projected',
  'secret',
] as const;

/** Every other volume source of core/v1 Volume (k8s.io/api v0.35), written out here, not read from the code. */
const FORBIDDEN = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
] as const;

/** A restricted-compliant pod spec with one extra volume `data` of the given source. */
function podWith(volume: Record<string, unknown>): Record<string, unknown> {
  return {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'app',
        image: 'registry.k8s.io/pause:3.10',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    volumes: [
      { name: 'scratch', emptyDir: {} },
      { name: 'data', ...volume },
    ],
  };
}

const verdict = (spec: unknown, level: PssLevel) =>
  checkPodSecurity(spec, undefined, 'spec', { level, version: 'latest' }).map((v) => ({
    rule: v.rule,
    path: v.path,
    message: v.message,
    fix: v.fix,
  }));

describe('PSS volume types: restricted refuses every source outside its allow-list', () => {
  test('the list of forbidden sources in the code is exactly the Pod API sources outside the allow-list', () => {
    assert.deepEqual([...FORBIDDEN_VOLUME_SOURCES].sort(), [...FORBIDDEN].sort());
  });

  for (const type of FORBIDDEN.filter((t) => t !== 'hostPath')) {
    test(`restricted refuses a ${type} volume, naming the field and the allowed types; baseline allows it`, () => {
      const spec = podWith({ [type]: {} });
      const [denial, ...more] = verdict(spec, 'restricted');
      assert.deepEqual(more, []);
      assert.equal(denial?.rule, 'pss:volume-types');
      assert.equal(denial.path, `spec.volumes[1].${type}`);
      assert.equal(denial.message, `volume "data" is of type ${type}, which restricted does not allow`);
      assert.match(denial.fix, /^use one of configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistent/);
      assert.deepEqual(verdict(spec, 'baseline'), []);
    });
  }

  test('hostPath is refused at both levels, by its own rule (restricted does not report it twice)', () => {
    const spec = podWith({ hostPath: { path: '/var/run' } });
    for (const level of ['baseline', 'restricted'] as const) {
      const found = verdict(spec, level);
      assert.deepEqual(
        found.map((v) => [v.rule, v.path]),
        [['pss:host-path-volumes', 'spec.volumes[1].hostPath']],
        level,
      );
      assert.match(found[0]!.message, /volume "data" mounts a directory of the node/);
    }
  });

  test('a key the Pod API does not know is refused by restricted as an unknown volume type', () => {
    const spec = podWith({ fooVolume: { server: 'x' } });
    const [denial, ...more] = verdict(spec, 'restricted');
    assert.deepEqual(more, []);
    assert.equal(denial?.rule, 'pss:volume-types');
    assert.equal(denial.path, 'spec.volumes[1].fooVolume');
    assert.match(denial.message, /volume "data" has the field fooVolume, which is not a volume type restricted allows/);
    assert.deepEqual(verdict(spec, 'baseline'), []);
  });

  test('an unknown key beside an allowed source is still refused; null fields and the name are no source', () => {
    assert.deepEqual(
      checkRestricted(podWith({ emptyDir: {}, nfs: { server: 's', path: '/' } }), undefined, 'spec').map((v) => v.path),
      ['spec.volumes[1].nfs'],
    );
    assert.deepEqual(checkRestricted(podWith({ secret: { secretName: 's' }, nfs: null }), undefined, 'spec'), []);
  });

  test('a volume with two refused sources gets one violation for each', () => {
    assert.deepEqual(
      checkRestricted(podWith({ nfs: {}, rbd: {} }), undefined, 'spec').map((v) => v.path),
      ['spec.volumes[1].nfs', 'spec.volumes[1].rbd'],
    );
  });

  for (const type of ALLOWED) {
    test(`restricted and baseline allow a ${type} volume`, () => {
      const spec = podWith({ [type]: {} });
      assert.deepEqual(verdict(spec, 'restricted'), []);
      assert.deepEqual(verdict(spec, 'baseline'), []);
    });
  }

  test('a volume with only a name (the API defaults it to emptyDir) and entries that are not volumes pass', () => {
    const spec = podWith({});
    (spec['volumes'] as unknown[]).push(null, 'x', 7, [{ nfs: {} }]);
    assert.deepEqual(verdict(spec, 'restricted'), []);
  });
});
