// Pin slots: the API server, not a webhook process, decides which namespaces get the `maxPinned` pins, so replicas
// that each see a pin request at the same moment cannot grant more than the limit together.
//
// A slot is a Lease `k8s-ee-pin-slot-<i>` (i < maxPinned) in k8s-ee's own namespace, its holderIdentity the PR
// namespace. A pin is admitted only once its namespace holds a slot: it creates a free one (the API server refuses
// a second create of the same name: 409) or takes over a released one with a resourceVersion precondition (a
// concurrent taker gets 409). A slot is released when its holder is no longer pinned (unpinned, expired, or the
// namespace gone), once the grant window has passed (the window covers a pin that is still in admission), or at
// once when the webhook admits the unpin (its holder is then emptied). Pinned
// namespaces that hold no slot (pinned while the webhook was away) count too, and shrink the slots that may be
// taken. A refusal names only namespaces that really are pinned, and says how many pins are being granted.
import { FIELD_MANAGER } from '../policies/names.ts';
import type { KubeHttp } from './reconciler-http.ts';
import { statusCodeOf } from './reconciler-kube.ts';

export const PIN_SLOT_PREFIX = 'k8s-ee-pin-slot-';
export const ACQUIRED_AT_ANNOTATION = 'k8s-ee.io/acquired-at';

export interface PinSlot {
  index: number;
  holder: string;
  /** Epoch milliseconds of the grant. */
  acquiredAt: number;
  resourceVersion: string;
}

/** The narrow API the slots need (Leases in one namespace); a memory one in tests. */
export interface PinSlotStore {
  list(): Promise<PinSlot[]>;
  /** Creates slot `index` for `holder`; false when it exists already (someone was faster). */
  create(index: number, holder: string, at: number): Promise<boolean>;
  /** Gives `slot` to `holder` if unchanged since it was read; false when it changed meanwhile. */
  takeOver(slot: PinSlot, holder: string, at: number): Promise<boolean>;
}

export type PinAnswer = { ok: true } | { ok: false; pinned: string[]; pending: number };

export interface PinState {
  namespace: string;
  limit: number;
  /** Managed namespaces that carry the pin now (not terminating). */
  pinned: readonly string[];
  slots: readonly PinSlot[];
  now: number;
  grantMs: number;
}

export type PinDecision =
  | { kind: 'held' }
  | { kind: 'refuse'; pinned: string[]; pending: number }
  | { kind: 'acquire'; candidates: { index: number; slot?: PinSlot }[] };

/** Pure: whether `namespace` holds a slot, may take one (which), or is refused. */
export function decidePin(state: PinState): PinDecision {
  const { namespace, limit, now, grantMs } = state;
  const pinned = new Set(state.pinned);
  const slots = state.slots.filter((s) => s.index < limit);
  if (slots.some((s) => s.holder === namespace)) return { kind: 'held' };
  const live = slots.filter((s) => pinned.has(s.holder) || now - s.acquiredAt < grantMs);
  const holders = new Set(live.map((s) => s.holder));
  const others = [...pinned].filter((n) => n !== namespace).sort();
  const unslotted = others.filter((n) => !holders.has(n)).length;
  const pending = live.filter((s) => !pinned.has(s.holder)).length;
  const refuse = { kind: 'refuse', pinned: others, pending } as const;
  if (holders.size + unslotted >= limit) return refuse;
  const liveIndex = new Set(live.map((s) => s.index));
  const candidates: { index: number; slot?: PinSlot }[] = [];
  for (let index = 0; index < limit - unslotted; index += 1) {
    if (liveIndex.has(index)) continue;
    const slot = slots.find((s) => s.index === index);
    candidates.push(slot ? { index, slot } : { index });
  }
  return candidates.length > 0 ? { kind: 'acquire', candidates } : refuse;
}

/**
 * Reserves a slot for `namespace` (or answers without writing on dry-run): reads the slots, decides, and tries the
 * candidates in order; when every candidate was taken meanwhile, reads and decides again (a few times).
 */
