// The state of a namespace's pull request, asked of the GitHub REST API. Every doubt is "unknown", never
// "closed": rate limits (403/429 with x-ratelimit-remaining: 0 or retry-after), 5xx, timeouts, bad credentials.
// A 404 of the PR counts as "gone" only when GET /repos/{owner}/{repo} itself answers 200 (a token that cannot see
// a private repository gets 404 for everything). Answers are cached for one run (a session); across runs the
// client asks with If-None-Match, and GitHub's 304 answers do not count against the rate limit, so a sweep every
// minute over many namespaces stays far below it; a rate limit is remembered until it resets.
import type { Config } from '../policies/config.ts';
import { matchNamespace } from '../policies/namespace.ts';
import type { NamespaceInfo, PrInfo } from './types.ts';

export interface GitHubClientOptions {
  /** https://api.github.com, or a GitHub Enterprise / fake server base URL. */
  apiUrl: string;
  token: string;
  userAgent?: string;
  timeoutMs?: number;
  /** Parallel requests within a session. */
  concurrency?: number;
  /** Wall clock in ms (rate-limit resets are real time, whatever the sweeper's --now). */
  clock?: () => number;
}

export interface PullAnswer extends PrInfo {
  /** Set when the answer is unknown because something failed (counted as an error). */
  error?: string;
}

export interface GitHubSession {
  pull(owner: string, repo: string, number: number): Promise<PullAnswer>;
}

export interface GitHubClient {
  /** A view with its own cache: one per sweep run. */
  session(): GitHubSession;
}

const MAX_BACKOFF_MS = 3_600_000;

export interface Fetched {
  status: number;
  headers: Headers;
  body: unknown;
}

interface PullBody {
  state?: string;
  merged?: boolean;
  merged_at?: string | null;
  closed_at?: string | null;
}

/** How long a rate-limited answer asks us to wait, or undefined when the answer is not a rate limit. */
export function rateLimitWaitMs(status: number, headers: Headers, nowMs: number): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null && /^\d+$/.test(retryAfter.trim()))
    return Math.min(Number(retryAfter) * 1000, MAX_BACKOFF_MS);
  if (headers.get('x-ratelimit-remaining') === '0') {
    const reset = Number(headers.get('x-ratelimit-reset'));
    return Number.isFinite(reset) && reset > 0
      ? Math.min(Math.max(reset * 1000 - nowMs, 1000), MAX_BACKOFF_MS)
      : 60_000;
  }
  return status === 429 ? 60_000 : undefined;
}

function messageOf(body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? `: ${message}` : '';
}

export function pullStateOf(body: PullBody): Pick<PrInfo, 'state' | 'closedAt'> {
  if (body.merged === true || (typeof body.merged_at === 'string' && body.merged_at !== '')) {
    return {
      state: 'merged',
      ...(body.merged_at ? { closedAt: body.merged_at } : body.closed_at ? { closedAt: body.closed_at } : {}),
    };
  }
  if (body.state === 'closed') return { state: 'closed', ...(body.closed_at ? { closedAt: body.closed_at } : {}) };
  if (body.state === 'open') return { state: 'open' };
  return { state: 'unknown' };
}

class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Answers kept for conditional requests: a 304 to If-None-Match does not count against the rate limit. */
type EtagCache = Map<string, { etag: string; res: Fetched }>;
const MAX_ETAGS = 5000;

/**
 * What the cache keeps of a 200 or 404 answer: its status and, of a body, the fields pullStateOf reads. A pull
 * request's JSON is tens of KB (its repositories, users, links); kept whole for thousands of PR namespaces, with
 * the headers of each answer, it would be most of the sidecar's memory.
 */
export function cachedAnswer(res: Fetched): Fetched {
  const body = res.body as PullBody | undefined;
  const kept =
    typeof body === 'object' && body !== null
      ? { state: body.state, merged: body.merged, merged_at: body.merged_at, closed_at: body.closed_at }
      : undefined;
  return { status: res.status, headers: new Headers(), body: kept };
}

