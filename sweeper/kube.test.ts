import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventName,
  imagePruneJob,
  namespaceInfoOf,
  nodeDiskFromSummary,
  pruneJobInfoOf,
  volumeInfoOf,
} from './kube.ts';
import { addNewest, groupByNamespace, liveReleases, releaseRecordOf } from './helm.ts';
import { durationsOf, planRelease } from './plan-namespace.ts';
import { defaultConfig } from '../policies/config.ts';
import type { ReleaseRecord } from './types.ts';
import { parseSweeperArgs } from './command.ts';
import { CliError } from '../cli/errors.ts';

describe('kube: API objects to sweeper data', () => {
  it('namespaceInfoOf keeps what the planner reads', () => {
    const created = new Date('2025-06-01T10:00:00Z');
    const deleting = new Date('2025-06-01T11:00:00Z');
    const info = namespaceInfoOf({
      metadata: {
        name: 'shop-pr-1',
        uid: 'u1',
        labels: { a: 'b' },
        creationTimestamp: created,
        deletionTimestamp: deleting,
      },
      spec: { finalizers: ['kubernetes'] },
      status: {
        phase: 'Terminating',
        conditions: [
          { type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: 'm' },
        ],
      },
    });
    assert.deepEqual(info, {
      name: 'shop-pr-1',
      uid: 'u1',
      labels: { a: 'b' },
      annotations: {},
      phase: 'Terminating',
      creationTimestamp: '2025-06-01T10:00:00.000Z',
      deletionTimestamp: '2025-06-01T11:00:00.000Z',
      conditions: [{ type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: 'm' }],
      finalizers: ['kubernetes'],
    });
  });

  it('volumeInfoOf reads capacity in bytes, the claim and the provisioner', () => {
    assert.deepEqual(
      volumeInfoOf({
        metadata: {
          name: 'pv-1',
          uid: 'u',
          annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' },
        },
        spec: {
          capacity: { storage: '1536Mi' },
          persistentVolumeReclaimPolicy: 'Retain',
          claimRef: { namespace: 'shop-pr-1', name: 'data' },
        },
        status: { phase: 'Released' },
      }),
      {
        name: 'pv-1',
        uid: 'u',
        phase: 'Released',
        reclaimPolicy: 'Retain',
        capacityBytes: 1536 * 1024 * 1024,
        claimNamespace: 'shop-pr-1',
        claimName: 'data',
        provisionedBy: 'rancher.io/local-path',
      },
    );
    assert.equal(volumeInfoOf({ metadata: { name: 'x' } }).capacityBytes, 0);
  });

  it('Helm release records: names, labels, liveness', () => {
    const secret = (name: string, status: string, ns = 'shop-pr-1') => ({
      name,
      namespace: ns,
      type: 'helm.sh/release.v1',
      labels: { owner: 'helm', status, name: name.split('.')[4] ?? '', version: name.split('.v').at(-1) ?? '' },
      creationTimestamp: new Date('2025-06-01T00:00:00Z'),
    });
    assert.deepEqual(releaseRecordOf(secret('sh.helm.release.v1.app.v3', 'deployed')), {
      release: 'app',
      revision: 3,
      status: 'deployed',
      createdAt: '2025-06-01T00:00:00.000Z',
    });
    // The API server's own text (a plain JSON read, no milliseconds) gives the same record as client-node's Date.
    assert.equal(
      releaseRecordOf({ ...secret('sh.helm.release.v1.app.v3', 'deployed'), creationTimestamp: '2025-06-01T00:00:00Z' })
        ?.createdAt,
      '2025-06-01T00:00:00.000Z',
    );
    assert.equal(
      releaseRecordOf({ ...secret('sh.helm.release.v1.app.v3', 'deployed'), creationTimestamp: 'yesterday' })?.release,
      'app',
      'a record with an unreadable time still counts: the release is not taken for gone',
    );
    assert.equal(
      releaseRecordOf({ ...secret('sh.helm.release.v1.app.v1', 'deployed'), labels: { owner: 'someone' } }),
      undefined,
    );
    assert.equal(releaseRecordOf({ ...secret('sh.helm.release.v1.app.v1', 'deployed'), type: 'Opaque' }), undefined);
    const grouped = groupByNamespace([
      secret('sh.helm.release.v1.app.v1', 'superseded'),
      secret('sh.helm.release.v1.app.v2', 'uninstalled'),
      secret('sh.helm.release.v1.db.v1', 'deployed', 'shop-pr-2'),
    ]);
    assert.deepEqual(Object.keys(grouped), ['shop-pr-1', 'shop-pr-2']);
    assert.deepEqual(liveReleases(grouped['shop-pr-1'] ?? []), []);
    assert.equal(liveReleases(grouped['shop-pr-2'] ?? []).length, 1);
  });

  it('release records: only the newest revision of each release is kept, and every rule reads the same', () => {
    const statuses = ['deployed', 'superseded', 'failed', 'uninstalled', 'pending-upgrade', 'uninstalling'];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const all: ReleaseRecord[] = Array.from({ length: 1 + random(12) }, (_, i) => ({
        release: ['app', 'db', 'cache'][random(3)] ?? 'app',
        revision: 1 + random(10),
        status: statuses[random(statuses.length)] ?? 'deployed',
        createdAt: new Date(Date.UTC(2025, 5, 1, i)).toISOString(),
      }));
      const kept: ReleaseRecord[] = [];
      for (const r of all) addNewest(kept, r);
      assert.deepEqual(liveReleases(kept), liveReleases(all));
      assert.deepEqual([...new Set(kept.map((r) => r.release))], [...new Set(all.map((r) => r.release))]);
      assert.equal(kept.length, new Set(all.map((r) => r.release)).size, 'one record per release');
      const planned = (records: ReleaseRecord[]) =>
        planRelease(
          {
            name: 'shop-pr-1',
            labels: { 'k8s-ee.io/managed': 'true' },
            annotations: { 'k8s-ee.io/release-seen-at': '2025-05-01T00:00:00Z' },
            phase: 'Active',
            creationTimestamp: '2025-05-01T00:00:00Z',
            conditions: [],
            finalizers: [],
          },
          records,
          durationsOf(defaultConfig()),
          new Date('2025-06-02T00:00:00Z'),
        );
      assert.deepEqual(planned(kept), planned(all));
    }
    const grouped = groupByNamespace(
      [
        { name: 'sh.helm.release.v1.app.v1', namespace: 'shop-pr-1', labels: { owner: 'helm', status: 'superseded' } },
        { name: 'sh.helm.release.v1.app.v2', namespace: 'shop-pr-1', labels: { owner: 'helm', status: 'deployed' } },
      ].map((s) => ({ ...s, creationTimestamp: '2025-06-01T00:00:00Z' })),
    );
    assert.deepEqual(
      grouped['shop-pr-1']?.map((r) => `${r.release} v${r.revision} ${r.status}`),
      ['app v2 deployed'],
    );
  });

  it('event names are stable per object, reason and uid (repeats aggregate), distinct otherwise', () => {
    const e = {
      target: { kind: 'Namespace' as const, name: 'shop-pr-1', uid: 'u1' },
      type: 'Warning' as const,
      reason: 'NamespaceStuckTerminating',
      action: 'report-stuck',
      message: 'm',
      time: new Date(),
    };
    assert.equal(eventName(e), eventName({ ...e, message: 'other', time: new Date(0) }));
    assert.notEqual(eventName(e), eventName({ ...e, reason: 'EnvironmentDeleted' }));
    assert.notEqual(eventName(e), eventName({ ...e, target: { ...e.target, uid: 'u2' } }));
    assert.match(eventName(e), /^shop-pr-1\.[0-9a-f]{10}$/);
  });

  it('the image-prune Job is pinned to its node, short-lived and cleaned up', () => {
    const job = imagePruneJob('worker-1', 'rancher/k3s:v1.35.0-k3s1', 'k8s-ee-system');
    assert.match(job.metadata?.name ?? '', /^k8s-ee-image-prune-[0-9a-f]{10}$/);
    assert.equal(job.metadata?.namespace, 'k8s-ee-system');
    assert.equal(job.spec?.template.spec?.nodeName, 'worker-1');
    assert.equal(job.spec?.ttlSecondsAfterFinished, 600);
    assert.equal(job.spec?.activeDeadlineSeconds, 600);
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.template.spec?.restartPolicy, 'Never');
    assert.equal(job.spec?.template.spec?.containers[0]?.image, 'rancher/k3s:v1.35.0-k3s1');
    assert.match(
      job.spec?.template.spec?.containers[0]?.command?.[2] ?? '',
      /crictl --runtime-endpoint "unix:\/\/\$s" rmi --prune/,
    );
  });
});

