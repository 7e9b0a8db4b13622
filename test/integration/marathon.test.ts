/**
 * The Marathon target against the Marathon double: lookup under appPrefix, the exact PUT (only the
 * image changes), deployment following, 409/422/5xx, never-finishing deployments, unhealthy tasks,
 * basic and DC/OS auth, and secrets kept out of every message.
 */
import type { Config, EnvironmentConfig, MarathonTargetConfig, ServiceConfig } from '../../src/config/types';
import { createHttpClient } from '../../src/http/client';
import { memoryLogger } from '../../src/log';
import { createMarathonTarget, READ_ONLY_FIELDS, withImage } from '../../src/targets/marathon';
import type { Target } from '../../src/targets/types';
import { MARATHON_READ_ONLY_FIELDS, startMarathon, type MarathonDouble } from '../doubles/marathon-double';

const svc = (name: string, extra: Partial<ServiceConfig> = {}): ServiceConfig => ({ name, repository: `shop/${name}`, ...extra });

function open(m: MarathonDouble, over: Partial<MarathonTargetConfig> = {}, deployTimeout = 30) {
  const logger = memoryLogger();
  const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { marathon: { url: m.url, appPrefix: '/ds/prod', ...over } } };
  const config = { deployTimeout, services: [], environments: { prod: environment } } as unknown as Config;
  const target = createMarathonTarget({
    config, environment, env: {}, logger, stateDir: '/nonexistent',
    // Retries without real waiting; polls stay short.
    http: createHttpClient({ sleep: async () => {}, attempts: 3 }), pollMs: 50,
  });
  return { target, logger };
}

const APPS = [
  { id: '/ds/prod/shop/api', image: 'reg:5000/shop/api:2-prod' },
  { id: '/ds/prod/shop/web', image: 'reg:5000/shop/web:2-prod' },
  { id: '/ds/stage/shop/api', image: 'reg:5000/shop/api:9-stage' },
  { id: '/ds/prod/legacy/web', image: 'reg:5000/shop/web:0-prod' },
];

