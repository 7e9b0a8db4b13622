/**
 * The gitlab GitOps target against the GitLab REST double: a self-managed instance under a path
 * prefix, the project by path or id, the token from GITLAB_TOKEN sent only as PRIVATE-TOKEN to
 * GitLab; ONE commit through the Commits API with actions (byte for byte apart from image values);
 * 400 "the file has changed" re-read and retried once; 429 with Retry-After, 5xx, 401, 404;
 * merge request mode; undo as a revert of the commit or of the merge request's merge commit.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { mask, memoryLogger } from '../../src/log';
import { runRollback, undoRollback } from '../../src/run/engine';
import { createGitlabTarget } from '../../src/targets/gitops/gitlab';
import type { Target } from '../../src/targets/types';
import { GitlabDouble, startGitlabDouble } from '../doubles/gitlab-double';
import { startRegistryDouble } from '../doubles/registry-double';
import { runCli } from '../support/cli';
import { engineDeps } from '../support/engine-deps';
import { digest as D, gitopsCatalog, runRequest, swapped, undoRequest } from '../support/gitops';

const TOKEN = 'glpat-0123456789abcdefghij';
const KUSTOMIZATION = readFileSync(join(__dirname, '../fixtures/manifests/kustomization.yaml'), 'utf8');
const PATH = 'overlays/prod/kustomization.yaml';
const catalog = gitopsCatalog({
  api: [['39-prod', '1', '2026-11-20'], ['38-prod', '3', '2026-11-18']],
  web: [['5-prod', 'b', '2026-11-20'], ['4-prod', '4', '2026-11-18']],
});
const AFTER = () => swapped(KUSTOMIZATION, [
  ['newTag: 39-prod     # keep', 'newTag: 38-prod     # keep'],
  [`digest: ${D('1')}`, `digest: ${D('3')}`],
  ['    newTag: "5-prod"\n', `    newTag: "4-prod"\n    digest: ${D('4')}\n`],
]);

let gl: GitlabDouble;
let dir: string;
const opened: Target[] = [];

function configFor(project: string, extra = ''): Config {
  return parseConfig(
    'registry: {url: https://registry.example.com}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\n' +
    `environments:\n  prod:\n    target:\n      gitlab: {url: '${gl.url}', project: '${project}', paths: [${PATH}]${extra}}\n`,
    'rollback.yml', {},
  );
}

function open(config: Config, env: NodeJS.ProcessEnv = { GITLAB_TOKEN: TOKEN }): Target {
  const t = createGitlabTarget({ config, environment: config.environments.prod, env, logger: memoryLogger(), stateDir: dir }, { http: { sleep: async () => undefined } });
  opened.push(t);
  return t;
}

beforeEach(async () => {
  gl = await startGitlabDouble({ token: TOKEN, prefix: '/gitlab' });
  gl.addProject(42, 'acme/manifests', 'main', { [PATH]: KUSTOMIZATION, 'README.md': 'untouched\n' });
  dir = mkdtempSync(join(tmpdir(), 'gitops-gitlab-'));
});

afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
  await gl.close();
  rmSync(dir, { recursive: true, force: true });
});

test('one commit through the Commits API under a path prefix; token only in PRIVATE-TOKEN; undo reverts it', async () => {
  const config = configFor('acme/manifests');
  const { d } = engineDeps(open(config), dir);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  const commits = gl.commits('acme/manifests', 'main');
  expect(commits).toHaveLength(2);
  expect(commits[0].message).toMatch(/^Rollback of prod to 2026-11-18, approved by alice\n\n- api: .* -> registry\.example\.com\/shop\/api:38-prod@/);
  expect(gl.file('acme/manifests', 'main', PATH)).toBe(AFTER());
  expect(gl.file('acme/manifests', 'main', 'README.md')).toBe('untouched\n');
  const post = gl.requests.filter((r) => r.method === 'POST');
  expect(post).toHaveLength(1);
  expect(post[0].path).toBe('/gitlab/api/v4/projects/acme%2Fmanifests/repository/commits');
  expect(post[0].body.actions).toEqual([expect.objectContaining({ action: 'update', file_path: PATH, last_commit_id: commits[1].id })]);
  expect(gl.requests.every((r) => r.token === TOKEN && r.authorization === undefined)).toBe(true);

  const undo = await undoRollback(d, undoRequest(config.services));
  expect(undo.exitCode).toBe(0);
  const after = gl.commits('acme/manifests', 'main');
  expect(after[0].message).toMatch(new RegExp(`^Revert "Rollback of prod to 2026-11-18, approved by alice"\\n\\nThis reverts commit ${commits[0].id}\\.`));
  expect(gl.file('acme/manifests', 'main', PATH)).toBe(KUSTOMIZATION);
});

test('400 "the file has changed": read again and retried once; twice is a failure with nothing changed', async () => {
  const config = configFor('42');
  const { d } = engineDeps(open(config), dir);
  const other = KUSTOMIZATION.replace('# api pinned by digest already', '# edited by someone else');
  gl.changeBeforeNextCommit('42', 'main', PATH, other);
  expect((await runRollback(d, runRequest(config.services, catalog, '2026-11-18'))).exitCode).toBe(0);
  // Their change is kept, ours is on top of it.
  expect(gl.commits('42', 'main').map((c) => c.message.split('\n')[0])).toEqual(['Rollback of prod to 2026-11-18, approved by alice', 'someone else', 'initial']);
  expect(gl.file('42', 'main', PATH)).toBe(AFTER().replace('# api pinned by digest already', '# edited by someone else'));

  const before = gl.file('42', 'main', PATH);
  gl.changeBeforeNextCommit('42', 'main', PATH, before!, 2);
  const lost = await runRollback(d, runRequest(config.services, catalog, '2026-11-20'));
  expect(lost.exitCode).toBe(1);
  expect(lost.summary).toMatch(/42@main kept moving while we committed .*nothing was changed/);
  expect(gl.file('42', 'main', PATH)).toBe(before);
});

test('429 with Retry-After and 5xx are waited out; 401 and 404 are one sentence naming what and where', async () => {
  const config = configFor('acme/manifests');
  const target = open(config);
  gl.fail(2, 429);
  expect((await target.current(config.services[0])).image).toBe(`registry.example.com/shop/api:39-prod@${D('1')}`);
  gl.fail(2, 502, /repository\/files/);
  expect((await target.current(config.services[1])).image).toBe('registry.example.com/shop/web:5-prod');
  // A 429 on the commit POST is resent after Retry-After (nothing was written).
  gl.fail(1, 429, /repository\/commits$/, 'POST');
  const { d } = engineDeps(target, dir);
  expect((await runRollback(d, runRequest(config.services, catalog, '2026-11-18'))).exitCode).toBe(0);
  expect(gl.file('acme/manifests', 'main', PATH)).toBe(AFTER());

  const bad = open(config, { GITLAB_TOKEN: 'glpat-wrong-token-000000' });
  const e401 = await bad.current(config.services[0]).catch((e) => e);
  expect(mask(e401.message)).toBe('Reading branch acme/manifests@main failed (HTTP 401): GitLab refused the token (gitlab.token, default the GITLAB_TOKEN environment variable).');
  const missing = open(configFor('acme/nope'));
  const e404 = await missing.current(config.services[0]).catch((e) => e);
  expect(e404.message).toBe('Reading branch acme/nope@main failed (HTTP 404): not found, or the token cannot see it (404 Project Not Found).');
});

test('a 5xx answer to the commit: the branch says whether it landed; not landed is "nothing was changed"', async () => {
  const config = configFor('acme/manifests');
  const { d } = engineDeps(open(config), dir);
  gl.fail(1, 502, /repository\/commits$/, 'POST');
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/Committing to acme\/manifests@main failed \(HTTP 502\): 502 Server Error; the branch does not have the commit, so nothing was changed/);
  expect(gl.file('acme/manifests', 'main', PATH)).toBe(KUSTOMIZATION);
});

test('mergeRequest: a branch and one merge request; busy while open; once merged, undo reverts the merge commit', async () => {
  const config = configFor('acme/manifests', ', mergeRequest: true');
  const target = open(config);
  const { d } = engineDeps(target, dir);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  expect(outcome.summary).toMatch(/health is not checked \(the change takes effect when the merge request is merged\)/);
  expect(gl.mergeRequests).toHaveLength(1);
  const mr = gl.mergeRequests[0];
  expect(mr).toMatchObject({ target_branch: 'main', state: 'opened', title: 'Rollback of prod to 2026-11-18, approved by alice' });
  expect(mr.source_branch).toMatch(/^rollback\/prod-\d{8}T\d{6}-[0-9a-f]{7}$/);
  expect(gl.file('acme/manifests', mr.source_branch, PATH)).toBe(AFTER());
  expect(gl.file('acme/manifests', 'main', PATH)).toBe(KUSTOMIZATION);
  expect(await target.busy(config.services[0])).toMatch(/^merge request !1 \(rollback\/prod-.*\) of an earlier rollback is still open in acme\/manifests/);

  const merged = gl.merge('acme/manifests', 1);
  expect(await target.busy(config.services[0])).toBeUndefined();
  const undo = await undoRollback(d, undoRequest(config.services));
  expect(undo.exitCode).toBe(0);
  // Review mode holds for the undo too: a second merge request, whose commit reverts the merge commit.
  expect(gl.mergeRequests).toHaveLength(2);
  expect(gl.mergeRequests[1].title).toBe('Revert "Rollback of prod to 2026-11-18, approved by alice"');
  const revert = gl.commits('acme/manifests', gl.mergeRequests[1].source_branch)[0];
  expect(revert.message).toMatch(new RegExp(`\\n\\nThis reverts commit ${merged}\\.`));
  expect(gl.file('acme/manifests', gl.mergeRequests[1].source_branch, PATH)).toBe(KUSTOMIZATION);
});

test('through main(): get -> plan (health not checked) -> run (one commit) -> undo (revert); the token never in any output', async () => {
  // A registry on loopback for get and the run's preflight; the repository holds its images, plain image: values.
  const reg = await startRegistryDouble({ fleet: {
    'shop/api': { '1-prod': { created: '2026-11-18T10:00:00Z' }, '2-prod': { created: '2026-11-20T10:00:00Z' } },
    'shop/web': { '1-prod': { created: '2026-11-17T10:00:00Z' }, '2-prod': { created: '2026-11-20T10:00:00Z' } },
  } });
  try {
    writeFileSync(join(dir, 'rollback.yml'),
      `registry: {url: '${reg.url}'}\nsettle: 0\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\n` +
      `environments:\n  prod:\n    target:\n      gitlab: {url: '${gl.url}', project: acme/fleet, paths: [prod/apps.yaml], token: '\${DEPLOY_TOKEN}'}\n`);
    const cli = async (...argv: string[]) => {
      const r = await runCli([...argv, '--config', 'rollback.yml', '--env', 'prod'], { env: { DEPLOY_TOKEN: TOKEN }, cwd: dir });
      expect(r.stderr + r.stdout).not.toContain(TOKEN);
      return r;
    };
    const got = await cli('get');
    expect(got).toMatchObject({ code: 0, stdout: '2026-11-20\n2026-11-18\n2026-11-17\n' });
    const images = JSON.parse(readFileSync(join(dir, '.rollback/catalog.json'), 'utf8')).services.map((x: { images: { reference: string }[] }) => x.images.map((i) => i.reference));
    const apps = (api: string, web: string) => `# prod\napi:\n  image: ${api}\nweb:\n  image: "${web}"  # pinned\n`;
    gl.addProject(43, 'acme/fleet', 'main', { 'prod/apps.yaml': apps(images[0][0], images[1][0]) });
    const plan = await cli('plan', '--date', '2026-11-18');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('acme/fleet@main: health was not checked (neither argocd nor kubernetes configured): the commit is done when it lands.\n');
    const run = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
    expect(run.stderr).toMatch(/2 services changed \(api, web\), approved by alice; health was not checked/);
    expect(run.code).toBe(0);
    expect(gl.file('acme/fleet', 'main', 'prod/apps.yaml')).toBe(apps(images[0][1], images[1][1]));
    const undo = await cli('undo', '--approver', 'bob');
    expect(undo.code).toBe(0);
    expect(gl.commits('acme/fleet', 'main')[0].message).toMatch(/^Revert "Rollback of prod to 2026-11-18, approved by alice"/);
    expect(gl.file('acme/fleet', 'main', 'prod/apps.yaml')).toBe(apps(images[0][0], images[1][0]));
    // The token from the target's token: \${VAR} went to GitLab only, as PRIVATE-TOKEN.
    expect(gl.requests.length).toBeGreaterThan(0);
    expect(gl.requests.every((r) => r.token === TOKEN)).toBe(true);
    expect(reg.requests.some((r) => JSON.stringify(r).includes(TOKEN))).toBe(false);
  } finally {
    await reg.stop();
  }
});

describe('what the repository remembers (Target.history)', () => {
  it("lists each service's image change at the committer time of the commit that made it; a file a commit does not hold yet tells nothing", async () => {
    await gl.close();
    let clock = Date.parse('2026-11-20T10:00:00Z');
    gl = await startGitlabDouble({ token: TOKEN, prefix: '/gitlab', now: () => clock });
    gl.addProject(42, 'acme/manifests', 'main', { [PATH]: KUSTOMIZATION, 'README.md': 'untouched\n' });
    const VALUES_PATH = 'charts/shop/values-prod.yaml';
    const VALUES = readFileSync(join(__dirname, '../fixtures/manifests/helm-values.yaml'), 'utf8');
    const config = configFor('acme/manifests');
    config.services.push({ ...config.services[0], name: 'worker', repository: 'shop/worker',
      gitops: { paths: [VALUES_PATH], values: { repository: 'worker.image.repository', tag: 'worker.image.tag', digest: 'worker.image.digest' } } });
    const t = open(config);
    const [api, web, worker] = config.services;
    const A = { api: (await t.current(api)).image, web: (await t.current(web)).image };

    clock = Date.parse('2026-11-21T09:00:00Z');
    gl.push('acme/manifests', 'main', PATH, KUSTOMIZATION.replace('newTag: "5-prod"', 'newTag: "4-prod"'), 'web back to 4');
    const webB = (await t.current(web)).image;
    // The values file only comes now: the two commits before do not hold it (404 at them).
    clock = Date.parse('2026-11-22T08:30:00Z');
    gl.push('acme/manifests', 'main', VALUES_PATH, VALUES, 'worker moves to the Helm chart');
    const workerC = (await t.current(worker)).image;
    clock = Date.parse('2026-11-23T12:00:00Z');
    gl.push('acme/manifests', 'main', 'README.md', 'touched\n', 'docs only');
    expect(new Set([A.web, webB]).size).toBe(2);
    const before = gl.requests.length;

    const h = await t.history!(config.services);
    expect(h.source).toBe('git history');
    expect(h.changes).toEqual([
      { service: 'api', time: '2026-11-20T10:00:00.000Z', image: A.api },
      { service: 'web', time: '2026-11-20T10:00:00.000Z', image: A.web },
      { service: 'web', time: '2026-11-21T09:00:00.000Z', image: webB },
      { service: 'worker', time: '2026-11-22T08:30:00.000Z', image: workerC },
    ]);
    const asked = gl.requests.slice(before);
    // Only the manifests' commits were listed, through the commits API with ref_name and the path filter.
    const listed = asked.filter((r) => r.path.startsWith('/gitlab/api/v4/projects/acme%2Fmanifests/repository/commits?')).map((r) => new URL(r.path, 'http://x').searchParams);
    expect(listed.map((q) => q.get('path')).sort()).toEqual([PATH, VALUES_PATH].sort());
    expect(listed.map((q) => q.get('ref_name'))).toEqual(['main', 'main']);
    // The values file was asked for at the first commit, which did not hold it yet.
    const first = gl.commits('acme/manifests', 'main').pop()!.id;
    expect(asked.some((r) => r.path === `/gitlab/api/v4/projects/acme%2Fmanifests/repository/files/${encodeURIComponent(VALUES_PATH)}?ref=${first}`)).toBe(true);
    expect(gl.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
