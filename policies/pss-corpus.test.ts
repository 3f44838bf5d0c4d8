// Our restricted check over the shared corpus (e2e/fixtures/pss), against the verdicts stored there. The same
// corpus goes to the real API server in e2e/pss-differential.test.ts, which proves the stored verdicts right.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCorpus, rulesOf } from '../e2e/pss-corpus.ts';
import { PSS_RULES, checkRestricted } from './pss.ts';

const corpus = loadCorpus();

describe('PSS corpus: checkRestricted agrees with the stored verdicts', () => {
  test('the corpus is large and covers every rule and both verdicts', () => {
    assert.ok(corpus.length >= 60, `only ${corpus.length} cases`);
    const denied = new Set(corpus.flatMap((c) => c.rules));
    assert.deepEqual(
      PSS_RULES.filter((r) => !denied.has(r)),
      [],
      'every rule has a denying case',
    );
    assert.ok(corpus.filter((c) => c.expect === 'allow').length >= 20, 'enough compliant cases');
  });

  for (const c of corpus) {
    test(`${c.file}: ${c.name} (${c.expect}) — ${c.about}`, () => {
      const violations = checkRestricted(c.pod.spec, c.pod.metadata, 'spec');
      assert.deepEqual(
        rulesOf(violations),
        c.rules,
        violations.map((v) => `${v.path}: ${v.message} [${v.rule}]`).join('\n'),
      );
      for (const v of violations) {
        assert.match(v.path, /^(spec|metadata)[.[]/, `path of ${v.rule}`);
        assert.ok(v.message.length > 10 && v.fix.length > 10, `${v.rule} explains itself and its fix`);
      }
    });
  }
});
