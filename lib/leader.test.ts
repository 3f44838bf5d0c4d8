import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decideLease, startLeaderElectionWithStore, type LeaseRecord, type LeaseStore } from './leader.ts';
import { silentLogger } from './log.ts';

const T0 = new Date('2030-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

test('decideLease: create, renew, follow, take over an expired or released lease', () => {
  const base = { identity: 'me', now: at(0), observedAt: T0.getTime(), leaseMs: 15_000 };
  assert.deepEqual(decideLease({ ...base, lease: undefined }), {
    kind: 'create',
    record: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(0),
      leaseTransitions: 0,
    },
  });
  const mine: LeaseRecord = {
    holderIdentity: 'me',
    leaseDurationSeconds: 15,
    renewTime: at(-5000),
    resourceVersion: '7',
  };
  assert.deepEqual(decideLease({ ...base, lease: mine }), { kind: 'renew', record: { ...mine, renewTime: at(0) } });

  const theirs: LeaseRecord = {
    holderIdentity: 'other',
    leaseDurationSeconds: 10,
    renewTime: at(-60_000),
    leaseTransitions: 3,
    resourceVersion: '9',
  };
  // Seen 9.999 s ago (their lease is 10 s): still theirs, whatever their renewTime says (clock skew).
  assert.deepEqual(decideLease({ ...base, lease: theirs, observedAt: at(-9999).getTime() }), {
    kind: 'follow',
    holder: 'other',
  });
  assert.deepEqual(decideLease({ ...base, lease: theirs, observedAt: at(-10_000).getTime() }), {
    kind: 'acquire',
    record: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(0),
      leaseTransitions: 4,
      resourceVersion: '9',
    },
  });
  const released: LeaseRecord = { ...theirs, holderIdentity: '' };
  const action = decideLease({ ...base, lease: released, observedAt: at(0).getTime() });
  assert.equal(action.kind, 'acquire');
  assert.equal(action.kind === 'acquire' && action.record.leaseTransitions, 3);
});

class MemoryStore implements LeaseStore {
  record: LeaseRecord | undefined;
  version = 0;
  failFor = new Set<string>();
  get(): Promise<LeaseRecord | undefined> {
    return Promise.resolve(this.record ? { ...this.record } : undefined);
  }
  create(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.record) return Promise.reject(Object.assign(new Error('exists'), { code: 409 }));
    return Promise.resolve(this.write(record));
  }
  update(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.failFor.has(record.holderIdentity ?? '')) return Promise.reject(new Error('connection refused'));
    if (record.resourceVersion !== this.record?.resourceVersion)
      return Promise.reject(Object.assign(new Error('conflict'), { code: 409 }));
    return Promise.resolve(this.write(record));
  }
  private write(record: LeaseRecord): LeaseRecord {
    this.version += 1;
    this.record = { ...record, resourceVersion: String(this.version) };
    return { ...this.record };
  }
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function candidate(
  store: MemoryStore,
  identity: string,
  events: string[],
): ReturnType<typeof startLeaderElectionWithStore> {
  return startLeaderElectionWithStore(store, {
    identity,
    leaseSeconds: 0.3,
    log: silentLogger(),
    onStart: () => events.push(`${identity}:start`),
    onStop: () => events.push(`${identity}:stop`),
  });
}

test('two candidates: one leads; stopping it releases the lease and the other takes over at once', async () => {
  const store = new MemoryStore();
  const events: string[] = [];
  const a = candidate(store, 'a', events);
  await until(() => a.isLeader(), 1000);
  const b = candidate(store, 'b', events);
  await sleep(700); // more than two leases: a keeps renewing, b never leads
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false);
  await a.stop();
  assert.equal(store.record?.holderIdentity, '');
  await until(() => b.isLeader(), 250); // released: no need to wait for expiry
  await b.stop();
  assert.deepEqual(events, ['a:start', 'a:stop', 'b:start', 'b:stop']);
});

test('a leader that cannot renew steps down, and a follower takes over only after the lease expires', async () => {
  const store = new MemoryStore();
  const events: string[] = [];
  const a = candidate(store, 'a', events);
  await until(() => a.isLeader(), 1000);
  const b = candidate(store, 'b', events);
  await sleep(150);
  store.failFor.add('a');
  const failedAt = Date.now();
  await until(() => !a.isLeader(), 1000);
  await until(() => b.isLeader(), 1500);
  const tookOver = Date.now() - failedAt;
  assert.ok(tookOver >= 200, `b took over after ${tookOver} ms, before a's lease could have expired`);
  assert.equal(store.record?.holderIdentity, 'b');
  assert.equal(store.record?.leaseTransitions, 1);
  assert.deepEqual(events, ['a:start', 'a:stop', 'b:start']);
  await a.stop();
  await b.stop();
});
