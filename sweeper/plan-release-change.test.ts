import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../policies/config.ts';
import { planReleaseChange } from './plan-release-change.ts';
import { SWEEPER_ANNOTATIONS as SA, type NamespaceInfo, type ReleaseRecord } from './types.ts';

const OBSERVED = new Date('2025-06-01T12:00:00.000Z');
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const ago = (ms: number): string => new Date(OBSERVED.getTime() - ms).toISOString();
const after = (ms: number): string => new Date(OBSERVED.getTime() + ms).toISOString();

function ns(opts: Partial<NamespaceInfo> = {}): NamespaceInfo {
  return {
    name: opts.name ?? 'shop-pr-1',
    uid: 'uid-1',
    labels: { 'k8s-ee.io/managed': 'true', ...opts.labels },
    annotations: { ...opts.annotations },
    phase: opts.phase ?? 'Active',
    creationTimestamp: opts.creationTimestamp ?? ago(DAY),
    conditions: [],
    finalizers: ['kubernetes'],
    ...(opts.deletionTimestamp ? { deletionTimestamp: opts.deletionTimestamp } : {}),
  };
}

const record = (status: string, revision = 1): ReleaseRecord => ({
  release: 'app',
  revision,
  status,
  createdAt: ago(10 * MIN),
});
const deployed = { [SA.releaseSeenAt]: ago(DAY / 2) };

describe('planReleaseChange: what the release watch does when a namespace’s releases change', () => {
  const cases: {
    name: string;
    namespace: NamespaceInfo | undefined;
    records: ReleaseRecord[];
    grace?: string;
    actions: string[];
    stamp?: string | null;
    sweepAt?: string;
  }[] = [
    {
      name: 'last record deleted (helm uninstall): stamped with the observation time, sweep at stamp + grace + 1 s',
      namespace: ns({ annotations: deployed }),
      records: [],
      actions: ['mark-release-gone release-gone'],
      stamp: OBSERVED.toISOString(),
      sweepAt: after(MIN + 1000),
    },
    {
      name: 'newest record says uninstalled (--keep-history): the same, with a 5 s grace',
      namespace: ns({ annotations: deployed }),
      records: [record('superseded', 1), record('uninstalled', 2)],
      grace: '5s',
      actions: ['mark-release-gone release-gone'],
      stamp: OBSERVED.toISOString(),
      sweepAt: after(6000),
    },
    {
      name: 'a stamp already there (an earlier run saw it first) is kept; the sweep comes at its grace end',
      namespace: ns({ annotations: { ...deployed, [SA.releaseGoneSince]: ago(20_000) } }),
      records: [],
      actions: [],
      sweepAt: after(MIN - 20_000 + 1000),
    },
    {
      name: 'a stamp older than the namespace (copied) counts from the creation',
      namespace: ns({
        creationTimestamp: ago(30_000),
        annotations: { [SA.releaseSeenAt]: ago(25_000), [SA.releaseGoneSince]: ago(DAY) },
      }),
      records: [],
      actions: [],
      sweepAt: after(MIN - 30_000 + 1000),
    },
    {
      name: 'release back while stamped: the stamp goes, no sweep',
      namespace: ns({ annotations: { ...deployed, [SA.releaseGoneSince]: ago(20_000) } }),
      records: [record('deployed')],
      actions: ['clear-release-gone release-returned'],
      stamp: null,
    },
    {
      name: 'first release in the namespace: marked deployed at the observation time',
      namespace: ns(),
      records: [record('pending-install')],
      actions: ['mark-release-seen release-seen'],
    },
    {
      name: 'never seen deployed: marked (never-deployed), no early sweep (neverDeployedGrace is for the cron runs)',
      namespace: ns(),
      records: [],
      actions: ['mark-release-gone never-deployed'],
      stamp: OBSERVED.toISOString(),
    },
    {
      name: 'pinned: bookkeeping as usual, but no sweep',
      namespace: ns({ labels: { preserve: 'true' }, annotations: deployed }),
      records: [],
      actions: ['mark-release-gone release-gone'],
      stamp: OBSERVED.toISOString(),
    },
    {
      name: 'not managed (label missing): nothing',
      namespace: { ...ns({ annotations: deployed }), labels: {} },
      records: [],
      actions: [],
    },
    {
      name: 'name outside the pattern: nothing',
      namespace: ns({ name: 'staging', annotations: deployed }),
      records: [],
      actions: [],
    },
    {
      name: 'Terminating: nothing',
      namespace: ns({ annotations: deployed, deletionTimestamp: ago(1000), phase: 'Terminating' }),
      records: [],
      actions: [],
    },
    { name: 'namespace gone: nothing', namespace: undefined, records: [], actions: [] },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const config = defaultConfig();
      config.sweeper.releaseGrace = c.grace ?? '1m'; // the cases count in minutes; the default is 30s
      const plan = planReleaseChange(c.namespace, c.records, config, OBSERVED);
      assert.deepEqual(
        plan.actions.map((a) => `${a.kind} ${a.reason}`),
        c.actions,
      );
      if (c.stamp !== undefined)
        assert.equal(plan.actions[0]?.patch?.annotations?.[SA.releaseGoneSince], c.stamp, 'release-gone-since');
      if (c.actions[0]?.startsWith('mark-release-seen'))
        assert.equal(plan.actions[0]?.patch?.annotations?.[SA.releaseSeenAt], OBSERVED.toISOString());
      assert.equal(plan.sweepAt?.toISOString(), c.sweepAt);
    });
  }
});
