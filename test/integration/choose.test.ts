/**
 * Choosing who goes back, end to end through the CLI: the REAL registry and `rollback get`
 * (test/support/marathon-fleet.ts), the Marathon double as the target, the Slack double for the
 * message. --only / --except on plan and run (flags and ROLLBACK_PARAMS), `hold: true` in the
 * config, the bad input refused with exit 2, and an undo of a partial run.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startSlack, type SlackDouble } from '../doubles/slack-double';
import { runCli, type CliResult } from '../support/cli';
import { FLEET_DATE as D, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { readyOrFail, registryMissing } from '../support/ready';

const maybe = readyOrFail('choose', registryMissing());

maybe('choosing who goes back (real registry, Marathon double, Slack double)', () => {
  let fleet: MarathonFleet;
  let m: MarathonDouble;
  let slack: SlackDouble;

  /** rollback.yml of the fleet, plus Slack, and `hold: true` on the services named. */
  function config(name: string, hold: string[] = []): string {
    const lines = readFileSync(join(fleet.dir, 'rollback.yml'), 'utf8').split('\n');
    const out: string[] = [];
    for (const line of lines) {
      out.push(line);
      const svc = /^ {2}- name: (\S+)$/.exec(line);
      if (svc && hold.includes(svc[1])) out.push('    hold: true');
    }
    out.push('notify:', '  slack:', '    webhook: ${SLACK_WEBHOOK}', '');
    writeFileSync(join(fleet.dir, name), out.join('\n'));
    return join(fleet.dir, name);
  }
  const cli = (file: string, cmd: string, ...rest: string[]): Promise<CliResult> =>
    runCli([cmd, '--config', file, '--env', 'prod', '--catalog', join(fleet.dir, '.rollback', 'catalog.json'), ...rest], { env: { ...fleet.env(m), SLACK_WEBHOOK: slack.webhook }, cwd: fleet.dir });
  const images = () => fleet.images(m); // api, web, db
  const puts = () => m.requests.filter((r) => r.method === 'PUT').map((r) => r.path);
  const last = (r: CliResult) => r.stderr.trim().split('\n').pop();

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-choose-', deployTimeout: 5 });
    slack = await startSlack();
  });
  afterAll(async () => {
    await slack?.stop();
    await fleet?.close();
  });
  beforeEach(async () => {
    rmSync(join(fleet.dir, '.rollback', 'runs'), { recursive: true, force: true });
    m = await startMarathon({ deployMs: 10, apps: fleet.apps() });
    slack.posts.length = 0;
  });
  afterEach(() => m?.stop());

  it('plan --except db: db is held back, in words, with the compatibility warning; --json says it for scripts', async () => {
    const file = config('plain.yml');
    const r = await cli(file, 'plan', '--date', D, '--except', 'db');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^db\s+\S+\/shop\/db:2-prod\s+-\s+-\s+held back \(by --except\)$/m);
    expect(r.stdout).toContain(`warning: db is held back (by --except) and runs 2-prod, built on 2026-11-20, after ${D}, while api and web go back: check that they work with it.`);
    expect(r.stdout).toMatch(new RegExp(`2 of 3 services change for prod on ${D}; held back: db \\(by --except\\)\\.\\n$`));
    const json = await cli(file, 'plan', '--date', D, '--only', 'web', '--json');
    expect(JSON.parse(json.stdout).services.map((s: { service: string; action: string; heldBy?: string }) => `${s.service}:${s.action}:${s.heldBy ?? ''}`))
      .toEqual(['api:held:only', 'web:change:', 'db:held:only']);
    expect(puts()).toEqual([]);
  });

  it('bad input is one sentence and exit 2, before anything is asked of the target', async () => {
    const file = config('plain.yml');
    const cases: [string[], string][] = [
      [['plan', '--date', D, '--only', 'web,cart'], `rollback: --only names a service not in ${file}: 'cart'; valid services: api, web, db.`],
      [['run', '--date', D, '--except', 'payments'], `rollback: --except names a service not in ${file}: 'payments'; valid services: api, web, db.`],
      [['run', '--date', D, '--only', 'web', '--except', 'db'], 'rollback: --only and --except cannot be used together: --only names the services that go back, --except the ones that stay; use one of them.'],
      [['run', '--date', D, '--only', ','], 'rollback: --only needs at least one service name, e.g. --only web,api.'],
      [['undo', '--except', 'db'], "rollback: --except chooses who goes back in 'rollback plan' and 'rollback run', not in 'rollback undo' (undo puts back exactly what that run changed)."],
    ];
    for (const [args, sentence] of cases) {
      const r = await cli(file, args[0], ...args.slice(1));
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 2, stderr: `${sentence}\n` });
    }
    expect(m.requests).toEqual([]);
  });

  it('run --except db changes api and web only, Slack names db as held back; undo of that partial run puts back exactly api and web', async () => {
    const file = config('plain.yml');
    const run = await cli(file, 'run', '--date', D, '--except', 'db', '--approver', 'alice');
    expect({ code: run.code, last: last(run) }).toEqual({ code: 0, last: `Rollback of prod to ${D} with db held back: 2 services changed (api, web), approved by alice.` });
    expect(images()).toEqual([fleet.planned()[0], fleet.planned()[1], fleet.start()[2]]);
    expect(puts()).toEqual(['/v2/apps/ds/prod/api', '/v2/apps/ds/prod/web']);
    const done = slack.posts.map((p) => JSON.stringify(p.body)).find((t) => t.includes('is done'))!;
    expect(done).toContain('`db`: held back (by --except), stays on shop/db:2-prod');

    // db moves on by hand after the partial run; undo must leave it where it is now.
    const dbNow = `${fleet.reg.host}/shop/db:1-prod`;
    m.apps.get('/ds/prod/db')!.container.docker.image = dbNow;
    const before = puts().length;
    const undo = await cli(file, 'undo', '--approver', 'bob');
    expect({ code: undo.code, last: last(undo) }).toMatchObject({ code: 0, last: expect.stringMatching(/: 2 services put back \(api, web\), approved by bob\.$/) });
    expect(images()).toEqual([fleet.start()[0], fleet.start()[1], dbNow]);
    expect(puts().slice(before)).toEqual(['/v2/apps/ds/prod/api', '/v2/apps/ds/prod/web']);
  });

  it('get writes the services for the Jenkins checkboxes (hold: true marked), and its previews show the held service as plan does', async () => {
    const file = config('hold.yml', ['db']);
    const got = await cli(file, 'get', '--previews', '1');
    expect(got.code).toBe(0);
    const state = join(fleet.dir, '.rollback');
    expect(readFileSync(join(state, 'services.txt'), 'utf8')).toBe('api\nweb\ndb hold\n');
    const newest = got.stdout.split('\n')[0];
    const plan = await cli(file, 'plan', '--date', newest);
    expect(readFileSync(join(state, 'previews', `${newest}.txt`), 'utf8')).toBe(plan.stdout);
    expect(plan.stdout).toMatch(/^db\s+.*held back \(by config\)$/m);
  });

  it('hold: true in the config holds db back by default; --only db (here through ROLLBACK_PARAMS, as Jenkins passes it) rolls it back', async () => {
    const file = config('hold.yml', ['db']);
    const plan = await cli(file, 'plan', '--date', D);
    expect(plan.stdout).toMatch(/^db\s+.*held back \(by config\)$/m);
    const run = await cli(file, 'run', '--date', D);
    expect({ code: run.code, last: last(run) }).toEqual({ code: 0, last: `Rollback of prod to ${D} with db held back: 2 services changed (api, web), approved by ci.` });
    expect(images()).toEqual([fleet.planned()[0], fleet.planned()[1], fleet.start()[2]]);
    const only = await runCli(['run'], {
      env: { ...fleet.env(m), SLACK_WEBHOOK: slack.webhook, ROLLBACK_PARAMS: JSON.stringify({ config: file, env: 'prod', catalog: join(fleet.dir, '.rollback', 'catalog.json'), date: D, only: 'db' }) },
      cwd: fleet.dir,
    });
    expect({ code: only.code, last: last(only) }).toEqual({ code: 0, last: `Rollback of prod to ${D} with api, web held back: 1 service changed (db), approved by ci.` });
    expect(images()).toEqual(fleet.planned());
  });
});