describe('kube: the disk run reads', () => {
  it('node.fs and the image filesystem of a kubelet summary', () => {
    const fs = { time: '2025-06-01T12:00:00Z', usedBytes: 30, capacityBytes: 100, availableBytes: 60 };
    assert.deepEqual(
      nodeDiskFromSummary({
        node: { fs, runtime: { imageFs: { ...fs, usedBytes: 7, time: '2025-06-01T11:59:55Z' } } },
      }),
      {
        usedBytes: 30,
        capacityBytes: 100,
        availableBytes: 60,
        imageFs: { usedBytes: 7, time: '2025-06-01T11:59:55Z' },
      },
    );
    assert.deepEqual(nodeDiskFromSummary({ node: { fs: { usedBytes: 1, capacityBytes: 2 } } }), {
      usedBytes: 1,
      capacityBytes: 2,
    });
    assert.throws(() => nodeDiskFromSummary({ node: {} }), /no node.fs usedBytes\/capacityBytes/);
  });

  it('the prune Job remembers its node and the image filesystem sample it started on', () => {
    const job = imagePruneJob('worker-1', 'tools:1', 'k8s-ee-system', 123456);
    assert.deepEqual(job.metadata?.annotations, {
      'k8s-ee.io/node': 'worker-1',
      'k8s-ee.io/image-fs-used-bytes': '123456',
    });
    assert.deepEqual(imagePruneJob('worker-1', 'tools:1', 'k8s-ee-system').metadata?.annotations, {
      'k8s-ee.io/node': 'worker-1',
    });
    const info = (status: object) => pruneJobInfoOf({ ...job, metadata: { ...job.metadata, uid: 'j1' }, status });
    assert.deepEqual(info({ active: 1 }), {
      name: job.metadata?.name,
      uid: 'j1',
      node: 'worker-1',
      imageFsUsedBytes: 123456,
      state: 'running',
    });
    const done = new Date('2025-06-01T12:00:05Z');
    assert.deepEqual(
      info({
        succeeded: 1,
        completionTime: done,
        conditions: [
          { type: 'SuccessCriteriaMet', status: 'True' },
          { type: 'Complete', status: 'True', lastTransitionTime: done },
        ],
      }),
      {
        name: job.metadata?.name,
        uid: 'j1',
        node: 'worker-1',
        imageFsUsedBytes: 123456,
        state: 'succeeded',
        finishedAt: '2025-06-01T12:00:05.000Z',
      },
    );
    const failed = info({
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'DeadlineExceeded',
          message: 'Job was active longer than specified deadline',
          lastTransitionTime: done,
        },
      ],
    });
    assert.equal(failed.state, 'failed');
    assert.equal(failed.failure, 'DeadlineExceeded: Job was active longer than specified deadline');
    assert.equal(failed.finishedAt, '2025-06-01T12:00:05.000Z');
    const foreign = pruneJobInfoOf({
      metadata: { name: 'x' },
      spec: { template: { spec: { nodeName: 'n9', containers: [] } } },
    });
    assert.equal(foreign.node, 'n9');
    assert.equal(foreign.imageFsUsedBytes, undefined);
  });
});

