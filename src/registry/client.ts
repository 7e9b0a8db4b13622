/**
 * A client for the Docker Registry HTTP API v2 / OCI distribution API:
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md
 * It probes /v2/, authenticates (anonymous, basic, bearer token), lists tags page by page, reads
 * manifests and config blobs, and dates images as DESIGN.md defines it. Every request goes
 * through the shared HTTP client (retries, backoff) and one keep-alive agent, and holds one slot
 * of a limiter sized registry.concurrency, so the bound holds across repositories and tags.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RegistryConfig } from '../config/types';
import { failure, inputError, RollbackError } from '../errors';
import {
  createAgent,
  createHttpClient,
  displayUrl,
  networkEnvironment,
  proxySettings,
  HttpClientOptions,
  HttpResponse,
  parseJson,
  parseJsonObject,
  RequestOptions,
  statusError,
} from '../http/client';
import { addSecret, Logger } from '../log';
import { parseChallenges, pullScope, TokenAnswer, TokenCache, tokenLifetime, tokenOf } from './auth';
import { configDate as datedConfig, CREATED_ANNOTATION, mergeProvenance, Provenance, provenanceOf, readImageConfig, DATE_LABELS, descriptorDate, MANIFEST_ACCEPT, parseManifest, ParsedManifest, pickPlatform } from './manifest';
import { createLimiter } from './limit';
import { describeCredentials, findCredentials, isDockerHub, RegistryCredentials } from './credentials';

export interface ImageDate {
  /** Creation time, ISO 8601 UTC. */
  created: string;
  /** Digest of the manifest the reference points at (for an index: the index itself). */
  digest: string;
  /** Revision and source from the config labels (manifest annotations as a fallback), when the image carries them. */
  provenance?: Provenance;
}

export type AuthMode = 'anonymous' | 'basic' | 'bearer';

export interface RegistryClient {
  /** Probes /v2/ (once) and says how the registry wants to be spoken to. */
  probe(): Promise<AuthMode>;
  /** Every tag of a repository, following Link pagination. */
  tags(repository: string): Promise<string[]>;
  /** The manifest digest a tag points at, by HEAD (Docker Hub does not count HEAD as a pull). */
  digest(repository: string, tag: string): Promise<string>;
  /** Whether the registry still holds this manifest (HEAD by digest): the run's preflight. */
  hasManifest(repository: string, digest: string): Promise<boolean>;
  /** The image's date and manifest digest; reference is a tag or a digest. */
  imageDate(repository: string, reference: string): Promise<ImageDate>;
  /**
   * A request about one repository (`rest`: a path under /v2/<repository>/, a /v2/ path, or an upload's
   * absolute Location), with the client's credentials; `push` asks for a pull,push token.
   * For the release-point ledger's small OCI artifacts (src/ledger/registry.ts).
   */
  repositoryRequest?(repository: string, rest: string, o?: RequestOptions, push?: boolean): Promise<HttpResponse>;
  /** HTTP requests sent so far (retries included). */
  requests(): number;
  /** How the registry was spoken to: "HTTP/2, 1 connection" (undefined before any connection). */
  transport?(): string | undefined;
  /** Requests it keeps in flight now (registry.concurrency, widened on HTTP/2, halved by a 429). */
  concurrency?(): number;
  close(): Promise<void>;
}

export interface RegistryClientOptions {
  logger: Logger;
  /** Passed to the shared HTTP client (tests pass sleep, attempts, timeoutMs). */
  http?: HttpClientOptions;
  onRequest?: (method: string, url: string) => void;
  /** Clock for token expiry. */
  now?: () => number;
  /** Tags asked for per page (`n`). Default 1000. */
  pageSize?: number;
  /** Most pages of tags read per repository before giving up. Default 1000. */
  maxPages?: number;
  /** Where DOCKER_CONFIG, HOME and PATH (for credential helpers) are read. Default: the worker's. */
  env?: NodeJS.ProcessEnv;
  /** Docker Hub's API (default https://registry-1.docker.io); tests point it at a double. */
  hubApi?: string;
  /** Credentials already found (null: anonymous); default: looked up in docker's order. */
  credentials?: RegistryCredentials | null;
}

