/**
 * The one HTTP path every client of the worker uses (registry, targets, Slack, token servers).
 * Failures are classified here once, like renovate's ExternalHostError: 429, 5xx and network
 * errors are retried with backoff and jitter a bounded number of times; anything else is an
 * answer returned to the caller, who says it plainly.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, SecureContext } from 'node:tls';
import { Agent, Client, Dispatcher, EnvHttpProxyAgent, Pool, request as undiciRequest } from 'undici';
import { RollbackError } from '../errors';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  url: string;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Defaults to true for GET/HEAD/PUT/DELETE; POST and PATCH retry only when no answer came. */
  idempotent?: boolean;
  /** Answers larger than this are refused (hostile or broken servers). Default 64 MiB. */
  maxBytes?: number;
  /** Overrides the client's per-request timeout. */
  timeoutMs?: number;
  /**
   * Keep the connection open after a HEAD. undici closes it by default, against servers that send
   * a body with HEAD (https://github.com/nodejs/undici/issues/258); well-behaved APIs such as a
   * registry pass true, or every HEAD costs a new TCP (and TLS) handshake.
   */
  keepAliveAfterHead?: boolean;
  /** Called when the server answers this request 429 Too Many Requests, with its Retry-After in milliseconds. */
  onThrottled?: (retryAfterMs: number | undefined) => void;
}

export interface HttpClientOptions {
  dispatcher?: Dispatcher;
  /** Attempts in all, including the first. Default 4. */
  attempts?: number;
  /** Milliseconds to wait for headers and between body chunks. Default 30 s. */
  timeoutMs?: number;
  /** Base of the exponential backoff. Default 250 ms. */
  backoffMs?: number;
  /** Longest single wait, Retry-After included. Default 30 s. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called once per request actually sent (for counting in benchmarks and tests). */
  onRequest?: (method: string, url: string) => void;
  /** Called before each retry, with the reason. */
  onRetry?: (reason: string, waitMs: number) => void;
}

