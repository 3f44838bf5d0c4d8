// A list+watch that does not go quiet. A watch can end, fail, or (behind a proxy or after an API server hiccup)
// simply stop delivering events while the connection stays open; client-node's ListWatch then waits forever or
// gives up after an error. This watcher lists, watches from the list's resourceVersion with bookmarks, and
// restarts on every end: after an error (with backoff), after a normal end, after "410 Gone" (relist), and when
// no event and no bookmark arrived for `idleMs` (the silent stop). Each restart is counted by reason.
// The watch itself is a plain GET `?watch=1` through kubeHttp (newline-delimited JSON events), not client-node's
// Watch: loading client-node costs the webhook ~76 MiB of resident memory (bench/results.md), more than the
// whole process should use.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeAccess } from '../lib/kube-access.ts';
import type { Logger } from '../lib/log.ts';
import { watchedNames } from '../lib/string-pool.ts';
import { kubeHttp, type KubeHttp } from './reconciler-http.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type RestartReason = 'idle' | 'error' | 'ended' | 'expired';

export interface WatchedObject extends KubernetesObject {
  [key: string]: unknown;
}

export interface ResilientWatchOptions {
  kc: KubeAccess;
  /** Plain JSON requests for the lists and the watch (default: one made from kc). */
  http?: KubeHttp;
  /** Accept header of the watch request, e.g. PartialObjectMetadata (default application/json). */
  accept?: string;
  /** apiVersion and kind of the objects (lists and watch events omit them on items). */
  apiVersion: string;
  kind: string;
  /** Collection path for lists and watches across namespaces, e.g. `/api/v1/namespaces`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Restart when nothing (not even a bookmark) arrived for this long. Default 90 s. */
  idleMs?: number;
  /** Ask the server to end each watch after about this long (it is restarted from the last version). Default 300 s. */
  serverTimeoutSeconds?: number;
  log: Logger;
  /** Every change, including those found by a relist (objects that vanished arrive as DELETED). */
  onEvent(type: WatchEventType, object: WatchedObject): void;
  /** After each complete list. */
  onSynced?(): void;
  onRestart?(reason: RestartReason): void;
  /**
   * The consumer's own record of what it was told, when it keeps one anyway (the reconciler keeps every baseline
   * object with its resourceVersion): the watcher then keeps no copy of its own, and a relist compares against this.
   * The consumer must record in onEvent each object it wants to hear about again (changed, or vanished while no
   * watch ran); one it does not record is announced as ADDED again after a relist, and never as DELETED.
   * Default: the watcher keeps namespace/name → resourceVersion itself.
   */
  versions?: VersionView;
}

/** What a consumer knows of the watched objects: each one's resourceVersion, by namespace ('' when cluster-scoped) and name. */
export interface VersionView {
  version(namespace: string, name: string): string | undefined;
  entries(): Iterable<readonly [namespace: string, name: string, resourceVersion: string]>;
}

export interface ResilientWatch {
  start(): Promise<void>;
  stop(): Promise<void>;
  synced(): boolean;
  /** What the watcher knows of an object (from its own record or the consumer's): kind, name, namespace, resourceVersion. */
  get(namespace: string | undefined, name: string): WatchedObject | undefined;
  list(): WatchedObject[];
}

export const objectKeyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

const isGone = (error: unknown): boolean => {
  const e = error as { statusCode?: number; code?: number } | null;
  return e?.statusCode === 410 || e?.code === 410;
};

/**
 * An object as handed to onEvent: without metadata.managedFields, which no handler reads and which is often the
 * larger part of a small object; its namespace, name and label values pooled (lib/string-pool.ts), so that what the
 * handlers keep of thousands of objects shares one copy of each.
 */
function received(object: WatchedObject, apiVersion: string, kind: string): WatchedObject {
  const { managedFields: _dropped, ...metadata } = object.metadata ?? {};
  if (typeof metadata.namespace === 'string') metadata.namespace = watchedNames.get(metadata.namespace);
  if (typeof metadata.name === 'string') metadata.name = watchedNames.get(metadata.name);
  if (metadata.labels) metadata.labels = watchedNames.values(metadata.labels);
  return { ...object, apiVersion, kind, metadata };
}

