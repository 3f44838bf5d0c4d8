// Estimated cost of a PR environment, the pure part: what its quota reserves (requests.cpu, requests.memory) priced
// per hour, and its bound volume claims priced per GiB-month, from the configuration's `cost` prices. An environment
// is charged for what it reserves, not for what it happens to use: the reservation is what the node cannot give to
// anyone else. "So far" charges today's reservation for the whole life of the namespace (the quota only grows when a
// database is declared, so it may overstate the early hours slightly).
import { HOURS_PER_MONTH, type Config } from './config.ts';
import type { Amounts } from './capacity.ts';

const MILLI_PER_GIB = 1000 * 1024 ** 3;

export interface CostInput {
  requests: Amounts;
  /** Sum of the bound volume claims' capacity, in bytes. */
  storageBytes: number;
  /** How long the environment has existed, in milliseconds. */
  ageMs: number;
}

export interface EnvironmentCost {
  /** A month (730 h) at today's reservation, by resource and in total. */
  perMonth: { cpu: number; memory: number; storage: number; total: number };
  /** Since the namespace was created. */
  soFar: number;
}

/** Cores and GiB of a reservation. */
export function unitsOf(requests: Amounts): { cores: number; memoryGiB: number } {
  return { cores: Number(requests.cpu) / 1000, memoryGiB: Number(requests.memory) / MILLI_PER_GIB };
}

export function environmentCost(input: CostInput, config: Pick<Config, 'cost'>): EnvironmentCost {
  const { cpuHour, memoryGiBHour, storageGiBMonth } = config.cost;
  const { cores, memoryGiB } = unitsOf(input.requests);
  const storageGiB = input.storageBytes / 1024 ** 3;
  const perMonth = {
    cpu: cores * cpuHour * HOURS_PER_MONTH,
    memory: memoryGiB * memoryGiBHour * HOURS_PER_MONTH,
    storage: storageGiB * storageGiBMonth,
    total: 0,
  };
  perMonth.total = perMonth.cpu + perMonth.memory + perMonth.storage;
  const hours = Math.max(0, input.ageMs) / 3_600_000;
  return { perMonth, soFar: (perMonth.total * hours) / HOURS_PER_MONTH };
}

/** Money for people: two decimals, or three significant digits below a cent. */
export function formatMoney(amount: number, currency: string): string {
  const text = amount !== 0 && Math.abs(amount) < 0.01 ? amount.toPrecision(2) : amount.toFixed(2);
  return `${text} ${currency}`;
}
