// What a developer reads for every Pod Security refusal, word for word, over the shared corpus (e2e/fixtures/pss):
// the field, the message and the fix of each violation, pinned in pss-messages.test.ts.snapshot. A change of
// wording shows in that file for review (`node --test --test-update-snapshots policies/pss-messages.test.ts`).
import { describe, test } from 'node:test';
import { loadCorpus } from '../e2e/pss-corpus.ts';
import { checkPodSecurity } from './pss.ts';

describe('PSS refusals, word for word, over the corpus', () => {
  for (const c of loadCorpus().filter((entry) => entry.expect === 'deny')) {
    test(`${c.file}: ${c.name}`, (t) => {
      for (const level of ['baseline', 'restricted'] as const) {
        t.assert.snapshot(
          checkPodSecurity(c.pod.spec, c.pod.metadata, 'spec.template.spec', { level }).map(
            (v) => `${v.rule} ${v.path}: ${v.message} | fix: ${v.fix}`,
          ),
        );
      }
    });
  }
});
