/**
 * A small client of the Docker Engine API (https://docs.docker.com/reference/api/engine/), over the
 * worker's one HTTP path (src/http/client.ts) with an undici dispatcher for the unix socket,
 * tcp + TLS, or ssh (the stdio of `ssh host docker system dial-stdio`, see ssh.ts). Only what the swarm and docker targets need: services, tasks, containers, images.
 * Every failure is one sentence naming the engine, the call and the engine's own message.
 */
import { readFileSync } from 'node:fs';
import { failure, inputError, RollbackError } from '../../errors';
import { createDispatcher, createHttpClient, HttpClient, HttpClientOptions, HttpResponse } from '../../http/client';
import { parseImageRef, registryHost } from '../../image/reference';
import { addSecret } from '../../log';
import type { EngineAddress } from './host';
import { sshConnector } from './ssh';

/**
 * The API versions this client speaks. It asks GET /version and uses the engine's version, capped
 * at MAX_API (newer engines serve older versions unchanged); below MIN_API it refuses, naming both.
 * 1.30 (Docker 17.06) is the oldest with everything used here: service update by version index,
 * X-Registry-Auth on service update, HostConfig.Mounts, and task filters by desired-state.
 */
export const MIN_API = '1.30';
export const MAX_API = '1.43';

export interface RegistryAuth {
  username?: string;
  password?: string;
  serverAddress: string;
}

/**
 * X-Registry-Auth: base64url of {username, password, serveraddress}, WITH '=' padding. The engine
 * decodes it with Go's padded base64.URLEncoding: without padding it loses the last bytes (the
 * closing brace), silently drops the credentials, and the pull fails with "no basic auth
 * credentials" (seen on Docker 20.10, test/integration/docker-e2e.test.ts;
 * https://docs.docker.com/reference/api/engine/#authentication).
 */
export function registryAuthHeader(auth: RegistryAuth | undefined): Record<string, string> {
  if (!auth?.username || auth.password === undefined) return {};
  const value = Buffer.from(JSON.stringify({ username: auth.username, password: auth.password, serveraddress: auth.serverAddress }))
    .toString('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
  addSecret(value);
  return { 'x-registry-auth': value };
}

/**
 * The credentials to pull `image`: the context's, else the configured registry's when the image
 * lives on that registry (never sent to another host).
 */
export function pullAuthFor(
  image: string,
  given: RegistryAuth | undefined,
  registry: { url: string; username?: string; password?: string } | undefined,
): RegistryAuth | undefined {
  if (given) return given;
  if (!registry?.username || registry.password === undefined) return undefined;
  const host = registryHost(registry.url);
  return parseImageRef(image).host === host ? { username: registry.username, password: registry.password, serverAddress: host } : undefined;
}

export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

// ---- The parts of the API's JSON the targets read (everything else is passed through untouched). ----

export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: { ContainerSpec?: { Image?: string; [k: string]: unknown }; ForceUpdate?: number; [k: string]: unknown };
  Mode?: { Replicated?: { Replicas?: number }; Global?: object; [k: string]: unknown };
  [k: string]: unknown;
}

export interface Service {
  ID: string;
  Version: { Index: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec: ServiceSpec;
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string };
}

export interface Task {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  CreatedAt?: string;
  UpdatedAt?: string;
  DesiredState?: string;
  Spec?: { ContainerSpec?: { Image?: string } };
  Status?: { State?: string; Message?: string; Err?: string; Timestamp?: string; ContainerStatus?: { ExitCode?: number } };
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  Created?: string;
  State: { Status: string; Running: boolean; Restarting?: boolean; ExitCode?: number; Error?: string; StartedAt?: string; Health?: { Status: string; Log?: { Output?: string; ExitCode?: number }[] } };
  RestartCount?: number;
  Config: Record<string, unknown> & { Image?: string; Hostname?: string; Env?: string[]; Labels?: Record<string, string> };
  HostConfig: Record<string, unknown>;
  NetworkSettings?: { Networks?: Record<string, Record<string, unknown>> };
  Mounts?: { Type?: string; Name?: string; Source?: string; Destination?: string; RW?: boolean }[];
}

export interface ImageInspect {
  Id: string;
  RepoTags?: string[];
  RepoDigests?: string[];
  Config?: Record<string, unknown>;
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface EngineClient {
  /** "the Docker engine at unix:///var/run/docker.sock": the subject of every sentence about it. */
  readonly where: string;
  /** The negotiated API version (asked once). */
  apiVersion(): Promise<string>;
  /** A versioned call; returns the answer whatever its status. */
  call(method: 'GET' | 'POST' | 'DELETE', path: string, options?: CallOptions): Promise<HttpResponse>;
  /** A versioned call that must answer 2xx; parses JSON (undefined for an empty body). */
  json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, options?: CallOptions): Promise<T>;
  findService(name: string): Promise<Service | undefined>;
  inspectService(id: string): Promise<Service | undefined>;
  updateService(service: Service, spec: ServiceSpec, auth?: RegistryAuth): Promise<string[]>;
  listTasks(filters: Record<string, string[]>): Promise<Task[]>;
  inspectContainer(nameOrId: string): Promise<ContainerInspect | undefined>;
  listContainers(filters: Record<string, string[]>): Promise<{ Id: string; Names: string[]; Image: string; State: string }[]>;
  inspectImage(reference: string): Promise<ImageInspect | undefined>;
  pullImage(reference: string, auth?: RegistryAuth): Promise<void>;
  containerLogs(id: string, tail: number): Promise<string>;
  close(): Promise<void>;
}

