/**
 * Where the Kubernetes API is and how to prove who we are, from a kubeconfig (or the in-cluster
 * service account when there is none), read as kubectl reads it: bearer token (inline or
 * tokenFile), client certificate and key, basic auth, exec credential plugins and the oidc
 * auth-provider (./credentials.ts), proxy-url and tls-server-name.
 * Format: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
 * Fields: https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, delimiter } from 'node:path';
import { parse } from 'yaml';
import { inputError } from '../../errors';
import { addSecret } from '../../log';
import { ClusterInfo, CredentialSource, execCredentials, oidcCredentials } from './credentials';

export interface KubeConnection {
  /** API server base URL, no trailing slash. */
  server: string;
  namespace: string;
  /** Authorization header value, when the credential is a token or basic auth. */
  authorization?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
  tlsServerName?: string;
  /** A credential fetched by a program or from an identity provider (exec, oidc): asked before each request. */
  credentials?: CredentialSource;
  /** The cluster's proxy-url (http or https). */
  proxy?: string;
  /** Where this came from, for messages: "kubeconfig /x (context prod)" or "in-cluster service account". */
  source: string;
}

export interface KubeConfigOptions {
  /** Path(s) from the target config; else KUBECONFIG (a list, as kubectl reads it); else in-cluster. */
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  env: NodeJS.ProcessEnv;
  /** The service account directory; injectable for tests. */
  serviceAccountDir?: string;
  readFile?: (path: string) => Buffer;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Named<T> = { name?: string } & T;
interface RawKubeconfig {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string; namespace?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

interface Loaded {
  file: string;
  raw: RawKubeconfig;
}

function readText(read: (p: string) => Buffer, file: string, what: string): Buffer {
  try {
    return read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(`${what} ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}.`);
  }
}

function loadFile(read: (p: string) => Buffer, file: string): Loaded {
  const text = readText(read, file, 'Kubeconfig').toString('utf8');
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw inputError(`Kubeconfig ${file} is not valid YAML (${(err as Error).message.split('\n')[0]}).`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw inputError(`Kubeconfig ${file} is not a kubeconfig (expected a mapping with clusters, users and contexts).`);
  return { file, raw: raw as RawKubeconfig };
}

/** kubectl's merge rule for KUBECONFIG lists: the first file to define a name (or current-context) wins. */
function findNamed<T>(files: Loaded[], key: 'contexts' | 'clusters' | 'users', name: string): { file: string; value: T } | undefined {
  for (const f of files) {
    const list = f.raw[key];
    if (!Array.isArray(list)) continue;
    const hit = list.find((e) => e && e.name === name);
    if (hit) return { file: f.file, value: hit as T };
  }
  return undefined;
}

/** Reads a `<x>` file path (relative to the kubeconfig, as kubectl resolves it) or `<x>-data` base64. */
function material(read: (p: string) => Buffer, entry: Record<string, unknown>, key: string, file: string, where: string): Buffer | undefined {
  const data = entry[`${key}-data`];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  const path = entry[key];
  if (typeof path === 'string' && path) {
    const full = isAbsolute(path) ? path : join(dirname(file), path);
    return readText(read, full, `The ${key} file named in ${where} of kubeconfig ${file},`);
  }
  return undefined;
}

export function loadKubeConnection(o: KubeConfigOptions): KubeConnection {
  const read = o.readFile ?? ((p: string) => readFileSync(p));
  const paths = (o.kubeconfig ?? o.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (paths.length === 0) return inCluster(o, read);
  const files = paths.map((p) => loadFile(read, p));
  const contextName = o.context ?? files.find((f) => f.raw['current-context'])?.raw['current-context'];
  if (!contextName) throw inputError(`Kubeconfig ${paths.join(delimiter)} sets no current-context; name one with kubernetes.context.`);
  const ctx = findNamed<{ context?: { cluster?: string; user?: string; namespace?: string } }>(files, 'contexts', contextName);
  if (!ctx) {
    const known = files.flatMap((f) => (f.raw.contexts ?? []).map((c) => c?.name)).filter(Boolean);
    throw inputError(`Kubeconfig ${paths.join(delimiter)} has no context '${contextName}'; it has: ${known.join(', ') || 'none'}.`);
  }
  const c = ctx.value.context ?? {};
  const cluster = c.cluster ? findNamed<{ cluster?: Record<string, unknown> }>(files, 'clusters', c.cluster) : undefined;
  if (!cluster || !cluster.value.cluster) throw inputError(`Kubeconfig ${ctx.file}: context '${contextName}' names cluster '${c.cluster ?? ''}', which is not defined.`);
  const cl = cluster.value.cluster;
  const server = typeof cl.server === 'string' ? cl.server.replace(/\/+$/, '') : '';
  if (!/^https?:\/\//.test(server)) throw inputError(`Kubeconfig ${cluster.file}: cluster '${c.cluster}' has no https:// server URL.`);
  const proxy = typeof cl['proxy-url'] === 'string' && cl['proxy-url'] ? cl['proxy-url'] : undefined;
  if (proxy) {
    let u: URL;
    try {
      u = new URL(proxy);
    } catch {
      throw inputError(`Kubeconfig ${cluster.file}: the proxy-url of cluster '${c.cluster}' is not a URL.`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw inputError(`Kubeconfig ${cluster.file}: cluster '${c.cluster}' uses a ${u.protocol.replace(':', '')} proxy-url; this worker speaks http and https proxies.`);
    addSecret(decodeURIComponent(u.password));
  }

  const conn: KubeConnection = {
    server,
    namespace: o.namespace ?? c.namespace ?? 'default',
    ca: material(read, cl, 'certificate-authority', cluster.file, `cluster '${c.cluster}'`),
    insecure: cl['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof cl['tls-server-name'] === 'string' ? cl['tls-server-name'] : undefined,
    proxy,
    source: `kubeconfig ${paths.join(delimiter)} (context ${contextName})`,
  };
  if (c.user) {
    const user = findNamed<{ user?: Record<string, unknown> }>(files, 'users', c.user);
    if (!user) throw inputError(`Kubeconfig ${ctx.file}: context '${contextName}' names user '${c.user}', which is not defined.`);
    const extensions = Array.isArray(cl.extensions) ? (cl.extensions as { name?: string; extension?: unknown }[]) : [];
    const info: ClusterInfo = {
      server,
      ...(conn.tlsServerName ? { 'tls-server-name': conn.tlsServerName } : {}),
      ...(conn.insecure ? { 'insecure-skip-tls-verify': true } : {}),
      ...(conn.ca ? { 'certificate-authority-data': conn.ca.toString('base64') } : {}),
      ...(proxy ? { 'proxy-url': proxy } : {}),
      ...(extensions.find((x) => x?.name === 'client.authentication.k8s.io/exec') ? { config: extensions.find((x) => x?.name === 'client.authentication.k8s.io/exec')!.extension } : {}),
    };
    applyUser(read, conn, user.value.user ?? {}, user.file, c.user, info, o.env);
  }
  // Credentials never travel in clear text: plain http only to this machine (kubectl proxy, a tunnel).
  const hasCredential = Boolean(conn.authorization || conn.credentials || conn.key);
  if (hasCredential && server.startsWith('http://') && !isLoopback(new URL(server).hostname)) {
    throw inputError(`Kubeconfig ${cluster.file}: cluster '${c.cluster}' is at ${server}, without TLS, so the credentials of user '${c.user}' would travel in clear text; use the API server's https:// address.`);
  }
  return conn;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

function applyUser(read: (p: string) => Buffer, conn: KubeConnection, u: Record<string, unknown>, file: string, name: string, cluster: ClusterInfo, env: NodeJS.ProcessEnv): void {
  const where = `user '${name}'`;
  if (u.exec && typeof u.exec === 'object') {
    conn.credentials = execCredentials({ exec: u.exec as Record<string, unknown>, file, user: name, cluster, env });
  } else if (u['auth-provider'] && typeof u['auth-provider'] === 'object') {
    const ap = u['auth-provider'] as { name?: string; config?: Record<string, unknown> };
    if (ap.name !== 'oidc') {
      throw inputError(
        `Kubeconfig ${file}: ${where} authenticates with the ${ap.name ?? 'unnamed'} auth-provider, which kubectl no longer ships either; use its exec plugin (gke-gcloud-auth-plugin, kubelogin) or a token.`,
      );
    }
    const cfg = ap.config ?? {};
    conn.credentials = oidcCredentials({ config: cfg, file, user: name, ca: material(read, cfg, 'idp-certificate-authority', file, where) });
  }
  conn.cert = material(read, u, 'client-certificate', file, where);
  conn.key = material(read, u, 'client-key', file, where);
  if (Boolean(conn.cert) !== Boolean(conn.key)) throw inputError(`Kubeconfig ${file}: ${where} has a client certificate without its key (or a key without its certificate).`);
  let token = typeof u.token === 'string' ? u.token : undefined;
  if (!token && typeof u.tokenFile === 'string') token = readText(read, u.tokenFile, `The tokenFile of ${where} in kubeconfig ${file},`).toString('utf8').trim();
  if (token) {
    addSecret(token);
    conn.authorization = `Bearer ${token}`;
  } else if (typeof u.username === 'string' && typeof u.password === 'string') {
    addSecret(u.password);
    const basic = Buffer.from(`${u.username}:${u.password}`).toString('base64');
    addSecret(basic);
    conn.authorization = `Basic ${basic}`;
  }
}

/** The pod's own service account: https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/ */
function inCluster(o: KubeConfigOptions, read: (p: string) => Buffer): KubeConnection {
  const host = o.env.KUBERNETES_SERVICE_HOST;
  const port = o.env.KUBERNETES_SERVICE_PORT ?? '443';
  const dir = o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (!host) {
    throw inputError('The kubernetes target has no kubeconfig (set kubernetes.kubeconfig or KUBECONFIG) and is not running inside a cluster (KUBERNETES_SERVICE_HOST is not set).');
  }
  const token = readText(read, join(dir, 'token'), 'The service account token').toString('utf8').trim();
  addSecret(token);
  let namespace = o.namespace;
  if (!namespace) {
    try {
      namespace = read(join(dir, 'namespace')).toString('utf8').trim();
    } catch {
      namespace = 'default';
    }
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    namespace,
    authorization: `Bearer ${token}`,
    ca: readText(read, join(dir, 'ca.crt'), 'The service account CA'),
    insecure: false,
    source: 'the in-cluster service account',
  };
}
