/**
 * Credentials a kubeconfig user gets from a program or an identity provider, the way kubectl gets
 * them, cached and fetched again when they expire or the API server answers 401:
 * - `exec` plugins (client.authentication.k8s.io v1 and v1beta1: `aws eks get-token`,
 *   `gke-gcloud-auth-plugin`, `kubelogin`): the command runs with the kubeconfig's args and env, plus
 *   KUBERNETES_EXEC_INFO (with the cluster when provideClusterInfo is set), and prints an
 *   ExecCredential whose status holds a token (or a client certificate and key) and its
 *   expirationTimestamp.
 *   https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins
 *   https://kubernetes.io/docs/reference/config-api/client-authentication.v1/
 * - `auth-provider: oidc`: the id-token while it is valid, then a refresh_token grant at the
 *   issuer's token endpoint (OpenID discovery).
 *   https://kubernetes.io/docs/reference/access-authn-authz/authentication/#using-kubectl
 * Every token and secret is registered for masking before it can reach a log line.
 */
import { execFile } from 'node:child_process';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Agent } from 'undici';
import { inputError, RollbackError } from '../../errors';
import { createHttpClient, parseJson, statusError } from '../../http/client';
import { addSecret } from '../../log';

export interface Credential {
  /** The Authorization header value. */
  authorization?: string;
  /** A client certificate and key (PEM) an exec plugin handed out instead of (or beside) a token. */
  cert?: string;
  key?: string;
}

/** A credential that can expire: `get` serves the cached one while valid; `invalidate` after a 401. */
export interface CredentialSource {
  get(): Promise<Credential>;
  invalidate(): void;
  /** How many times the credential was fetched (plugin runs, refresh grants). */
  fetches(): number;
}

/** What an exec plugin may be told about the cluster (ExecCredential spec.cluster). */
export interface ClusterInfo {
  server: string;
  'tls-server-name'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'certificate-authority-data'?: string;
  'proxy-url'?: string;
  config?: unknown;
}

const EXEC_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
/** Names of plugin env vars whose values are masked (AWS_SECRET_ACCESS_KEY, AZURE_CLIENT_SECRET, ...). */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|_KEY$|^KEY$/i;

function cached(fetch: () => Promise<{ credential: Credential; expiresAt?: number }>): CredentialSource {
  let current: { credential: Credential; expiresAt?: number } | undefined;
  let inFlight: Promise<{ credential: Credential; expiresAt?: number }> | undefined;
  let count = 0;
  return {
    async get() {
      if (current && (current.expiresAt === undefined || Date.now() < current.expiresAt)) return current.credential;
      inFlight ??= (async () => {
        count += 1;
        try {
          return await fetch();
        } finally {
          inFlight = undefined;
        }
      })();
      current = await inFlight;
      return current.credential;
    },
    invalidate() {
      current = undefined;
    },
    fetches: () => count,
  };
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : '';
}

/** An `exec:` user of a kubeconfig. */
export function execCredentials(o: {
  exec: Record<string, unknown>;
  /** The kubeconfig file and user name, for sentences. */
  file: string;
  user: string;
  cluster: ClusterInfo;
  env: NodeJS.ProcessEnv;
}): CredentialSource {
  const e = o.exec;
  const where = `user '${o.user}' of kubeconfig ${o.file}`;
  const apiVersion = typeof e.apiVersion === 'string' ? e.apiVersion : '';
  if (!EXEC_VERSIONS.includes(apiVersion)) {
    throw inputError(`Kubeconfig ${o.file}: the exec plugin of user '${o.user}' asks for apiVersion '${apiVersion || '(none)'}'; kubectl and this worker speak ${EXEC_VERSIONS.join(' and ')}.`);
  }
  if (typeof e.command !== 'string' || !e.command) throw inputError(`Kubeconfig ${o.file}: the exec plugin of user '${o.user}' has no command.`);
  if (e.interactiveMode === 'Always') {
    throw inputError(`Kubeconfig ${o.file}: the exec plugin ${e.command} of user '${o.user}' needs a terminal (interactiveMode: Always), which a pipeline does not have; use a plugin mode that prints a token without asking.`);
  }
  // A command with a slash is a path, relative to the kubeconfig's folder as kubectl reads it; a bare name is looked up on PATH.
  const command = e.command.includes('/') && !isAbsolute(e.command) ? resolve(dirname(o.file), e.command) : e.command;
  const args = Array.isArray(e.args) ? e.args.map(String) : [];
  const extra: Record<string, string> = {};
  for (const v of Array.isArray(e.env) ? e.env : []) {
    const { name, value } = (v ?? {}) as { name?: unknown; value?: unknown };
    if (typeof name !== 'string' || !name) throw inputError(`Kubeconfig ${o.file}: an env entry of the exec plugin of user '${o.user}' has no name.`);
    extra[name] = value === undefined || value === null ? '' : String(value);
    if (SECRET_NAME.test(name)) addSecret(extra[name]);
  }
  const info = {
    apiVersion, kind: 'ExecCredential',
    spec: { interactive: false, ...(e.provideClusterInfo === true ? { cluster: o.cluster } : {}) },
  };
  const shown = [e.command, ...args].join(' ');
  const hint = typeof e.installHint === 'string' && e.installHint.trim() ? ` (${e.installHint.trim().replace(/\s+/g, ' ').replace(/\.$/, '')})` : '';

  return cached(() => new Promise((done, fail) => {
    execFile(command, args, {
      env: { ...o.env, ...extra, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
      timeout: 60_000, maxBuffer: 4 * 1024 * 1024, windowsHide: true,
    }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          return fail(inputError(`The kubeconfig exec plugin '${e.command}' (${where}) could not be run: ${code === 'ENOENT' ? 'no such program' : 'permission denied'}${hint}.`));
        }
        const why = lastLine(String(stderr)) || (err.killed ? 'it ran longer than 60 s' : `it exited with ${String(code ?? err.signal ?? 'an error')}`);
        return fail(inputError(`The kubeconfig exec plugin '${shown}' (${where}) failed: ${why.replace(/\.$/, '')}.`));
      }
      let cred: { apiVersion?: string; kind?: string; status?: { token?: string; expirationTimestamp?: string; clientCertificateData?: string; clientKeyData?: string } };
      try {
        cred = JSON.parse(String(stdout));
      } catch {
        return fail(inputError(`The kubeconfig exec plugin '${shown}' (${where}) printed no ExecCredential JSON.`));
      }
      const token = cred?.status?.token;
      const cert = cred?.status?.clientCertificateData;
      const key = cred?.status?.clientKeyData;
      if (key) addSecret(key);
      if (typeof token === 'string' && token) addSecret(token);
      if (!(typeof token === 'string' && token) && !(cert && key)) {
        return fail(inputError(`The kubeconfig exec plugin '${shown}' (${where}) gave neither a token nor a client certificate with its key.`));
      }
      if (cred.apiVersion && cred.apiVersion !== apiVersion) {
        return fail(inputError(`The kubeconfig exec plugin '${shown}' (${where}) answered apiVersion ${cred.apiVersion}, not the ${apiVersion} it was asked for.`));
      }
      const at = cred.status?.expirationTimestamp ? Date.parse(cred.status.expirationTimestamp) : undefined;
      done({
        credential: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(cert && key ? { cert, key } : {}) },
        expiresAt: at !== undefined && !Number.isNaN(at) ? at : undefined,
      });
    });
  }));
}