/** The engine's own words for a failed call: its JSON {"message": ...}, else the raw text. */
export function engineMessage(res: HttpResponse): string {
  const text = res.body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message.trim();
  } catch {
    /* plain text */
  }
  return text.slice(0, 300);
}

function readTlsFile(path: string | undefined, what: string, where: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw inputError(`${where}: the Docker TLS ${what} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

export interface EngineClientOptions {
  address: EngineAddress;
  /** Names the config key in input errors, e.g. "rollback.yml environments.stage.target.swarm". */
  configWhere?: string;
  /** Retries, timeouts, sleep: as for every HTTP client (tests shorten them). */
  http?: Omit<HttpClientOptions, 'dispatcher'>;
  /** The environment ssh runs in, for ssh:// hosts (HOME, SSH_AUTH_SOCK); default the worker's. */
  env?: NodeJS.ProcessEnv;
}

export function createEngineClient(options: EngineClientOptions): EngineClient {
  const { address } = options;
  const where = `the Docker engine at ${address.host}`;
  const Where = `The Docker engine at ${address.host}`; // at the start of a sentence
  const cfgWhere = options.configWhere ?? 'Docker target';
  const agent = createDispatcher({
    // Each ssh connection is an ssh login: fewer of them, kept a little longer.
    connections: address.ssh ? 4 : 8,
    keepAliveTimeout: address.ssh ? 10_000 : 5_000,
    connect: address.ssh
      ? sshConnector(address.ssh, where, cfgWhere, options.env)
      : address.socketPath
      ? { socketPath: address.socketPath }
      : address.tls
        ? {
            ca: readTlsFile(address.tls.ca, 'CA file', cfgWhere),
            cert: readTlsFile(address.tls.cert, 'client certificate', cfgWhere),
            key: readTlsFile(address.tls.key, 'client key', cfgWhere),
            rejectUnauthorized: address.tls.verify,
          }
        : undefined,
  });
  const http: HttpClient = createHttpClient({ ...options.http, dispatcher: agent });
  let version: Promise<string> | undefined;

  const url = (path: string, query?: CallOptions['query']) => {
    const u = new URL(path, address.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  };

  async function send(method: 'GET' | 'POST' | 'DELETE', path: string, o: CallOptions = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...o.headers };
    let body: string | undefined;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    try {
      return await http.request(url(path, o.query), { method, headers, body, timeoutMs: o.timeoutMs });
    } catch (err) {
      // The client's sentence names "http://localhost/..." for a socket; say which engine instead.
      // ssh's own sentences (host key, login) already name the engine.
      if (err instanceof RollbackError && err.message.startsWith(Where)) throw err;
      if (err instanceof RollbackError) {
        throw new RollbackError(err.kind, `Cannot reach ${where} (${method} ${path}): ${err.message.replace(/^\S+ \S+ (failed: )?/, '')}`, {
          cause: err,
          retryable: err.retryable,
        });
      }
      throw err;
    }
  }

  async function apiVersion(): Promise<string> {
    version ??= (async () => {
      const res = await send('GET', '/version');
      if (res.status !== 200) throw failure(`${Where} answered ${res.status} to GET /version: ${engineMessage(res)}.`);
      let info: { ApiVersion?: string; MinAPIVersion?: string };
      try {
        info = JSON.parse(res.body.toString('utf8'));
      } catch {
        throw failure(`${Where} does not look like a Docker engine: GET /version did not answer JSON.`);
      }
      const server = String(info.ApiVersion ?? '');
      if (!/^\d+\.\d+$/.test(server)) throw failure(`${Where} did not say which API version it speaks (GET /version).`);
      if (compareApiVersions(server, MIN_API) < 0) {
        throw failure(`${Where} speaks Docker API ${server}; this tool needs ${MIN_API} (Docker 17.06) or newer.`);
      }
      return compareApiVersions(server, MAX_API) > 0 ? MAX_API : server;
    })();
    version.catch(() => (version = undefined));
    return version;
  }

  async function call(method: 'GET' | 'POST' | 'DELETE', path: string, o: CallOptions = {}): Promise<HttpResponse> {
    return send(method, `/v${await apiVersion()}${path}`, o);
  }

  async function json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, o: CallOptions = {}): Promise<T> {
    const res = await call(method, path, o);
    if (res.status < 200 || res.status >= 300) {
      throw new RollbackError('failed', `${Where} refused ${method} ${path.replace(/\?.*$/, '')} (HTTP ${res.status}): ${engineMessage(res)}.`, {
        retryable: res.status >= 500,
      });
    }
    const text = res.body.toString('utf8').trim();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw failure(`${Where} answered ${method} ${path.replace(/\?.*$/, '')} with something that is not JSON.`);
    }
  }

  async function getOrUndefined<T>(path: string): Promise<T | undefined> {
    const res = await call('GET', path);
    if (res.status === 404) return undefined;
    if (res.status !== 200) {
      throw new RollbackError('failed', `${Where} refused GET ${path} (HTTP ${res.status}): ${engineMessage(res)}.`, { retryable: res.status >= 500 });
    }
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  return {
    where,
    apiVersion,
    call,
    json,

    async findService(name) {
      // The name filter matches prefixes ("api" also finds "api-worker"), so keep the exact match only
      // (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Service/operation/ServiceList).
      const res = await call('GET', '/services', { query: { filters: JSON.stringify({ name: [name] }) } });
      // A worker node or a plain engine answers 503 "This node is not a swarm manager": wrong host, not a passing fault.
      if (res.status === 503 && /not a swarm manager/i.test(engineMessage(res))) {
        throw inputError(`${Where} is not a Swarm manager (${engineMessage(res).replace(/\.$/, '')}); point the swarm target's host at a manager node.`);
      }
      if (res.status !== 200) {
        throw new RollbackError('failed', `${Where} refused GET /services (HTTP ${res.status}): ${engineMessage(res)}.`, { retryable: res.status >= 500 });
      }
      const list = JSON.parse(res.body.toString('utf8')) as Service[] | null;
      return (list ?? []).find((s) => s.Spec?.Name === name);
    },

    inspectService: (id) => getOrUndefined<Service>(`/services/${encodeURIComponent(id)}`),

    async updateService(service, spec, auth) {
      const res = await json<{ Warnings?: string[] | null }>('POST', `/services/${encodeURIComponent(service.ID)}/update`, {
        query: { version: service.Version.Index },
        body: spec,
        headers: registryAuthHeader(auth),
      });
      return res?.Warnings ?? [];
    },

    async listTasks(filters) {
      return (await json<Task[]>('GET', '/tasks', { query: { filters: JSON.stringify(filters) } })) ?? [];
    },

    inspectContainer: (nameOrId) => getOrUndefined<ContainerInspect>(`/containers/${encodeURIComponent(nameOrId)}/json`),

    async listContainers(filters) {
      return (await json<{ Id: string; Names: string[]; Image: string; State: string }[]>('GET', '/containers/json', {
        query: { all: true, filters: JSON.stringify(filters) },
      })) ?? [];
    },

    inspectImage: (reference) => getOrUndefined<ImageInspect>(`/images/${encodeURIComponent(reference)}/json`),

    async pullImage(reference, auth) {
      // A pull answers 200 and streams progress as JSON lines; a failure midway is a line with
      // "error" in that stream, not an HTTP status 
      // (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Image/operation/ImageCreate).
      const res = await call('POST', '/images/create', { query: { fromImage: reference }, headers: registryAuthHeader(auth), timeoutMs: 300_000 });
      if (res.status !== 200) {
        throw failure(`${Where} could not pull ${reference} (HTTP ${res.status}): ${engineMessage(res)}.`);
      }
      for (const line of res.body.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        let event: { error?: string; errorDetail?: { message?: string } };
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        const message = event.errorDetail?.message ?? event.error;
        if (message) throw failure(`${Where} could not pull ${reference}: ${message.trim()}.`);
      }
    },

    async containerLogs(id, tail) {
      const res = await call('GET', `/containers/${encodeURIComponent(id)}/logs`, { query: { stdout: true, stderr: true, tail } });
      if (res.status !== 200) return '';
      return demultiplexLogs(res.body).trim();
    },

    close: async () => {
      await http.close();
      await agent.close();
    },
  };
}

/**
 * Container logs without a TTY come multiplexed: 8-byte frames [stream, 0, 0, 0, size(4, big endian)]
 * then the payload (https://docs.docker.com/reference/api/engine/#tag/Container/operation/ContainerAttach).
 * With a TTY they are raw text; anything that does not parse as frames is returned as text.
 */
export function demultiplexLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const stream = buf[i];
    if (stream > 2 || buf[i + 1] !== 0 || buf[i + 2] !== 0 || buf[i + 3] !== 0) return buf.toString('utf8');
    const size = buf.readUInt32BE(i + 4);
    if (i + 8 + size > buf.length) return buf.toString('utf8');
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return i === buf.length ? Buffer.concat(parts).toString('utf8') : buf.toString('utf8');
}
