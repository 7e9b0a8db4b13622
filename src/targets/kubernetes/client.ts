/**
 * A small Kubernetes REST client over the shared HTTP path (src/http/client.ts): retries on 429,
 * 5xx and network errors come from there; TLS (CA, client certificate, insecure) from the
 * kubeconfig goes into the undici Agent it uses.
 * API conventions: https://kubernetes.io/docs/reference/using-api/api-concepts/
 */
import { RollbackError } from '../../errors';
import { createDispatcher, createHttpClient, HttpClient, HttpClientOptions, HttpResponse, parseJson, statusError } from '../../http/client';
import type { KubeConnection } from './config';

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
  const agent = createDispatcher({
    connections: 4,
    keepAliveTimeout: 10_000,
    connect: {
      ca: conn.ca,
      cert: conn.cert,
      key: conn.key,
      rejectUnauthorized: !conn.insecure,
      servername: conn.tlsServerName,
    },
  });
  const client: HttpClient = createHttpClient({ ...http, dispatcher: agent });
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    accept: 'application/json',
    ...(conn.authorization ? { authorization: conn.authorization } : {}),
    ...extra,
  });
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
      const res = await client.request(conn.server + path, { headers: headers() });
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw fail(res, 'GET');
      return parseJson<T>(res, 'Kubernetes object');
    },
    async patch<T>(path: string, body: unknown, type: PatchType) {
      const res = await client.request(conn.server + path, {
        method: 'PATCH',
        headers: headers({ 'content-type': PATCH_CONTENT_TYPE[type] }),
        body: JSON.stringify(body),
        // A patch that pins resourceVersion is safe to resend: the server refuses a stale one with 409.
        idempotent: true,
      });
      if (res.status === 409) return { conflict: true as const, message: statusMessage(res) };
      if (res.status !== 200) throw fail(res, 'PATCH');
      return { conflict: false as const, object: parseJson<T>(res, 'Kubernetes object') };
    },
    close: async () => {
      await client.close();
      await agent.close();
    },
  };
}