/** The `exp` of a JWT, in ms since the epoch, or undefined. */
function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** An `auth-provider: {name: oidc}` user: the id-token while valid, then a refresh at the issuer. */
export function oidcCredentials(o: {
  config: Record<string, unknown>;
  file: string;
  user: string;
  /** The IdP CA (idp-certificate-authority[-data]), already read. */
  ca?: Buffer;
}): CredentialSource {
  const c = o.config;
  const str = (k: string) => (typeof c[k] === 'string' && c[k] ? (c[k] as string) : undefined);
  const where = `user '${o.user}' of kubeconfig ${o.file}`;
  let idToken = str('id-token');
  let refreshToken = str('refresh-token');
  const clientId = str('client-id');
  const clientSecret = str('client-secret');
  const issuer = str('idp-issuer-url');
  for (const s of [idToken, refreshToken, clientSecret]) addSecret(s);
  if (!idToken && !refreshToken) throw inputError(`Kubeconfig ${o.file}: the oidc auth-provider of user '${o.user}' has neither an id-token nor a refresh-token.`);
  let first = true;

  return cached(async () => {
    // The id-token from the kubeconfig first, while it is valid; afterwards (expired, or refused with 401) a refresh.
    if (first && idToken) {
      first = false;
      const exp = jwtExpiry(idToken);
      if (exp === undefined || exp > Date.now()) return { credential: { authorization: `Bearer ${idToken}` }, expiresAt: exp };
    }
    first = false;
    if (!refreshToken || !issuer || !clientId) {
      throw inputError(`The oidc id-token of ${where} has expired and it cannot be refreshed (it needs refresh-token, idp-issuer-url and client-id); log in again with kubectl and retry.`);
    }
    const agent = new Agent({ connect: o.ca ? { ca: o.ca } : undefined });
    const http = createHttpClient({ dispatcher: agent, attempts: 3 });
    try {
      const base = issuer.replace(/\/+$/, '');
      const disc = await http.request(`${base}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
      if (disc.status !== 200) throw statusError(disc, 'GET', `the OpenID discovery of ${issuer} for ${where}`);
      const endpoint = parseJson<{ token_endpoint?: string }>(disc, 'OpenID configuration').token_endpoint;
      if (!endpoint) throw new RollbackError('failed', `The OpenID configuration of ${issuer} names no token_endpoint.`);
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) });
      const res = await http.request(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() });
      if (res.status !== 200) {
        throw inputError(`The oidc refresh of ${where} at ${issuer} was refused (${res.status}); log in again with kubectl and retry.`);
      }
      const answer = parseJson<{ id_token?: string; refresh_token?: string }>(res, 'token answer');
      if (!answer.id_token) throw new RollbackError('failed', `The oidc refresh of ${where} at ${issuer} answered no id_token.`);
      idToken = answer.id_token;
      addSecret(idToken);
      if (answer.refresh_token) {
        refreshToken = answer.refresh_token;
        addSecret(refreshToken);
      }
      return { credential: { authorization: `Bearer ${idToken}` }, expiresAt: jwtExpiry(idToken) };
    } finally {
      await http.close();
      await agent.close();
    }
  });
}
