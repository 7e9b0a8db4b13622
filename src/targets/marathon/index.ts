/**
 * Marathon over its REST API (https://mesosphere.github.io/marathon/api-console/index.html).
 *
 * - Finding a service: the app under `appPrefix` whose last path segment is the service name (the
 *   seed's /<department>/<environment>/<project>/<service> ids); `services[].marathon.app` wins.
 * - Deploying: GET the app, strip what Marathon computes, change ONLY container.docker.image, PUT
 *   it back (no force): every other field of the definition is kept as it was.
 * - Waiting: until the app has no deployment left and its tasks run and are healthy.
 * - 409 "App is locked by one or more deployments": wait (bounded) rather than force=true, which
 *   would cancel someone else's deployment. The one exception is a deployment this run (or the run
 *   an undo reverts) started itself, which put-back and undo supersede: known by the id the PUT
 *   answered, or, when that answer was lost or the worker died, by its intent: a deployment of
 *   this app whose target version (GET /v2/deployments, then /v2/apps/{id}/versions/{version})
 *   carries exactly the image the journal says that run put in place. Marathon keeps a deployment
 *   whose new tasks fail their health checks in flight forever
 *   (https://mesosphere.github.io/marathon/docs/deployments.html), so without this a crashed
 *   run's bad image could never be put back.
 * - Auth: none; basic (Marathon --http_credentials); DC/OS with a given token or a login
 *   (POST /acs/api/v1/auth/login {uid,password} -> token), sent as `Authorization: token=...`
 *   (https://docs.d2iq.com/mesosphere/dcos/2.1/security/ent/iam-api/).
 */
import { readFileSync } from 'node:fs';
import type { MarathonTargetConfig, ServiceConfig } from '../../config/types';
import { inputError, RollbackError } from '../../errors';
import { createAgent, createHttpClient, displayUrl, parseJson, parseJsonObject, statusError, type HttpClient, type HttpResponse, type RequestOptions } from '../../http/client';
import { addSecret } from '../../log';
import type { Deployed, Target, TargetContext } from '../types';
import { imageAtVersion, marathonHistory } from './versions';

interface MarathonApp {
  id: string;
  instances?: number;
  container?: { docker?: { image?: string } };
  healthChecks?: unknown[];
  deployments?: { id: string }[];
  tasksRunning?: number;
  tasksStaged?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  [key: string]: unknown;
}

/**
 * What GET /v2/apps/{id} returns but a client must not send back (AppInfo fields of the RAML).
 * `version` in a PUT body even means "roll back to that version" and may only come with `id`.
 */