/**
 * A tag that cannot be dated (no date in it, an unknown manifest kind, deleted while we read):
 * the source skips it with a warning instead of failing the whole get.
 */
export class SkippedImage extends RollbackError {
  /** True when the image was read but has no usable date (the plan says so in words). */
  readonly undated: boolean;
  constructor(message: string, undated = false) {
    super('failed', message);
    this.name = 'SkippedImage';
    this.undated = undated;
  }
}

/** Image indexes followed inside one another before giving up. */
export const MAX_INDEX_DEPTH = 4;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * A registry under a path (Artifactory's repository-path method, https://host/artifactory/api/docker/<repo>)
 * may send `Link: </v2/...>` without its prefix: the next page is asked for under the prefix.
 * https://jfrog.com/help/r/jfrog-artifactory-documentation/the-repository-path-method-for-docker
 */
export function keepPrefix(next: string | undefined, base: string): string | undefined {
  if (!next) return next;
  const prefix = new URL(base).pathname.replace(/\/+$/, '');
  const u = new URL(next);
  if (prefix && u.origin === new URL(base).origin && u.pathname.startsWith('/v2/') && !u.pathname.startsWith(`${prefix}/v2/`)) u.pathname = `${prefix}${u.pathname}`;
  return u.toString();
}

/** The next page from `Link: </v2/x/tags/list?n=2&last=b>; rel="next"`, resolved against the current URL. */
export function nextLink(header: string | undefined, current: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*;(.*)$/s.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2])) return new URL(m[1], current).toString();
  }
  return undefined;
}

