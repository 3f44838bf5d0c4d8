// A small local GitHub REST server for tests: real paths, JSON shapes, status codes and headers of
// GET /repos/{owner}/{repo}, GET /repos/{owner}/{repo}/pulls/{number} and GET /rate_limit, with programmable PR
// states, failures and rate limiting (primary: 403 + x-ratelimit-remaining: 0; secondary: 403/429 + retry-after).
// It listens on 127.0.0.1 only. Tests point the sweeper's github.apiUrl at `url`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export type FakePullState = 'open' | 'closed' | 'merged';

export interface FakeGitHubOptions {
  /** The token the server accepts (Bearer or token scheme); any other token gets 401 Bad credentials. */
  token?: string;
  /** Requests per hour for an authenticated client (x-ratelimit-limit); 60 for anonymous ones, as on github.com. */
  rateLimit?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  userAgent?: string;
  status: number;
}

export interface FakeGitHub {
  url: string;
  /** Makes a repository exist; `private` ones answer 404 to anonymous requests, as on github.com. */
  addRepo(fullName: string, opts?: { private?: boolean }): void;
  /** Sets a PR's state (the repository is created if needed); closed/merged get closed_at/merged_at of `at`. */
  setPull(fullName: string, number: number, state: FakePullState, at?: Date): void;
  removePull(fullName: string, number: number): void;
  /** Every request (paths matching `match`, all by default) answers `status` with GitHub's error body; undefined clears. */
  fail(status: number | undefined, opts?: { times?: number; match?: RegExp }): void;
  /** primary: the quota is used up (403, remaining 0, reset); secondary: 403 + retry-after; 429: 429 + retry-after. */
  rateLimit(
    mode: 'primary' | 'secondary' | '429' | undefined,
    opts?: { retryAfterSeconds?: number; resetInSeconds?: number },
  ): void;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

interface Pull {
  number: number;
  state: FakePullState;
  createdAt: string;
  at?: string;
}

interface Repo {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  pulls: Map<number, Pull>;
}

const DOCS = 'https://docs.github.com/rest';

function userJson(login: string, id: number): Record<string, unknown> {
  return {
    login,
    id,
    node_id: `U_${id}`,
    type: login.endsWith('-bot') ? 'Bot' : 'User',
    site_admin: false,
    html_url: `https://github.com/${login}`,
    url: `https://api.github.com/users/${login}`,
  };
}

function repoJson(repo: Repo): Record<string, unknown> {
  const full = `${repo.owner}/${repo.name}`;
  return {
    id: repo.id,
    node_id: `R_${repo.id}`,
    name: repo.name,
    full_name: full,
    private: repo.private,
    visibility: repo.private ? 'private' : 'public',
    owner: userJson(repo.owner, 1000 + repo.id),
    html_url: `https://github.com/${full}`,
    url: `https://api.github.com/repos/${full}`,
    default_branch: 'main',
    archived: false,
    disabled: false,
  };
}

function pullJson(repo: Repo, pull: Pull): Record<string, unknown> {
  const full = `${repo.owner}/${repo.name}`;
  const closed = pull.state !== 'open';
  const merged = pull.state === 'merged';
  const sha = createHash('sha1').update(`${full}#${pull.number}#${pull.state}`).digest('hex');
  const branch = (ref: string) => ({
    label: `${repo.owner}:${ref}`,
    ref,
    sha,
    user: userJson(repo.owner, 1000 + repo.id),
    repo: repoJson(repo),
  });
  return {
    url: `https://api.github.com/repos/${full}/pulls/${pull.number}`,
    id: repo.id * 100_000 + pull.number,
    node_id: `PR_${repo.id}_${pull.number}`,
    html_url: `https://github.com/${full}/pull/${pull.number}`,
    number: pull.number,
    state: closed ? 'closed' : 'open',
    locked: false,
    title: `Change ${pull.number}`,
    user: userJson('octocat', 1),
    body: null,
    created_at: pull.createdAt,
    updated_at: pull.at ?? pull.createdAt,
    closed_at: closed ? (pull.at ?? null) : null,
    merged_at: merged ? (pull.at ?? null) : null,
    merge_commit_sha: merged ? sha : null,
    draft: false,
    head: branch(`feature-${pull.number}`),
    base: branch('main'),
    merged,
    mergeable: closed ? null : true,
    merged_by: merged ? userJson('octocat', 1) : null,
    comments: 0,
    commits: 1,
    additions: 1,
    deletions: 0,
    changed_files: 1,
  };
}

export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const repos = new Map<string, Repo>();
  const requests: RecordedRequest[] = [];
  const limit = options.rateLimit ?? 5000;
  let used = 0;
  let windowReset = Math.floor(Date.now() / 1000) + 3600;
  let failure: { status: number; times: number; match: RegExp } | undefined;
  let limited: { mode: 'primary' | 'secondary' | '429'; retryAfter: number; reset: number } | undefined;
  let nextRepoId = 1;

  const ensureRepo = (fullName: string): Repo => {
    const [owner = '', name = ''] = fullName.split('/');
    const key = `${owner}/${name}`.toLowerCase();
    let repo = repos.get(key);
    if (!repo) {
      repo = { id: nextRepoId++, owner, name, private: false, pulls: new Map() };
      repos.set(key, repo);
    }
    return repo;
  };

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  function rateHeaders(authenticated: boolean): Record<string, string> {
    const now = Math.floor(Date.now() / 1000);
    if (now >= windowReset) {
      used = 0;
      windowReset = now + 3600;
    }
    const max = authenticated ? limit : 60;
    return {
      'x-ratelimit-limit': String(max),
      'x-ratelimit-remaining': String(Math.max(0, max - used)),
      'x-ratelimit-reset': String(windowReset),
      'x-ratelimit-used': String(used),
      'x-ratelimit-resource': 'core',
    };
  }

