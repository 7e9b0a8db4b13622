/**
 * A Marathon double: a node:http server speaking the parts of Marathon's REST API the rollback
 * uses, written from the public docs (https://mesosphere.github.io/marathon/api-console/index.html,
 * docs/rest-api/public/api/v2/*.raml in mesosphere/marathon), with a simulated deployment
 * lifecycle and faults injected per app. Tests, the demo, the bench and the chaos suites share it.
 *
 *   const m = await startMarathon({ apps: [{ id: '/ds/prod/api', image: 'reg/shop/api:2' }], deployMs: 20 });
 *   m.faults['/ds/prod/api'] = { put: { status: 422 } };   // the next PUTs of that app answer 422
 *   m.faults['/ds/prod/api'] = { reset: { times: 1, afterApply: true } }; // the next PUT takes, its answer is lost
 *   m.drop = 2;                                             // the next two requests lose their connection
 *   ... run the worker against m.url ...
 *   m.apps.get('/ds/prod/api')!.container.docker.image;     // what it runs now
 *   m.requests;                                             // every request: method, path, query, body
 *   await m.stop();
 *
 * Served: GET /v2/apps[?id=], GET/PUT /v2/apps/{id}[?force=true], GET /v2/apps/{id}/versions (newest
 * first), GET /v2/apps/{id}/versions/{version} (the app definition then, unwrapped, as Marathon's REST docs show),
 * GET /v2/groups[/{id}], GET /v2/deployments, DELETE /v2/deployments/{id}[?force=true],
 * POST /acs/api/v1/auth/login (DC/OS). Auth: none, basic (Marathon --http_credentials), or DC/OS
 * (`Authorization: token=...`).
 *
 * Lifecycle: a PUT creates a new app version and a deployment; the deployment leaves
 * /v2/deployments `deployMs` after it started (checked lazily on each request: no timers left
 * behind); then the app's tasks run the new image. As in Marathon, a deployment whose new tasks
 * fail their health checks (an `unhealthy` fault for its image) never finishes: the old tasks keep
 * running, the new ones keep failing, and the deployment stays in /v2/deployments until another
 * one supersedes it (`PUT ?force=true`) or it is cancelled (`DELETE /v2/deployments/{id}`)
 * (https://mesosphere.github.io/marathon/docs/deployments.html, "Forcing a Deployment").
 *
 * Fault accounting: `fired` lists every injected fault that actually changed an answer (a reset,
 * a status, a slow answer, a deployment kept in flight by an unhealthy image), so chaos figures
 * count what fired, not what was drawn.
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface AppSpec {
  id: string;
  image: string;
  instances?: number;
  /** Extra fields of the app definition (env, labels, healthChecks...), kept as they are. */
  extra?: Record<string, unknown>;
}

export interface AppFaults {
  /** The next PUTs of this app answer this status (409 as "locked by deployment"); `times` default: every time. */
  put?: {
    status: 409 | 422 | 500 | 503; times?: number; /** Only PUTs of this image fail. */ image?: string;
    /** The error body echoes the request's Authorization header (a proxy or an admission hook that quotes the request): masking must catch it. */
    echoAuthorization?: boolean;
  };
  /** The next GETs of this app answer this status. */
  get?: { status: 500 | 503; times?: number };
  /** Deployments of this app never finish (tasks keep failing to start). */
  neverFinish?: boolean;
  /** After a deployment, the tasks are unhealthy (health checks fail), for every image or only this one. */
  unhealthy?: boolean | string;
  /** Answers about this app are delayed by this many ms. */
  slowMs?: number;
  /** The next requests about this app lose their connection without an answer. */
  reset?: { times?: number; /** Only PUTs, and the change is applied first: the worker cannot know it took. */ afterApply?: boolean };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  /** 0 when the connection was dropped (a `reset` or `drop` fault). */
  status: number;
  authorization?: string;
}

interface Deployment {
  id: string;
  version: string;
  affectedApps: string[];
  startedAt: number;
  neverFinish: boolean;
  /** Applied when the deployment finishes. */
  image: string;
  /** Counted once in `fired` as stuck. */
  reported?: boolean;
}

export interface MarathonApp {
  id: string;
  instances: number;
  container: { type: string; docker: { image: string; [k: string]: unknown }; [k: string]: unknown };
  version: string;
  [k: string]: unknown;
}