export async function reservePinSlot(
  store: PinSlotStore,
  input: Omit<PinState, 'slots' | 'now'> & { now: () => number; dryRun: boolean },
): Promise<PinAnswer> {
  for (let round = 0; round < 4; round += 1) {
    const decision = decidePin({ ...input, slots: await store.list(), now: input.now() });
    if (decision.kind === 'held') return { ok: true };
    if (decision.kind === 'refuse') return { ok: false, pinned: decision.pinned, pending: decision.pending };
    if (input.dryRun) return { ok: true };
    for (const { index, slot } of decision.candidates) {
      const at = input.now();
      const taken = slot
        ? await store.takeOver(slot, input.namespace, at)
        : await store.create(index, input.namespace, at);
      if (taken) return { ok: true };
    }
  }
  // Lost every race: the free slots went to other namespaces that are being pinned right now.
  const others = input.pinned.filter((n) => n !== input.namespace).sort();
  return { ok: false, pinned: others, pending: Math.max(0, input.limit - others.length) };
}

/**
 * Gives back the slot(s) `namespace` holds (its pin was removed): free at once for the next pin. Safe even if the
 * unpin is refused later on: a pinned namespace without a slot still counts. A slot changed meanwhile is left alone.
 */
export async function releasePinSlot(store: PinSlotStore, namespace: string): Promise<number> {
  let released = 0;
  for (const slot of await store.list()) {
    if (slot.holder === namespace && (await store.takeOver(slot, '', 0))) released += 1;
  }
  return released;
}

interface LeaseJson {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { holderIdentity?: string };
}

function slotOf(lease: LeaseJson): PinSlot | undefined {
  const name = lease.metadata?.name ?? '';
  if (!name.startsWith(PIN_SLOT_PREFIX)) return undefined;
  const index = Number(name.slice(PIN_SLOT_PREFIX.length));
  const acquiredAt = Date.parse(lease.metadata?.annotations?.[ACQUIRED_AT_ANNOTATION] ?? '');
  if (!Number.isSafeInteger(index) || index < 0) return undefined;
  return {
    index,
    holder: lease.spec?.holderIdentity ?? '',
    acquiredAt: Number.isNaN(acquiredAt) ? 0 : acquiredAt,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

const SLOT_LABELS = { 'app.kubernetes.io/part-of': 'k8s-ee', 'app.kubernetes.io/component': 'pin-slot' };

function leaseOf(namespace: string, index: number, holder: string, at: number, resourceVersion?: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: `${PIN_SLOT_PREFIX}${index}`,
      namespace,
      labels: SLOT_LABELS,
      annotations: { [ACQUIRED_AT_ANNOTATION]: new Date(at).toISOString() },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: { holderIdentity: holder },
  };
}

/** A conflict (409) means someone else changed the slot first: not an error, a lost race. */
async function unlessConflict(call: Promise<unknown>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (error) {
    if (statusCodeOf(error) === 409) return false;
    throw error;
  }
}

/** Pin slots as Leases in `namespace` (k8s-ee's own: its Role may get, list, create and update Leases there). */
export function kubePinSlots(http: KubeHttp, namespace: string): PinSlotStore {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const selector = Object.entries(SLOT_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const query = { fieldManager: FIELD_MANAGER };
  return {
    list: async () => {
      const list = await http.request<{ items?: LeaseJson[] }>('GET', collection, {
        query: { labelSelector: selector },
      });
      return (list.items ?? []).flatMap((l) => slotOf(l) ?? []);
    },
    create: (index, holder, at) =>
      unlessConflict(http.request('POST', collection, { query, body: leaseOf(namespace, index, holder, at) })),
    takeOver: (slot, holder, at) =>
      unlessConflict(
        http.request('PUT', `${collection}/${PIN_SLOT_PREFIX}${slot.index}`, {
          query,
          body: leaseOf(namespace, slot.index, holder, at, slot.resourceVersion),
        }),
      ),
  };
}

/** Pin slots in memory, with the API server's semantics (409 on a second create or a stale resourceVersion). */
export function memoryPinSlots(): PinSlotStore & { slots: Map<number, PinSlot>; writes: number } {
  let version = 0;
  const store = {
    slots: new Map<number, PinSlot>(),
    writes: 0,
    list: () => Promise.resolve([...store.slots.values()].map((s) => ({ ...s }))),
    create: (index: number, holder: string, at: number) => {
      if (store.slots.has(index)) return Promise.resolve(false);
      store.writes += 1;
      store.slots.set(index, { index, holder, acquiredAt: at, resourceVersion: String(++version) });
      return Promise.resolve(true);
    },
    takeOver: (slot: PinSlot, holder: string, at: number) => {
      if (store.slots.get(slot.index)?.resourceVersion !== slot.resourceVersion) return Promise.resolve(false);
      store.writes += 1;
      store.slots.set(slot.index, { index: slot.index, holder, acquiredAt: at, resourceVersion: String(++version) });
      return Promise.resolve(true);
    },
  };
  return store;
}
