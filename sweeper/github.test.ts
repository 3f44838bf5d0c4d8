import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeGitHub, type FakeGitHub } from '../e2e/fakes/github.ts';
import { defaultConfig } from '../policies/config.ts';
import {
  cachedAnswer,
  createGitHubClient,
  gitHubClientFromConfig,
  lookupPrs,
  pullStateOf,
  rateLimitWaitMs,
} from './github.ts';
import type { NamespaceInfo } from './types.ts';

const TOKEN = 'ghp_test_token';

describe('github client against the fake GitHub server', () => {
  let gh: FakeGitHub;
  const client = () => createGitHubClient({ apiUrl: gh.url, token: TOKEN, concurrency: 2 });

  before(async () => {
    gh = await startFakeGitHub({ token: TOKEN });
  });
  after(() => gh.close());
  beforeEach(() => {
    gh.fail(undefined);
    gh.rateLimit(undefined);
    gh.requests.length = 0;
    gh.setPull('acme/shop', 1, 'open');
    gh.setPull('acme/shop', 2, 'closed', new Date('2025-06-01T10:00:00Z'));
    gh.setPull('acme/shop', 3, 'merged', new Date('2025-06-01T11:00:00Z'));
  });

  it('reads open, closed and merged with their closing time', async () => {
    const s = client().session();
    assert.deepEqual(await s.pull('acme', 'shop', 1), { state: 'open', ref: 'acme/shop#1' });
    assert.deepEqual(await s.pull('acme', 'shop', 2), {
      state: 'closed',
      ref: 'acme/shop#2',
      closedAt: '2025-06-01T10:00:00.000Z',
    });
    assert.deepEqual(await s.pull('acme', 'shop', 3), {
      state: 'merged',
      ref: 'acme/shop#3',
      closedAt: '2025-06-01T11:00:00.000Z',
    });
  });

  it('sends the token, a user agent and the API version', async () => {
    await client().session().pull('acme', 'shop', 1);
    assert.equal(gh.requests[0]?.authorization, `Bearer ${TOKEN}`);
    assert.equal(gh.requests[0]?.userAgent, 'k8s-ee-sweeper');
    assert.equal(gh.requests[0]?.path, '/repos/acme/shop/pulls/1');
  });

  it('caches answers within a session, asks again in a new one', async () => {
    const c = client();
    const s = c.session();
    await Promise.all([s.pull('acme', 'shop', 1), s.pull('acme', 'shop', 1), s.pull('acme', 'shop', 2)]);
    assert.equal(gh.requests.length, 2);
    await c.session().pull('acme', 'shop', 1);
    assert.equal(gh.requests.length, 3);
  });

  it('asks again with If-None-Match: a 304 reuses the answer and costs no rate limit; a change comes through', async () => {
    const used = async (): Promise<number> => {
      const headers = { 'user-agent': 't', authorization: `Bearer ${TOKEN}` };
      return ((await (await fetch(`${gh.url}/rate_limit`, { headers })).json()) as { rate: { used: number } }).rate
        .used;
    };
    const before = await used();
    gh.requests.length = 0;
    const c = client();
    assert.equal((await c.session().pull('acme', 'shop', 1)).state, 'open');
    const again = await c.session().pull('acme', 'shop', 1);
    assert.deepEqual(again, { state: 'open', ref: 'acme/shop#1' });
    gh.setPull('acme/shop', 1, 'merged', new Date('2025-06-02T00:00:00Z'));
    assert.deepEqual(await c.session().pull('acme', 'shop', 1), {
      state: 'merged',
      ref: 'acme/shop#1',
      closedAt: '2025-06-02T00:00:00.000Z',
    });
    assert.deepEqual(
      gh.requests.map((r) => r.status),
      [200, 304, 200],
    );
    assert.equal((await used()) - before, 2, 'the 304 was free');
  });

  it('the ETag cache keeps of an answer only its status and the fields of the PR state', () => {
    type Pull = Parameters<typeof pullStateOf>[0];
    const pull = (extra: Pull): Pull & Record<string, unknown> => ({
      title: 'x'.repeat(10_000),
      user: { login: 'dev', avatar_url: 'https://example.com/a.png' },
      head: { repo: { full_name: 'acme/shop' } },
      ...extra,
    });
    const headers = new Headers({ etag: '"abc"', 'x-ratelimit-remaining': '4999' });
    for (const body of [
      pull({ state: 'open', merged: false, merged_at: null, closed_at: null }),
      pull({ state: 'closed', merged: true, merged_at: '2025-06-02T00:00:00Z', closed_at: '2025-06-02T00:00:00Z' }),
      pull({ state: 'closed', merged_at: null, closed_at: '2025-06-03T00:00:00Z' }),
    ]) {
      const kept = cachedAnswer({ status: 200, headers, body });
      assert.equal(kept.status, 200);
      assert.deepEqual([...kept.headers], []);
      assert.deepEqual(Object.keys(kept.body as object).sort(), ['closed_at', 'merged', 'merged_at', 'state']);
      assert.deepEqual(pullStateOf(kept.body as Pull), pullStateOf(body));
    }
    assert.equal(cachedAnswer({ status: 404, headers, body: { message: 'Not Found' } }).status, 404);
  });

  it('a 404 PR is gone only when its repository answers 200', async () => {
    const s = client().session();
    assert.deepEqual(await s.pull('acme', 'shop', 99), { state: 'gone', ref: 'acme/shop#99' });
    const missing = await s.pull('acme', 'nope', 5);
    assert.equal(missing.state, 'unknown');
    assert.match(missing.error ?? '', /repository acme\/nope not reachable \(HTTP 404\)/);
    assert.deepEqual(
      gh.requests.map((r) => `${r.path} ${r.status}`),
      ['/repos/acme/shop/pulls/99 404', '/repos/acme/shop 200', '/repos/acme/nope/pulls/5 404', '/repos/acme/nope 404'],
    );
  });

  it('a private repository seen without access is unknown, not gone', async () => {
    gh.setPull('acme/secret', 1, 'open');
    gh.addRepo('acme/secret', { private: true });
    const anonymous = await createGitHubClient({ apiUrl: gh.url, token: '' }).session().pull('acme', 'secret', 7);
    assert.equal(anonymous.state, 'unknown');
    assert.match(anonymous.error ?? '', /repository acme\/secret not reachable \(HTTP 404\)/);
    assert.equal(gh.requests[0]?.authorization, undefined);
    assert.equal((await client().session().pull('acme', 'secret', 7)).state, 'gone');
  });

  for (const status of [500, 502, 503]) {
    it(`HTTP ${status} is unknown, and counted as an error`, async () => {
      gh.fail(status);
      const answer = await client().session().pull('acme', 'shop', 2);
      assert.equal(answer.state, 'unknown');
      assert.match(answer.error ?? '', new RegExp(`HTTP ${status}: Server Error`));
    });
  }

  it('a 500 on the repository check after a 404 is unknown, never gone', async () => {
    gh.fail(500, { match: /^\/repos\/[^/]+\/[^/]+$/ });
    assert.equal((await client().session().pull('acme', 'shop', 99)).state, 'unknown');
  });

  it('bad credentials are unknown', async () => {
    const answer = await createGitHubClient({ apiUrl: gh.url, token: 'wrong' }).session().pull('acme', 'shop', 2);
    assert.equal(answer.state, 'unknown');
    assert.match(answer.error ?? '', /HTTP 401: Bad credentials/);
  });

  for (const mode of ['primary', 'secondary', '429'] as const) {
    it(`rate limit (${mode}) is unknown, and the client stops asking until it resets`, async () => {
      gh.rateLimit(mode, { retryAfterSeconds: 30, resetInSeconds: 120 });
      const c = client();
      const first = await c.session().pull('acme', 'shop', 2);
      assert.equal(first.state, 'unknown');
      assert.match(first.error ?? '', /rate limited \(HTTP (403|429)/);
      gh.rateLimit(undefined);
      const second = await c.session().pull('acme', 'shop', 3);
      assert.equal(second.state, 'unknown');
      assert.match(second.error ?? '', /not asking again/);
      assert.equal(gh.requests.length, 1);
    });
  }

  it('an unreachable server is unknown', async () => {
    const dead = await startFakeGitHub();
    await dead.close();
    const answer = await createGitHubClient({ apiUrl: dead.url, token: TOKEN, timeoutMs: 2000 })
      .session()
      .pull('acme', 'shop', 1);
    assert.equal(answer.state, 'unknown');
    assert.match(answer.error ?? '', /GitHub request failed/);
  });

  it('lookupPrs maps projects to repositories; unmapped or tokenless stays unknown', async () => {
    const config = defaultConfig();
    config.sweeper.github.apiUrl = gh.url;
    config.sweeper.github.repositories = { shop: 'acme/shop' };
    const ns = (name: string): NamespaceInfo => ({
      name,
      labels: {},
      annotations: {},
      phase: 'Active',
      creationTimestamp: '2025-01-01T00:00:00Z',
      conditions: [],
      finalizers: [],
    });
    const namespaces = [ns('shop-pr-2'), ns('shop-pr-3'), ns('blog-pr-1'), ns('not-a-pr')];
    const withToken = await lookupPrs(namespaces, config, gitHubClientFromConfig(config, { GITHUB_TOKEN: TOKEN }));
    assert.deepEqual(withToken, {
      prs: {
        'shop-pr-2': { state: 'closed', ref: 'acme/shop#2', closedAt: '2025-06-01T10:00:00.000Z' },
        'shop-pr-3': { state: 'merged', ref: 'acme/shop#3', closedAt: '2025-06-01T11:00:00.000Z' },
        'blog-pr-1': { state: 'unknown', detail: 'no repository mapped for project blog' },
      },
      errors: [],
    });
    const tokenless = await lookupPrs(namespaces, config, gitHubClientFromConfig(config, {}));
    assert.deepEqual(tokenless.prs['shop-pr-2'], { state: 'unknown', detail: 'no GitHub token (env GITHUB_TOKEN)' });
    gh.fail(500);
    const failing = await lookupPrs(namespaces, config, gitHubClientFromConfig(config, { GITHUB_TOKEN: TOKEN }));
    assert.equal(failing.prs['shop-pr-2']?.state, 'unknown');
    assert.equal(failing.errors.length, 2);
  });
});

describe('github: pure helpers', () => {
  const h = (entries: Record<string, string>) => new Headers(entries);
  const now = 1_700_000_000_000;
  const cases: [number, Record<string, string>, number | undefined][] = [
    [200, { 'x-ratelimit-remaining': '0' }, undefined],
    [403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 90) }, 90_000],
    [403, { 'retry-after': '30' }, 30_000],
    [429, {}, 60_000],
    [403, { 'x-ratelimit-remaining': '12' }, undefined],
    [403, { 'retry-after': '999999' }, 3_600_000],
  ];
  for (const [status, headers, expected] of cases) {
    it(`rateLimitWaitMs(${status}, ${JSON.stringify(headers)}) = ${expected}`, () => {
      assert.equal(rateLimitWaitMs(status, h(headers), now), expected);
    });
  }
  it('pullStateOf', () => {
    assert.deepEqual(pullStateOf({ state: 'closed', merged: false, closed_at: 'T' }), {
      state: 'closed',
      closedAt: 'T',
    });
    assert.deepEqual(pullStateOf({ state: 'closed', merged_at: 'M', closed_at: 'T' }), {
      state: 'merged',
      closedAt: 'M',
    });
    assert.deepEqual(pullStateOf({ state: 'open' }), { state: 'open' });
    assert.deepEqual(pullStateOf({}), { state: 'unknown' });
  });
});