export const READ_ONLY_FIELDS = ['version', 'versionInfo', 'tasks', 'deployments', 'tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

/** The app definition to PUT: the one Marathon has, read-only fields removed, only the image changed. */
export function withImage(app: MarathonApp, image: string): Record<string, unknown> {
  const def: Record<string, unknown> = structuredClone(app);
  for (const k of READ_ONLY_FIELDS) delete def[k];
  // Marathon answers both `ports` and `portDefinitions` (and `uris` with `fetch`), but refuses a
  // definition carrying both of a pair: keep the current form only.
  if (def.portDefinitions !== undefined) delete def.ports;
  if (def.fetch !== undefined) delete def.uris;
  const container = def.container as { docker?: { image?: string } } | undefined;
  container!.docker!.image = image;
  return def;
}

/** The ids of a `deployments` list as Marathon sends it; anything else (a broken answer) counts as none. */
function deploymentIds(list: unknown): string[] {
  return Array.isArray(list) ? list.map((d) => String((d as { id?: unknown } | null)?.id)) : [];
}

const pathOf = (id: string) => id.split('/').map(encodeURIComponent).join('/');

/** A deployment as GET /v2/deployments lists it (only what the intent match needs). */
interface DeploymentInfo {
  id: string;
  version?: string;
  affectedApps: string[];
}

export function createMarathonTarget(ctx: TargetContext): Target {
  const target = ctx.environment.target as { marathon: MarathonTargetConfig };
  const cfg = target.marathon;
  const base = cfg.url.replace(/\/+$/, '');
  const prefix = cfg.appPrefix.replace(/\/+$/, '');
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = ctx.now ?? (() => new Date());
  const pollMs = ctx.pollMs ?? 2000;
  // Poll soon at first (most deployments of one app take seconds), then every pollMs.
  const backoff = (attempt: number) => Math.min(pollMs, 100 * 2 ** attempt);
  const lockWaitMs = ctx.config.deployTimeout * 1000;
  if (cfg.tls?.cert || cfg.tls?.key) ctx.logger.warn(`${ctx.environment.name}: Marathon client certificates (tls.cert, tls.key) are not supported; connecting without one.`);
  const agent = cfg.tls ? createAgent({ ca: cfg.tls.ca ? readFileSync(cfg.tls.ca) : undefined, insecure: cfg.tls.insecure }) : undefined;
  const http: HttpClient = ctx.http ?? createHttpClient({ dispatcher: agent, sleep: ctx.sleep, onRetry: (r, ms) => ctx.logger.debug(`retrying in ${ms} ms: ${r}`) });
  const where = `Marathon at ${displayUrl(base)}`;

  addSecret(cfg.password);
  addSecret(cfg.dcos?.password);
  addSecret(cfg.dcos?.token);

  let authHeader: Promise<string | undefined> | undefined;
  async function login(): Promise<string | undefined> {
    if (cfg.dcos?.token) return `token=${cfg.dcos.token}`;
    if (cfg.dcos?.uid || cfg.dcos?.password) {
      if (!cfg.dcos.uid || !cfg.dcos.password) throw inputError(`${where}: dcos login needs both uid and password (or a token).`);
      const loginUrl = cfg.dcos.loginUrl ?? `${new URL(base).origin}/acs/api/v1/auth/login`;
      const res = await http.request(loginUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uid: cfg.dcos.uid, password: cfg.dcos.password }) });
      if (res.status !== 200) throw statusError(res, 'POST', `the DC/OS login of ${cfg.dcos.uid} was refused`);
      const token = parseJsonObject<{ token?: unknown }>(res, 'login answer').token;
      if (typeof token !== 'string' || !token) throw new RollbackError('failed', `${displayUrl(loginUrl)} answered the DC/OS login without a token.`);
      addSecret(token);
      return `token=${token}`;
    }
    if (cfg.username || cfg.password) return `Basic ${Buffer.from(`${cfg.username ?? ''}:${cfg.password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  async function call(path: string, o: RequestOptions = {}, relogin = true): Promise<HttpResponse> {
    authHeader ??= login();
    authHeader.catch(() => { authHeader = undefined; });
    const auth = await authHeader;
    const res = await http.request(`${base}${path}`, { ...o, headers: { accept: 'application/json', ...(auth ? { authorization: auth } : {}), ...o.headers } });
    if (res.status === 401 && relogin && cfg.dcos?.uid && !cfg.dcos.token) {
      // A DC/OS login token expires (default after 5 days, or sooner by policy): log in once more.
      authHeader = undefined;
      return call(path, o, false);
    }
    if (res.status === 401 || res.status === 403) {
      throw new RollbackError('failed', `${where} refused the request ${o.method ?? 'GET'} ${path.split('?')[0]} (${res.status}); check the Marathon credentials of this environment.`);
    }
    return res;
  }

  let listing: Promise<string[]> | undefined;
  /** Every app id under the prefix, read once per run (ids do not change during a rollback). */
  function appIds(): Promise<string[]> {
    listing ??= (async () => {
      // `id` filters apps whose id contains the string; the prefix check below makes it exact.
      const res = await call(`/v2/apps?id=${encodeURIComponent(prefix + '/')}`);
      if (res.status !== 200) throw statusError(res, 'GET', `listing the apps under ${prefix}`);
      const apps = parseJsonObject<{ apps?: { id?: unknown }[] }>(res, 'app list').apps;
      if (!Array.isArray(apps)) throw new RollbackError('failed', `${where} answered the app list without an "apps" array.`);
      return apps.map((a) => a?.id).filter((id): id is string => typeof id === 'string' && id.startsWith(prefix + '/'));
    })();
    listing.catch(() => { listing = undefined; });
    return listing;
  }

  const ids = new Map<string, string>();
  async function appIdOf(service: ServiceConfig): Promise<string> {
    const key = `${service.name}\0${service.marathon?.app ?? ''}`;
    const known = ids.get(key);
    if (known) return known;
    let id: string;
    if (service.marathon?.app) {
      id = service.marathon.app.startsWith('/') ? service.marathon.app : `/${service.marathon.app}`;
    } else {
      const matches = (await appIds()).filter((a) => a.split('/').pop() === service.name);
      if (matches.length === 0) throw inputError(`Service ${service.name} has no Marathon app under ${prefix} (${where}); looked for an app id ending in /${service.name}; set services[].marathon.app to name it.`);
      if (matches.length > 1) throw inputError(`Service ${service.name} matches ${matches.length} Marathon apps under ${prefix}: ${matches.join(' and ')}; set services[].marathon.app to pick one.`);
      id = matches[0];
    }
    ids.set(key, id);
    return id;
  }

  async function getApp(service: ServiceConfig): Promise<MarathonApp> {
    const id = await appIdOf(service);
    const res = await call(`/v2/apps${pathOf(id)}`);
    if (res.status === 404) {
      throw inputError(`Service ${service.name}: Marathon app ${id} does not exist (${where})${service.marathon?.app ? '; check services[].marathon.app' : ''}.`);
    }
    if (res.status !== 200) throw statusError(res, 'GET', `reading app ${id}`);
    const app = parseJsonObject<{ app?: MarathonApp }>(res, 'app').app;
    if (!app || typeof app !== 'object' || typeof app.id !== 'string') throw new RollbackError('failed', `${where} answered GET /v2/apps${id} without an app.`);
    return app;
  }

  function imageOf(app: MarathonApp, service: ServiceConfig): string {
    const image = app.container?.docker?.image;
    if (typeof image !== 'string' || !image) {
      throw inputError(`Service ${service.name}: Marathon app ${app.id} has no container.docker.image; only Docker apps can be rolled back.`);
    }
    return image;
  }

  /** Deployments this worker started, by app id: the only ones it may supersede. */
  const ours = new Map<string, Set<string>>();

  /**
   * Which of `ids` (deployments of app `appId` in flight) put `intent` in place: their target
   * version's image is exactly the one a run's journal recorded. Those, and only those, are a
   * run's own, even if its PUT answer was lost or its worker died.
   */
  async function deploymentsTowards(appId: string, ids: string[], intent: string): Promise<Set<string>> {
    const found = new Set<string>();
    if (ids.length === 0) return found;
    const res = await call('/v2/deployments');
    if (res.status !== 200) throw statusError(res, 'GET', 'listing the deployments in flight');
    const list = parseJson<unknown>(res);
    const all: DeploymentInfo[] = Array.isArray(list) ? list.filter((d): d is DeploymentInfo => !!d && typeof d.id === 'string' && Array.isArray(d.affectedApps)) : [];
    for (const d of all) {
      if (!ids.includes(d.id) || !d.affectedApps.includes(appId) || typeof d.version !== 'string') continue;
      // A version Marathon no longer has is not provably ours.
      if ((await imageAtVersion({ call, pathOf }, appId, d.version)) === intent) found.add(d.id);
    }
    return found;
  }

  return {
    describe: () => `Marathon at ${displayUrl(base)} under ${prefix}`,

    async current(service): Promise<Deployed> {
      const app = await getApp(service);
      return { image: imageOf(app, service), id: app.id };
    },

    async busy(service, ours) {
      const app = await getApp(service);
      let deps = deploymentIds(app.deployments);
      // The deployment of the run being undone (stuck on its bad image) is not someone else's: undo supersedes it.
      if (ours && deps.length) {
        const mine = await deploymentsTowards(app.id, deps, ours);
        deps = deps.filter((d) => !mine.has(d));
      }
      return deps.length ? `Marathon app ${app.id} (service ${service.name}) has a deployment in flight (${deps.join(', ')})` : undefined;
    },

    async deploy(service, image, supersede) {
      const started = now().getTime();
      for (let force = false, attempt = 0; ; attempt++) {
        const app = await getApp(service);
        if (imageOf(app, service) === image) {
          // Already the definition we want: an earlier PUT took although its answer was lost
          // (the client retried it), or someone else made the same change. Just wait for it.
          ctx.logger.debug(`${service.name}: ${app.id} already has ${image}; not changing it again.`);
          return;
        }
        const body = JSON.stringify(withImage(app, image));
        const res = await call(`/v2/apps${pathOf(app.id)}${force ? '?force=true' : ''}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
        if (res.status === 200 || res.status === 201) {
          const id = parseJsonObject<{ deploymentId?: unknown }>(res, 'deployment answer').deploymentId;
          if (typeof id === 'string') {
            if (!ours.has(app.id)) ours.set(app.id, new Set());
            ours.get(app.id)!.add(id);
          }
          return;
        }
        if (res.status === 409) {
          const blocking = deploymentIds(parseJsonObject<{ deployments?: unknown }>(res, 'conflict answer').deployments);
          const mine = ours.get(app.id);
          if (!force && blocking.length > 0 && mine && blocking.every((d) => mine.has(d))) {
            ctx.logger.info(`${service.name}: superseding this run's own unfinished deployment of ${app.id}.`);
            force = true;
            continue;
          }
          if (!force && blocking.length > 0 && supersede) {
            const towards = await deploymentsTowards(app.id, blocking, supersede);
            if (blocking.every((d) => towards.has(d))) {
              ctx.logger.info(`${service.name}: superseding the unfinished deployment of ${app.id} to ${supersede} (${blocking.join(', ')}) that the run being put back started.`);
              force = true;
              continue;
            }
          }
          if (now().getTime() - started >= lockWaitMs) {
            throw new RollbackError('failed', `Marathon app ${app.id} (service ${service.name}) stayed locked by deployment ${blocking.join(', ') || '(unnamed)'} for ${Math.round(lockWaitMs / 1000)}s; it was not forced.`);
          }
          ctx.logger.debug(`${service.name}: ${app.id} is locked by deployment ${blocking.join(', ')}; waiting.`);
          await sleep(backoff(attempt));
          continue;
        }
        if (res.status === 422 || res.status === 400) {
          let detail = '';
          try {
            const b = parseJson<{ message?: string; details?: { path?: string; errors?: string[] }[] }>(res);
            detail = [b.message, ...(b.details ?? []).map((d) => `${d.path ?? ''}: ${(d.errors ?? []).join(', ')}`)].filter(Boolean).join('; ');
          } catch {
            /* the status says enough */
          }
          throw new RollbackError('failed', `Marathon refused the new definition of app ${app.id} (${res.status}${detail ? `: ${detail}` : ''}).`);
        }
        throw statusError(res, 'PUT', `changing the image of ${app.id}`);
      }
    },

    async waitHealthy(service, image, timeoutMs) {
      const deadline = now().getTime() + timeoutMs;
      for (let attempt = 0; ; attempt++) {
        const app = await getApp(service);
        const running = imageOf(app, service);
        if (running !== image) {
          throw new RollbackError('failed', `Marathon app ${app.id} (service ${service.name}) was changed to ${running} while waiting for ${image}.`);
        }
        const deps = deploymentIds(app.deployments);
        const instances = app.instances ?? 1;
        const checked = Array.isArray(app.healthChecks) && app.healthChecks.length > 0;
        const healthy = (app.tasksRunning ?? 0) >= instances && (app.tasksStaged ?? 0) === 0
          && (!checked || ((app.tasksHealthy ?? 0) >= instances && (app.tasksUnhealthy ?? 0) === 0));
        if (deps.length === 0 && healthy) return;
        if (now().getTime() >= deadline) {
          const why = deps.length ? `deployment ${deps.join(', ')} still running` : `${app.tasksHealthy ?? 0} of ${instances} tasks healthy, ${app.tasksUnhealthy ?? 0} unhealthy`;
          throw new RollbackError('failed', `Marathon app ${app.id} (service ${service.name}) was not healthy within ${Math.round(timeoutMs / 1000)}s (${why}).`);
        }
        await sleep(Math.min(backoff(attempt), Math.max(1, deadline - now().getTime())));
      }
    },

    history: (services) => marathonHistory({ call, appIdOf, pathOf, where, parallel: ctx.config.parallel }, services),

    close: async () => {
      if (!ctx.http) await http.close();
      if (agent) await agent.close();
    },
  };
}
