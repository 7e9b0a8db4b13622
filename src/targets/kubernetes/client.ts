/**
 * A small Kubernetes REST client over the shared HTTP path (src/http/client.ts): retries on 429,
 * 5xx and network errors come from there; TLS (CA, client certificate, insecure, tls-server-name)
 * from the kubeconfig goes into the undici Agent it uses (a ProxyAgent for proxy-url). A credential
 * from an exec plugin or oidc is asked for before each request; a 401 fetches it again once, as
 * client-go does when a token expires mid-run.
 * API conventions: https://kubernetes.io/docs/reference/using-api/api-concepts/
 */
import { Dispatcher, ProxyAgent } from 'undici';
import { RollbackError } from '../../errors';
import { createDispatcher, createHttpClient, HttpClient, HttpClientOptions, HttpResponse, parseJson, statusError } from '../../http/client';
import type { KubeConnection } from './config';
import type { Credential } from './credentials';

export type PatchType = 'strategic' | 'json' | 'merge';

/** PATCH Content-Types the API server understands: https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/ */
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
};

export interface KubeClient {
  readonly server: string;
  /** The object, or undefined on 404. */
  get<T>(path: string): Promise<T | undefined>;
  /** Applies a patch; a 409 Conflict (optimistic concurrency) is returned as `conflict` for the caller to retry. */
  patch<T>(path: string, body: unknown, type: PatchType): Promise<{ conflict: true; message: string } | { conflict: false; object: T }>;
  close(): Promise<void>;
}

/** The Status object the API server sends with errors: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/ */
function statusMessage(res: HttpResponse): string {
  try {
    const s = JSON.parse(res.body.toString('utf8')) as { message?: string };
    return typeof s.message === 'string' ? s.message : '';
  } catch {
    return '';
  }
}

export function createKubeClient(conn: KubeConnection, http: Omit<HttpClientOptions, 'dispatcher'> = {}): KubeClient {
  const tlsWith = (cert?: Buffer | string, key?: Buffer | string) => ({
    ca: conn.ca,
    cert,
    key,
    rejectUnauthorized: !conn.insecure,
    servername: conn.tlsServerName,
  });
  // The kubeconfig's proxy-url wins over the environment's proxies, as in kubectl: CONNECT through it,
  // then TLS to the API server with the kubeconfig's settings. Without one, the worker's dispatcher
  // (HTTPS_PROXY/NO_PROXY aware).
  const dispatcherFor = (tls: ReturnType<typeof tlsWith>): Dispatcher => conn.proxy
    ? new ProxyAgent({ uri: conn.proxy, requestTls: tls, connections: 4, keepAliveTimeout: 10_000 })
    : createDispatcher({ connections: 4, keepAliveTimeout: 10_000, connect: tls });
  const opened: { dispatcher: Dispatcher; client: HttpClient }[] = [];
  const open = (tls: ReturnType<typeof tlsWith>) => {
    const dispatcher = dispatcherFor(tls);
    const c = { dispatcher, client: createHttpClient({ ...http, dispatcher }) };
    opened.push(c);
    return c;
  };
  const client: HttpClient = open(tlsWith(conn.cert, conn.key)).client;
  /** An exec plugin that hands out a client certificate: one connection pool per certificate it gave. */
  const byCertificate = new Map<string, HttpClient>();
  const clientFor = (cred?: Credential): HttpClient => {
    if (!cred?.cert || !cred.key) return client;
    let c = byCertificate.get(cred.cert);
    if (!c) {
      c = open(tlsWith(cred.cert, cred.key)).client;
      byCertificate.set(cred.cert, c);
    }
    return c;
  };
  /** One request; a 401 with a fetched credential (expired, revoked) fetches it again and retries once. */
  const send = async (url: string, o: { method?: 'GET' | 'PATCH'; body?: string; idempotent?: boolean; extra?: Record<string, string> } = {}): Promise<HttpResponse> => {
    const go = async () => {
      const cred = conn.credentials ? await conn.credentials.get() : undefined;
      const authorization = cred ? cred.authorization : conn.authorization;
      const headers = { accept: 'application/json', ...(authorization ? { authorization } : {}), ...(o.extra ?? {}) };
      return clientFor(cred).request(url, { method: o.method, headers, body: o.body, idempotent: o.idempotent });
    };
    const res = await go();
    if (res.status !== 401 || !conn.credentials) return res;
    conn.credentials.invalidate();
    return go();
  };
  const fail = (res: HttpResponse, method: string): RollbackError => {
    const msg = statusMessage(res);
    const hint =
      res.status === 401 ? 'the credentials of the kubeconfig were refused' :
      res.status === 403 ? `the account may not do this${msg ? ` (${msg})` : ''}` : msg;
    return statusError(res, method, hint.replace(/\.$/, ''));
  };

  return {
    server: conn.server,
    async get<T>(path: string) {
      const res = await send(conn.server + path);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw fail(res, 'GET');
      return parseJson<T>(res, 'Kubernetes object');
    },
    async patch<T>(path: string, body: unknown, type: PatchType) {
      const res = await send(conn.server + path, {
        method: 'PATCH',
        extra: { 'content-type': PATCH_CONTENT_TYPE[type] },
        body: JSON.stringify(body),
        // A patch that pins resourceVersion is safe to resend: the server refuses a stale one with 409.
        idempotent: true,
      });
      if (res.status === 409) return { conflict: true as const, message: statusMessage(res) };
      if (res.status !== 200) throw fail(res, 'PATCH');
      return { conflict: false as const, object: parseJson<T>(res, 'Kubernetes object') };
    },
    close: async () => {
      for (const c of opened) {
        await c.client.close();
        await c.dispatcher.close();
      }
    },
  };
}
