// The watch on Helm release records that makes the sweeper event-driven: while this replica holds the Lease, a
// list+watch of the Secrets `owner=helm`, type helm.sh/release.v1 across namespaces feeds a ReleaseTracker.
// The list+watch is the baseline reconciler's resilient watcher (webhooks/reconciler-watch.ts: bookmarks, restart
// when silent, after errors, ends and 410 Gone), asked for metadata only (PartialObjectMetadata), so neither the
// lists nor the watch nor the cache ever hold the release payloads (tens of KB each, every revision).
import type { KubeAccess } from '../lib/kube-access.ts';
import { createResilientWatch, type ResilientWatch } from '../webhooks/reconciler-watch.ts';
import { kubeHttp, type KubeHttp } from '../webhooks/reconciler-http.ts';
import type { Logger } from '../lib/log.ts';
import { HELM_OWNER_SELECTOR, HELM_RELEASE_SECRET_TYPE, type SecretMeta } from './helm.ts';
import { helmSecretPage } from './kube.ts';
import type { SweeperMetrics } from './metrics.ts';
import { ReleaseTracker, type ReleaseTrackerOptions, type SecretEventType } from './release-tracker.ts';

export const HELM_SECRETS_PATH = '/api/v1/secrets';
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/** The watcher's list requests for the Helm record Secrets, answered with metadata-only pages; the watch as is. */
export function helmRecordLists(http: KubeHttp): KubeHttp {
  return {
    async request<T>(method: string, path: string, options: { query?: Record<string, unknown> } = {}): Promise<T> {
      if (method !== 'GET' || path !== HELM_SECRETS_PATH)
        throw new Error(`helmRecordLists serves GET ${HELM_SECRETS_PATH} only, not ${method} ${path}`);
      const cont = options.query?.['continue'];
      return (await helmSecretPage(http, typeof cont === 'string' ? { cont } : {})) as T;
    },
    stream: (path, options) => http.stream(path, options),
    close: () => http.close(),
  };
}

export interface ReleaseWatchOptions {
  kc: KubeAccess;
  log: Logger;
  metrics: SweeperMetrics;
  onEvent(type: SecretEventType, secret: SecretMeta): void;
  onSynced(): void;
  idleMs?: number;
}

/** A metadata-only list+watch of the Helm release record Secrets of every namespace. */
export function watchHelmReleases(opts: ReleaseWatchOptions): ResilientWatch {
  return createResilientWatch({
    kc: opts.kc,
    http: helmRecordLists(kubeHttp(opts.kc)),
    accept: METADATA_ONLY,
    apiVersion: 'v1',
    kind: 'Secret',
    path: HELM_SECRETS_PATH,
    labelSelector: HELM_OWNER_SELECTOR,
    fieldSelector: `type=${HELM_RELEASE_SECRET_TYPE}`,
    log: opts.log,
    ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}),
    onEvent: (type, object) => opts.onEvent(type, { ...object.metadata, type: HELM_RELEASE_SECRET_TYPE }),
    onSynced: () => opts.onSynced(),
    onRestart: (reason) => opts.metrics.releaseWatchRestarts.inc({ reason }),
  });
}

export interface ReleaseFollowUp {
  /** Starts a fresh watch and tracker (on acquiring the Lease); no-op when running. */
  start(): void;
  /** Stops them (on losing the Lease, on SIGTERM); resolves when stopped. */
  stop(): Promise<void>;
}

/** The watch and its tracker, started and stopped with the Lease. */
export function releaseFollowUp(
  opts: Omit<ReleaseTrackerOptions, 'timers'> & { kc: KubeAccess; idleMs?: number },
): ReleaseFollowUp {
  let running: { tracker: ReleaseTracker; watch: ResilientWatch } | undefined;
  let stopping: Promise<void> = Promise.resolve();
  return {
    start() {
      if (running) return;
      const tracker = new ReleaseTracker(opts);
      let synced = false;
      const watch = watchHelmReleases({
        kc: opts.kc,
        log: opts.log,
        metrics: opts.metrics,
        ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}),
        onEvent: (type, secret) => tracker.onSecret(type, secret),
        onSynced: () => {
          if (!synced) opts.log.info('release watch: synced; uninstalls are acted on as they happen');
          synced = true;
          tracker.markSynced();
        },
      });
      running = { tracker, watch };
      opts.log.info('release watch: started (Helm release records, metadata only)');
      void watch.start();
    },
    stop() {
      const current = running;
      running = undefined;
      if (current) {
        stopping = stopping.then(async () => {
          await current.watch.stop();
          await current.tracker.stop();
          opts.log.info('release watch: stopped');
        });
      }
      return stopping;
    },
  };
}
