/**
 * A registry double (node:http) for what the real docker-registry cannot show: the bearer-token
 * flow, Link pagination with small pages, schema1 manifests, and faults. Written from
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md and
 * https://distribution.github.io/distribution/spec/auth/token/ .
 *
 * The fleet is plain data (repository -> tag -> image), mutable between runs, and manifests are
 * made lazily, so a bench can serve 100k tags. Faults are switched per path (a RegExp or a
 * substring of "METHOD /path?query"), optionally for a number of requests only.
 *
 * Quirks of registries the real one cannot show: Gitea/Forgejo's two challenges (Bearer and
 * Basic), a public /v2/ over private repositories (auth per request), Artifactory's repository
 * path (routes under a prefix, Link pages without it), Docker Hub's RateLimit headers, and ACR's
 * refresh-token exchange (POST /oauth2/token, grant_type=refresh_token:
 * https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md).
 */
import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

export interface DoubleImage {
  /** The config's `created`; omit to leave the config without a date. */
  created?: string;
  format?: 'docker' | 'oci' | 'oci-index' | 'docker-list' | 'schema1';
  /** org.opencontainers.image.created on the manifest (or on the index for index formats). */
  annotation?: string;
  /** Index formats: the created date of the arm64 entry, listed first. */
  otherArchCreated?: string;
  /** Labels in the config (config.Labels). */
  labels?: Record<string, string>;
  /** Tags with the same build (and date, labels, format family) share one config blob, as tags of one CI build do. */
  build?: string;
  /** Index formats: wrap the index in this many more indexes. */
  nest?: number;
}

export type DoubleFleet = Record<string, Record<string, DoubleImage>>;

export type Fault =
  | { status: number; retryAfter?: string; body?: string; /** Extra answer headers (e.g. a WWW-Authenticate that echoes a secret). */ headers?: Record<string, string> }
  | { reset: true }
  /** HTTP/2 only: the stream (not the connection) is reset with RST_STREAM and this error code (e.g. 1, PROTOCOL_ERROR). */
  | { resetStream: number }
  | { delayMs: number }
  | { malformed: true };

export interface FaultRule {
  /** Matches "METHOD /v2/...?query": a RegExp, or a substring. */
  match: RegExp | string;
  fault: Fault;
  /** How many matching requests get the fault; default every one. */
  times?: number;
}

export interface RegistryDoubleOptions {
  fleet: DoubleFleet;
  auth?: {
    kind: 'basic' | 'bearer';
    username?: string;
    password?: string;
    /** Which field the token server answers with (both are in the spec). Default 'token'. */
    tokenField?: 'token' | 'access_token';
    expiresIn?: number;
    /** ACR: the token endpoint is POST /oauth2/token and takes this refresh (identity) token. */
    refreshToken?: string;
    /** More challenges sent with the Bearer one, and whether they come first (Gitea: Basic). */
    extraChallenges?: string[];
    /** Names this realm instead of the double's own token endpoint. */
    realm?: string;
  };
  /** /v2/ answers 200 without credentials; repositories still ask (auth per request). */
  publicProbe?: boolean;
  /** Serve every route under this path (Artifactory: /artifactory/api/docker/<repo>); Link pages leave it out. */
  pathPrefix?: string;
  /** Docker Hub's RateLimit-Limit / RateLimit-Remaining on manifest answers. */
  rateLimit?: { limit: number; remaining: number; windowSeconds: number };
  /** The most tags a page holds, whatever `n` asks. Default 1000. */
  maxPageSize?: number;
  /** Write Link URLs absolute with this origin (to test the same-origin rule). */
  linkOrigin?: string;
  /** Leave Docker-Content-Digest off HEAD answers (some registries do). */
  omitHeadDigest?: boolean;
  /** Serve HTTPS with this PEM key and certificate (for the ca / insecure settings). */
  tls?: { key: string; cert: string };
  /** With tls: offer HTTP/2 by ALPN (node:http2, HTTP/1.1 still served to clients that ask for it). */
  http2?: boolean;
  /** Keep `requests` (default true); a bench of 100k tags may turn it off and use count totals only. */
  logRequests?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** '1.1' or '2.0'. */
  httpVersion: string;
  authorization?: string;
  accept?: string;
}