  function rateLimited(res: ServerResponse, authenticated: boolean): number | undefined {
    if (!limited) return undefined;
    const base = rateHeaders(authenticated);
    if (limited.mode === 'primary') {
      const headers = {
        ...base,
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': base['x-ratelimit-limit'] ?? '5000',
        'x-ratelimit-reset': String(limited.reset),
      };
      send(
        res,
        403,
        {
          message: 'API rate limit exceeded for user ID 1.',
          documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api`,
          status: '403',
        },
        headers,
      );
      return 403;
    }
    const status = limited.mode === '429' ? 429 : 403;
    const message = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';
    send(
      res,
      status,
      {
        message,
        documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
        status: String(status),
      },
      { ...base, 'retry-after': String(limited.retryAfter) },
    );
    return status;
  }

  function route(path: string, authenticated: boolean, res: ServerResponse, ifNoneMatch?: string): number {
    const rate = rateHeaders(authenticated);
    if (path === '/rate_limit') {
      const core = {
        limit: Number(rate['x-ratelimit-limit']),
        remaining: Number(rate['x-ratelimit-remaining']),
        reset: windowReset,
        used,
      };
      send(res, 200, { resources: { core }, rate: core }, rate);
      return 200;
    }
    const match = /^\/repos\/([^/]+)\/([^/]+)(?:\/pulls\/(\d+))?\/?$/.exec(path);
    const repo = match
      ? repos.get(`${decodeURIComponent(match[1] ?? '')}/${decodeURIComponent(match[2] ?? '')}`.toLowerCase())
      : undefined;
    const visible = repo && (!repo.private || authenticated);
    const pull = match?.[3] !== undefined ? repo?.pulls.get(Number(match[3])) : undefined;
    if (!match || !visible || (match[3] !== undefined && !pull)) {
      const docs =
        match?.[3] !== undefined ? `${DOCS}/pulls/pulls#get-a-pull-request` : `${DOCS}/repos/repos#get-a-repository`;
      send(res, 404, { message: 'Not Found', documentation_url: docs, status: '404' }, rate);
      return 404;
    }
    return sendWithEtag(res, pull ? pullJson(repo, pull) : repoJson(repo), ifNoneMatch, authenticated);
  }

  /** 200 with an ETag, or 304 when If-None-Match names it; like GitHub, a 304 costs no rate limit. */
  function sendWithEtag(
    res: ServerResponse,
    body: unknown,
    ifNoneMatch: string | undefined,
    authenticated: boolean,
  ): number {
    const etag = `W/"${createHash('sha256').update(JSON.stringify(body)).digest('hex')}"`;
    if (ifNoneMatch === etag) {
      used--;
      res.writeHead(304, { etag, ...rateHeaders(authenticated) });
      res.end();
      return 304;
    }
    send(res, 200, body, { ...rateHeaders(authenticated), etag, 'cache-control': 'private, max-age=60, s-maxage=60' });
    return 200;
  }

  function handle(req: IncomingMessage, res: ServerResponse): number {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET') {
      send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      return 404;
    }
    if (!req.headers['user-agent']) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).\n',
      );
      return 403;
    }
    const auth = req.headers.authorization;
    const token = auth ? /^(?:Bearer|token)\s+(.+)$/i.exec(auth)?.[1] : undefined;
    if (auth && (!token || (options.token !== undefined && token !== options.token))) {
      send(res, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
      return 401;
    }
    const authenticated = token !== undefined;
    const limitedStatus = rateLimited(res, authenticated);
    if (limitedStatus !== undefined) return limitedStatus;
    if (failure && failure.times > 0 && failure.match.test(path)) {
      failure.times--;
      const status = failure.status;
      send(
        res,
        status,
        { message: status >= 500 ? 'Server Error' : 'Error', documentation_url: DOCS, status: String(status) },
        rateHeaders(authenticated),
      );
      return status;
    }
    if (path !== '/rate_limit') used++; // as on GitHub, asking for the rate limit is free
    return route(path, authenticated, res, req.headers['if-none-match']);
  }

  const server = createServer((req, res) => {
    const status = handle(req, res);
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      status,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addRepo(fullName, opts = {}) {
      ensureRepo(fullName).private = opts.private ?? false;
    },
    setPull(fullName, number, state, at = new Date()) {
      const repo = ensureRepo(fullName);
      const created = repo.pulls.get(number)?.createdAt ?? new Date(at.getTime() - 3_600_000).toISOString();
      repo.pulls.set(number, {
        number,
        state,
        createdAt: created,
        ...(state === 'open' ? {} : { at: at.toISOString() }),
      });
    },
    removePull(fullName, number) {
      ensureRepo(fullName).pulls.delete(number);
    },
    fail(status, opts = {}) {
      failure =
        status === undefined
          ? undefined
          : { status, times: opts.times ?? Number.POSITIVE_INFINITY, match: opts.match ?? /./ };
    },
    rateLimit(mode, opts = {}) {
      const reset = Math.floor(Date.now() / 1000) + (opts.resetInSeconds ?? 600);
      limited = mode === undefined ? undefined : { mode, retryAfter: opts.retryAfterSeconds ?? 60, reset };
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
