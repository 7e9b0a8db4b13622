/**
 * Waiting for the cluster through Argo CD's API: after the commit, a service is healthy only when
 * its Application says it runs that commit (status.sync.revision, or one of status.sync.revisions
 * for a multi-source Application) and its health is Healthy. Degraded on that revision is a failure;
 * a revision that never arrives is one after the deploy timeout. The first read asks Argo CD to
 * refresh (`?refresh=normal`), so the run does not wait for its polling interval (3 min by default).
 * https://argo-cd.readthedocs.io/en/stable/developer-guide/api-docs/ and
 * https://argo-cd.readthedocs.io/en/stable/operator-manual/health/
 */
import { failure } from '../../errors';
import { createAgent, createHttpClient, HttpClient, parseJsonObject, statusError } from '../../http/client';
import { addSecret } from '../../log';
import type { TargetContext } from '../types';

export interface ArgoWait {
  /** Resolves when `application` runs `revision` healthily; rejects with a sentence otherwise. */
  wait(application: string, revision: string, service: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

interface Application {
  status?: {
    sync?: { status?: string; revision?: string; revisions?: string[] };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string };
  };
}

export function createArgoWait(ctx: TargetContext, cfg: { url: string; token?: string; insecure?: boolean }): ArgoWait {
  if (cfg.token) addSecret(cfg.token);
  const base = cfg.url.replace(/\/+$/, '');
  const agent = cfg.insecure ? createAgent({ insecure: true }) : undefined;
  const http: HttpClient = createHttpClient({ sleep: ctx.sleep, dispatcher: agent, onRetry: (r, ms) => ctx.logger.debug(`argocd: ${r}; retrying in ${ms} ms`) });
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = () => (ctx.now ?? (() => new Date()))().getTime();
  const pollMs = ctx.pollMs ?? 2000;

  async function read(name: string, refresh: boolean): Promise<Application> {
    const url = `${base}/api/v1/applications/${encodeURIComponent(name)}${refresh ? '?refresh=normal' : ''}`;
    const res = await http.request(url, { headers: { accept: 'application/json', ...(cfg.token ? { authorization: `Bearer ${cfg.token}` } : {}) } });
    if (res.status === 401 || res.status === 403) throw statusError(res, 'GET', `Argo CD refused the token (argocd.token) for Application ${name}`);
    if (res.status === 404) throw statusError(res, 'GET', `there is no Argo CD Application ${name} (argocd.application, or the service's gitops.application)`);
    if (res.status !== 200) throw statusError(res, 'GET');
    return parseJsonObject<Application>(res, `Argo CD Application ${name}`);
  }

  return {
    async wait(application, revision, service, timeoutMs) {
      const started = now();
      let last = 'not read yet';
      for (let first = true; ; first = false) {
        const app = await read(application, first);
        const sync = app.status?.sync ?? {};
        const health = app.status?.health ?? {};
        const revisions = [sync.revision, ...(sync.revisions ?? [])].filter((r): r is string => typeof r === 'string');
        const arrived = revisions.includes(revision);
        if (arrived && sync.status === 'Synced' && health.status === 'Healthy') return;
        if (arrived && health.status === 'Degraded') {
          throw failure(`Argo CD Application ${application} runs commit ${revision.slice(0, 12)} of ${service} but is Degraded${health.message ? ` (${health.message.replace(/\.$/, '')})` : ''}`);
        }
        last = `at ${revisions[0]?.slice(0, 12) ?? 'no revision'}, ${sync.status ?? 'unknown sync'}, ${health.status ?? 'unknown health'}${app.status?.operationState?.phase ? `, last sync ${app.status.operationState.phase}` : ''}`;
        if (now() - started >= timeoutMs) {
          throw failure(`Argo CD Application ${application} did not run commit ${revision.slice(0, 12)} of ${service} healthily within ${Math.round(timeoutMs / 1000)}s (it is ${last})`);
        }
        await sleep(pollMs);
      }
    },
    close: async () => {
      await http.close();
      await agent?.close();
    },
  };
}
