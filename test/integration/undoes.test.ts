/**
 * What a rollback takes away, end to end through the CLI: images in the REAL registry carrying
 * provenance labels (OCI and Label Schema keys, and none), `rollback get` keeping them in the
 * catalog, and `rollback plan` showing per changed service the revisions, the compare link and the
 * commits that go away, asked of the GitHub double's compare endpoint and the GitLab double's
 * repository compare. Marathon double as the target.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGithubDouble, type GithubDouble } from '../doubles/github-double';
import { startGitlabDouble, type GitlabDouble } from '../doubles/gitlab-double';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startSlack, type SlackDouble } from '../doubles/slack-double';
import { runCli } from '../support/cli';
import { pushImage, registryAvailable, startRegistry, type RunningRegistry } from '../support/registry';
import type { Catalog } from '../../src/catalog/types';

const maybe = registryAvailable() ? describe : describe.skip;
const D = '2026-11-18';

maybe('plan: what each change takes away (real registry, GitHub and GitLab doubles)', () => {
  let reg: RunningRegistry;
  let gh: GithubDouble;
  let gl: GitlabDouble;
  let dir: string;
  let m: MarathonDouble | undefined;
  let slack: SlackDouble;
  const api: string[] = []; // GitHub commits of shop/api, oldest first
  const web: string[] = []; // GitLab commits of shop/web, oldest first
  const labels = (revision: string, source: string) => ({ Labels: { 'org.opencontainers.image.revision': revision, 'org.opencontainers.image.source': source } });
  const oldLabels = (ref: string, url: string) => ({ Labels: { 'org.label-schema.vcs-ref': ref, 'org.label-schema.vcs-url': url } });

  beforeAll(async () => {
    reg = await startRegistry();
    gh = await startGithubDouble({ token: 'gh-secret' });
    gl = await startGitlabDouble({ token: 'gl-secret' });
    gh.addRepo('acme/api', 'main', { 'README.md': 'api' });
    api.push(gh.head('acme/api', 'main')!);
    for (const t of ['Fix login redirect', 'Add cart badge\n\nlong body', 'Bump express to 4.21']) {
      gh.push('acme/api', 'main', 'src.txt', t, t);
      api.push(gh.head('acme/api', 'main')!);
    }
    gl.addProject(7, 'shop/web-app', 'main', { 'README.md': 'web' });
    web.push(gl.head('shop/web-app', 'main')!);
    web.push(gl.push('shop/web-app', 'main', 'a.txt', '1', 'Show prices with VAT'));
    web.push(gl.push('shop/web-app', 'main', 'a.txt', '2', 'Hotfix: checkout timeout'));
    const ghSource = `${gh.url}/acme/api`;
    const glSource = `${gl.url}/shop/web-app.git`;
    // api: OCI labels, 1-prod at the first commit, 2-prod three commits later; 0-prod older still.
    await pushImage(reg, { repository: 'shop/api', tag: '0-prod', created: '2026-11-10T10:00:00Z', config: labels(api[0], ghSource) });
    await pushImage(reg, { repository: 'shop/api', tag: '1-prod', created: `${D}T10:00:00Z`, config: labels(api[0], ghSource) });
    await pushImage(reg, { repository: 'shop/api', tag: '2-prod', created: '2026-11-20T10:00:00Z', config: labels(api[3], ghSource) });
    // web: the older Label Schema keys; what runs now (3-hotfix) is not a -prod tag, so not in the catalog.
    await pushImage(reg, { repository: 'shop/web', tag: '1-prod', created: `${D}T11:00:00Z`, config: oldLabels(web[0], glSource) });
    await pushImage(reg, { repository: 'shop/web', tag: '2-prod', created: '2026-11-20T11:00:00Z', config: oldLabels(web[1], glSource) });
    await pushImage(reg, { repository: 'shop/web', tag: '3-hotfix', created: '2026-11-21T11:00:00Z', config: oldLabels(web[2], glSource) });
    // db: no labels at all.
    await pushImage(reg, { repository: 'shop/db', tag: '1-prod', created: `${D}T12:00:00Z` });
    await pushImage(reg, { repository: 'shop/db', tag: '2-prod', created: '2026-11-20T12:00:00Z' });
    dir = mkdtempSync(join(tmpdir(), 'rollback-undoes-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`,
      'services:', ...['api', 'web', 'db'].flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:',
      '  prod:', '    target:', '      marathon: { url: "${MARATHON_URL}", appPrefix: /ds/prod }',
      // Names the GitLab instance (its host is where web's source label points).
      '  ops:', '    target:', `      gitlab: { url: "${gl.url}", project: shop/deploy, paths: [prod.yaml] }`,
      'github:', `  apiUrl: ${gh.url}`,
      'parallel: 2', 'settle: 0', '',
    ].join('\n'));
    // The same fleet for `rollback run`, telling Slack and GitHub Deployments (in acme/api) what it takes away.
    slack = await startSlack();
    const base = readFileSync(join(dir, 'rollback.yml'), 'utf8').replace(`github:\n  apiUrl: ${gh.url}\n`, '');
    writeFileSync(join(dir, 'run.yml'), `${base}notify:\n  slack:\n    webhook: \${SLACK_WEBHOOK}\ngithub:\n  apiUrl: ${gh.url}\n  token: \${GITHUB_TOKEN}\n  deployments: { repo: acme/api }\n`);
    writeFileSync(join(dir, 'slack.yml'), `${base}notify:\n  slack:\n    webhook: \${SLACK_WEBHOOK}\ngithub:\n  apiUrl: ${gh.url}\n`);
    const empty = await startMarathon({ apps: [] });
    const got = await runCli(args('get'), { env: env(empty), cwd: dir }).finally(() => empty.stop());
    if (got.code !== 0) throw new Error(got.stderr);
  });
  afterAll(async () => {
    await gh?.close();
    await gl?.close();
    await slack?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await m?.stop();
    m = undefined;
  });

  const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), ...rest];
  const env = (mm: MarathonDouble, tokens = true) => ({ PATH: process.env.PATH, MARATHON_URL: mm.url, USER: 'ci', ...(tokens ? { GITHUB_TOKEN: 'gh-secret', GITLAB_TOKEN: 'gl-secret' } : {}) });
  const fleet = async (apiTag = '2-prod') => {
    m = await startMarathon({ apps: [
      { id: '/ds/prod/api', image: `${reg.host}/shop/api:${apiTag}` },
      { id: '/ds/prod/web', image: `${reg.host}/shop/web:3-hotfix` },
      { id: '/ds/prod/db', image: `${reg.host}/shop/db:2-prod` },
    ] });
    return m;
  };
  const compares = () => [...gh.requests.filter((r) => r.path.includes('/compare/')), ...gl.requests.filter((r) => r.path.includes('/repository/compare'))].length;

  it('get keeps each image\'s revision and source in the catalog (OCI and Label Schema labels; none for db)', () => {
    const catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8')) as Catalog;
    const of = (s: string, tag: string) => catalog.services.find((x) => x.name === s)!.images.find((i) => i.tag === tag)!;
    expect([of('api', '2-prod').revision, of('api', '2-prod').source]).toEqual([api[3], `${gh.url}/acme/api`]);
    expect([of('web', '1-prod').revision, of('web', '1-prod').source]).toEqual([web[0], `${gl.url}/shop/web-app.git`]);
    expect(of('db', '1-prod')).not.toHaveProperty('revision');
    expect(of('db', '1-prod')).not.toHaveProperty('source');
  });

  it('a 3-service plan shows per changed service the revisions, the compare link and the commit titles taken away; --json carries undoes', async () => {
    const mm = await fleet();
    const r = await runCli(args('plan', '--date', D), { env: env(mm), cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`api: ${api[3].slice(0, 7)} -> ${api[0].slice(0, 7)} (${gh.url}/acme/api), ${gh.url}/acme/api/compare/${api[0]}...${api[3]}`);
    expect(r.stdout).toContain(['  takes away 3 commits, newest first:', `    ${api[3].slice(0, 7)} Bump express to 4.21`, `    ${api[2].slice(0, 7)} Add cart badge`, `    ${api[1].slice(0, 7)} Fix login redirect`].join('\n'));
    expect(r.stdout).toContain(`web: ${web[2].slice(0, 7)} -> ${web[0].slice(0, 7)} (${gl.url}/shop/web-app.git), ${gl.url}/shop/web-app/-/compare/${web[0]}...${web[2]}`);
    expect(r.stdout).toContain(['  takes away 2 commits, newest first:', `    ${web[2].slice(0, 7)} Hotfix: checkout timeout`, `    ${web[1].slice(0, 7)} Show prices with VAT`].join('\n'));
    expect(r.stdout).toContain('db: neither image says which commit it was built from');
    const json = JSON.parse((await runCli(args('plan', '--date', D, '--json'), { env: env(mm), cwd: dir })).stdout);
    const u = json.services.find((s: { service: string }) => s.service === 'api').undoes;
    expect(u).toMatchObject({ from: api[3], to: api[0], source: `${gh.url}/acme/api`, compare: `${gh.url}/acme/api/compare/${api[0]}...${api[3]}`, count: 3 });
    expect(u.commits.map((c: { sha: string; title: string }) => [c.sha, c.title])).toEqual([[api[3], 'Bump express to 4.21'], [api[2], 'Add cart badge'], [api[1], 'Fix login redirect']]);
    expect(json.services.find((s: { service: string }) => s.service === 'db').undoes.unavailable).toBe('neither image says which commit it was built from');
    // The GitHub token went only in the Authorization header; never in the output.
    expect(r.stdout + r.stderr).not.toContain('gh-secret');
  });

  it('answers are cached per (repository, from, to): a second plan asks neither host again', async () => {
    const mm = await fleet();
    await runCli(args('plan', '--date', D), { env: env(mm), cwd: dir });
    const before = compares();
    const r = await runCli(args('plan', '--date', D), { env: env(mm), cwd: dir });
    expect(r.stdout).toContain('takes away 3 commits');
    expect(compares()).toBe(before);
    expect(Object.keys(JSON.parse(readFileSync(join(dir, '.rollback', 'compare-cache.json'), 'utf8')).compares)).toHaveLength(2);
  });

  it('without tokens: revisions and links still shown, one line says why the commit list is unavailable', async () => {
    rmSync(join(dir, '.rollback', 'compare-cache.json'), { force: true });
    const mm = await fleet();
    const r = await runCli(args('plan', '--date', D), { env: env(mm, false), cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${gh.url}/acme/api/compare/${api[0]}...${api[3]}`);
    expect(r.stdout).toContain('  commit list unavailable: no GitHub token (set GITHUB_TOKEN or github.token).');
    expect(r.stdout).toContain(`  commit list unavailable: no GitLab token for ${gl.url} (set GITLAB_TOKEN).`);
  });

  it('a service moving forward (it runs an image older than its target) is flagged in words', async () => {
    const mm = await fleet('0-prod');
    const r = await runCli(args('plan', '--date', D), { env: env(mm), cwd: dir });
    expect(r.stdout).toContain('warning: api moves FORWARD, not back: it runs an image built 2026-11-10, older than its target 1-prod built 2026-11-18.');
    expect(r.stdout).not.toMatch(/warning: (web|db) moves FORWARD/);
  });

  it('GitLab failing (503 after retries): the link stays, the reason is said', async () => {
    rmSync(join(dir, '.rollback', 'compare-cache.json'), { force: true });
    const mm = await fleet();
    gl.fail(10, 503, /repository\/compare/);
    const r = await runCli(args('plan', '--date', D), { env: env(mm), cwd: dir });
    gl.fail(0, 503);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${gl.url}/shop/web-app/-/compare/${web[0]}...${web[2]}`);
    expect(r.stdout).toMatch(/ {2}commit list unavailable: Comparing shop\/web-app on GitLab failed \(HTTP 503\)/);
    expect(r.stdout).toContain('takes away 3 commits');
  });

  it('get --previews: the table the Jenkins question shows carries, per date, service, from -> to and the commits taken away', async () => {
    rmSync(join(dir, '.rollback', 'compare-cache.json'), { force: true });
    const mm = await fleet();
    const r = await runCli(args('get', '--previews', '2'), { env: env(mm), cwd: dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, '.rollback', 'previews', `${D}.txt`), 'utf8');
    expect(text).toContain(`api  ${api[3].slice(0, 7)} -> ${api[0].slice(0, 7)}  takes away 3 commits: Bump express to 4.21; Add cart badge; Fix login redirect`);
    expect(text).toContain(`     ${gh.url}/acme/api/compare/${api[0]}...${api[3]}`);
    expect(text).toContain(`web  ${web[2].slice(0, 7)} -> ${web[0].slice(0, 7)}  takes away 2 commits: Hotfix: checkout timeout; Show prices with VAT`);
    expect(text).toContain('db   ? -> ?  no revision labels');
    expect(text.trimEnd().split('\n').pop()).toBe(`3 of 3 services change for prod on ${D}.`);
    // The newer date: api and db already run 2-prod; web goes back from the hotfix by one commit.
    const newer = readFileSync(join(dir, '.rollback', 'previews', '2026-11-20.txt'), 'utf8');
    expect(newer).toContain(`web  ${web[2].slice(0, 7)} -> ${web[1].slice(0, 7)}  takes away 1 commit: Hotfix: checkout timeout`);
    const previews = JSON.parse(readFileSync(join(dir, '.rollback', 'previews.json'), 'utf8'));
    expect(previews.previews[0].services.find((s: { service: string }) => s.service === 'web').undoes.count).toBe(1);
  });

  const runArgs = (config: string) => ['run', '--config', join(dir, config), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), '--date', D];
  const sections = () => slack.posts.map((p) => (p.body.blocks as { text?: { text: string } }[]).map((b) => b.text?.text ?? '').join('\n'));

  it('run: Slack shows per service the compare link and "takes away N commits: <first titles>"; each GitHub Deployment says it in its description and payload', async () => {
    rmSync(join(dir, '.rollback', 'compare-cache.json'), { force: true });
    slack.posts.length = 0;
    gh.deployments.length = 0;
    const mm = await fleet();
    const r = await runCli(runArgs('run.yml'), { env: { ...env(mm), SLACK_WEBHOOK: slack.webhook }, cwd: dir });
    expect(r.code).toBe(0);
    const [started, done] = sections();
    for (const text of [started, done]) {
      expect(text).toContain(`    <${gh.url}/acme/api/compare/${api[0]}...${api[3]}|${api[3].slice(0, 7)} → ${api[0].slice(0, 7)}> takes away 3 commits: Bump express to 4.21; Add cart badge; Fix login redirect`);
      expect(text).toContain(`    <${gl.url}/shop/web-app/-/compare/${web[0]}...${web[2]}|${web[2].slice(0, 7)} → ${web[0].slice(0, 7)}> takes away 2 commits: Hotfix: checkout timeout; Show prices with VAT`);
      expect(text).toContain('    ? → ? no revision labels');
    }
    const byService = Object.fromEntries(gh.deployments.map((d) => [d.payload.service, d]));
    expect(Object.keys(byService).sort()).toEqual(['api', 'db', 'web']);
    expect(byService.api.description).toBe(`Rollback of prod to ${D}: api, approved by ci; takes away 3 commits: Bump express to 4.21; Add cart badge; Fix login redirect`);
    expect(byService.web.description.length).toBeLessThanOrEqual(140);
    expect(byService.web.description).toMatch(/^Rollback of prod to 2026-11-18: web, approved by ci; takes away 2 commits: Hotfix: checkout timeout; Show pri/);
    expect(byService.db.description).toBe(`Rollback of prod to ${D}: db, approved by ci`);
    expect(byService.api.payload.undoes).toEqual({
      from: api[3], to: api[0], source: `${gh.url}/acme/api`, compare: `${gh.url}/acme/api/compare/${api[0]}...${api[3]}`, count: 3,
      commits: [[api[3], 'Bump express to 4.21'], [api[2], 'Add cart badge'], [api[1], 'Fix login redirect']].map(([sha, title]) => ({ sha, title })),
    });
    expect(byService.db.payload.undoes).toMatchObject({ from: null, to: null, unavailable: 'neither image says which commit it was built from' });
    expect(slack.allText() + r.stderr).not.toContain('gh-secret');
  });

  it('run to a date that is no rollback point: the engine\'s one sentence, exit 2, nothing else on stderr', async () => {
    slack.posts.length = 0;
    const mm = await fleet();
    const args = runArgs('run.yml');
    args[args.length - 1] = '2026-11-16';
    const r = await runCli(args, { env: { ...env(mm), SLACK_WEBHOOK: slack.webhook }, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^rollback: Date 2026-11-16 is not a rollback point of prod; valid dates: /)]);
    expect(slack.posts).toEqual([]);
  });

  it('run without tokens: Slack keeps the links and says why the commit lists are unavailable; the run is not held up', async () => {
    rmSync(join(dir, '.rollback', 'compare-cache.json'), { force: true });
    slack.posts.length = 0;
    const mm = await fleet();
    const r = await runCli(runArgs('slack.yml'), { env: { ...env(mm, false), SLACK_WEBHOOK: slack.webhook }, cwd: dir });
    expect(r.code).toBe(0);
    const [started] = sections();
    expect(started).toContain(`    <${gh.url}/acme/api/compare/${api[0]}...${api[3]}|${api[3].slice(0, 7)} → ${api[0].slice(0, 7)}> commit list unavailable: no GitHub token (set GITHUB_TOKEN or github.token)`);
    expect(started).toContain(`commit list unavailable: no GitLab token for ${gl.url} (set GITLAB_TOKEN)`);
    expect(mm.apps.get('/ds/prod/api')!.container.docker.image).toContain('shop/api:1-prod');
  });
});
