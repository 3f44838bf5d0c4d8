// The reconciler's state and work queue, fed by watch events (see reconciler.ts for the watches and the leader
// election). Each event marks its namespace dirty; a few workers take dirty namespaces, plan with the pure
// planNamespace and apply the plan. A namespace is never worked on by two workers at once; one that changes while
// it is worked on is worked on again right after. Failures are retried with backoff.
import type { Counter, Gauge, Histogram } from 'prom-client';
import { unredacted, type Logger } from '../lib/log.ts';
import { canonicalJson, Interner, watchedNames } from '../lib/string-pool.ts';
import type { BaselineObject } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import { BASELINE_NAMES, LABELS } from '../policies/names.ts';
import { matchNamespace } from '../policies/namespace.ts';
import { same } from '../policies/json-patch.ts';
import { backoffMs, type VersionView, type WatchEventType, type WatchedObject } from './reconciler-watch.ts';
import { statusCodeOf, writeBaselineObject, type BaselineClient, type LiveBaselineObject } from './reconciler-kube.ts';
import { isNoop, planNamespace, type ReconcilePlan } from './reconciler-plan.ts';

export interface ReconcilerMetrics {
  reconcileSeconds: Histogram;
  repairs: Counter;
  leader: Gauge;
}

export interface ReconcilerCoreOptions {
  client: BaselineClient;
  config: Config;
  log: Logger;
  metrics: ReconcilerMetrics;
  workers?: number;
  /**
   * Called when the queue drains after at least `burst` reconciles since the last call (a burst of new namespaces,
   * a new leader planning every namespace), and every 2 x `burst` reconciles while it does not: the webhook then has
   * V8 give back the memory the burst grew.
   */
  afterBurst?: () => void;
  /** Default 500. */
  burst?: number;
}

/**
 * A resourceVersion as kept: a number when it is the decimal text of one (etcd's revisions are), so that the 45,000
 * objects kept at 5,000 namespaces do not each hold a string of their own (~1 MiB, issue 10); any other text as it
 * came (resource versions are opaque by contract). versionText gives the text back, unchanged.
 */
export type KeptVersion = number | string | undefined;

export function keepVersion(text: string | undefined): KeptVersion {
  if (text === undefined || text.length > 15) return text;
  const n = Number(text);
  return Number.isSafeInteger(n) && String(n) === text ? n : text;
}

export const versionText = (kept: KeptVersion): string | undefined => (kept === undefined ? undefined : String(kept));

interface NamespaceEntry {
  resourceVersion: KeptVersion;
  labels: Record<string, string>;
  terminating: boolean;
  annotations?: Record<string, string>;
  createdAt?: string;
}

/** True when planning reads the same from both: the namespace's labels and whether it is going away. */
function plansAlike(a: NamespaceEntry, b: NamespaceEntry): boolean {
  if (a.terminating !== b.terminating) return false;
  const keys = Object.keys(a.labels);
  if (keys.length !== Object.keys(b.labels).length) return false;
  return keys.every((key) => Object.hasOwn(b.labels, key) && a.labels[key] === b.labels[key]);
}

function namespaceEntry(object: WatchedObject): NamespaceEntry {
  const m = object.metadata;
  const created = m?.creationTimestamp as Date | string | undefined;
  return {
    resourceVersion: keepVersion(m?.resourceVersion),
    labels: { ...(m?.labels ?? {}) },
    terminating: m?.deletionTimestamp !== undefined,
    annotations: { ...(m?.annotations ?? {}) },
    ...(created ? { createdAt: created instanceof Date ? created.toISOString() : created } : {}),
  };
}

/** A PR namespace as the capacity gate sees it in the reconciler's caches. */
export interface CachedEnvironment {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt?: string;
  /** spec.hard of its k8s-ee-quota, when the quota exists. */
  quotaHard?: Record<string, string>;
  /** Its environment ConfigMap, when it exists. */
  environment?: unknown;
}

