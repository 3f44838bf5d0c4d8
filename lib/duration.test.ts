import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './duration.ts';

test('parses durations', () => {
  const cases: [string, number | undefined][] = [
    ['90s', 90_000],
    ['1m', 60_000],
    ['48h', 172_800_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['', undefined],
    ['10', undefined],
    ['1w', undefined],
    ['h', undefined],
    ['1h ', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseDuration(text), expected, text);
});

test('formats durations briefly', () => {
  assert.equal(formatDuration(500), '500ms');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(2 * 86_400_000 + 3 * 3_600_000 + 5_000), '2d3h');
});