/**
 * What the watcher itself keeps of an object: its resourceVersion, under its namespace/name key. Enough to tell a
 * changed object from an unchanged one after a relist, and to hand a vanished one to onEvent as DELETED (rebuilt
 * from the key). The handlers keep what they use; the watcher's own copies (even of identity fields only) were
 * ~15 MiB of the webhook's memory with 5,000 PR namespaces (bench/results.md, issue 10).
 */
function identityOf(
  namespace: string,
  name: string,
  resourceVersion: string,
  apiVersion: string,
  kind: string,
): WatchedObject {
  return { apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}), resourceVersion } };
}

/**
 * The watcher's own record (when the consumer keeps none): namespace/name → resourceVersion. With 5,000 PR
 * namespaces the baseline watches held 40,000 such keys (~4 MiB of the webhook's memory, issue 10), hence the
 * `versions` option for a consumer that keeps the versions anyway.
 */
class OwnVersions implements VersionView {
  private readonly map = new Map<string, string>();
  version(namespace: string, name: string): string | undefined {
    return this.map.get(`${namespace}/${name}`);
  }
  *entries(): Iterable<readonly [string, string, string]> {
    for (const [key, rv] of this.map) {
      const slash = key.indexOf('/');
      yield [key.slice(0, slash), key.slice(slash + 1), rv];
    }
  }
  record(type: WatchEventType, namespace: string, name: string, resourceVersion: string): void {
    if (type === 'DELETED') this.map.delete(`${namespace}/${name}`);
    else this.map.set(`${namespace}/${name}`, resourceVersion);
  }
}

/** Backoff after failures: 250 ms doubling to 10 s. */
export const backoffMs = (failures: number): number => Math.min(10_000, 250 * 2 ** Math.max(0, failures - 1));

/** Creates a watcher; call start() to list and begin watching. */
export function createResilientWatch(opts: ResilientWatchOptions): ResilientWatch {
  return new Watcher(opts);
}

class Watcher implements ResilientWatch {
  private readonly opts: ResilientWatchOptions;
  private readonly http: KubeHttp;
  private readonly idleMs: number;
  private readonly what: string;
  /** What was handed to onEvent: the consumer's record (opts.versions) or the watcher's own. */
  private readonly versions: VersionView;
  private readonly own: OwnVersions | undefined = undefined;
  private resourceVersion = '';
  private stopped = true;
  private isSynced = false;
  private failures = 0;
  private generation = 0;
  private controller: AbortController | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Set before we abort a watch ourselves, so its end is attributed to the right reason. */
  private abortReason: RestartReason | undefined;

  constructor(opts: ResilientWatchOptions) {
    this.opts = opts;
    this.http = opts.http ?? kubeHttp(opts.kc);
    this.idleMs = opts.idleMs ?? 90_000;
    if (opts.versions) {
      this.versions = opts.versions;
    } else {
      this.own = new OwnVersions();
      this.versions = this.own;
    }
    this.what = `${opts.kind}${opts.labelSelector ? `[${opts.labelSelector}]` : ''}${opts.fieldSelector ? `[${opts.fieldSelector}]` : ''}`;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.generation += 1;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.controller?.abort();
    return Promise.resolve();
  }

  synced(): boolean {
    return this.isSynced;
  }

  get(namespace: string | undefined, name: string): WatchedObject | undefined {
    const rv = this.versions.version(namespace ?? '', name);
    return rv === undefined ? undefined : identityOf(namespace ?? '', name, rv, this.opts.apiVersion, this.opts.kind);
  }

  list(): WatchedObject[] {
    const { apiVersion, kind } = this.opts;
    return [...this.versions.entries()].map(([namespace, name, rv]) =>
      identityOf(namespace, name, rv, apiVersion, kind),
    );
  }

  /** Hands an event to the consumer, recording it first when the watcher keeps its own versions. */
  private deliver(type: WatchEventType, object: WatchedObject): void {
    const m = object.metadata;
    this.own?.record(type, m?.namespace ?? '', m?.name ?? '', m?.resourceVersion ?? '');
    this.opts.onEvent(type, object);
  }

