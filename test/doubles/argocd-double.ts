/**
 * An Argo CD API server double (GET /api/v1/applications/{name}), written from Argo CD's API and
 * health documentation, playing the application controller: each Application follows a branch of
 * a git double (the revision it deploys is that branch's head, `lag` reads after it moved, sooner
 * when asked to ?refresh), goes Progressing, then Healthy or Degraded as its script says for that
 * revision; a revision scripted 'never' is never synced (a controller that is stuck or paused): the
 * old revision keeps reading Synced and Healthy, as Argo CD reports it.
 * https://argo-cd.readthedocs.io/en/stable/developer-guide/api-docs/
 * https://argo-cd.readthedocs.io/en/stable/operator-manual/health/
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Outcome = 'Healthy' | 'Degraded' | 'never';

export interface ArgoApp {
  /** The head of the branch the Application tracks (targetRevision). */
  head: () => string | undefined;
  /** What the controller makes of each revision; default Healthy. */
  outcome?: (revision: string) => Outcome;
  /** Reads (without refresh) before the controller notices a new head. Default 2. */
  lag?: number;
}

export interface ArgoDouble {
  url: string;
  requests: { path: string; authorization?: string }[];
  addApp(name: string, app: ArgoApp): void;
  /** The revisions each Application synced, in order. */
  synced(name: string): string[];
  close(): Promise<void>;
}

export async function startArgoDouble(options: { token: string }): Promise<ArgoDouble> {
  const requests: ArgoDouble['requests'] = [];
  const apps = new Map<string, ArgoApp & { revision?: string; health: string; seen: number; history: string[]; progressing: number }>();

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname + url.search, authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${options.token}`) return send(res, 401, { error: 'invalid session: token is invalid', code: 16, message: 'invalid session: token is invalid' });
    const m = url.pathname.match(/^\/api\/v1\/applications\/([^/]+)$/);
    if (!m || req.method !== 'GET') return send(res, 404, { error: 'Not Found', code: 5, message: 'Not Found' });
    const name = decodeURIComponent(m[1]);
    const app = apps.get(name);
    // Argo CD answers an unknown (or forbidden) Application as "permission denied" with 403 or 404 by version; 404 here.
    if (!app) return send(res, 404, { error: `applications.argoproj.io "${name}" not found`, code: 5, message: `applications.argoproj.io "${name}" not found` });
    // The answer is the state as of now: Argo CD reports Synced against the revision it last resolved,
    // so until the controller notices the new head, the old revision reads Synced (and Healthy).
    // A ?refresh is asynchronous: it makes the controller look, and shows from the next read on.
    const body = {
      metadata: { name, namespace: 'argocd' },
      spec: { source: { repoURL: 'https://git.example/shop/gitops.git', targetRevision: 'main', path: 'overlays/prod' } },
      status: {
        sync: { status: 'Synced', revision: app.revision },
        health: { status: app.health, ...(app.health === 'Degraded' ? { message: 'Deployment "api" exceeded its progress deadline' } : {}) },
        operationState: { phase: app.health === 'Progressing' ? 'Running' : 'Succeeded', syncResult: { revision: app.revision } },
      },
    };
    // Then the controller's loop, advanced by reads: notice the head after `lag` reads (or a refresh), sync it, report health.
    const head = app.head();
    if (head && head !== app.revision && (app.outcome?.(head) ?? 'Healthy') !== 'never') {
      app.seen += 1;
      if (url.searchParams.get('refresh') || app.seen > (app.lag ?? 2)) {
        app.revision = head;
        app.history.push(head);
        app.health = 'Progressing';
        app.progressing = 1;
        app.seen = 0;
      }
    } else if (app.health === 'Progressing' && app.progressing-- <= 0 && app.revision) {
      app.health = app.outcome?.(app.revision) ?? 'Healthy';
    }
    return send(res, 200, body);
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    addApp(name, app) {
      apps.set(name, { ...app, revision: app.head(), health: 'Healthy', seen: 0, history: [], progressing: 0 });
    },
    synced: (name) => apps.get(name)?.history ?? [],
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
