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
  HttpClientOptions,
  HttpResponse,
  parseJson,
  parseJsonObject,
  RequestOptions,
  statusError,
} from '../http/client';
import { addSecret, Logger } from '../log';
import { parseChallenge, pullScope, TokenAnswer, TokenCache, tokenLifetime, tokenOf } from './auth';
import { configCreated, CREATED_ANNOTATION, MANIFEST_ACCEPT, parseManifest, ParsedManifest, pickPlatform } from './manifest';
import { createLimiter } from './limit';

export interface ImageDate {
  /** Creation time, ISO 8601 UTC. */
  created: string;
  /** Digest of the manifest the reference points at (for an index: the index itself). */
  digest: string;
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
  /** HTTP requests sent so far (retries included). */
  requests(): number;
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
}

/**
 * A tag that cannot be dated (no date in it, an unknown manifest kind, deleted while we read):
 * the source skips it with a warning instead of failing the whole get.
 */
export class SkippedImage extends RollbackError {
  constructor(message: string) {
    super('failed', message);
    this.name = 'SkippedImage';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The next page from `Link: </v2/x/tags/list?n=2&last=b>; rel="next"`, resolved against the current URL. */
export function nextLink(header: string | undefined, current: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*;(.*)$/s.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2])) return new URL(m[1], current).toString();
  }
  return undefined;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw inputError(`registry.ca file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/i;

export function createRegistryClient(registry: RegistryConfig, opts: RegistryClientOptions): RegistryClient {
  const base = registry.url.replace(/\/+$/, '');
  const logger = opts.logger;
  const now = opts.now ?? Date.now;
  const pageSize = opts.pageSize ?? 1000;
  const maxPages = opts.maxPages ?? 1000;
  addSecret(registry.password);
  const tls = registry.ca || registry.insecure ? { ca: registry.ca ? readCa(registry.ca) : undefined, insecure: registry.insecure } : undefined;
  const agent = createAgent(tls, registry.concurrency);
  let count = 0;
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
  const tokens = new TokenCache(now);
  const pendingTokens = new Map<string, Promise<string>>();
  const basic = registry.username !== undefined && registry.password !== undefined
    ? `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`
    : undefined;
  let probed: Promise<AuthMode> | undefined;
  let bearer: { realm: string; service?: string } | undefined;
  const pendingConfigs = new Map<string, Promise<string | undefined>>();

  // Registries answer HEAD without a body, so its connection can be reused (see keepAliveAfterHead).
  const send = (url: string, o: RequestOptions) => limiter.run(() => http.request(url, { keepAliveAfterHead: true, ...o }));

  const wrongCredentials = (where: string, res: HttpResponse) =>
    inputError(
      `Registry ${base} refused the credentials of user '${registry.username}' (${res.status} at ${displayUrl(res.url)}${where}); check registry.username and registry.password.`,
    );
  const needsLogin = (res: HttpResponse) =>
    inputError(`Registry ${base} asks for a login (${res.status} at ${displayUrl(res.url)}); set registry.username and registry.password.`);

  async function probeOnce(): Promise<AuthMode> {
    const url = `${base}/v2/`;
    let res: HttpResponse;
    try {
      res = await send(url, {});
    } catch (err) {
      const code = String((err as { cause?: { code?: string } }).cause?.code ?? '');
      const hint = TLS_CODES.test(code) ? ' For a registry with a self-signed certificate, set registry.ca to its CA file (or registry.insecure: true).' : '';
      throw new RollbackError('failed', `Registry ${base} cannot be reached: ${(err as Error).message}${hint}`, { cause: err });
    }
    if (res.status === 200) return 'anonymous';
    if (res.status === 404) throw inputError(`${base} does not look like a Docker registry: GET ${displayUrl(url)} answered 404 Not Found (check registry.url).`);
    if (res.status !== 401) throw statusError(res, 'GET', 'the registry is not answering as a Docker registry should');
    const challenge = parseChallenge(res.headers['www-authenticate']);
    if (challenge?.scheme === 'bearer') {
      const realm = challenge.params.realm;
      if (!realm || !/^https?:\/\//.test(realm)) throw failure(`Registry ${base} asks for a token but names no usable realm (WWW-Authenticate: ${res.headers['www-authenticate']}).`);
      bearer = { realm, service: challenge.params.service };
      return 'bearer';
    }
    if (challenge?.scheme === 'basic' || !challenge) {
      if (!basic) throw needsLogin(res);
      const again = await send(url, { headers: { authorization: basic } });
      if (again.status === 401 || again.status === 403) throw wrongCredentials('', again);
      if (again.status !== 200) throw statusError(again, 'GET');
      return 'basic';
    }
    throw failure(`Registry ${base} asks for '${challenge.scheme}' authentication, which this worker does not speak (basic and bearer only).`);
  }

  const probe = () => (probed ??= probeOnce());

  async function fetchToken(scope: string): Promise<string> {
    const url = new URL(bearer!.realm);
    if (bearer!.service) url.searchParams.set('service', bearer!.service);
    url.searchParams.set('scope', scope);
    const res = await send(url.toString(), { headers: basic ? { authorization: basic } : {} });
    if (res.status === 401 || res.status === 403) {
      if (basic) throw wrongCredentials(', the token server', res);
      throw needsLogin(res);
    }
    if (res.status !== 200) throw statusError(res, 'GET', 'the token server did not give a token');
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

  async function authHeaders(repository: string): Promise<Record<string, string>> {
    const mode = await probe();
    if (mode === 'basic') return { authorization: basic! };
    if (mode === 'bearer') return { authorization: `Bearer ${await token(pullScope(repository))}` };
    return {};
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

  /** A request for one repository, authenticated; a bearer 401 gets one fresh token and one retry. */
  async function call(repository: string, url: string, o: RequestOptions = {}): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const res = await follow(url, { ...o, headers: { ...o.headers, ...(await authHeaders(repository)) } });
      if (res.status === 401 && bearer && attempt === 0) {
        tokens.drop(pullScope(repository));
        continue;
      }
      if (res.status === 401) throw basic ? wrongCredentials('', res) : needsLogin(res);
      if (res.status === 403) {
        throw inputError(`Registry ${base} does not let ${basic ? `user '${registry.username}'` : 'anonymous users'} pull ${repository} (403 Forbidden at ${displayUrl(res.url)}).`);
      }
      return res;
    }
  }

  const repoUrl = (repository: string, rest: string) => `${base}/v2/${repository}/${rest}`;

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
      const next = nextLink(res.headers.link, url);
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

  function configDate(repository: string, digest: string): Promise<string | undefined> {
    // Config blobs are content-addressed: tags being dated at the same time that share a config
    // read it once. Read ones are not kept here: the date cache (by manifest digest) keeps what
    // later gets need, and a map of every config was ~10 MB at 100k tags (npm run bench).
    let pending = pendingConfigs.get(digest);
    if (!pending) {
      pending = (async () => {
        const res = await call(repository, repoUrl(repository, `blobs/${digest}`));
        if (res.status === 404) throw new SkippedImage(`${repository}: the config blob ${digest} is missing (404 at ${displayUrl(res.url)}).`);
        if (res.status !== 200) throw statusError(res, 'GET');
        return configCreated(parseJson(res, 'image config'));
      })();
      pendingConfigs.set(digest, pending);
      pending.then(
        () => pendingConfigs.delete(digest),
        () => pendingConfigs.delete(digest),
      );
    }
    return pending;
  }

  async function dateOfImage(repository: string, parsed: ParsedManifest): Promise<string | undefined> {
    if (parsed.kind === 'schema1') return parsed.created;
    if (parsed.kind === 'image') return (await configDate(repository, parsed.config.digest)) ?? parsed.annotated;
    return undefined;
  }

  async function imageDate(repository: string, reference: string): Promise<ImageDate> {
    const { parsed, digest } = await getManifest(repository, reference);
    let created: string | undefined;
    if (parsed.kind === 'index') {
      const entry = pickPlatform(parsed.manifests);
      const child = await getManifest(repository, entry.digest);
      created = (await dateOfImage(repository, child.parsed)) ?? (entry.annotations ? configCreated({ created: entry.annotations[CREATED_ANNOTATION] }) : undefined) ?? parsed.annotated;
    } else {
      created = await dateOfImage(repository, parsed);
    }
    if (!created) {
      throw new SkippedImage(`${repository}:${reference} has no creation date (no 'created' in its config, no ${CREATED_ANNOTATION} annotation).`);
    }
    return { created, digest };
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
    requests: () => count,
    close: async () => {
      await http.close();
      await agent.close();
    },
  };
}