export interface MarathonDouble {
  url: string;
  /** The current app definitions, by id (what Marathon would deploy). */
  apps: Map<string, MarathonApp>;
  /** Image the tasks of each app actually run (changes when a deployment finishes). */
  running: Map<string, string>;
  deployments: Map<string, Deployment>;
  requests: RecordedRequest[];
  /** Every injected fault that fired, in order: `<kind> <app id>` (e.g. "stuck /ds/prod/web", "lost-answer /ds/prod/api"). */
  fired: string[];
  faults: Record<string, AppFaults>;
  /** Drop the connection of the next `drop` requests of any kind, without an answer (network chaos). */
  drop: number;
  /** DC/OS token the login endpoint hands out (when dcos auth is on). */
  dcosToken?: string;
  /** Replaces the DC/OS token (the old one stops working: an expired token). */
  setDcosToken?: (token: string) => void;
  stop(): Promise<void>;
}

export interface MarathonOptions {
  apps: AppSpec[];
  /** How long a deployment takes. Default 30 ms. */
  deployMs?: number;
  /** While this answers true, no deployment finishes (a test holds a run mid-change until something happened). */
  hold?: () => boolean;
  auth?: { basic?: { username: string; password: string }; dcos?: { uid: string; password: string; token: string } };
  /**
   * The clock of new app versions (ms). Default: 2026-01-01 plus one second per version, so versions
   * sort like Marathon's; release-point suites pass one they move forward between releases.
   */
  now?: () => number;
  /** Called after each request is answered (chaos: kill the worker after the N-th request). */
  onRequest?: (r: RecordedRequest) => void;
}