async function get(opts: GitHubClientOptions, base: string, path: string, etags: EtagCache): Promise<Fetched> {
  const cached = etags.get(path);
  const response = await fetch(`${base}${path}`, {
    headers: {
      accept: 'application/vnd.github+json',
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      'user-agent': opts.userAgent ?? 'k8s-ee-sweeper',
      'x-github-api-version': '2022-11-28',
      ...(cached ? { 'if-none-match': cached.etag } : {}),
    },
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  if (response.status === 304 && cached) return cached.res;
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const res = { status: response.status, headers: response.headers, body };
  const etag = response.headers.get('etag');
  if (etag && (response.status === 200 || response.status === 404)) {
    if (etags.size >= MAX_ETAGS) etags.clear();
    etags.set(path, { etag, res: cachedAnswer(res) });
  }
  return res;
}

function unknown(ref: string, error: string): PullAnswer {
  return { state: 'unknown', ref, detail: error, error };
}

export function createGitHubClient(opts: GitHubClientOptions): GitHubClient {
  const clock = opts.clock ?? Date.now;
  const base = opts.apiUrl.replace(/\/+$/, '');
  const state = { blockedUntil: 0, blockedWhy: '' };
  const etags: EtagCache = new Map();

  /** Unknown with the reason when the answer is not a usable 200/404; undefined otherwise. */
  function failure(ref: string, res: Fetched): PullAnswer | undefined {
    const wait = rateLimitWaitMs(res.status, res.headers, clock());
    if (wait !== undefined) {
      state.blockedUntil = clock() + wait;
      state.blockedWhy = `rate limited (HTTP ${res.status}${messageOf(res.body)})`;
      return unknown(ref, `${state.blockedWhy}; retry in ${Math.ceil(wait / 1000)}s`);
    }
    if (res.status !== 200 && res.status !== 404)
      return unknown(ref, `GitHub answered HTTP ${res.status}${messageOf(res.body)}`);
    return undefined;
  }

  function session(): GitHubSession {
    const limiter = new Limiter(opts.concurrency ?? 4);
    const pulls = new Map<string, Promise<PullAnswer>>();
    const repos = new Map<string, Promise<PullAnswer | 'reachable'>>();

    async function guarded(ref: string, path: string): Promise<Fetched | PullAnswer> {
      if (clock() < state.blockedUntil)
        return unknown(
          ref,
          `${state.blockedWhy}; not asking again for ${Math.ceil((state.blockedUntil - clock()) / 1000)}s`,
        );
      try {
        const res = await limiter.run(() => get(opts, base, path, etags));
        return failure(ref, res) ?? res;
      } catch (err) {
        return unknown(ref, `GitHub request failed: ${(err as Error).message}`);
      }
    }

    function repoReachable(owner: string, repo: string, ref: string): Promise<PullAnswer | 'reachable'> {
      const key = `${owner}/${repo}`;
      let promise = repos.get(key);
      if (!promise) {
        promise = guarded(ref, `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`).then((res) => {
          if (!('headers' in res)) return res;
          return res.status === 200
            ? 'reachable'
            : unknown(ref, `PR not found and repository ${key} not reachable (HTTP ${res.status})`);
        });
        repos.set(key, promise);
      }
      return promise;
    }

    async function lookup(owner: string, repo: string, number: number): Promise<PullAnswer> {
      const ref = `${owner}/${repo}#${number}`;
      const res = await guarded(ref, `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/pulls/${number}`);
      if (!('headers' in res)) return res;
      if (res.status === 200)
        return { ...pullStateOf(typeof res.body === 'object' && res.body !== null ? res.body : {}), ref };
      const reachable = await repoReachable(owner, repo, ref);
      return reachable === 'reachable' ? { state: 'gone', ref } : reachable;
    }

    return {
      pull(owner, repo, number) {
        const key = `${owner}/${repo}#${number}`;
        let promise = pulls.get(key);
        if (!promise) {
          promise = lookup(owner, repo, number);
          pulls.set(key, promise);
        }
        return promise;
      },
    };
  }

  return { session };
}

/** A GitHub client when the configured token env var is set; otherwise undefined (PR states stay unknown). */
export function gitHubClientFromConfig(config: Config, env: NodeJS.ProcessEnv = process.env): GitHubClient | undefined {
  const token = env[config.sweeper.github.tokenEnv];
  if (!token) return undefined;
  return createGitHubClient({ apiUrl: config.sweeper.github.apiUrl, token });
}

export interface PrLookupResult {
  prs: Record<string, PrInfo>;
  errors: string[];
}

/** PR states of the managed namespaces whose project maps to a repository; unknown for the others. */
export async function lookupPrs(
  namespaces: NamespaceInfo[],
  config: Config,
  client: GitHubClient | undefined,
): Promise<PrLookupResult> {
  const prs: Record<string, PrInfo> = {};
  const errors: string[] = [];
  const session = client?.session();
  // One answer for all the namespaces that are unknown for the same reason (thousands without a token).
  const unknown = new Map<string, PrInfo>();
  const unknownFor = (detail: string): PrInfo => {
    const seen = unknown.get(detail);
    if (seen) return seen;
    const info: PrInfo = Object.freeze({ state: 'unknown', detail });
    unknown.set(detail, info);
    return info;
  };
  await Promise.all(
    namespaces.map(async (ns) => {
      const match = matchNamespace(ns.name, config);
      if (!match) return;
      const mapped = config.sweeper.github.repositories[match.project];
      if (!session || !mapped) {
        prs[ns.name] = unknownFor(
          session
            ? `no repository mapped for project ${match.project}`
            : `no GitHub token (env ${config.sweeper.github.tokenEnv})`,
        );
        return;
      }
      const [owner = '', repo = ''] = mapped.split('/');
      const { error, ...info } = await session.pull(owner, repo, match.number);
      prs[ns.name] = info;
      if (error) errors.push(`${ns.name}: ${error}`);
    }),
  );
  return { prs, errors };
}
