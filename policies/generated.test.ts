// The validators compiled ahead of time (policies/generated/) are those of today's schemas: a schema changed
// without `npm run generate` fails here, naming the file, instead of validating against the old schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedValidators } from '../scripts/generate-validators.ts';
import { SHAPED_KINDS } from './shape-schemas.ts';
import * as shapes from './generated/shape-validators.ts';

const root = join(import.meta.dirname, '..');

test('each generated validator module matches what its schema compiles to today', () => {
  for (const file of generatedValidators()) {
    const stored = readFileSync(join(root, file.path), 'utf8');
    assert.ok(
      stored === file.text,
      `${file.path} is stale: its schema changed since it was generated; run npm run generate`,
    );
  }
});

test('every shaped kind has its generated validator, and nothing else is exported', () => {
  assert.deepEqual(Object.keys(shapes).sort(), [...SHAPED_KINDS].sort());
});
