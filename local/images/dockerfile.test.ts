// Reading the product image's config from the Dockerfile: continuations, quoting, the stage, and the
// refusal of instructions local/images does not reproduce.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../cluster/paths.ts';
import { dockerIgnored, dockerignorePatterns, instructions, keyValues, parseRuntimeStage } from './dockerfile.ts';

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=node:24
FROM \${BASE} AS build
USER nobody
ENV BUILD_ONLY=1
FROM \${BASE} AS runtime
ENV NODE_ENV=production A="two words" \\
    B=esc\\ aped
ENV LEGACY value with spaces
WORKDIR /app
WORKDIR sub
COPY package.json package-lock.json ./
# a comment inside the stage
RUN npm ci --omit=dev --ignore-scripts \\
 && npm cache clean --force
COPY --from=build /src/dist ./dist
LABEL org.opencontainers.image.title="k8s-ee" \\
      other=x
USER 10001:10001
EXPOSE 9443 8080/udp
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
`;

test('continuation lines join into one instruction and comments drop out', () => {
  const all = instructions(DOCKERFILE);
  const run = all.find((i) => i.op === 'RUN');
  assert.equal(run?.text, 'RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force');
  assert.ok(!all.some((i) => i.text.includes('comment')));
  const blank = instructions('FROM x AS runtime\nENV A=1 \\\n\n  B=2\nUSER 1 \\\n');
  assert.deepEqual(
    blank.map((i) => i.text),
    ['FROM x AS runtime', 'ENV A=1 B=2', 'USER 1'],
  );
});

test('key=value pairs: quoted values keep spaces, backslashes escape', () => {
  assert.deepEqual(keyValues('a=1 b="two words" c=esc\\ aped d=""'), [
    ['a', '1'],
    ['b', 'two words'],
    ['c', 'esc aped'],
    ['d', ''],
  ]);
  assert.throws(() => keyValues('novalue'), /cannot read key=value pairs/);
  assert.throws(() => keyValues('a=1 =2'), /cannot read key=value pairs/);
});

test('the runtime stage gives the config; the build stage does not leak into it', () => {
  const stage = parseRuntimeStage(DOCKERFILE);
  assert.deepEqual(stage.env, ['NODE_ENV=production', 'A=two words', 'B=esc aped', 'LEGACY=value with spaces']);
  assert.equal(stage.workingDir, '/app/sub');
  assert.equal(stage.user, '10001:10001');
  assert.deepEqual(stage.exposedPorts, ['9443/tcp', '8080/udp']);
  assert.deepEqual(stage.entrypoint, ['node', 'dist/cli/main.js']);
  assert.deepEqual(stage.cmd, ['--help']);
  assert.deepEqual(stage.labels, { 'org.opencontainers.image.title': 'k8s-ee', other: 'x' });
});

test('an instruction the local build does not reproduce is an error, and so is a shell-form entrypoint', () => {
  assert.throws(
    () => parseRuntimeStage(DOCKERFILE.replace('CMD ["--help"]', 'COPY policies ./policies\nCMD ["--help"]')),
    /"COPY policies \.\/policies" is not reproduced by local\/images/,
  );
  assert.throws(
    () => parseRuntimeStage(DOCKERFILE.replace('ENTRYPOINT ["node", "dist/cli/main.js"]', 'ENTRYPOINT node main.js')),
    /ENTRYPOINT must be in exec form/,
  );
  assert.throws(() => parseRuntimeStage(DOCKERFILE, 'final'), /no stage "FROM … AS final"/);
});

test("the project's Dockerfile parses: numeric non-root user, node entrypoint, production env", () => {
  const stage = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  assert.match(stage.user, /^[1-9][0-9]*(:[0-9]+)?$/);
  assert.equal(stage.entrypoint[0], 'node');
  assert.ok(stage.env.includes('NODE_ENV=production'));
  assert.equal(stage.workingDir, '/app');
});

test('.dockerignore: a pattern leaves out a path or anything under it; "!" takes it back', () => {
  const patterns = dockerignorePatterns('# c\n\n/dist/\n**/testing\n**/*.test.ts\nlocal/controlplane\n!keep/testing\n');
  assert.deepEqual(patterns, ['dist', '**/testing', '**/*.test.ts', 'local/controlplane', '!keep/testing']);
  assert.ok(dockerIgnored('webhooks/testing/review.ts', patterns));
  assert.ok(dockerIgnored('cli/main.test.ts', patterns));
  assert.ok(dockerIgnored('local/controlplane/cmd/x.ts', patterns));
  assert.ok(!dockerIgnored('webhooks/gate.ts', patterns));
  assert.ok(!dockerIgnored('local/cluster/setup.ts', patterns));
  assert.ok(!dockerIgnored('keep/testing/a.ts', patterns));
});
