/**
 * `rollback get --previews N`: the dates and the plans of the newest N in one worker run (what the
 * Jenkins steps ask before their question), against the REAL registry and the Marathon double.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { readyOrFail, registryMissing } from '../support/ready';

const maybe = readyOrFail('get-previews', registryMissing());

maybe('rollback get --previews (real registry, Marathon double)', () => {
  let reg: RunningRegistry;
  let m: MarathonDouble;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const common = ['--config', 'rollback.yml', '--env', 'prod'];
  const previews = () => join(dir, '.rollback', 'previews');

  beforeAll(async () => {
    reg = await startRegistry();
    for (const i of [
      { repository: 'shop/api', tag: '1-prod', created: '2026-11-17T10:00:00Z' },
      { repository: 'shop/api', tag: '2-prod', created: '2026-11-20T09:00:00Z' },
      { repository: 'shop/web', tag: '1-prod', created: '2026-11-18T08:00:00Z' },
    ]) await pushImage(reg, i);
    m = await startMarathon({
      deployMs: 20,
      apps: [{ id: '/ds/prod/api', image: `${reg.host}/shop/api:2-prod` }, { id: '/ds/prod/web', image: `${reg.host}/shop/web:1-prod` }],
    });
    dir = mkdtempSync(join(tmpdir(), 'rollback-previews-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`,
      'services:', '  - name: api', '    repository: shop/api', '  - name: web', '    repository: shop/web',
      'environments:', '  prod:', '    target:', '      marathon:', '        url: ${MARATHON_URL}', '        appPrefix: /ds/prod', '',
    ].join('\n'));
    env = { PATH: process.env.PATH, MARATHON_URL: m.url };
  });
  afterAll(async () => {
    await m?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('one run prints the dates and writes the newest plans, each the table `rollback plan` prints, and as JSON', async () => {
    const got = await runCli(['get', ...common, '--previews', '2'], { env, cwd: dir });
    expect(got.code).toBe(0);
    expect(got.stdout).toBe('2026-11-20\n2026-11-18\n2026-11-17\n');
    for (const date of ['2026-11-20', '2026-11-18']) {
      const plan = await runCli(['plan', ...common, '--date', date], { env, cwd: dir });
      expect(readFileSync(join(previews(), `${date}.txt`), 'utf8')).toBe(plan.stdout);
    }
    expect(existsSync(join(previews(), '2026-11-17.txt'))).toBe(false);
    const json = JSON.parse(readFileSync(join(dir, '.rollback', 'previews.json'), 'utf8'));
    expect(json.environment).toBe('prod');
    expect(json.previews.map((p: { date: string }) => p.date)).toEqual(['2026-11-20', '2026-11-18']);
    const plan = await runCli(['plan', ...common, '--date', '2026-11-18', '--json'], { env, cwd: dir });
    expect(json.previews[1].services).toEqual(JSON.parse(plan.stdout).services);
    // Previews read the target only: nothing was changed.
    expect(m.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  test('a target that cannot be read: get still succeeds, each preview says why, and a later get without previews removes them', async () => {
    const got = await runCli(['get', ...common, '--previews', '1'], { env: { ...env, MARATHON_URL: 'http://127.0.0.1:1' }, cwd: dir });
    expect(got.code).toBe(0);
    expect(readFileSync(join(previews(), '2026-11-20.txt'), 'utf8')).toMatch(/^\(no preview: .*127\.0\.0\.1:1.*\)\n$/);
    expect(got.stderr).toContain('No preview of 2026-11-20:');
    expect(JSON.parse(readFileSync(join(dir, '.rollback', 'previews.json'), 'utf8')).previews[0].error).toMatch(/127\.0\.0\.1:1/);
    expect((await runCli(['get', ...common], { env, cwd: dir })).code).toBe(0);
    expect(existsSync(previews())).toBe(false);
    expect(existsSync(join(dir, '.rollback', 'previews.json'))).toBe(false);
  });

  test.each([
    [['--previews', 'three'], "rollback: --previews must be a whole number from 0 to 20, not 'three'.\n"],
    [['--previews', '21'], "rollback: --previews must be a whole number from 0 to 20, not '21'.\n"],
  ])('bad --previews %j: one sentence, exit 2', async (flags, sentence) => {
    const r = await runCli(['get', ...common, ...flags], { env, cwd: dir });
    expect([r.code, r.stderr]).toEqual([2, sentence]);
  });

  test('ROLLBACK_PARAMS carries previews as a number, as the Jenkins steps write it', async () => {
    rmSync(previews(), { recursive: true, force: true });
    const r = await runCli(['get'], { env: { ...env, ROLLBACK_PARAMS: JSON.stringify({ config: 'rollback.yml', env: 'prod', previews: 1 }) }, cwd: dir });
    expect(r.code).toBe(0);
    expect(existsSync(join(previews(), '2026-11-20.txt'))).toBe(true);
    const bad = await runCli(['get'], { env: { ...env, ROLLBACK_PARAMS: JSON.stringify({ config: 'rollback.yml', env: 'prod', previews: '1' }) }, cwd: dir });
    expect([bad.code, bad.stderr]).toEqual([2, 'rollback: ROLLBACK_PARAMS.previews must be a number.\n']);
  });

  test('the seed form has no target to preview against: one sentence, exit 2', async () => {
    const r = await runCli(['get', '--registry', reg.url, '--repos', 'shop/api', '--env', 'prod', '--previews', '1'], { env, cwd: dir });
    expect([r.code, r.stderr]).toEqual([2, "rollback: 'rollback get --previews' needs --config FILE: a preview asks the environment's target what it runs.\n"]);
  });
});
