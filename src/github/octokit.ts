/**
 * One way to reach GitHub: @octokit/rest, with its `fetch` routed through the shared HTTP client
 * (src/http/client.ts), so 429/5xx/network retries, timeouts and connection reuse are the same
 * as everywhere else. Octokit itself does not retry without plugins. GitHub's own rate limits
 * (403 with x-ratelimit-remaining: 0, or a secondary limit with retry-after) are waited out here,
 * within a bound: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
 */
import { Octokit } from '@octokit/rest';
import { RollbackError } from '../errors';
import { createHttpClient, HttpClient, HttpClientOptions, retryAfterMs } from '../http/client';
import { addSecret } from '../log';

export interface GithubOptions {
  token?: string;
  /** API base; default https://api.github.com (GitHub Enterprise: https://host/api/v3). */
  apiUrl?: string;
  http?: HttpClientOptions;
  /** Longest wait for a rate limit to reset before giving up. Default 60 s. */
  maxRateLimitWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface Github {
  octokit: Octokit;
  apiUrl: string;
  close(): Promise<void>;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

export function createGithub(o: GithubOptions = {}): Github {
  if (o.token) addSecret(o.token);
  const apiUrl = (o.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const sleep = o.sleep ?? o.http?.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const maxWait = o.maxRateLimitWaitMs ?? 60_000;
  const http: HttpClient = createHttpClient({ ...o.http, sleep });

  /** A primary or secondary rate limit: how long until it lifts, or undefined when this is a plain 403. */
  function rateLimitWait(status: number, headers: Record<string, string>): number | undefined {
    if (status !== 403 && status !== 429) return undefined;
    const after = retryAfterMs(headers['retry-after']);
    if (after !== undefined) return after;
    if (headers['x-ratelimit-remaining'] === '0' && headers['x-ratelimit-reset']) {
      return Math.max(0, Number(headers['x-ratelimit-reset']) * 1000 - now()) + 1000;
    }
    return undefined;
  }

  const fetchVia = async (url: string | URL, init: RequestInit = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
    const method = (init.method ?? 'GET').toUpperCase() as 'GET';
    const body = typeof init.body === 'string' ? init.body : init.body == null ? undefined : Buffer.from(init.body as ArrayBuffer);
    for (let attempt = 1; ; attempt++) {
      const res = await http.request(String(url), { method, headers, body });
      const wait = rateLimitWait(res.status, res.headers);
      if (wait !== undefined && attempt < 3 && wait <= maxWait) {
        await sleep(wait);
        continue;
      }
      return new Response(NULL_BODY.has(res.status) ? null : res.body, { status: res.status, headers: res.headers });
    }
  };

  const octokit = new Octokit({
    auth: o.token,
    baseUrl: apiUrl,
    userAgent: 'jenkins-rollback',
    request: { fetch: fetchVia },
    // Octokit logs deprecation warnings with console; keep stdout for answers only.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return { octokit, apiUrl, close: () => http.close() };
}

/** One sentence for a failed GitHub call: what we did, where, the status and GitHub's message. */
export function githubError(err: unknown, what: string): RollbackError {
  if (err instanceof RollbackError) return err;
  const e = err as { status?: number; message?: string; response?: { headers?: Record<string, string>; data?: { message?: string } } };
  // Without a response, octokit wrapped a network failure of the shared client as a fake 500.
  const status = e.response ? e.status : undefined;
  const message = e.response?.data?.message ?? e.message ?? String(err);
  const limited = (status === 403 || status === 429) && (e.response?.headers?.['x-ratelimit-remaining'] === '0' || e.response?.headers?.['retry-after']);
  const hint =
    limited ? 'the GitHub rate limit is exhausted; try again later or use a token with a higher limit' :
    status === 401 ? 'the GitHub token was refused (github.token)' :
    status === 403 ? `the GitHub token may not do this (${message})` :
    status === 404 ? `not found, or the token cannot see it (${message})` : message;
  return new RollbackError('failed', `${what} failed${status ? ` (HTTP ${status})` : ''}: ${hint.replace(/\.$/, '')}.`, {
    cause: err,
    retryable: status === undefined || status === 429 || status >= 500 || Boolean(limited),
  });
}