export interface HttpClient {
  request(url: string, options?: RequestOptions): Promise<HttpResponse>;
  close(): Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The environment the worker's connections read HTTPS_PROXY, HTTP_PROXY and NO_PROXY from: the
 * process's, or the one main() was given (tests run the CLI in-process with their own).
 */
let networkEnv: NodeJS.ProcessEnv = process.env;
export function useNetworkEnvironment(env: NodeJS.ProcessEnv): void {
  networkEnv = env;
}
export const networkEnvironment = (): NodeJS.ProcessEnv => networkEnv;

/** Proxy settings as curl reads them: the lower-case name first, then the upper-case one. */
export function proxySettings(env: NodeJS.ProcessEnv = networkEnv): { httpProxy?: string; httpsProxy?: string; noProxy: string } {
  const pick = (name: string) => env[name.toLowerCase()] || env[name.toUpperCase()] || undefined;
  return { httpProxy: pick('http_proxy'), httpsProxy: pick('https_proxy'), noProxy: pick('no_proxy') ?? '' };
}

type ConnectOptions = { ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer; key?: string | Buffer; secureContext?: SecureContext; rejectUnauthorized?: boolean; servername?: string; socketPath?: string };

/** How connections are opened and counted: HTTP/2 offered by ALPN or not, and a watcher of each new one. */
export interface ProtocolOptions {
  /** Offer HTTP/2 to TLS servers (ALPN); false: every connection speaks HTTP/1.1. */
  http2: boolean;
  /** Requests in flight on one HTTP/2 connection. */
  streams: number;
  /** Called once per new connection with its origin and the protocol it speaks. */
  onConnection?: (origin: string, protocol: 'h2' | 'http/1.1') => void;
}

export interface DispatcherOptions {
  connections?: number;
  keepAliveTimeout?: number;
  connect?: ConnectOptions | Agent.Options['connect'];
  protocol?: ProtocolOptions;
}

/**
 * Per-origin pools whose connections learn their protocol when they open. undici multiplexes
 * an HTTP/2 connection only up to its `pipelining`, which defaults to 1 (one stream at a time):
 * a connection that negotiated h2 is given `streams`, while one that speaks HTTP/1.1 keeps 1
 * (HTTP/1.1 pipelining is not safe with registries and proxies). A pool opens another connection
 * only when its open ones are busy, so an HTTP/2 registry is read over one connection.
 */
function protocolFactory(p: ProtocolOptions): Agent.Options['factory'] {
  type Connector = (o: object, cb: (err: Error | null, socket: unknown) => void) => void;
  const client = (origin: URL | string, opts: object): Dispatcher => {
    const base = (opts as { connect: Connector }).connect;
    const name = new URL(String(origin)).origin;
    let negotiated: 'h2' | 'http/1.1' = 'http/1.1';
    const connect: Connector = (o, cb) =>
      base(o, (err, socket) => {
        if (!err && socket) {
          negotiated = (socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2' ? 'h2' : 'http/1.1';
          p.onConnection?.(name, negotiated);
        }
        cb(err, socket);
      });
    const c = new Client(origin, { ...(opts as Client.Options), connect: connect as never });
    // Once the connection's context exists, so the new bound takes effect at once.
    c.on('connect', () => {
      c.pipelining = negotiated === 'h2' ? p.streams : 1;
    });
    return c;
  };
  return ((origin: URL | string, opts: object) => new Pool(origin, { ...(opts as Pool.Options), factory: client as never })) as never;
}

/**
 * The dispatcher every client of the worker uses: a keep-alive Agent, behind undici's own
 * EnvHttpProxyAgent when a proxy is set. Its semantics are the issue's: loopback is proxied like
 * any host unless NO_PROXY names it, and a NO_PROXY host without a port matches every port (as in
 * curl). Plain-http origins go through the proxy as absolute-URI requests (no CONNECT), as curl
 * does; https origins are tunnelled with CONNECT and keep their own TLS options (requestTls),
 * HTTP/2 included. A unix socket or an ssh tunnel (the Docker engine) never goes through a proxy.
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const proxy = proxySettings();
  const { protocol, ...rest } = options;
  const http2 = protocol?.http2 === true;
  const agentOptions = { ...rest, ...(protocol ? { allowH2: http2, factory: protocolFactory(protocol) } : {}) } as Agent.Options;
  // A connector of its own (an ssh tunnel to the Docker engine) or a unix socket: never proxied.
  const direct = typeof options.connect === 'function' || (options.connect as ConnectOptions | undefined)?.socketPath;
  if (direct || (!proxy.httpProxy && !proxy.httpsProxy)) return new Agent(agentOptions);
  return new EnvHttpProxyAgent({
    ...agentOptions,
    httpProxy: proxy.httpProxy,
    httpsProxy: proxy.httpsProxy,
    noProxy: proxy.noProxy,
    // The TLS inside the CONNECT tunnel: ALPN must offer h2 there too.
    requestTls: (http2 ? { ...(options.connect as object | undefined), allowH2: true } : options.connect) as never,
    proxyTunnel: false,
  } as EnvHttpProxyAgent.Options);
}

let extraRoots: string[] | undefined;
/** NODE_EXTRA_CA_CERTS (read by node at start): kept when a ca option would otherwise replace it. */
function nodeExtraRoots(): string[] {
  if (extraRoots) return extraRoots;
  extraRoots = [];
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file) {
    try {
      extraRoots = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    } catch {
      // node already warned at start-up that it could not read the file.
    }
  }
  return extraRoots;
}

/**
 * A private CA added to the system roots, never replacing them: node's `ca` option replaces the
 * default store, so the roots (and NODE_EXTRA_CA_CERTS) are given back alongside it. Without
 * this, a registry on a private CA that redirects blobs to public object storage fails.
 */
export function withSystemRoots(ca: string | Buffer): (string | Buffer)[] {
  return [...rootCertificates, ...nodeExtraRoots(), ca];
}

export interface TlsOptions {
  /** A CA added to the system roots. */
  ca?: string | Buffer;
  /** Client certificate and key, for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  insecure?: boolean;
  /** Where these came from, for the sentence when they cannot be used ("registry.cert and registry.key"). */
  from?: string;
}

/** Connection reuse: one keep-alive agent per client, shared by every request it makes. */
export function createAgent(tls?: TlsOptions, connections = 16, protocol?: ProtocolOptions): Dispatcher {
  return createDispatcher({
    connections,
    protocol,
    keepAliveTimeout: 10_000,
    connect: tls ? { secureContext: secureContextOf(tls), rejectUnauthorized: !tls.insecure } : undefined,
  });
}

/**
 * One TLS context for every connection of an agent: given `ca` alone on each connection, node
 * builds a new context from the ~140 system roots per connection (about 40 ms of CPU each).
 */
function secureContextOf(tls: TlsOptions): SecureContext {
  try {
    return createSecureContext({ ca: tls.ca ? withSystemRoots(tls.ca) : undefined, cert: tls.cert, key: tls.key });
  } catch (err) {
    throw new RollbackError('input', `${tls.from || 'The TLS settings'} cannot be used (a CA, certificate or key that is not PEM, or a key that does not match its certificate): ${(err as Error).message}.`);
  }
}

/** Parses Retry-After (seconds or HTTP date) into milliseconds, or undefined. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  // HTTP/2: a stream reset (RST_STREAM) or a session ended (GOAWAY) is asked again, on a new stream.
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|UND_ERR_|ERR_HTTP2_(STREAM_ERROR|STREAM_CANCEL|GOAWAY_SESSION|SESSION_ERROR|INVALID_SESSION))/.test(code);
}

function networkReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ? `${e.code}${e.message ? ` (${e.message})` : ''}` : String(e?.message ?? err);
}

/** The URL as it may be shown: no user info, no query string (tokens hide there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const ownAgent = options.dispatcher ? undefined : createAgent();
  const dispatcher = options.dispatcher ?? ownAgent!;
  const attempts = options.attempts ?? 4;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const backoffMs = options.backoffMs ?? 250;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;

  async function once(url: string, o: RequestOptions): Promise<HttpResponse> {
    const method = o.method ?? 'GET';
    options.onRequest?.(method, url);
    const t = o.timeoutMs ?? timeoutMs;
    const res = await undiciRequest(url, {
      method,
      headers: o.headers,
      body: o.body,
      dispatcher,
      headersTimeout: t,
      bodyTimeout: t,
      ...(method === 'HEAD' && o.keepAliveAfterHead ? { reset: false } : {}),
    });
    const limit = o.maxBytes ?? 64 * 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > limit) {
        res.body.destroy();
        throw new RollbackError('failed', `${method} ${displayUrl(url)} answered with more than ${limit} bytes, which is not a plausible answer.`);
      }
      chunks.push(chunk as Buffer);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: res.statusCode, headers, body: Buffer.concat(chunks), url };
  }

  async function requestWithRetry(url: string, o: RequestOptions = {}): Promise<HttpResponse> {
    const method = o.method ?? 'GET';
    const idempotent = o.idempotent ?? (method !== 'POST' && method !== 'PATCH');
    let lastReason = '';
    for (let attempt = 1; ; attempt++) {
      let wait: number | undefined;
      try {
        const res = await once(url, o);
        const transient = res.status === 429 || (res.status >= 500 && res.status !== 501);
        if (!transient || (!idempotent && res.status !== 429 && res.status !== 503)) return res;
        lastReason = `answered ${res.status}`;
        wait = retryAfterMs(res.headers['retry-after']);
        if (res.status === 429) o.onThrottled?.(wait);
        if (attempt >= attempts) return res;
      } catch (err) {
        if (err instanceof RollbackError) throw err;
        if (!isNetworkError(err)) {
          throw new RollbackError('failed', `${method} ${displayUrl(url)} failed: ${networkReason(err)}.`, { cause: err });
        }
        lastReason = `failed: ${networkReason(err)}`;
        if (attempt >= attempts) {
          throw new RollbackError('failed', `${method} ${displayUrl(url)} ${lastReason}, after ${attempts} attempts.`, {
            cause: err,
            retryable: true,
          });
        }
      }
      // Full jitter (AWS architecture blog "Exponential Backoff And Jitter"), capped.
      const backoff = Math.min(maxWaitMs, backoffMs * 2 ** (attempt - 1));
      const delay = Math.min(maxWaitMs, wait ?? Math.round(backoff / 2 + (random() * backoff) / 2));
      options.onRetry?.(`${method} ${displayUrl(url)} ${lastReason}`, delay);
      await sleep(delay);
    }
  }

  return {
    request: requestWithRetry,
    close: async () => {
      if (ownAgent) await ownAgent.close();
    },
  };
}

/** Parses a JSON body, or says plainly which server sent something else. */
export function parseJson<T = unknown>(res: HttpResponse, what = 'answer'): T {
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch {
    throw new RollbackError('failed', `${displayUrl(res.url)} sent a ${what} that is not valid JSON (HTTP ${res.status}).`);
  }
}

/**
 * Parses a JSON body that must be an object (an app, a tag list, a token answer...): `null`, a
 * number or an array from a broken server is said plainly instead of failing later on a property.
 */
export function parseJsonObject<T extends object>(res: HttpResponse, what = 'answer'): Partial<T> {
  const value = parseJson<unknown>(res, what);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RollbackError('failed', `${displayUrl(res.url)} sent a ${what} that is not a JSON object (HTTP ${res.status}).`);
  }
  return value as Partial<T>;
}

/** One sentence for an unexpected status: "GET https://x/v2/ answered 401 Unauthorized". */
export function statusError(res: HttpResponse, method: string, hint = ''): RollbackError {
  const names: Record<number, string> = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
    422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error',
    502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
  };
  const name = names[res.status] ? ` ${names[res.status]}` : '';
  return new RollbackError('failed', `${method} ${displayUrl(res.url)} answered ${res.status}${name}${hint ? `: ${hint}` : ''}.`, {
    retryable: res.status === 429 || res.status >= 500,
  });
}