describe('Marathon target', () => {
  let m: MarathonDouble;
  let t: Target;
  afterEach(async () => {
    await t?.close();
    await m?.stop();
  });

  it('finds the app under the prefix by its last segment, and never one of another environment', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 3) });
    ({ target: t } = open(m));
    expect(await t.current(svc('api'))).toEqual({ image: 'reg:5000/shop/api:2-prod', id: '/ds/prod/shop/api' });
    expect(m.requests[0]).toMatchObject({ method: 'GET', path: '/v2/apps', query: { id: '/ds/prod/' } });
    await expect(t.current(svc('cart'))).rejects.toThrow(`Service cart has no Marathon app under /ds/prod (Marathon at ${m.url}/); looked for an app id ending in /cart; set services[].marathon.app to name it.`);
    expect(t.describe()).toBe(`Marathon at ${m.url}/ under /ds/prod`);
  });

  it('names both apps when two match, and lets services[].marathon.app decide', async () => {
    m = await startMarathon({ apps: APPS });
    ({ target: t } = open(m));
    await expect(t.current(svc('web'))).rejects.toThrow('Service web matches 2 Marathon apps under /ds/prod: /ds/prod/shop/web and /ds/prod/legacy/web; set services[].marathon.app to pick one.');
    expect((await t.current(svc('web', { marathon: { app: '/ds/prod/legacy/web' } }))).image).toBe('reg:5000/shop/web:0-prod');
    await expect(t.current(svc('web', { marathon: { app: '/ds/prod/nope' } }))).rejects.toThrow(/Marathon app \/ds\/prod\/nope does not exist .*check services\[\]\.marathon\.app/);
  });

  it('PUTs the definition it read with only container.docker.image changed, then waits until healthy', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 2), deployMs: 40 });
    ({ target: t } = open(m));
    const before = structuredClone(m.apps.get('/ds/prod/shop/api')!);
    await t.deploy(svc('api'), 'reg:5000/shop/api:1-prod@sha256:abc');
    const put = m.requests.find((r) => r.method === 'PUT')!;
    expect(put.path).toBe('/v2/apps/ds/prod/shop/api');
    expect(put.query).toEqual({});
    const expected: Record<string, unknown> = structuredClone(before);
    delete expected.version;
    (expected.container as { docker: { image: string } }).docker.image = 'reg:5000/shop/api:1-prod@sha256:abc';
    expect(put.body).toEqual(expected);
    for (const k of MARATHON_READ_ONLY_FIELDS) expect(put.body).not.toHaveProperty(k);
    expect(m.deployments.size).toBe(1);
    await t.waitHealthy(svc('api'), 'reg:5000/shop/api:1-prod@sha256:abc', 5000);
    expect(m.deployments.size).toBe(0);
    expect(m.running.get('/ds/prod/shop/api')).toBe('reg:5000/shop/api:1-prod@sha256:abc');
    expect(m.apps.get('/ds/prod/shop/web')!.version).toBe(structuredClone(m.apps.get('/ds/prod/shop/web')!).version);
    expect(m.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('keeps the target fields list in step with the double (both from the RAML), and drops ports/uris duplicates', () => {
    expect([...READ_ONLY_FIELDS].sort()).toEqual([...MARATHON_READ_ONLY_FIELDS].sort());
    const def = withImage({ id: '/a', container: { docker: { image: 'x' } }, ports: [0], portDefinitions: [{ port: 0 }], uris: ['u'], fetch: [{ uri: 'u' }], version: 'v' }, 'y');
    expect(def).toEqual({ id: '/a', container: { docker: { image: 'y' } }, portDefinitions: [{ port: 0 }], fetch: [{ uri: 'u' }] });
  });

  it('waits while another deployment locks the app (409) instead of forcing it', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 1) });
    ({ target: t } = open(m));
    m.faults['/ds/prod/shop/api'] = { put: { status: 409, times: 2 } };
    await t.deploy(svc('api'), 'reg:5000/shop/api:1-prod');
    const puts = m.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((p) => p.status)).toEqual([409, 409, 200]);
    expect(puts.every((p) => p.query.force === undefined)).toBe(true);
  });

  it('gives up on a lock that stays, within the deploy timeout, without forcing', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 1) });
    ({ target: t } = open(m, {}, 1));
    m.faults['/ds/prod/shop/api'] = { put: { status: 409 } };
    await expect(t.deploy(svc('api'), 'reg:5000/shop/api:1-prod')).rejects.toThrow(/^Marathon app \/ds\/prod\/shop\/api \(service api\) stayed locked by deployment injected-fault-deployment for 1s; it was not forced\.$/);
    expect(m.requests.some((r) => r.query.force)).toBe(false);
  });

  it('supersedes only its own hung deployment when putting a service back', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 1) });
    ({ target: t } = open(m, {}, 1));
    m.faults['/ds/prod/shop/api'] = { neverFinish: true };
    await t.deploy(svc('api'), 'reg:5000/shop/api:1-prod');
    await expect(t.waitHealthy(svc('api'), 'reg:5000/shop/api:1-prod', 300)).rejects.toThrow(/^Marathon app \/ds\/prod\/shop\/api \(service api\) was not healthy within 0s \(deployment [0-9a-f-]+ still running\)\.$/);
    m.faults['/ds/prod/shop/api'] = {};
    await t.deploy(svc('api'), 'reg:5000/shop/api:2-prod');
    expect(m.requests.filter((r) => r.method === 'PUT').map((r) => `${r.status} ${r.query.force ?? ''}`)).toEqual(['200 ', '409 ', '200 true']);
    await t.waitHealthy(svc('api'), 'reg:5000/shop/api:2-prod', 5000);
    expect(m.running.get('/ds/prod/shop/api')).toBe('reg:5000/shop/api:2-prod');
  });

  it('says what Marathon refused (422), retries 503, and reports unhealthy tasks', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 2) });
    ({ target: t } = open(m));
    m.faults['/ds/prod/shop/api'] = { put: { status: 422 } };
    await expect(t.deploy(svc('api'), 'x:1')).rejects.toThrow('Marathon refused the new definition of app /ds/prod/shop/api (422: Object is not valid; /container/docker/image: image rejected by an admission rule of this test).');
    m.faults['/ds/prod/shop/web'] = { put: { status: 503, times: 2 }, unhealthy: 'reg:5000/shop/web:1-prod' };
    await t.deploy(svc('web'), 'reg:5000/shop/web:1-prod');
    expect(m.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/web')).map((r) => r.status)).toEqual([503, 503, 200]);
    // As in Marathon, new tasks failing their health checks keep the deployment in flight.
    await expect(t.waitHealthy(svc('web'), 'reg:5000/shop/web:1-prod', 600)).rejects.toThrow(/not healthy within 1s \(deployment [0-9a-f-]+ still running\)/);
    expect(await t.busy(svc('web'))).toMatch(/has a deployment in flight/);
    expect(m.fired).toEqual(expect.arrayContaining(['stuck /ds/prod/shop/web']));
  });

  it('a stuck deployment whose PUT answer was lost is recognised by intent and superseded, even by another process', async () => {
    m = await startMarathon({ apps: APPS.slice(1, 2) });
    ({ target: t } = open(m, {}, 1));
    const bad = 'reg:5000/shop/web:1-prod';
    m.faults['/ds/prod/shop/web'] = { reset: { times: 1, afterApply: true }, unhealthy: bad };
    await t.deploy(svc('web'), bad);
    await expect(t.waitHealthy(svc('web'), bad, 300)).rejects.toThrow(/deployment [0-9a-f-]+ still running/);
    expect(m.fired).toEqual(['lost-answer /ds/prod/shop/web', 'stuck /ds/prod/shop/web']);
    // A new worker (the old one was killed): it never saw the deployment id.
    await t.close();
    ({ target: t } = open(m, {}, 1));
    expect(await t.busy(svc('web'))).toMatch(/has a deployment in flight/);
    expect(await t.busy(svc('web'), bad)).toBeUndefined();
    await t.deploy(svc('web'), 'reg:5000/shop/web:2-prod', bad);
    expect(m.requests.filter((r) => r.method === 'PUT').map((r) => `${r.status} ${r.query.force ?? ''}`)).toEqual(['0 ', '409 ', '409 ', '200 true']);
    await t.waitHealthy(svc('web'), 'reg:5000/shop/web:2-prod', 5000);
    expect(m.running.get('/ds/prod/shop/web')).toBe('reg:5000/shop/web:2-prod');
    expect(m.deployments.size).toBe(0);
  });

  it("never supersedes someone else's deployment, even one stuck on the same app", async () => {
    m = await startMarathon({ apps: APPS.slice(1, 2) });
    ({ target: t } = open(m, {}, 1));
    // Someone else changes web to 7-prod, which never gets healthy.
    const theirs = 'reg:5000/shop/web:7-prod';
    m.faults['/ds/prod/shop/web'] = { unhealthy: theirs };
    const other = open(m);
    await other.target.deploy(svc('web'), theirs);
    await other.target.close();
    expect(await t.busy(svc('web'), 'reg:5000/shop/web:1-prod')).toMatch(/has a deployment in flight/);
    await expect(t.deploy(svc('web'), 'reg:5000/shop/web:2-prod', 'reg:5000/shop/web:1-prod')).rejects.toThrow(/stayed locked by deployment [0-9a-f-]+ for 1s; it was not forced\.$/);
    expect(m.requests.some((r) => r.query.force)).toBe(false);
    expect(m.apps.get('/ds/prod/shop/web')!.container.docker.image).toBe(theirs);
  });

  it('survives lost connections: a dropped GET is retried, a PUT whose answer was lost is not made twice', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 1), deployMs: 50 });
    ({ target: t } = open(m));
    m.drop = 2;
    expect((await t.current(svc('api'))).image).toBe('reg:5000/shop/api:2-prod');
    expect(m.requests.slice(0, 3).map((r) => r.status)).toEqual([0, 0, 200]);
    m.faults['/ds/prod/shop/api'] = { reset: { times: 1, afterApply: true } };
    await t.deploy(svc('api'), 'reg:5000/shop/api:1-prod');
    await t.waitHealthy(svc('api'), 'reg:5000/shop/api:1-prod', 5000);
    expect(m.running.get('/ds/prod/shop/api')).toBe('reg:5000/shop/api:1-prod');
    // The lost PUT took; the client's retry met the lock of that deployment and the target saw
    // the definition already had the image: no second change.
    expect(m.requests.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([0, 409]);
    expect(m.requests.some((r) => r.query.force)).toBe(false);
  });

  it('reports a deployment in flight as busy', async () => {
    m = await startMarathon({ apps: APPS.slice(0, 1) });
    ({ target: t } = open(m));
    m.faults['/ds/prod/shop/api'] = { neverFinish: true };
    await t.deploy(svc('api'), 'x:1');
    expect(await t.busy(svc('api'))).toMatch(/^Marathon app \/ds\/prod\/shop\/api \(service api\) has a deployment in flight \([0-9a-f-]+\)$/);
  });

  it('authenticates with basic credentials, and says so plainly when they are wrong, never showing the password', async () => {
    const password = 'b4sic-S3cret-pw';
    m = await startMarathon({ apps: APPS.slice(0, 1), auth: { basic: { username: 'ops', password } } });
    ({ target: t } = open(m, { username: 'ops', password }));
    expect((await t.current(svc('api'))).image).toBe('reg:5000/shop/api:2-prod');
    await t.close();
    const wrong = open(m, { username: 'ops', password: 'wr0ng-password' });
    t = wrong.target;
    const err = (await t.current(svc('api')).then(() => new Error('no error'), (e: Error) => e));
    expect(err.message).toBe(`Marathon at ${m.url}/ refused the request GET /v2/apps (401); check the Marathon credentials of this environment.`);
    expect(JSON.stringify(wrong.logger.lines) + err.message).not.toContain('wr0ng-password');
  });

  it('logs in to DC/OS with uid/password and sends the token; or uses a given token', async () => {
    const dcos = { uid: 'svc-rollback', password: 'dc0s-Passw0rd', token: 'eyJ0eXAiOiJKV1Qi.dcos-token-value' };
    m = await startMarathon({ apps: APPS.slice(0, 1), auth: { dcos } });
    ({ target: t } = open(m, { dcos: { uid: dcos.uid, password: dcos.password, loginUrl: `${m.url}/acs/api/v1/auth/login` } }));
    await t.deploy(svc('api'), 'reg:5000/shop/api:1-prod');
    expect(m.requests[0]).toMatchObject({ method: 'POST', path: '/acs/api/v1/auth/login', body: { uid: dcos.uid, password: dcos.password } });
    expect(m.requests.slice(1).every((r) => r.authorization === `token=${dcos.token}`)).toBe(true);
    // The token expires: the next request is refused once, the target logs in again.
    const logins = () => m.requests.filter((r) => r.path === '/acs/api/v1/auth/login').length;
    const renewed = 'eyJ0eXAiOiJKV1Qi.renewed-token';
    m.setDcosToken!(renewed);
    expect((await t.current(svc('api'))).image).toBe('reg:5000/shop/api:1-prod');
    expect(logins()).toBe(2);
    m.setDcosToken!(dcos.token);
    await t.close();
    ({ target: t } = open(m, { dcos: { token: dcos.token } }));
    expect((await t.current(svc('api'))).image).toBe('reg:5000/shop/api:1-prod');
    await t.close();
    const bad = open(m, { dcos: { uid: dcos.uid, password: 'nope-nope', loginUrl: `${m.url}/acs/api/v1/auth/login` } });
    t = bad.target;
    await expect(t.current(svc('api'))).rejects.toThrow(`POST ${m.url}/acs/api/v1/auth/login answered 401 Unauthorized: the DC/OS login of svc-rollback was refused.`);
  });
});