// Fields Marathon computes and returns, never part of what a client sends back
// (AppInfo in the RAML; `version` in a PUT even means "roll back to that version").
const READ_ONLY = ['version', 'versionInfo', 'tasks', 'deployments', 'tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

export async function startMarathon(options: MarathonOptions): Promise<MarathonDouble> {
  const deployMs = options.deployMs ?? 30;
  const apps = new Map<string, MarathonApp>();
  const running = new Map<string, string>();
  const versions = new Map<string, MarathonApp[]>();
  const deployments = new Map<string, Deployment>();
  const requests: RecordedRequest[] = [];
  const fired: string[] = [];
  const faults: Record<string, AppFaults> = {};
  let clock = 0;
  // A copy: the token may be replaced (setDcosToken) without touching the caller's object.
  const auth = options.auth ? structuredClone(options.auth) : undefined;
  const double = { drop: 0 } as MarathonDouble;
  const newVersion = () => new Date(options.now ? options.now() + ++clock : Date.UTC(2026, 0, 1) + ++clock * 1000).toISOString();

  for (const spec of options.apps) {
    const app: MarathonApp = {
      id: spec.id,
      cmd: null,
      cpus: 0.1,
      mem: 64,
      instances: spec.instances ?? 2,
      env: { SERVICE: spec.id.split('/').pop()! },
      labels: { team: 'shop' },
      container: { type: 'DOCKER', docker: { image: spec.image, forcePullImage: false, parameters: [] }, volumes: [], portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }] },
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 10, maxConsecutiveFailures: 3 }],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
      version: newVersion(),
      ...spec.extra,
    };
    apps.set(app.id, app);
    running.set(app.id, spec.image);
    versions.set(app.id, [structuredClone(app)]);
  }

  /** Do the tasks of this app fail their health checks when they run `image`? */
  function unhealthyImage(id: string, image: string): boolean {
    const u = faults[id]?.unhealthy;
    return u === true || (typeof u === 'string' && u === image);
  }

  /** A deployment whose new tasks never become healthy stays in flight, as in Marathon. */
  const stuck = (d: Deployment) => d.neverFinish || d.affectedApps.some((id) => unhealthyImage(id, d.image));

  /** A slow answer counts as one fired fault per app, however many answers it slowed. */
  function slowed(where: string): void {
    if (!fired.includes(`slow ${where}`)) fired.push(`slow ${where}`);
  }

  /** Finishes deployments whose time has come. */
  function settle(): void {
    if (options.hold?.()) return;
    const now = Date.now();
    for (const d of [...deployments.values()]) {
      if (now - d.startedAt < deployMs) continue;
      if (stuck(d)) {
        if (!d.reported) fired.push(`stuck ${d.affectedApps.join(',')}`);
        d.reported = true;
      } else {
        deployments.delete(d.id);
        for (const id of d.affectedApps) running.set(id, d.image);
      }
    }
  }

  function appInfo(app: MarathonApp): Record<string, unknown> {
    const inFlight = [...deployments.values()].filter((d) => d.affectedApps.includes(app.id));
    const deps = inFlight.map((d) => ({ id: d.id }));
    const image = running.get(app.id)!;
    const unhealthy = unhealthyImage(app.id, image);
    // A deployment kept in flight by failing health checks: the old tasks still run (and pass),
    // one new task at a time is started and fails its checks (minimumHealthCapacity keeps the old).
    const failing = inFlight.some((d) => d.startedAt + deployMs <= Date.now() && stuck(d)) ? 1 : 0;
    const tasks = Array.from({ length: app.instances }, (_, i) => ({
      id: `${app.id.slice(1).replace(/\//g, '_')}.${i}`, appId: app.id, host: '127.0.0.1', state: 'TASK_RUNNING', version: app.version,
      healthCheckResults: app.healthChecks && (app.healthChecks as unknown[]).length ? [{ alive: !unhealthy, consecutiveFailures: unhealthy ? 3 : 0 }] : [],
    }));
    const checked = app.healthChecks && (app.healthChecks as unknown[]).length > 0;
    return {
      ...app,
      versionInfo: { lastScalingAt: app.version, lastConfigChangeAt: app.version },
      tasksStaged: 0,
      tasksRunning: app.instances + failing,
      tasksHealthy: checked && !unhealthy ? app.instances : 0,
      tasksUnhealthy: checked ? (unhealthy ? app.instances : 0) + failing : 0,
      deployments: deps,
      tasks,
    };
  }

  function authorized(req: IncomingMessage): boolean {
    const a = auth;
    if (!a) return true;
    const h = req.headers.authorization ?? '';
    if (a.basic && h === `Basic ${Buffer.from(`${a.basic.username}:${a.basic.password}`).toString('base64')}`) return true;
    if (a.dcos && h === `token=${a.dcos.token}`) return true;
    return false;
  }

  function appIdOf(path: string): string | undefined {
    const m = /^\/v2\/apps(\/.+?)(\/versions(?:\/[^/]+)?)?\/?$/.exec(path);
    return m ? decodeURIComponent(m[1]) : undefined;
  }

  function takeFault<K extends 'put' | 'get'>(id: string, kind: K): number | undefined {
    const f = faults[id]?.[kind];
    if (!f) return undefined;
    if (f.times !== undefined) {
      if (f.times <= 0) return undefined;
      f.times--;
    }
    fired.push(`${kind} ${f.status} ${id}`);
    return f.status;
  }

  function groupOf(prefix: string): Record<string, unknown> | undefined {
    const base = prefix === '/' ? '' : prefix.replace(/\/$/, '');
    const ids = [...apps.keys()].filter((id) => id.startsWith(base + '/'));
    if (base && ids.length === 0) return undefined;
    const direct = ids.filter((id) => !id.slice(base.length + 1).includes('/'));
    const children = new Set(ids.filter((id) => id.slice(base.length + 1).includes('/')).map((id) => `${base}/${id.slice(base.length + 1).split('/')[0]}`));
    return { id: base || '/', apps: direct.map((id) => appInfo(apps.get(id)!)), groups: [...children].map((g) => groupOf(g)), version: newVersion() };
  }

  async function handle(req: IncomingMessage, body: string): Promise<{ status: number; json?: unknown; headers?: Record<string, string> }> {
    settle();
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (method === 'POST' && path === '/acs/api/v1/auth/login') {
      const d = auth?.dcos;
      let creds: { uid?: string; password?: string } = {};
      try {
        creds = JSON.parse(body);
      } catch {
        return { status: 400, json: { title: 'Bad Request', description: 'Request body is not valid JSON.' } };
      }
      if (d && creds.uid === d.uid && creds.password === d.password) return { status: 200, json: { token: d.token } };
      return { status: 401, json: { title: 'Unauthorized', description: 'Login denied: wrong uid or password.', code: 'ERR_INVALID_CREDENTIALS' } };
    }
    if (!authorized(req)) {
      return auth?.basic
        ? { status: 401, json: { message: 'Invalid username or password.' }, headers: { 'www-authenticate': 'Basic realm="Marathon"' } }
        : { status: 401, json: { title: 'Unauthorized', description: 'Authentication token is missing or invalid.' }, headers: { 'www-authenticate': 'acsjwt' } };
    }

    if (path === '/v2/deployments' && method === 'GET') {
      return {
        status: 200,
        json: [...deployments.values()].map((d) => ({ id: d.id, version: d.version, affectedApps: d.affectedApps, currentStep: 1, totalSteps: 1, steps: [{ actions: d.affectedApps.map((app) => ({ action: 'RestartApplication', app })) }], currentActions: d.affectedApps.map((app) => ({ action: 'RestartApplication', app })) })),
      };
    }
    const dm = /^\/v2\/deployments\/([^/]+)$/.exec(path);
    if (dm && method === 'DELETE') {
      const d = deployments.get(dm[1]);
      if (!d) return { status: 404, json: { message: `DeploymentPlan ${dm[1]} does not exist` } };
      deployments.delete(d.id);
      if (url.searchParams.get('force') === 'true') return { status: 202, json: {} };
      // Without force Marathon rolls the affected apps back to their previous version, as a new deployment.
      const rollback: Deployment = { id: randomUUID(), version: newVersion(), affectedApps: d.affectedApps, startedAt: Date.now(), neverFinish: false, image: '' };
      for (const id of d.affectedApps) {
        const hist = versions.get(id)!;
        const prev = structuredClone(hist[hist.length - 2] ?? hist[0]);
        prev.version = rollback.version;
        apps.set(id, prev);
        hist.push(structuredClone(prev));
        rollback.image = prev.container.docker.image;
      }
      deployments.set(rollback.id, rollback);
      return { status: 200, json: { deploymentId: rollback.id, version: rollback.version } };
    }
    if (path === '/v2/groups' || path.startsWith('/v2/groups/')) {
      if (method !== 'GET') return { status: 405, json: { message: 'Method not allowed by this double.' } };
      const g = groupOf(decodeURIComponent(path.slice('/v2/groups'.length)) || '/');
      return g ? { status: 200, json: g } : { status: 404, json: { message: `Group '${path.slice('/v2/groups'.length)}' does not exist` } };
    }
    if (path === '/v2/apps' && method === 'GET') {
      // `id` filters apps whose id contains the string (Marathon's AppsResource).
      const filter = url.searchParams.get('id') ?? '';
      const list = [...apps.values()].filter((a) => a.id.includes(filter)).map(appInfo);
      const slow = Math.max(0, ...list.map((a) => faults[a.id as string]?.slowMs ?? 0));
      for (const a of list) if (faults[a.id as string]?.slowMs) slowed(a.id as string);
      if (slow) await new Promise((r) => setTimeout(r, slow));
      return { status: 200, json: { apps: list } };
    }
    const id = appIdOf(path);
    if (id !== undefined) {
      const app = apps.get(id);
      const slow = faults[id]?.slowMs;
      if (slow) slowed(id);
      if (slow) await new Promise((r) => setTimeout(r, slow));
      if (!app) return { status: 404, json: { message: `App '${id}' does not exist` } };
      const at = /\/versions\/([^/]+)\/?$/.exec(path);
      if (at && method === 'GET') {
        const v = versions.get(id)!.find((x) => x.version === decodeURIComponent(at[1]));
        return v ? { status: 200, json: v } : { status: 404, json: { message: `App '${id}' does not exist in version ${decodeURIComponent(at[1])}` } };
      }
      if (path.endsWith('/versions')) return { status: 200, json: { versions: versions.get(id)!.map((v) => v.version).reverse() } };
      if (method === 'GET') {
        const f = takeFault(id, 'get');
        if (f) return { status: f, json: { message: 'Marathon is not available right now.' } };
        return { status: 200, json: { app: appInfo(app) } };
      }
      if (method === 'PUT') {
        let wanted: string | undefined;
        try {
          wanted = (JSON.parse(body) as MarathonApp).container?.docker?.image;
        } catch {
          /* answered below */
        }
        const only = faults[id]?.put?.image;
        const f = only === undefined || only === wanted ? takeFault(id, 'put') : undefined;
        if (f === 409) return lockedAnswer(id, true);
        const echo = faults[id]?.put?.echoAuthorization ? ` (request sent with Authorization: ${req.headers.authorization ?? 'none'})` : '';
        if (f === 422) return { status: 422, json: { message: `Object is not valid${echo}`, details: [{ path: '/container/docker/image', errors: ['image rejected by an admission rule of this test'] }] } };
        if (f && echo) return { status: f, json: { message: `Marathon is not available right now${echo}.` } };
        if (f) return { status: f, json: { message: 'Marathon is not available right now.' } };
        let def: Record<string, unknown>;
        try {
          def = JSON.parse(body);
        } catch {
          return { status: 400, json: { message: 'Invalid JSON' } };
        }
        if (def.id !== undefined && def.id !== id) return { status: 422, json: { message: 'Object is not valid', details: [{ path: '/id', errors: ['id in the body differs from the path'] }] } };
        if (def.version !== undefined && Object.keys(def).some((k) => k !== 'id' && k !== 'version')) {
          return { status: 422, json: { message: 'Object is not valid', details: [{ path: '/', errors: ['The \'version\' field may only be combined with the \'id\' field.'] }] } };
        }
        const image = (def.container as MarathonApp['container'] | undefined)?.docker?.image;
        if (typeof image !== 'string' || !image) return { status: 422, json: { message: 'Object is not valid', details: [{ path: '/container/docker/image', errors: ['must not be empty'] }] } };
        const inFlight = [...deployments.values()].filter((d) => d.affectedApps.includes(id));
        if (inFlight.length && url.searchParams.get('force') !== 'true') return lockedAnswer(id, false);
        for (const d of inFlight) deployments.delete(d.id); // force: the new deployment supersedes
        const next = { ...def, id, version: newVersion() } as MarathonApp;
        for (const k of READ_ONLY) if (k !== 'version') delete (next as Record<string, unknown>)[k];
        apps.set(id, next);
        versions.get(id)!.push(structuredClone(next));
        const d: Deployment = { id: randomUUID(), version: next.version, affectedApps: [id], startedAt: Date.now(), neverFinish: !!faults[id]?.neverFinish, image };
        deployments.set(d.id, d);
        return { status: 200, json: { deploymentId: d.id, version: d.version } };
      }
    }
    return { status: 404, json: { message: `No route for ${method} ${path} in this double.` } };
  }

  function lockedAnswer(id: string, injected: boolean) {
    const ds = [...deployments.values()].filter((d) => d.affectedApps.includes(id)).map((d) => ({ id: d.id }));
    const shown = ds.length ? ds : injected ? [{ id: 'injected-fault-deployment' }] : [];
    return { status: 409, json: { message: `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.`, deployments: shown } };
  }

  /** Should this request's connection be dropped, before (`'before'`) or after (`'after'`) it is handled? */
  function dropOf(req: IncomingMessage): 'before' | 'after' | undefined {
    if (double.drop > 0) {
      double.drop--;
      fired.push('drop');
      return 'before';
    }
    const id = appIdOf(new URL(req.url ?? '/', 'http://x').pathname);
    const f = id === undefined ? undefined : faults[id]?.reset;
    if (!f || (f.times !== undefined && f.times <= 0)) return undefined;
    if (f.afterApply && req.method !== 'PUT') return undefined;
    if (f.times !== undefined) f.times--;
    fired.push(`${f.afterApply ? 'lost-answer' : 'reset'} ${id}`);
    return f.afterApply ? 'after' : 'before';
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const drop = dropOf(req);
      const record = (status: number) => {
        const url = new URL(req.url ?? '/', 'http://x');
        requests.push({ method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), status, authorization: req.headers.authorization });
      };
      if (drop === 'before') {
        record(0);
        req.socket.destroy();
        return;
      }
      handle(req, body).then(({ status, json, headers }) => {
        if (drop === 'after') {
          record(0);
          req.socket.destroy();
          return;
        }
        const url = new URL(req.url ?? '/', 'http://x');
        let parsed: unknown;
        try {
          parsed = body ? JSON.parse(body) : undefined;
        } catch {
          parsed = body;
        }
        const rec: RecordedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), body: parsed, status, authorization: req.headers.authorization };
        requests.push(rec);
        const text = json === undefined ? '' : JSON.stringify(json);
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(text);
        options.onRequest?.(rec);
      }, (err) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(err) }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(double, {
    url: `http://127.0.0.1:${port}`,
    apps, running, deployments, requests, faults, fired,
    dcosToken: options.auth?.dcos?.token,
    setDcosToken: (token: string) => {
      if (auth?.dcos) auth.dcos.token = token;
      double.dcosToken = token;
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}

/** The fields a client must strip from GET /v2/apps/{id} before a PUT (exported for tests). */
export const MARATHON_READ_ONLY_FIELDS = READ_ONLY;
