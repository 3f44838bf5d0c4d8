// Helm release records as the sweeper sees them. Helm v3/v4 store each revision as a Secret of type
// helm.sh/release.v1 named sh.helm.release.v1.<release>.v<revision>, labelled owner=helm, name, status, version.
// `helm uninstall` deletes them all; `helm uninstall --keep-history` keeps them with status=uninstalled.
import { byCodeUnits } from '../lib/order.ts';
import type { ReleaseRecord } from './types.ts';

export const HELM_RELEASE_SECRET_TYPE = 'helm.sh/release.v1';
export const HELM_OWNER_SELECTOR = 'owner=helm';
const NAME = /^sh\.helm\.release\.v1\.(.+)\.v([0-9]+)$/;

export interface SecretMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  creationTimestamp?: string | Date;
  type?: string;
}

function isoOf(value: string | Date | undefined): string | undefined {
  if (value === undefined) return undefined;
  // client-node gives a Date, a plain JSON read the API server's text (no milliseconds): one form for both.
  const date = value instanceof Date ? value : new Date(value);
  // Text that is no time stays as it is: the record still counts (the sweeper never takes a release for gone on it).
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

/** The release record a Secret stands for, or undefined when it is not a Helm release record. */
export function releaseRecordOf(secret: SecretMeta): ReleaseRecord | undefined {
  const labels = secret.labels ?? {};
  if (labels['owner'] !== 'helm') return undefined;
  if (secret.type !== undefined && secret.type !== HELM_RELEASE_SECRET_TYPE) return undefined;
  const parsed = NAME.exec(secret.name ?? '');
  const release = labels['name'] ?? parsed?.[1];
  const revision = Number(labels['version'] ?? parsed?.[2]);
  const createdAt = isoOf(secret.creationTimestamp);
  if (!release || !Number.isSafeInteger(revision) || !createdAt) return undefined;
  return { release, revision, status: labels['status'] ?? 'unknown', createdAt };
}

/**
 * Adds a record to a namespace's records, keeping only the newest revision of each release (the first seen of equal
 * ones, as liveReleases does). Every reader of the records goes through liveReleases or the names of the releases,
 * which older revisions do not change; Helm keeps up to 10 revisions of each release.
 */
export function addNewest(records: ReleaseRecord[], record: ReleaseRecord): void {
  const i = records.findIndex((r) => r.release === record.release);
  const seen = records[i];
  if (!seen) records.push(record);
  else if (record.revision > seen.revision) records[i] = record;
}

/** The newest record of each release, by namespace (see addNewest). */
export function groupByNamespace(secrets: Iterable<SecretMeta>): Record<string, ReleaseRecord[]> {
  const out: Record<string, ReleaseRecord[]> = {};
  for (const secret of secrets) addSecret(out, secret);
  return out;
}

/** groupByNamespace one Secret at a time. */
export function addSecret(out: Record<string, ReleaseRecord[]>, secret: SecretMeta): void {
  const record = releaseRecordOf(secret);
  if (record && secret.namespace) addNewest((out[secret.namespace] ??= []), record);
}

/**
 * The newest revision of each release that is still installed: a release whose newest record says
 * `uninstalled` (kept by --keep-history) counts as gone. `uninstalling` still counts as live until its records go.
 */
export function liveReleases(records: ReleaseRecord[]): ReleaseRecord[] {
  const newest = new Map<string, ReleaseRecord>();
  for (const record of records) {
    const seen = newest.get(record.release);
    if (!seen || record.revision > seen.revision) newest.set(record.release, record);
  }
  return [...newest.values()]
    .filter((r) => r.status !== 'uninstalled')
    .sort((a, b) => byCodeUnits(a.release, b.release));
}