function readTlsFile(file: string, key: 'ca' | 'cert' | 'key'): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw inputError(`registry.${key} file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/i;

/** A failure of HTTP/2 itself (streams reset, the session refused) says the way that works. */
function brokenHttp2(err: unknown): unknown {
  const code = String((err as { cause?: { code?: string } }).cause?.code ?? '');
  if (!(err instanceof RollbackError) || !code.startsWith('ERR_HTTP2_')) return err;
  return new RollbackError('failed', `${err.message.replace(/\.$/, '')}; if the registry, or a proxy or load balancer in front of it, breaks HTTP/2, set registry.http2: false to speak HTTP/1.1.`, {
    cause: err.cause,
    retryable: err.retryable,
  });
}

/** Docker Hub's API host, whatever spelling of the Hub the configuration uses. */
const HUB_API = 'https://registry-1.docker.io';

/** Docker Hub's pull allowance from `RateLimit-Remaining: 76;w=21600` (https://docs.docker.com/docker-hub/usage/pulls/). */
export function hubRateLimit(headers: Record<string, string>): { remaining: number; limit?: number; windowSeconds?: number } | undefined {
  const parse = (v: string | undefined) => {
    const m = v ? /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(v) : null;
    return m ? { n: Number(m[1]), w: m[2] !== undefined ? Number(m[2]) : undefined } : undefined;
  };
  const remaining = parse(headers['ratelimit-remaining']);
  if (!remaining) return undefined;
  const limit = parse(headers['ratelimit-limit']);
  return { remaining: remaining.n, limit: limit?.n, windowSeconds: remaining.w ?? limit?.w };
}

function hubLimitSentence(rate: ReturnType<typeof hubRateLimit>, refused: boolean, loggedIn: boolean): string {
  const left = rate ? `${rate.remaining}${rate.limit !== undefined ? ` of ${rate.limit}` : ''} pulls left` : 'no pulls left';
  const back = rate?.windowSeconds ? `they come back within ${Math.ceil(rate.windowSeconds / 3600)} h` : 'they come back within 6 h';
  const login = loggedIn ? '' : '; log in (docker login) for a higher limit';
  return refused
    ? `Docker Hub refused more requests (429 Too Many Requests, ${left}); ${back}${login}.`
    : `Docker Hub: ${left} for this ${loggedIn ? 'account' : 'address'}; ${back}${login}.`;
}

/** Pulls counted before a warning is given (RateLimit-Remaining at or under it). */
const HUB_LOW = 10;

/**
 * Requests in flight on an HTTP/2 registry when registry.concurrency is not set: streams on one
 * connection cost the registry no more connections, so more of them are kept in flight than on
 * HTTP/1.1 (8 connections). Chosen with `npm run bench` (docs/bench.md).
 */
export const HTTP2_STREAMS = 32;

/**
 * Config blobs already read in this run, by digest (several tags of one build share a config):
 * bounded, as a map of every config was ~10 MB at 100k tags; the date cache keeps what later
 * runs need.
 */
const DATED_CONFIGS = 4096;

export function createRegistryClient(registry: RegistryConfig, opts: RegistryClientOptions): RegistryClient {
  const configured = registry.url.replace(/\/+$/, '');
  const host = new URL(configured).host;
  const hub = isDockerHub(new URL(configured).hostname);
  /** Where the API is: the configured URL (a path kept, as Artifactory's), moved by a redirect of /v2/. */
  let base = hub ? (opts.hubApi ?? HUB_API) : configured;
  const logger = opts.logger;
  const now = opts.now ?? Date.now;
  const pageSize = opts.pageSize ?? 1000;
  const maxPages = opts.maxPages ?? 1000;
  const env = opts.env ?? networkEnvironment();
  addSecret(registry.password);
  const tls = registry.ca || registry.insecure || registry.cert
    ? {
        ca: registry.ca ? readTlsFile(registry.ca, 'ca') : undefined,
        cert: registry.cert ? readTlsFile(registry.cert, 'cert') : undefined,
        key: registry.key ? readTlsFile(registry.key, 'key') : undefined,
        insecure: registry.insecure,
        from: [registry.ca ? 'registry.ca' : '', registry.cert ? 'registry.cert and registry.key' : ''].filter(Boolean).join(', '),
      }
    : undefined;
  /** Connections opened, by origin and protocol (for the summary and the HTTP/2 default). */
  const opened = new Map<string, { h2: number; h1: number }>();
  const agent = createAgent(tls, registry.concurrency, {
    http2: registry.http2 !== false,
    streams: Math.max(registry.concurrency, HTTP2_STREAMS),
    onConnection: (origin, protocol) => {
      const n = opened.get(origin) ?? { h2: 0, h1: 0 };
      if (protocol === 'h2') n.h2++;
      else n.h1++;
      opened.set(origin, n);
      logger.debug(`new connection to ${origin}: ${protocol === 'h2' ? 'HTTP/2' : 'HTTP/1.1'}`);
    },
  });
  let count = 0;
  /** Times the requests in flight were lowered; a request remembers the number it started under. */
  let lowered = 0;
  let throttled = false;
  const http = createHttpClient({
    ...opts.http,
    dispatcher: agent,
    onRequest: (method, url) => {
      count++;
      logger.debug(`${method} ${displayUrl(url)}`);
      opts.http?.onRequest?.(method, url);
      opts.onRequest?.(method, url);
    },
    onRetry: (reason, waitMs) => {
      logger.debug(`retrying in ${waitMs} ms: ${reason}`);
      opts.http?.onRetry?.(reason, waitMs);
    },
  });
  const limiter = createLimiter(registry.concurrency);
  /**
   * The registry asks for less: fewer requests in flight for the rest of the run, and none started
   * before its Retry-After, instead of every waiting request trying again at once. Halved once per
   * wave: a 429 to a request sent before the last lowering says nothing about the new bound (as
   * TCP halves its window once per round trip), so a burst of them does not fall to 1.
   */
  const throttle = (retryAfterMs: number | undefined, startedUnder: number) => {
    throttled = true;
    const pause = retryAfterMs ? Math.min(retryAfterMs, opts.http?.maxWaitMs ?? 30_000) : 0;
    if (pause) limiter.pauseUntil(now() + pause);
    const was = limiter.size();
    const lower = Math.max(1, Math.floor(was / 2));
    if (startedUnder < lowered || lower === was) return;
    lowered++;
    limiter.resize(lower);
    logger.info(`Registry ${configured} answered 429 Too Many Requests: at most ${lower} requests in flight from now on (was ${was})${pause ? `, none started for ${Math.ceil(pause / 1000)} s` : ''}.`);
  };
  const tokens = new TokenCache(now);
  const pendingTokens = new Map<string, Promise<string>>();
  let found: Promise<RegistryCredentials | undefined> | undefined;
  /** The credentials, found once (a helper is run at most once per get), and said where from. */
  const credentials = () =>
    (found ??= (opts.credentials !== undefined ? Promise.resolve(opts.credentials ?? undefined) : findCredentials(registry, host, env)).then((c) => {
      // Said at normal verbosity when they came from the agent's docker configuration, so a
      // surprise ("why this account?") is visible without --debug.
      if (c && c.from.startsWith('docker config')) logger.info(describeCredentials(host, c));
      else logger.debug(describeCredentials(host, c));
      return c;
    }));
  const basicOf = (c: RegistryCredentials | undefined) =>
    c?.username !== undefined && c.password !== undefined ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  let probed: Promise<AuthMode> | undefined;
  /** How the registry wants to be spoken to, learnt from the probe and from any later 401. */
  let mode: AuthMode = 'anonymous';
  let bearer: { realm: string; service?: string } | undefined;
  let hubWarned = false;
  const pendingConfigs = new Map<string, Promise<{ created?: string; provenance?: Provenance }>>();
  const datedConfigs = new Map<string, { created?: string; provenance?: Provenance }>();

  // Registries answer HEAD without a body, so its connection can be reused (see keepAliveAfterHead).
  const send = (url: string, o: RequestOptions) =>
    limiter
      .run(() => {
        const startedUnder = lowered;
        return http.request(url, { keepAliveAfterHead: true, ...o, onThrottled: (ms) => throttle(ms, startedUnder) });
      })
      .catch((err: unknown) => {
        throw brokenHttp2(err);
      });

  const whose = (c: RegistryCredentials | undefined) => (c?.username !== undefined ? `user '${c.username}'` : 'the identity token');
  const howToFix = (c: RegistryCredentials | undefined) =>
    c?.from.startsWith('rollback.yml')
      ? 'check registry.username and registry.password'
      : `they came from ${c?.from}: log in again (docker login ${host}) or set registry.username and registry.password`;
  const wrongCredentials = async (where: string, res: HttpResponse) => {
    const c = await credentials();
    return inputError(`Registry ${configured} refused the credentials of ${whose(c)} (${res.status} at ${displayUrl(res.url)}${where}); ${howToFix(c)}.`);
  };
  const needsLogin = (res: HttpResponse) =>
    inputError(`Registry ${configured} asks for a login (${res.status} at ${displayUrl(res.url)}); set registry.username and registry.password, or run docker login ${host} on this agent.`);
  const loggedIn = async () => Boolean(await credentials());

  /**
   * Learns the way to authenticate from a 401's challenges, read one by one: Bearer with a usable
   * realm first, else Basic. A token realm on plain http for an https registry is refused.
   */
  async function learn(res: HttpResponse): Promise<void> {
    const header = res.headers['www-authenticate'];
    const challenges = parseChallenges(header);
    const b = challenges.find((c) => c.scheme === 'bearer' && c.params.realm && /^https?:\/\//i.test(c.params.realm));
    if (b) {
      const realm = b.params.realm;
      if (new URL(base).protocol === 'https:' && new URL(realm).protocol === 'http:') {
        throw inputError(`Registry ${configured} names a token server on plain http (${displayUrl(realm)}); refusing to send credentials or tokens in clear text, so its realm must be https.`);
      }
      bearer = { realm, service: b.params.service };
      mode = 'bearer';
      return;
    }
    if (challenges.length === 0 || challenges.some((c) => c.scheme === 'basic')) {
      if (!basicOf(await credentials())) throw needsLogin(res);
      mode = 'basic';
      return;
    }
    if (challenges.some((c) => c.scheme === 'bearer')) throw failure(`Registry ${configured} asks for a token but names no usable realm (WWW-Authenticate: ${header}).`);
    throw failure(`Registry ${configured} asks for '${challenges[0].scheme}' authentication, which this worker does not speak (basic and bearer only).`);
  }

  /**
   * Follows redirects by hand: registries send blobs to storage (S3, GCS) with 307, and the
   * registry's Authorization must not travel to another origin (the signed URL carries its own).
   * https://distribution.github.io/distribution/spec/api/#pulling-a-layer
   */
  async function follow(url: string, o: RequestOptions): Promise<HttpResponse> {
    let current = url;
    let headers = { ...o.headers };
    for (let hop = 0; ; hop++) {
      const res = await send(current, { ...o, headers });
      if (!REDIRECTS.has(res.status) || !res.headers.location) return res;
      if (hop >= 5) throw failure(`${displayUrl(url)} redirects more than 5 times.`);
      const next = new URL(res.headers.location, current);
      if (next.origin !== new URL(current).origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next.toString();
    }
  }

  async function probeOnce(): Promise<AuthMode> {
    // Credentials first: a broken helper or config.json is said before any request, once.
    await credentials();
    const url = `${base}/v2/`;
    let res: HttpResponse;
    try {
      res = await follow(url, {});
    } catch (err) {
      if (err instanceof RollbackError && !err.retryable && !(err.cause as { code?: string })?.code) throw err;
      const code = String((err as { cause?: { code?: string } }).cause?.code ?? '');
      const hint = TLS_CODES.test(code) ? ' For a registry on a private CA, set registry.ca to its CA file (or registry.insecure: true); it is added to the system roots.' : '';
      const proxy = proxySettings(env);
      const via = proxy.httpsProxy || proxy.httpProxy ? ` (through the proxy from HTTPS_PROXY/HTTP_PROXY; NO_PROXY='${proxy.noProxy}')` : '';
      throw new RollbackError('failed', `Registry ${configured} cannot be reached${via}: ${(err as Error).message}${hint}`, { cause: err });
    }
    // /v2/ moved (http -> https, another path): the API is where the redirect ended.
    if (res.url !== url && /\/v2\/?$/.test(new URL(res.url).pathname)) base = res.url.replace(/\/v2\/?(\?.*)?$/, '');
    if (res.status === 200) return 'anonymous';
    if (res.status === 404) throw inputError(`${configured} does not look like a Docker registry: GET ${displayUrl(url)} answered 404 Not Found (check registry.url).`);
    if (res.status !== 401) throw statusError(res, 'GET', 'the registry is not answering as a Docker registry should');
    await learn(res);
    if (mode === 'basic') {
      const again = await follow(`${base}/v2/`, { headers: { authorization: basicOf(await credentials())! } });
      if (again.status === 401 || again.status === 403) throw await wrongCredentials('', again);
      if (again.status !== 200) throw statusError(again, 'GET');
    }
    return mode;
  }

  const probe = () =>
    (probed ??= probeOnce().then((m) => {
      // HTTP/2 and no concurrency set: more streams on the one connection (never after a 429).
      if (!registry.concurrencySet && !throttled && opened.get(new URL(base).origin)?.h2 && limiter.size() < HTTP2_STREAMS) {
        limiter.resize(HTTP2_STREAMS);
        logger.debug(`Registry ${configured} speaks HTTP/2: ${HTTP2_STREAMS} requests in flight on one connection.`);
      }
      return m;
    }));

  async function fetchToken(scope: string): Promise<string> {
    const c = await credentials();
    const basic = basicOf(c);
    let res: HttpResponse;
    if (c?.identityToken) {
      // An identity (refresh) token is exchanged by POST, OAuth2 style; ACR's /oauth2/token is this.
      // https://distribution.github.io/distribution/spec/auth/oauth/
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'jenkins-rollback', scope });
      if (bearer!.service) form.set('service', bearer!.service);
      res = await send(bearer!.realm, { method: 'POST', idempotent: true, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    } else {
      const url = new URL(bearer!.realm);
      if (bearer!.service) url.searchParams.set('service', bearer!.service);
      url.searchParams.set('scope', scope);
      res = await send(url.toString(), { headers: basic ? { authorization: basic } : {} });
    }
    if (res.status === 401 || res.status === 403) {
      if (c) throw await wrongCredentials(', the token server', res);
      throw needsLogin(res);
    }
    if (res.status !== 200) throw statusError(res, c?.identityToken ? 'POST' : 'GET', 'the token server did not give a token');
    const answer = parseJsonObject<TokenAnswer>(res, 'token answer') as TokenAnswer;
    const token = tokenOf(answer);
    if (!token) throw failure(`The token server ${displayUrl(res.url)} answered without a token (neither 'token' nor 'access_token').`);
    addSecret(token);
    tokens.set(scope, token, tokenLifetime(answer));
    return token;
  }

  /** One token request per scope at a time, however many requests wait for it. */
  async function token(scope: string): Promise<string> {
    const cached = tokens.get(scope);
    if (cached) return cached;
    let pending = pendingTokens.get(scope);
    if (!pending) {
      pending = fetchToken(scope).finally(() => pendingTokens.delete(scope));
      pendingTokens.set(scope, pending);
    }
    return pending;
  }

  /** Docker Hub's official images live under library/ ("nginx" is "library/nginx"). */
  const apiName = (repository: string) => (hub && !repository.includes('/') ? `library/${repository}` : repository);

  /** The token scope of a request: pull, or pull and push (the release-point ledger, src/ledger/registry.ts). */
  const scopeOf = (repository: string, push: boolean) => (push ? `repository:${apiName(repository)}:pull,push` : pullScope(apiName(repository)));

  async function authHeaders(repository: string, push = false): Promise<Record<string, string>> {
    await probe();
    if (mode === 'basic') return { authorization: basicOf(await credentials())! };
    if (mode === 'bearer') return { authorization: `Bearer ${await token(scopeOf(repository, push))}` };
    return {};
  }

  async function watchHub(res: HttpResponse): Promise<void> {
    if (!hub) return;
    const rate = hubRateLimit(res.headers);
    if (res.status === 429) throw new RollbackError('failed', hubLimitSentence(rate, true, await loggedIn()), { retryable: true });
    if (rate && rate.remaining <= HUB_LOW && !hubWarned) {
      hubWarned = true;
      logger.warn(hubLimitSentence(rate, false, await loggedIn()));
    }
  }

  /**
   * A request for one repository, authenticated. A 401 is answered wherever it comes (a registry
   * whose /v2/ is public but whose repositories are not): its challenge is learnt and the request
   * sent once more, with a fresh token for bearer.
   */
  async function call(repository: string, url: string, o: RequestOptions = {}, push = false): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const res = await follow(url, { ...o, headers: { ...o.headers, ...(await authHeaders(repository, push)) } });
      await watchHub(res);
      if (res.status === 401 && attempt === 0) {
        await learn(res);
        if (mode === 'bearer') tokens.drop(scopeOf(repository, push));
        continue;
      }
      const c = await credentials();
      if (res.status === 401) throw c && mode !== 'anonymous' ? await wrongCredentials('', res) : needsLogin(res);
      if (res.status === 403) {
        throw inputError(`Registry ${configured} does not let ${c ? whose(c) : 'anonymous users'} ${push ? 'push to' : 'pull'} ${repository} (403 Forbidden at ${displayUrl(res.url)}).`);
      }
      return res;
    }
  }

  const repoUrl = (repository: string, rest: string) => `${base}/v2/${apiName(repository)}/${rest}`;

  async function tags(repository: string): Promise<string[]> {
    const all: string[] = [];
    let url: string | undefined = repoUrl(repository, `tags/list?n=${pageSize}`);
    const origin = new URL(base).origin;
    const seen = new Set<string>();
    for (let page = 1; url; page++) {
      if (seen.has(url)) throw failure(`Repository ${repository} on ${base}: the tag list pages loop back to ${displayUrl(url)}; the registry's pagination is broken.`);
      seen.add(url);
      if (page > maxPages) throw failure(`Repository ${repository} on ${base} has more than ${maxPages} pages of tags; the list was not read to the end.`);
      const res = await call(repository, url, { headers: { accept: 'application/json' } });
      if (res.status === 404) throw inputError(`Repository ${repository} does not exist on ${base} (GET ${displayUrl(res.url)} answered 404 Not Found).`);
      if (res.status !== 200) throw statusError(res, 'GET');
      const body = parseJsonObject<{ tags?: unknown }>(res, 'tag list');
      // The registry answers `"tags": null` for a repository whose tags were all deleted.
      if (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags)) {
        throw failure(`${displayUrl(res.url)} sent a tag list without a 'tags' array.`);
      }
      for (const t of (body.tags as unknown[] | null) ?? []) if (typeof t === 'string') all.push(t);
      const next = keepPrefix(nextLink(res.headers.link, url), base);
      if (next && new URL(next).origin !== origin) {
        // Same origin only: credentials must not follow a link to another host.
        throw failure(`${displayUrl(res.url)} points the next page of tags at another host (${new URL(next).origin}); refusing to follow it.`);
      }
      url = next;
    }
    return all;
  }

  const sha256 = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

  async function getManifest(repository: string, reference: string): Promise<{ parsed: ParsedManifest; digest: string }> {
    const res = await call(repository, repoUrl(repository, `manifests/${reference}`), { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) throw new SkippedImage(`${repository}:${reference} is no longer in the registry (404 at ${displayUrl(res.url)}).`);
    if (res.status !== 200) throw statusError(res, 'GET');
    const body = parseJson(res, 'manifest');
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(body, res.headers['content-type']);
    } catch (err) {
      throw new SkippedImage(`${repository}:${reference} cannot be dated: ${(err as Error).message}.`);
    }
    const digest = res.headers['docker-content-digest'] || (reference.startsWith('sha256:') ? reference : sha256(res.body));
    return { parsed, digest };
  }

  function configFacts(repository: string, digest: string): Promise<{ created?: string; provenance?: Provenance }> {
    // Config blobs are content-addressed: tags that share a config (several tags of one build,
    // or one build pushed as Docker and OCI manifests) read it once, whether they are dated at
    // the same time (pending) or one after the other (dated, the newest DATED_CONFIGS).
    const dated = datedConfigs.get(digest);
    if (dated) return Promise.resolve(dated);
    let pending = pendingConfigs.get(digest);
    if (!pending) {
      pending = (async () => {
        const res = await call(repository, repoUrl(repository, `blobs/${digest}`));
        if (res.status === 404) throw new SkippedImage(`${repository}: the config blob ${digest} is missing (404 at ${displayUrl(res.url)}).`);
        if (res.status !== 200) throw statusError(res, 'GET');
        // The date and the provenance come from the same read of the blob.
        const facts = readImageConfig(parseJson(res, 'image config'));
        return { created: datedConfig(facts), provenance: provenanceOf(facts.labels) };
      })();
      pendingConfigs.set(digest, pending);
      pending.then(
        (facts) => {
          pendingConfigs.delete(digest);
          datedConfigs.set(digest, facts);
          // Oldest first out: a Map iterates in insertion order.
          if (datedConfigs.size > DATED_CONFIGS) datedConfigs.delete(datedConfigs.keys().next().value!);
        },
        () => pendingConfigs.delete(digest),
      );
    }
    return pending;
  }

  async function factsOfImage(repository: string, parsed: ParsedManifest): Promise<{ created?: string; provenance?: Provenance }> {
    if (parsed.kind === 'schema1') return { created: parsed.created };
    if (parsed.kind === 'image') {
      const facts = await configFacts(repository, parsed.config.digest);
      return { created: facts.created ?? parsed.annotated, provenance: mergeProvenance(facts.provenance, parsed.provenance) };
    }
    return {};
  }

  async function imageDate(repository: string, reference: string): Promise<ImageDate> {
    const { parsed, digest } = await getManifest(repository, reference);
    // Indexes may nest (an index of indexes, as some multi-platform pipelines push): the chosen
    // entry is followed down, a few levels at most. Fallback dates are kept innermost first.
    const fallbacks: (string | undefined)[] = [];
    const annotated: (Provenance | undefined)[] = [];
    let current = parsed;
    for (let depth = 0; current.kind === 'index'; depth++) {
      if (depth >= MAX_INDEX_DEPTH) throw new SkippedImage(`${repository}:${reference} nests image indexes more than ${MAX_INDEX_DEPTH} deep.`);
      const entry = pickPlatform(current.manifests);
      fallbacks.unshift(current.annotated);
      fallbacks.unshift(descriptorDate(entry));
      annotated.unshift(current.provenance);
      annotated.unshift(provenanceOf(entry.annotations));
      current = (await getManifest(repository, entry.digest)).parsed;
    }
    const facts = await factsOfImage(repository, current);
    const created = facts.created ?? fallbacks.find((d) => d !== undefined);
    if (!created) {
      throw new SkippedImage(
        `${repository}:${reference} has no usable date (no 'created' after 1980 in its config, no ${DATE_LABELS.join(' or ')} label, no ${CREATED_ANNOTATION} annotation).`,
        true,
      );
    }
    const provenance = mergeProvenance(facts.provenance, ...annotated);
    return provenance ? { created, digest, provenance } : { created, digest };
  }

  async function digest(repository: string, tag: string): Promise<string> {
    const res = await call(repository, repoUrl(repository, `manifests/${tag}`), { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) throw new SkippedImage(`${repository}:${tag} is no longer in the registry (404 at ${displayUrl(res.url)}).`);
    if (res.status !== 200) throw statusError(res, 'HEAD');
    const d = res.headers['docker-content-digest'];
    if (d) return d;
    // Some registries leave the header off HEAD answers; the GET body's hash is the digest.
    return (await getManifest(repository, tag)).digest;
  }

  async function hasManifest(repository: string, digestRef: string): Promise<boolean> {
    const res = await call(repository, repoUrl(repository, `manifests/${digestRef}`), { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw statusError(res, 'HEAD');
  }

  return {
    probe,
    tags,
    digest,
    hasManifest,
    imageDate,
    // A path under /v2/<repository>/ or an absolute URL on the registry (an upload's Location), authenticated like the rest.
    repositoryRequest: (repository, rest, o = {}, push = false) => call(repository, /^https?:\/\//.test(rest) ? new URL(rest).toString() : rest.startsWith('/') ? new URL(rest, base).toString() : repoUrl(repository, rest), o, push),
    requests: () => count,
    concurrency: () => limiter.size(),
    transport: () => {
      const n = opened.get(new URL(base).origin);
      if (!n) return undefined;
      const protocols = [n.h2 ? 'HTTP/2' : '', n.h1 ? 'HTTP/1.1' : ''].filter(Boolean).join(' and ');
      const connections = n.h2 + n.h1;
      return `${protocols}, ${connections} connection${connections === 1 ? '' : 's'}`;
    },
    close: async () => {
      await http.close();
      await agent.close();
    },
  };
}
