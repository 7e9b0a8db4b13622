/**
 * End to end through the CLI: the REAL registry (images pushed with chosen dates), `rollback get`,
 * then plan / run / undo against the Marathon double, with Slack on the Slack double.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { Catalog } from '../../src/catalog/types';
import { runCli } from '../support/cli';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';
import { readyOrFail, registryMissing } from '../support/ready';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startSlack, type SlackDouble } from '../doubles/slack-double';

const maybe = readyOrFail('run', registryMissing());
const MARATHON_PASSWORD = 'marathon-Pa55word-e2e';
const D = '2026-11-19';

maybe('rollback run, end to end (real registry, Marathon double, Slack double)', () => {
  let reg: RunningRegistry;
  let slack: SlackDouble;
  let m: MarathonDouble;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let catalog: Catalog;
  const out: string[] = [];
  const err: string[] = [];

  // api: no image on D -> its newest before (the special case); web: built late on D; db: already there.
  const IMAGES = [
    { repository: 'shop/api', tag: '1-prod', created: '2026-11-17T10:00:00Z' },
    { repository: 'shop/api', tag: '2-prod', created: '2026-11-20T09:00:00Z' },
    { repository: 'shop/api', tag: '7-stage', created: '2026-11-19T09:00:00Z' },
    { repository: 'shop/web', tag: '1-prod', created: '2026-11-17T08:00:00Z' },
    { repository: 'shop/web', tag: '2-prod', created: '2026-11-19T23:30:00Z' },
    { repository: 'shop/web', tag: '3-prod', created: '2026-11-20T11:00:00Z' },
    { repository: 'shop/db', tag: '1-prod', created: '2026-11-18T12:00:00Z' },
  ];

  async function cli(...args: string[]): Promise<number> {
    const r = await runCli(args, { env, cwd: dir });
    out.push(r.stdout);
    err.push(r.stderr);
    return r.code;
  }
  const common = () => ['--config', 'rollback.yml', '--env', 'prod'];
  const images = () => Object.fromEntries([...m.apps.values()].map((a) => [a.id, a.container.docker.image]));
  const definitions = () => Object.fromEntries([...m.apps.values()].map((a) => { const { version: _v, ...rest } = a; return [a.id, rest]; }));

  beforeAll(async () => {
    reg = await startRegistry();
    for (const i of IMAGES) await pushImage(reg, { ...i, format: i.repository === 'shop/db' ? 'oci' : 'docker' });
    slack = await startSlack();
    dir = mkdtempSync(join(tmpdir(), 'rollback-e2e-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`,
      'services:', '  - name: api', '    repository: shop/api', '  - name: web', '    repository: shop/web', '  - name: db', '    repository: shop/db',
      'environments:',
      '  prod:', '    target:', '      marathon:', '        url: ${MARATHON_URL}', '        appPrefix: /ds/prod', '        username: ops', '        password: ${MARATHON_PASSWORD}',
      '  stage:', '    target:', '      marathon:', '        url: ${MARATHON_URL}', '        appPrefix: /ds/stage',
      'parallel: 2', 'deployTimeout: 2', 'settle: 0',
      'notify:', '  slack:', '    webhook: ${SLACK_WEBHOOK}', '',
    ].join('\n'));
    env = { MARATHON_URL: 'http://127.0.0.1:1', MARATHON_PASSWORD, SLACK_WEBHOOK: slack.webhook, PATH: process.env.PATH, USER: 'someone' };
    const got = await cli('get', ...common());
    if (got !== 0) throw new Error(err.join(''));
    expect(out.join('')).toBe('2026-11-20\n2026-11-19\n2026-11-18\n2026-11-17\n');
    catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8'));
  });
  afterAll(async () => {
    await slack?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    out.length = 0;
    err.length = 0;
    slack.posts.length = 0;
    // Every prod app runs its newest image (by tag, as a deploy pipeline would have set it).
    m = await startMarathon({
      deployMs: 20,
      auth: { basic: { username: 'ops', password: MARATHON_PASSWORD } },
      apps: [
        { id: '/ds/prod/shop/api', image: `${reg.host}/shop/api:2-prod` },
        { id: '/ds/prod/shop/web', image: `${reg.host}/shop/web:3-prod` },
        { id: '/ds/prod/shop/db', image: `${reg.host}/shop/db:1-prod` },
        { id: '/ds/stage/shop/api', image: `${reg.host}/shop/api:7-stage` },
        { id: '/ds/stage/shop/web', image: `${reg.host}/shop/web:3-prod` },
      ],
    });
    env.MARATHON_URL = m.url;
    rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
  });
  afterEach(async () => m?.stop());

  const refOf = (service: string, tag: string) => catalog.services.find((s) => s.name === service)!.images.find((i) => i.tag === tag)!.reference;

  it('plans D: the special case, the late build, the skip; as a table and as JSON', async () => {
    expect(await cli('plan', ...common(), '--date', D, '--json')).toBe(0);
    const plan = JSON.parse(out.join(''));
    expect(plan.services.map((s: { service: string; action: string; day: string }) => `${s.service} ${s.action} ${s.day}`)).toEqual(['api change 2026-11-17', 'web change 2026-11-19', 'db skip 2026-11-18']);
    out.length = 0;
    expect(await cli('plan', ...common(), '--date', D)).toBe(0);
    expect(out.join('')).toContain(refOf('web', '2-prod'));
    expect(out.join('')).toContain('2 of 3 services change for prod on 2026-11-19.');
    expect(m.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('run --date D --approver alice: every app at D\'s digest-pinned image, stage untouched, Slack names D and alice; a re-run changes nothing', async () => {
    const stageBefore = JSON.stringify([...m.apps.values()].filter((a) => a.id.startsWith('/ds/stage')));
    expect(await cli('run', ...common(), '--date', D, '--approver', 'alice')).toBe(0);
    expect(images()).toMatchObject({
      '/ds/prod/shop/api': refOf('api', '1-prod'),
      '/ds/prod/shop/web': refOf('web', '2-prod'),
      '/ds/prod/shop/db': `${reg.host}/shop/db:1-prod`,
    });
    expect(refOf('api', '1-prod')).toMatch(new RegExp(`^${reg.host}/shop/api:1-prod@sha256:[0-9a-f]{64}$`));
    expect(JSON.stringify([...m.apps.values()].filter((a) => a.id.startsWith('/ds/stage')))).toBe(stageBefore);
    expect(m.requests.filter((r) => r.path.startsWith('/v2/apps/ds/stage'))).toEqual([]);
    const log = err.join('');
    expect(log).toMatch(/api: .*shop\/api:2-prod -> .*shop\/api:1-prod@sha256:/);
    expect(log).toMatch(/web: healthy after \d+(\.\d)?s/);
    expect(log).toContain('Rollback of prod to 2026-11-19: 2 services changed (api, web), approved by alice.');
    expect(slack.posts.length).toBe(2);
    const done = slack.posts[1].raw;
    expect(done).toContain(D);
    expect(done).toContain('alice');
    expect(done).toContain('is done');
    expect(done).toMatch(/api`: shop\/api:2-prod → shop\/api:1-prod@[0-9a-f]{12}/);

    m.requests.length = 0;
    err.length = 0;
    expect(await cli('run', ...common(), '--date', D, '--approver', 'alice')).toBe(0);
    expect(m.requests.filter((r) => r.method === 'PUT')).toEqual([]);
    expect(err.join('')).toContain('Nothing to do');

    // undo puts back what the run replaced.
    expect(await cli('undo', ...common(), '--approver', 'bob')).toBe(0);
    expect(images()).toMatchObject({ '/ds/prod/shop/api': `${reg.host}/shop/api:2-prod`, '/ds/prod/shop/web': `${reg.host}/shop/web:3-prod` });
  });

  it('with Marathon refusing one app: exits non-zero naming it, and every app is exactly as before', async () => {
    const before = definitions();
    m.faults['/ds/prod/shop/web'] = { put: { status: 422 } };
    expect(await cli('run', ...common(), '--date', D, '--approver', 'alice')).toBe(1);
    const last = err.join('').trim().split('\n').pop()!;
    expect(last).toMatch(/^rollback: Rollback of prod to 2026-11-19 failed \(web: Marathon refused the new definition of app \/ds\/prod\/shop\/web \(422.*\); (every changed service was put back \(api\)|nothing was changed)\.$/);
    expect(definitions()).toEqual(before);
    expect(slack.posts.map((p) => p.body.text)).toEqual([expect.stringContaining('started'), expect.stringContaining('failed and every changed service was put back')]);
  });

  it('a service that cannot be put back: exit 3 naming each service and its state', async () => {
    m.faults['/ds/prod/shop/web'] = { unhealthy: refOf('web', '2-prod') };
    // api and web start together (parallel 2); api then refuses to go back to its old image.
    m.faults['/ds/prod/shop/api'] = { put: { status: 422, image: `${reg.host}/shop/api:2-prod` } };
    expect(await cli('run', ...common(), '--date', D)).toBe(3);
    const last = err.join('').trim().split('\n').pop()!;
    expect(last).toMatch(/could not be fully put back: api NOT put back \(may run \S+shop\/api:1-prod@sha256:\w+, should run \S+shop\/api:2-prod: Marathon refused .*\); web put back \(runs \S+shop\/web:3-prod\); db already at its target \(runs \S+shop\/db:1-prod\); run 'rollback undo' once the cause is fixed/);
    expect(m.apps.get('/ds/prod/shop/web')!.container.docker.image).toBe(`${reg.host}/shop/web:3-prod`);
  });

  it('refuses an unknown date with the valid ones (exit 2), and a dry run changes nothing', async () => {
    expect(await cli('run', ...common(), '--date', '2026-11-16')).toBe(2);
    expect(err.join('')).toContain('rollback: Date 2026-11-16 is not a rollback point of prod; valid dates: 2026-11-20, 2026-11-19, 2026-11-18, 2026-11-17.\n');
    err.length = 0;
    expect(await cli('run', ...common(), '--date', D, '--dry-run')).toBe(0);
    expect(err.join('')).toContain('Dry run of Rollback of prod to 2026-11-19: 2 services would change (api, web); preflight passed; nothing was changed.');
    expect(m.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(slack.posts).toEqual([]);
    // The catalog of one environment is refused for another.
    err.length = 0;
    expect(await cli('run', '--config', 'rollback.yml', '--env', 'stage', '--date', D)).toBe(2);
    expect(err.join('')).toMatch(/was written for 'prod', not 'stage'/);
  });

  it('keeps every secret out of stdout, stderr, state files, Slack messages and Marathon bodies', async () => {
    m.faults['/ds/prod/shop/web'] = { put: { status: 422 } };
    await cli('run', ...common(), '--date', D, '--debug');
    await cli('run', ...common(), '--date', D);
    m.faults['/ds/prod/shop/web'] = {};
    await cli('run', ...common(), '--date', D);
    slack.fail = { status: 500 };
    await cli('undo', ...common(), '--debug');
    slack.fail = undefined;
    const files: string[] = [];
    const walk = (p: string) => (statSync(p).isDirectory() ? readdirSync(p).forEach((f) => walk(join(p, f))) : files.push(readFileSync(p, 'utf8')));
    walk(join(dir, '.rollback'));
    const everything = [out.join(''), err.join(''), ...files, slack.allText(), JSON.stringify(m.requests.map((r) => [r.path, r.query, r.body]))].join('\n');
    expect(err.join('')).toContain('warning: Slack notification');
    for (const secret of [MARATHON_PASSWORD, slack.secret, Buffer.from(`ops:${MARATHON_PASSWORD}`).toString('base64')]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('preflight: an image deleted from the registry since get stops the run before any change, even with its tag pushed again', async () => {
    // Kept last: it deletes a manifest the other tests plan with.
    const web = catalog.services.find((s) => s.name === 'web')!.images.find((i) => i.tag === '2-prod')!;
    // The tag now names another image (a re-push), and the approved digest is deleted: the tag
    // still answers, so only a check by digest (what run deploys) sees the image is gone.
    const repushed = await pushImage(reg, { repository: 'shop/web', tag: '2-prod', created: '2026-11-21T10:00:00Z' });
    expect(repushed).not.toBe(web.digest);
    const res = await request(`${reg.url}/v2/shop/web/manifests/${web.digest}`, { method: 'DELETE' });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
    const byTag = await request(`${reg.url}/v2/shop/web/manifests/2-prod`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    await byTag.body.dump();
    expect(byTag.statusCode).toBe(200);
    expect(await cli('run', ...common(), '--date', D)).toBe(1);
    expect(err.join('').trim().split('\n').pop()).toBe(`rollback: Preflight: ${web.reference} (service web) is no longer in the registry; nothing was changed.`);
    expect(m.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