describe('command: arguments', () => {
  it('parses the documented flags', () => {
    const args = parseSweeperArgs([
      '--once',
      '--dry-run',
      '--now',
      '2025-06-02T00:00:00Z',
      '--output',
      'json',
      '--port',
      '0',
      '--only',
      'disk',
    ]);
    assert.notEqual(args, 'help');
    if (args === 'help') return;
    assert.equal(args.once, true);
    assert.equal(args.dryRun, true);
    assert.equal(args.now?.toISOString(), '2025-06-02T00:00:00.000Z');
    assert.equal(args.output, 'json');
    assert.equal(args.port, 0);
    assert.equal(args.only, 'disk');
    assert.equal(args.leaderElection, true);
  });
  const bad: [string[], RegExp][] = [
    [['--now', 'tomorrow'], /--now "tomorrow" is not an RFC 3339 time/],
    [['--now', '2025-06-02'], /not an RFC 3339 time/],
    [['--output', 'yaml'], /--output must be text or json/],
    [['--port', '70000'], /--port must be a port number/],
    [['--only', 'pins'], /--only must be namespaces or disk/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [argv, message] of bad) {
    it(`refuses ${argv.join(' ')}`, () => {
      assert.throws(
        () => parseSweeperArgs(argv),
        (err: unknown) => err instanceof CliError && message.test(err.message),
      );
    });
  }
});
