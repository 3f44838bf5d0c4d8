import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuantity } from '../lib/quantity.ts';
import { defaultConfig, DEFAULT_PRICES, HOURS_PER_MONTH } from './config.ts';
import { environmentCost, formatMoney } from './cost.ts';

const config = defaultConfig();
const amounts = (cpu: string, memory: string) => ({ cpu: parseQuantity(cpu)!, memory: parseQuantity(memory)! });
const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);

describe('environment cost', () => {
  test('the default prices charge the brief’s node, 4 vCPU and 24 GiB for 730 h, exactly US$ 120, half each', () => {
    const node = environmentCost({ requests: amounts('4', '24Gi'), storageBytes: 0, ageMs: 0 }, config);
    close(node.perMonth.total, 120);
    close(node.perMonth.cpu, 60);
    close(node.perMonth.memory, 60);
    close(DEFAULT_PRICES.cpuHour / DEFAULT_PRICES.memoryGiBHour, 6);
  });

  test('the base quota (300m, 512Mi) costs its share of the node, storage is priced per GiB-month on top', () => {
    const cost = environmentCost({ requests: amounts('300m', '512Mi'), storageBytes: 2 * 1024 ** 3, ageMs: 0 }, config);
    close(cost.perMonth.cpu, 0.3 * 15);
    close(cost.perMonth.memory, 0.5 * 2.5);
    close(cost.perMonth.storage, 0.2);
    close(cost.perMonth.total, 4.5 + 1.25 + 0.2);
  });

  test('so far charges the month pro rata over the age; a negative age (clock skew) costs nothing', () => {
    const requests = amounts('300m', '512Mi');
    const day = environmentCost({ requests, storageBytes: 1024 ** 3, ageMs: 24 * 3_600_000 }, config);
    close(day.soFar, (day.perMonth.total * 24) / HOURS_PER_MONTH);
    assert.equal(environmentCost({ requests, storageBytes: 0, ageMs: -5000 }, config).soFar, 0);
  });

  test('prices come from the configuration', () => {
    const custom = { cost: { currency: 'EUR', cpuHour: 1, memoryGiBHour: 0, storageGiBMonth: 0 } };
    const cost = environmentCost({ requests: amounts('500m', '1Gi'), storageBytes: 0, ageMs: 3_600_000 }, custom);
    close(cost.perMonth.total, 0.5 * HOURS_PER_MONTH);
    close(cost.soFar, 0.5);
  });

  test('money is shown with two decimals, tiny amounts with two significant digits', () => {
    assert.equal(formatMoney(5.954, 'USD'), '5.95 USD');
    assert.equal(formatMoney(0.00123, 'USD'), '0.0012 USD');
    assert.equal(formatMoney(0, 'EUR'), '0.00 EUR');
  });
});