  private async listAll(): Promise<{ items: WatchedObject[]; resourceVersion: string }> {
    const { apiVersion, kind, fieldSelector, labelSelector } = this.opts;
    const items: WatchedObject[] = [];
    let token: string | undefined;
    let resourceVersion: string;
    do {
      const query = { fieldSelector, labelSelector, limit: 500, continue: token };
      const page = await this.http.request<{
        items?: WatchedObject[];
        metadata?: { continue?: string; resourceVersion?: string };
      }>('GET', this.opts.path, { query });
      for (const item of page.items ?? []) items.push(received(item, apiVersion, kind));
      token = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (token);
    return { items, resourceVersion };
  }

  /** Compares a fresh list with what was handed out, telling the handler what changed while we were not watching. */
  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.listAll();
    this.resourceVersion = resourceVersion;
    const { apiVersion, kind } = this.opts;
    const listed = new Set(items.map(objectKeyOf));
    const vanished: WatchedObject[] = [];
    for (const [namespace, name, rv] of this.versions.entries())
      if (!listed.has(`${namespace}/${name}`)) vanished.push(identityOf(namespace, name, rv, apiVersion, kind));
    for (const gone of vanished) this.deliver('DELETED', gone);
    for (const item of items) {
      const m = item.metadata;
      const before = this.versions.version(m?.namespace ?? '', m?.name ?? '');
      if (before === undefined) this.deliver('ADDED', item);
      else if (before !== (m?.resourceVersion ?? '')) this.deliver('MODIFIED', item);
    }
    this.isSynced = true;
    this.opts.onSynced?.();
  }

  private armIdle(generation: number): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (generation !== this.generation || this.stopped) return;
      this.opts.log.warn(
        { watch: this.what, idleMs: this.idleMs },
        'watch: no event and no bookmark for too long; restarting it',
      );
      this.abortReason = 'idle';
      this.controller?.abort();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private onWatchEvent(generation: number, type: string, object: WatchedObject): void {
    if (generation !== this.generation) return;
    this.armIdle(generation);
    if (type === 'ERROR') {
      if (isGone(object)) this.resourceVersion = '';
      return; // the server ends the watch after an ERROR event; the end handler restarts it
    }
    const rv = object.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return; // BOOKMARK: only the version
    this.failures = 0;
    this.deliver(type, received(object, this.opts.apiVersion, this.opts.kind));
  }

  private reasonOf(error: unknown): RestartReason {
    if (this.abortReason) return this.abortReason;
    if (isGone(error)) return 'expired';
    if (error) return 'error';
    return this.resourceVersion === '' ? 'expired' : 'ended';
  }

  private onWatchEnd(generation: number, error: unknown): void {
    if (generation !== this.generation || this.stopped) return;
    const reason = this.reasonOf(error);
    this.abortReason = undefined;
    if (reason === 'expired') this.resourceVersion = '';
    if (reason === 'error') this.failures += 1;
    this.opts.onRestart?.(reason);
    const delay = reason === 'error' ? backoffMs(this.failures) : 0;
    if (reason === 'error')
      this.opts.log.warn({ watch: this.what, err: error, retryInMs: delay }, 'watch: failed; restarting it');
    else this.opts.log.debug({ watch: this.what, reason }, 'watch: restarting');
    this.retryTimer = setTimeout(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    try {
      if (!this.resourceVersion) await this.relist();
      if (this.stopped || generation !== this.generation) return;
      const query = {
        watch: true,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        timeoutSeconds: Math.round((this.opts.serverTimeoutSeconds ?? 300) * (0.8 + Math.random() * 0.2)),
      };
      this.armIdle(generation);
      const controller = new AbortController();
      this.controller = controller;
      void this.http
        .stream(this.opts.path, {
          query,
          ...(this.opts.accept ? { accept: this.opts.accept } : {}),
          signal: controller.signal,
          onObject: (event) => {
            const { type, object } = (event ?? {}) as { type?: string; object?: WatchedObject };
            if (type && object) this.onWatchEvent(generation, type, object);
          },
        })
        .then(
          () => this.onWatchEnd(generation, undefined),
          (error: unknown) => this.onWatchEnd(generation, error),
        );
    } catch (error) {
      this.onWatchEnd(generation, error ?? new Error('list failed'));
    }
  }
}