/** Whether resource version `a` is newer than `b` (numeric comparison; unknown formats count as newer). */
export function isNewer(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return true;
  try {
    return BigInt(a) >= BigInt(b);
  } catch {
    return true;
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return canonicalJson(a) === canonicalJson(b);
}

/** A value to keep: the one kept before when equal to it, else its shared copy. */
function keptValue<T>(value: T | undefined, before: T | undefined, shared: Interner): T | undefined {
  if (value === undefined) return undefined;
  return before !== undefined && same(value, before) ? before : shared.share(value);
}

/**
 * What the reconciler keeps of a live baseline object: what planning reads (kind, name, labels, annotations, spec)
 * and the resourceVersion that orders events; status (the quota's usage, which moves with every pod), uid,
 * timestamps, owner references and the annotation `kubectl apply` leaves (a second copy of the object) are dropped.
 * Its name is pooled (lib/string-pool.ts) whether it came from the watch or from a write's answer (a race decides
 * which arrives last, and with 5,000 namespaces the answers' copies were two in three); labels and specs are shared
 * by the Interner. One flat object with a fixed set of fields, its namespace implied by where it is kept: at 5,000
 * namespaces, 40,000 of them, where an object with a nested metadata object cost 128 bytes each (issue 10); live()
 * rebuilds the object planning reads, for the few being planned.
 */
export class KeptObject {
  readonly apiVersion: string | undefined;
  readonly kind: string;
  readonly name: string | undefined;
  private readonly version: KeptVersion;
  readonly labels: Record<string, string> | undefined;
  readonly annotations: Record<string, string> | undefined;
  readonly spec: unknown;

  /**
   * `before`: what was kept of the same object until now. Values equal to its (compared in place, nothing
   * allocated) are its own shared copies: most new versions change only status (the quota controller's usage, after
   * every pod start and stop), and writing their labels, annotations and spec out as canonical JSON to share them was
   * most of what handling such an event cost, and most of its garbage (issue 10).
   */
  constructor(object: LiveBaselineObject, shared: Interner, before?: KeptObject) {
    const m = object.metadata ?? {};
    const annotations =
      m.annotations && Object.hasOwn(m.annotations, LAST_APPLIED)
        ? Object.fromEntries(Object.entries(m.annotations).filter(([k]) => k !== LAST_APPLIED))
        : m.annotations;
    this.apiVersion = object.apiVersion;
    this.kind = object.kind;
    // Pooled here too: an object can come from a write's answer (write), not only from the watch.
    this.name = m.name === undefined ? undefined : watchedNames.get(m.name);
    this.version = keepVersion(m.resourceVersion);
    this.labels = keptValue(m.labels, before?.labels, shared);
    this.annotations = keptValue(annotations, before?.annotations, shared);
    this.spec = keptValue(object.spec, before?.spec, shared);
  }

  /**
   * True when planning reads the same from both: the same kind, name, labels, annotations and spec. A new version
   * that changed nothing else (the quota controller's status.used after every pod start, managedFields, a relist)
   * changes no plan. Shared values compare by reference first; a pool that started over compares by content.
   */
  plansLike(other: KeptObject): boolean {
    return (
      this.kind === other.kind &&
      this.apiVersion === other.apiVersion &&
      this.name === other.name &&
      sameValue(this.labels, other.labels) &&
      sameValue(this.annotations, other.annotations) &&
      sameValue(this.spec, other.spec)
    );
  }

  get resourceVersion(): string | undefined {
    return versionText(this.version);
  }

  /** The object as planning reads it, in its namespace (absent fields left out). */
  live(namespace: string): LiveBaselineObject {
    const metadata: NonNullable<LiveBaselineObject['metadata']> = { namespace };
    if (this.name !== undefined) metadata.name = this.name;
    if (this.version !== undefined) metadata.resourceVersion = String(this.version);
    if (this.labels !== undefined) metadata.labels = this.labels;
    if (this.annotations !== undefined) metadata.annotations = this.annotations;
    const live: LiveBaselineObject = { kind: this.kind, metadata };
    if (this.apiVersion !== undefined) live.apiVersion = this.apiVersion;
    if (this.spec !== undefined) live.spec = this.spec;
    return live;
  }
}

/** Where the object of this kind and name is in `kept` (-1: absent). */
function indexOfKept(kept: readonly KeptObject[], kind: string | undefined, name: string | undefined): number {
  for (let i = 0; i < kept.length; i++) if (kept[i]?.kind === kind && kept[i]?.name === name) return i;
  return -1;
}

const keptOf = (kept: readonly KeptObject[] | undefined, kind: string, name: string): KeptObject | undefined =>
  kept?.[indexOfKept(kept, kind, name)];

export class ReconcilerCore {
  private readonly opts: ReconcilerCoreOptions;
  private readonly workers: number;
  private readonly namespaces = new Map<string, NamespaceEntry>();
  private readonly departed = new Map<string, number>();
  private readonly declarations = new Map<string, WatchedObject>();
  /**
   * The baseline objects kept of each namespace: a plain array, searched by kind and name (eight objects, the same
   * few names everywhere). A Map per namespace cost ~400 bytes of hash table, 2 MiB at 5,000 namespaces (issue 10).
   */
  private readonly objects = new Map<string, KeptObject[]>();
  private readonly shared = new Interner();
  private readonly pending = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private readonly rechecks = new Map<string, NodeJS.Timeout>();
  /**
   * Namespaces whose last plan found nothing to do (and nothing to recheck at a later time), with no event for them
   * since: planning them again from the same cache finds nothing again, so the periodic resync skips them. At 5,000
   * namespaces a resync of all of them cost ~1 ms of CPU each, seconds every five minutes (issue 10's notes).
   */
  private readonly settled = new Set<string>();
  /** Reconciles since afterBurst was last called. */
  private sinceBurst = 0;
  private idleWaiters: (() => void)[] = [];
  private leading = false;
  private stopped = false;

  /** The line of each reconcile (thousands in a burst): only names and counts it built, unredacted (lib/log.ts). */
  private readonly reconciledLog: Logger;

  constructor(opts: ReconcilerCoreOptions) {
    this.opts = opts;
    this.workers = opts.workers ?? 8;
    this.reconciledLog = unredacted(opts.log);
  }

  /** Managed namespaces that are not being deleted. */
  managedCount(): number {
    let count = 0;
    for (const [name, entry] of this.namespaces)
      if (!entry.terminating && matchNamespace(name, this.opts.config)) count += 1;
    return count;
  }

  /** The managed namespaces that are not being deleted, with their quota and environment declaration. */
  environments(): CachedEnvironment[] {
    const out: CachedEnvironment[] = [];
    for (const [name, entry] of this.namespaces) {
      if (entry.terminating || !matchNamespace(name, this.opts.config)) continue;
      const quota = keptOf(this.objects.get(name), 'ResourceQuota', BASELINE_NAMES.quota);
      const hard = (quota?.spec as { hard?: Record<string, string> } | undefined)?.hard;
      const environment = this.declarations.get(name);
      out.push({
        name,
        labels: entry.labels,
        annotations: entry.annotations ?? {},
        ...(entry.createdAt ? { createdAt: entry.createdAt } : {}),
        ...(hard ? { quotaHard: hard } : {}),
        ...(environment ? { environment } : {}),
      });
    }
    return out;
  }

  /** When this replica saw the namespace start going away (deleted or terminating); undefined while it lives. */
  departedAt(name: string): number | undefined {
    return this.departed.get(name);
  }

  private noteDeparture(name: string, going: boolean): void {
    if (!going) {
      this.departed.delete(name);
      return;
    }
    if (!this.departed.has(name)) this.departed.set(name, Date.now());
    if (this.departed.size > 1000) {
      for (const [n, at] of this.departed) if (Date.now() - at > 600_000) this.departed.delete(n);
    }
  }

  onNamespace(type: WatchEventType, object: WatchedObject): void {
    const name = object.metadata?.name;
    if (!name || !matchNamespace(name, this.opts.config)) return;
    this.noteDeparture(name, type === 'DELETED' || object.metadata?.deletionTimestamp !== undefined);
    if (type === 'DELETED') {
      this.namespaces.delete(name);
      this.settled.delete(name);
      this.objects.delete(name);
      this.declarations.delete(name);
      return;
    }
    const entry = namespaceEntry(object);
    const known = this.namespaces.get(name);
    this.namespaces.set(name, entry);
    // Nothing planning reads changed (its own stamp coming back through the watch, an annotation, a relist): no
    // reconcile. After a burst of new namespaces each stamp replanned its namespace once more, all of them queued
    // behind the burst: 5,000 plans in three seconds at its end, and the webhook's peak memory (issue 10).
    if (known && plansAlike(known, entry)) return;
    this.enqueue(name);
  }

  /**
   * What this core keeps, as the watches compare a relist with (VersionView, reconciler-watch.ts): the watches of
   * namespaces, environment ConfigMaps and baseline objects keep no copy of their own. Objects the core does not keep
   * (namespaces outside the PR pattern) are announced again after a relist, and dropped again.
   */
  namespaceVersions(): VersionView {
    const namespaces = this.namespaces;
    return {
      version: (_namespace, name) => versionText(namespaces.get(name)?.resourceVersion),
      *entries() {
        for (const [name, entry] of namespaces) yield ['', name, versionText(entry.resourceVersion) ?? ''] as const;
      },
    };
  }

  environmentVersions(): VersionView {
    const declarations = this.declarations;
    const rvOf = (o: WatchedObject): string => o.metadata?.resourceVersion ?? '';
    return {
      version: (namespace, name) => {
        const known = declarations.get(namespace);
        return known?.metadata?.name === name ? rvOf(known) : undefined;
      },
      *entries() {
        for (const [namespace, o] of declarations) yield [namespace, o.metadata?.name ?? '', rvOf(o)] as const;
      },
    };
  }

  /** The baseline objects of one kind (see namespaceVersions). */
  baselineVersions(kind: string): VersionView {
    const objects = this.objects;
    return {
      version: (namespace, name) => keptOf(objects.get(namespace), kind, name)?.resourceVersion,
      *entries() {
        for (const [namespace, kept] of objects)
          for (const o of kept) if (o.kind === kind) yield [namespace, o.name ?? '', o.resourceVersion ?? ''] as const;
      },
    };
  }

  /** The namespace's environment ConfigMap as the watch last saw it; undefined when it has none. */
  declaration(namespace: string): WatchedObject | undefined {
    return this.declarations.get(namespace);
  }

  onEnvironment(type: WatchEventType, object: WatchedObject): void {
    const ns = object.metadata?.namespace;
    if (!ns) return;
    if (type === 'DELETED') this.declarations.delete(ns);
    else this.declarations.set(ns, object);
    this.enqueue(ns);
  }

  onBaselineObject(type: WatchEventType, object: WatchedObject): void {
    const ns = this.keep(type, object);
    if (ns !== undefined) this.enqueue(ns);
  }

  /**
   * Records a baseline object (from the watch, or as a write stored it); returns its namespace when planning reads
   * something new from it, undefined when nothing changed for planning (or the event is stale).
   */
  private keep(type: WatchEventType, object: WatchedObject): string | undefined {
    const from = object.metadata?.namespace;
    if (!from) return undefined;
    const ns = watchedNames.get(from);
    let kept = this.objects.get(ns);
    if (!kept) {
      if (type === 'DELETED') return undefined; // its namespace is gone already
      kept = [];
      this.objects.set(ns, kept);
    }
    const at = indexOfKept(kept, object.kind, object.metadata?.name);
    const known = kept[at];
    if (known && !isNewer(object.metadata?.resourceVersion, known.resourceVersion)) return undefined; // stale event
    const live = new KeptObject(object as unknown as LiveBaselineObject, this.shared, known);
    if (type === 'DELETED') {
      if (known) kept.splice(at, 1);
    } else if (known) kept[at] = live;
    else kept.push(live);
    // Nothing planning reads changed: no reconcile. After a burst of new namespaces the quota controller updates
    // every quota's status once or more; each of those replanned its namespace (issue 10).
    if (type !== 'DELETED' && known?.plansLike(live)) return undefined;
    return ns;
  }

  setLeader(leading: boolean): void {
    this.leading = leading;
    this.opts.metrics.leader.set(leading ? 1 : 0);
    if (leading) {
      this.settled.clear(); // a new leader plans every namespace once
      this.enqueueAll();
    } else this.pending.clear();
  }

  isLeader(): boolean {
    return this.leading;
  }

  enqueueAll(): void {
    for (const name of this.namespaces.keys()) this.enqueue(name);
  }

  /** The periodic resync: every namespace but those settled (see `settled`). */
  resync(): void {
    for (const name of this.namespaces.keys()) if (!this.settled.has(name)) this.enqueue(name);
  }

  /** How many namespaces the resync skips now (for tests and metrics). */
  settledCount(): number {
    return this.settled.size;
  }

  enqueue(namespace: string): void {
    this.settled.delete(namespace); // something changed, or someone asked: plan it again
    if (!this.leading || this.stopped || !this.namespaces.has(namespace)) return;
    if (this.active.has(namespace)) this.dirty.add(namespace);
    else this.pending.add(namespace);
    this.pump();
  }

  /** Resolves when no namespace is queued or being worked on (retries waiting on backoff excepted). */
  whenIdle(): Promise<void> {
    if (this.pending.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    for (const timer of [...this.retries.values(), ...this.rechecks.values()]) clearTimeout(timer);
    this.retries.clear();
    this.rechecks.clear();
    await this.whenIdle();
  }

  private pump(): void {
    while (this.active.size < this.workers && this.pending.size > 0) {
      const next = this.pending.values().next().value as string;
      this.pending.delete(next);
      this.active.add(next);
      // Each reconcile starts in a turn of the event loop of its own: a plan that writes nothing awaits nothing, so
      // thousands queued at once (a resync, a new leader) would otherwise run as one chain of microtasks and hold
      // every admission request for seconds.
      setImmediate(() => {
        void this.work(next).finally(() => {
          this.active.delete(next);
          if (this.dirty.delete(next)) this.enqueue(next);
          this.pump();
          if (this.pending.size === 0 && this.active.size === 0) this.drained();
        });
      });
    }
  }

  private drained(): void {
    this.afterBurstOf(1);
    this.notifyIdle();
  }

  /** Calls afterBurst when `times` the burst size of reconciles were done since it was last called. */
  private afterBurstOf(times: number): void {
    if (this.sinceBurst < times * (this.opts.burst ?? 500)) return;
    this.sinceBurst = 0;
    this.opts.afterBurst?.();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async work(namespace: string): Promise<void> {
    const started = performance.now();
    // A long burst (thousands of new namespaces, a new leader) gets the collection every twice `burst` reconciles
    // too: the pages V8 keeps after its collections add up over the burst (16-20 MiB of 44 at 5,000 namespaces).
    this.sinceBurst += 1;
    this.afterBurstOf(2);
    try {
      const changed = await this.reconcile(namespace);
      this.failures.delete(namespace);
      this.opts.metrics.reconcileSeconds.observe(
        { outcome: changed ? 'changed' : 'noop' },
        (performance.now() - started) / 1000,
      );
    } catch (error) {
      this.opts.metrics.reconcileSeconds.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
      this.retryLater(namespace, error);
    }
  }

  /** Plans the namespace again once a pending declaration stops counting (the stored ConfigMap decides then). */
  private recheckAt(namespace: string, at: number): void {
    if (this.rechecks.has(namespace) || this.stopped) return;
    const timer = setTimeout(
      () => {
        this.rechecks.delete(namespace);
        this.enqueue(namespace);
      },
      Math.max(0, at - Date.now()) + 50,
    );
    timer.unref();
    this.rechecks.set(namespace, timer);
  }

  private retryLater(namespace: string, error: unknown): void {
    const failures = (this.failures.get(namespace) ?? 0) + 1;
    this.failures.set(namespace, failures);
    const delay = backoffMs(failures);
    this.opts.log.warn(
      { namespace, err: error, retryInMs: delay },
      'baseline reconciler: reconcile failed; will retry',
    );
    if (this.retries.has(namespace) || this.stopped) return;
    const timer = setTimeout(() => {
      this.retries.delete(namespace);
      this.enqueue(namespace);
    }, delay);
    timer.unref();
    this.retries.set(namespace, timer);
  }

  /** One reconcile of one namespace; true when it wrote anything. */
  private async reconcile(namespace: string): Promise<boolean> {
    const entry = this.namespaces.get(namespace);
    if (!entry) return false;
    const live = (this.objects.get(namespace) ?? []).map((o) => o.live(namespace));
    const plan = planNamespace(
      { name: namespace, ...entry, environment: this.declarations.get(namespace), live, now: Date.now() },
      this.opts.config,
    );
    if (plan?.recheckAt !== undefined) this.recheckAt(namespace, plan.recheckAt);
    if (!plan || isNoop(plan)) {
      if (plan?.recheckAt === undefined && !this.dirty.has(namespace)) this.settled.add(namespace);
      return false;
    }
    if (plan.unknownDatabases.length > 0) {
      this.opts.log.warn(
        { namespace, unknown: plan.unknownDatabases },
        'baseline reconciler: ignoring unknown databases in the environment ConfigMap',
      );
    }
    await this.execute(namespace, entry, plan);
    // Every write was checked against the plan as the API server stored it (writeBaselineObject), and is what the
    // cache holds now: planning again would find nothing to do, as after a no-op plan.
    if (plan.recheckAt === undefined && !this.dirty.has(namespace)) this.settled.add(namespace);
    return true;
  }

  private async execute(namespace: string, entry: NamespaceEntry, plan: ReconcilePlan): Promise<void> {
    const { client } = this.opts;
    await Promise.all(plan.apply.map((o) => this.write(o, plan.absent.has(o))));
    await Promise.all(
      plan.remove.map((o) => client.remove(o.kind as BaselineObject['kind'], namespace, o.metadata?.name ?? '')),
    );
    await this.restoreLabels(namespace, entry, plan.labels);
    if (plan.stamp) {
      try {
        await client.stampNamespace(namespace, plan.hash);
        entry.labels[LABELS.baselineHash] = plan.hash;
      } catch (error) {
        if (statusCodeOf(error) !== 404) throw error; // deleted meanwhile: nothing to stamp
      }
    }
    for (const kind of plan.repairs) this.opts.metrics.repairs.inc({ kind });
    if (Object.keys(plan.labels).length > 0) this.opts.metrics.repairs.inc({ kind: 'Namespace' });
    this.reconciledLog.info(
      {
        namespace,
        hash: plan.hash,
        applied: plan.apply.map((o) => `${o.kind}/${o.metadata.name}`),
        removed: plan.remove.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`),
        repairs: plan.repairs.length,
        ...(Object.keys(plan.labels).length > 0 ? { restoredLabels: Object.keys(plan.labels) } : {}),
      },
      plan.repairs.length > 0 ? 'baseline reconciler: repaired drift' : 'baseline reconciler: baseline applied',
    );
  }

  /**
   * Puts back the managed labels (k8s-ee.io/*, Pod Security) that drifted, whoever changed them: an identity that
   * may skip the webhooks, a subresource, a namespace created while the webhooks were away.
   */
  private async restoreLabels(namespace: string, entry: NamespaceEntry, labels: Record<string, string>): Promise<void> {
    if (Object.keys(labels).length === 0) return;
    try {
      await this.opts.client.labelNamespace(namespace, labels);
      Object.assign(entry.labels, labels);
      this.opts.log.warn({ namespace, labels }, 'baseline reconciler: restored managed namespace labels');
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error; // deleted meanwhile
    }
  }

  /** Writes one object of the plan (created when the namespace lacks it) and keeps what the API server stored. */
  private async write(object: BaselineObject, absent: boolean): Promise<void> {
    const stored = await writeBaselineObject(this.opts.client, object, absent);
    // Kept, not planned again: it is what this plan wrote, as the write checked (a change by anyone else arrives as
    // a watch event of its own). Each write used to queue its namespace once more, behind every other (issue 10).
    this.keep('MODIFIED', stored as unknown as WatchedObject);
  }
}