export interface RegistryDouble {
  url: string;
  host: string;
  fleet: DoubleFleet;
  requests: LoggedRequest[];
  /** Tokens the token endpoint handed out. */
  tokensIssued(): number;
  /** Invalidate every token issued so far (as a token server restart would). */
  revokeTokens(): void;
  fault(rule: FaultRule): void;
  clearFaults(): void;
  /** How many of the fault rules added since the last clearFaults fired at least once. */
  faultsFired(): number;
  /** Requests whose "METHOD /path" matches (all requests, even with logRequests off, when no match is given). */
  count(match?: RegExp | string): number;
  /** Most requests ever in flight at once. */
  peakConcurrency(): number;
  /** Requests in flight now. */
  inFlight(): number;
  /** TCP connections accepted so far (connection reuse keeps this near the concurrency). */
  connections(): number;
  stop(): Promise<void>;
}

const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
};

const sha256 = (b: string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Stored {
  body: string;
  mediaType: string;
}

const matches = (m: RegExp | string, line: string) => (typeof m === 'string' ? line.includes(m) : m.test(line));

export async function startRegistryDouble(options: RegistryDoubleOptions): Promise<RegistryDouble> {
  const manifests = new Map<string, Stored>();
  const blobs = new Map<string, string>();
  const tagDigests = new Map<string, string>();
  const tokens = new Map<string, string>(); // token -> scope
  let issued = 0;
  let faults: (FaultRule & { used: number })[] = [];
  const requests: LoggedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const sortedTags = new Map<string, { count: number; sorted: string[] }>();
  let total = 0;
  let inFlight = 0;
  let connections = 0;
  let peak = 0;
  const double = { fleet: options.fleet } as RegistryDouble;

  const store = (body: string, mediaType: string) => {
    const digest = sha256(body);
    manifests.set(digest, { body, mediaType });
    return digest;
  };

  function single(repo: string, tag: string, img: DoubleImage, arch: string, created: string | undefined, oci: boolean): string {
    const config = JSON.stringify({ architecture: arch, os: 'linux', ...(created ? { created } : {}), config: { Labels: { source: `${repo}:${img.build ?? tag}:${arch}`, ...img.labels } }, rootfs: { type: 'layers', diff_ids: [] } });
    const configDigest = sha256(config);
    blobs.set(configDigest, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: oci ? MEDIA.ociManifest : MEDIA.dockerManifest,
      config: { mediaType: oci ? MEDIA.ociConfig : MEDIA.dockerConfig, size: config.length, digest: configDigest },
      layers: [],
      ...(img.annotation && !img.format?.includes('index') && !img.format?.includes('list') ? { annotations: { 'org.opencontainers.image.created': img.annotation } } : {}),
    };
    return store(JSON.stringify(manifest), manifest.mediaType);
  }

  /** The digest a tag points at, making its manifests and config on first use. */
  function resolveTag(repo: string, tag: string): string | undefined {
    const img = double.fleet[repo]?.[tag];
    if (!img) return undefined;
    const key = `${repo}:${tag}:${JSON.stringify(img)}`;
    const known = tagDigests.get(key);
    if (known) return known;
    const format = img.format ?? 'docker';
    let digest: string;
    if (format === 'schema1') {
      const history = [img.created, img.otherArchCreated].filter(Boolean).map((c) => ({ v1Compatibility: JSON.stringify({ id: sha256(`${key}${c}`).slice(7), created: c }) }));
      // Oldest layer last, as schema1 lists them; the newest date is the image's.
      history.push({ v1Compatibility: JSON.stringify({ id: 'base', created: '2001-01-01T00:00:00Z' }) });
      const body = JSON.stringify({ schemaVersion: 1, name: repo, tag, architecture: 'amd64', fsLayers: history.map(() => ({ blobSum: sha256('') })), history, signatures: [{ header: { alg: 'ES256' }, signature: 'x', protected: 'e30' }] }, null, 3);
      digest = store(body, MEDIA.schema1Signed);
    } else if (format === 'oci-index' || format === 'docker-list') {
      const oci = format === 'oci-index';
      const arm = single(repo, tag, img, 'arm64', img.otherArchCreated ?? img.created, oci);
      const amd = single(repo, tag, img, 'amd64', img.created, oci);
      const entry = (d: string, arch: string) => ({ mediaType: manifests.get(d)!.mediaType, digest: d, size: manifests.get(d)!.body.length, platform: { os: 'linux', architecture: arch } });
      const index = {
        schemaVersion: 2,
        mediaType: oci ? MEDIA.ociIndex : MEDIA.dockerList,
        manifests: [entry(arm, 'arm64'), entry(amd, 'amd64')],
        ...(img.annotation ? { annotations: { 'org.opencontainers.image.created': img.annotation } } : {}),
      };
      digest = store(JSON.stringify(index), index.mediaType);
      for (let i = 0; i < (img.nest ?? 0); i++) {
        const outer = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [{ mediaType: manifests.get(digest)!.mediaType, digest, size: manifests.get(digest)!.body.length }] };
        digest = store(JSON.stringify(outer), outer.mediaType);
      }
    } else {
      digest = single(repo, tag, img, 'amd64', img.created, format === 'oci');
    }
    tagDigests.set(key, digest);
    return digest;
  }

  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}, head = false) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(head ? undefined : body);
  };
  const error = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string | string[]> = {}) =>
    send(res, status, JSON.stringify({ errors: [{ code, message }] }), headers);

  function challenge(scope?: string): Record<string, string | string[]> {
    if (options.auth?.kind === 'basic') return { 'www-authenticate': 'Basic realm="registry-double"' };
    const realm = options.auth?.realm ?? (options.auth?.refreshToken ? `${double.url}${prefix}/oauth2/token` : `${double.url}${prefix}/token`);
    const bearer = `Bearer realm="${realm}",service="registry-double"${scope ? `,scope="${scope}"` : ''}`;
    // Several challenges as separate header lines, the others first (Gitea sends Basic too).
    return { 'www-authenticate': options.auth?.extraChallenges ? [...options.auth.extraChallenges, bearer] : bearer };
  }

  const basicOk = (h: string | undefined) =>
    h === `Basic ${Buffer.from(`${options.auth?.username}:${options.auth?.password}`).toString('base64')}`;

  function authorized(req: IncomingMessage, repo: string | undefined): boolean {
    if (!options.auth) return true;
    const h = req.headers.authorization;
    if (options.auth.kind === 'basic') return basicOk(h);
    if (!repo) return h?.startsWith('Bearer ') ? tokens.has(h.slice(7)) : false;
    return h?.startsWith('Bearer ') === true && tokens.get(h.slice(7)) === `repository:${repo}:pull`;
  }

  function handleRefresh(req: IncomingMessage, res: ServerResponse) {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (req.method !== 'POST' || form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== options.auth!.refreshToken) {
        return error(res, 401, 'UNAUTHORIZED', 'bad refresh token');
      }
      if (form.get('service') !== 'registry-double') return error(res, 400, 'DENIED', 'unknown service');
      const scope = form.get('scope') ?? '';
      const token = `acr-${++issued}-${sha256(scope + issued).slice(7, 23)}`;
      tokens.set(token, scope);
      send(res, 200, JSON.stringify({ access_token: token }));
    });
  }

  function handleToken(req: IncomingMessage, res: ServerResponse, url: URL) {
    const auth = options.auth!;
    if (auth.username !== undefined && !basicOk(req.headers.authorization)) return error(res, 401, 'UNAUTHORIZED', 'bad credentials');
    const scope = url.searchParams.get('scope') ?? '';
    if (url.searchParams.get('service') !== 'registry-double') return error(res, 400, 'DENIED', 'unknown service');
    const token = `tok-${++issued}-${sha256(scope + issued).slice(7, 23)}`;
    tokens.set(token, scope);
    send(res, 200, JSON.stringify({ [auth.tokenField ?? 'token']: token, expires_in: auth.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', double.url);
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    if (prefix) {
      if (!url.pathname.startsWith(`${prefix}/`)) return error(res, 404, 'NOT_FOUND', 'outside the repository path');
      url.pathname = url.pathname.slice(prefix.length);
    }
    if (url.pathname === '/oauth2/token' && options.auth?.refreshToken) return handleRefresh(req, res);
    if (url.pathname === '/token' && options.auth?.kind === 'bearer') return handleToken(req, res, url);
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      if (!options.publicProbe && !authorized(req, undefined)) return error(res, 401, 'UNAUTHORIZED', 'authentication required', challenge());
      return send(res, 200, '{}', { 'docker-distribution-api-version': 'registry/2.0' }, head);
    }
    const m = /^\/v2\/(.+)\/(tags\/list|manifests\/([^/]+)|blobs\/([^/]+))$/.exec(url.pathname);
    if (!m) return error(res, 404, 'NOT_FOUND', 'no such route');
    const repo = m[1];
    if (!authorized(req, repo)) return error(res, 401, 'UNAUTHORIZED', 'authentication required', challenge(`repository:${repo}:pull`));
    const tags = double.fleet[repo];
    if (!tags) return error(res, 404, 'NAME_UNKNOWN', `repository ${repo} not known to registry`);
    if (m[2] === 'tags/list') {
      // Sorted once per repository (the spec wants lexical order), again only when tags are added.
      const keys = Object.keys(tags);
      let memo = sortedTags.get(repo);
      if (!memo || memo.count !== keys.length) {
        memo = { count: keys.length, sorted: keys.sort() };
        sortedTags.set(repo, memo);
      }
      const all = memo.sorted;
      const asked = Number(url.searchParams.get('n') ?? all.length);
      const n = Math.max(1, Math.min(asked || all.length, options.maxPageSize ?? 1000));
      const last = url.searchParams.get('last');
      const from = last ? all.filter((t) => t > last) : all;
      const page = from.slice(0, n);
      const headers: Record<string, string> = {};
      if (from.length > n) {
        const next = `/v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1])}`;
        headers.link = `<${options.linkOrigin ? options.linkOrigin + next : next}>; rel="next"`;
      }
      return send(res, 200, JSON.stringify({ name: repo, tags: page }), headers, head);
    }
    if (m[3] !== undefined) {
      const ref = decodeURIComponent(m[3]);
      const digest = ref.startsWith('sha256:') ? ref : resolveTag(repo, ref);
      const stored = digest ? manifests.get(digest) : undefined;
      if (!digest || !stored) return error(res, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${ref}`);
      // A registry serves only what the client accepts (it would convert or refuse): proves our Accept header.
      const accept = String(req.headers.accept ?? '');
      if (!accept.includes(stored.mediaType)) return error(res, 404, 'MANIFEST_UNKNOWN', `not acceptable: ${stored.mediaType}`);
      const headers: Record<string, string> = { 'content-type': stored.mediaType };
      if (options.rateLimit) {
        headers['ratelimit-limit'] = `${options.rateLimit.limit};w=${options.rateLimit.windowSeconds}`;
        headers['ratelimit-remaining'] = `${options.rateLimit.remaining};w=${options.rateLimit.windowSeconds}`;
      }
      if (!(head && options.omitHeadDigest)) headers['docker-content-digest'] = digest;
      return send(res, 200, stored.body, headers, head);
    }
    const blob = blobs.get(decodeURIComponent(m[4]));
    if (!blob) return error(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
    return send(res, 200, blob, { 'content-type': 'application/octet-stream', 'docker-content-digest': decodeURIComponent(m[4]) }, head);
  }

  const listener: RequestListener = (req, res) => {
    const line = `${req.method} ${req.url}`;
    total++;
    if (options.logRequests !== false) requests.push({ method: req.method ?? '', path: req.url ?? '', httpVersion: req.httpVersion, authorization: req.headers.authorization, accept: req.headers.accept });
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.on('close', () => inFlight--);
    const rule = faults.find((f) => matches(f.match, line) && (f.times === undefined || f.used < f.times));
    if (!rule) return handle(req, res);
    rule.used++;
    const fault = rule.fault;
    if ('reset' in fault) return req.socket.destroy();
    if ('resetStream' in fault) return (res as unknown as { stream?: { close(code: number): void } }).stream?.close(fault.resetStream);
    if ('malformed' in fault) return send(res, 200, '{"tags": ["a", ', { 'docker-content-digest': sha256('x') });
    if ('delayMs' in fault) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!res.destroyed) handle(req, res);
      }, fault.delayMs);
      timers.add(t);
      return;
    }
    return send(res, fault.status, fault.body ?? JSON.stringify({ errors: [{ code: 'FAULT', message: `injected ${fault.status}` }] }), { ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}), ...fault.headers });
  };
  const server: Server = options.tls
    ? options.http2
      ? (createSecureServer({ key: options.tls.key, cert: options.tls.cert, allowHTTP1: true }, listener as never) as unknown as Server)
      : createTlsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : createServer(listener);
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  return Object.assign(double, {
    url: `${scheme}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    tokensIssued: () => issued,
    revokeTokens: () => tokens.clear(),
    fault: (rule: FaultRule) => void faults.push({ ...rule, used: 0 }),
    clearFaults: () => void (faults = []),
    faultsFired: () => faults.filter((f) => f.used > 0).length,
    count: (match?: RegExp | string) => (match === undefined ? total : requests.filter((r) => matches(match, `${r.method} ${r.path}`)).length),
    peakConcurrency: () => peak,
    inFlight: () => inFlight,
    connections: () => connections,
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
