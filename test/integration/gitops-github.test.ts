/**
 * The GitOps target on GitHub (against the GitHub REST double) with the layouts teams use:
 * Kustomize overlays and Helm values in one commit, byte for byte apart from image values; undo
 * as a revert of that commit; image automation (Flux markers, Argo CD Image Updater write-back
 * files) refused before any commit unless automation: ignore; a protected branch said plainly.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { runRollback, undoRollback } from '../../src/run/engine';
import { createGithubTarget } from '../../src/targets/gitops/github';
import type { Target } from '../../src/targets/types';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';
import { engineDeps } from '../support/engine-deps';
import { digest as D, gitopsCatalog, runRequest, swapped, undoRequest } from '../support/gitops';

const TOKEN = 'ghp_gitops0123456789';
const fixture = (name: string) => readFileSync(join(__dirname, '../fixtures/manifests', name), 'utf8');
const KUSTOMIZATION = fixture('kustomization.yaml');
const VALUES = fixture('helm-values.yaml');
const catalog = gitopsCatalog({
  api: [['39-prod', '1', '2026-11-20'], ['38-prod', '3', '2026-11-18']],
  web: [['5-prod', 'b', '2026-11-20'], ['4-prod', '4', '2026-11-18']],
  worker: [['7-prod', '2', '2026-11-20'], ['6-prod', '5', '2026-11-18']],
});

let gh: GithubDouble;
let dir: string;
const opened: Target[] = [];

function configFor(extra = ''): Config {
  return parseConfig(
    `registry: {url: https://registry.example.com}\ngithub: {token: '\${GH_TOKEN}', apiUrl: '${gh.url}'}\nservices:\n` +
    '  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\n' +
    '  - name: worker\n    repository: shop/worker\n    gitops:\n      paths: [charts/shop/values-prod.yaml]\n      values: {repository: worker.image.repository, tag: worker.image.tag, digest: worker.image.digest}\n' +
    `environments:\n  prod:\n    target:\n      github: {repo: shop/gitops, paths: [overlays/prod/kustomization.yaml]${extra}}\n`,
    'rollback.yml', { GH_TOKEN: TOKEN },
  );
}

function open(config: Config): Target {
  const t = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: { sleep: async () => undefined } });
  opened.push(t);
  return t;
}

const writes = () => gh.requests.filter((r) => r.method !== 'GET');

beforeEach(async () => {
  gh = await startGithubDouble({ token: TOKEN });
  dir = mkdtempSync(join(tmpdir(), 'gitops-github-'));
  gh.addRepo('shop/gitops', 'main', {
    'overlays/prod/kustomization.yaml': KUSTOMIZATION,
    'charts/shop/values-prod.yaml': VALUES,
    'README.md': 'untouched\n',
  });
});

afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Kustomize overlay and Helm values: one commit, only the image values change; undo reverts that commit', async () => {
  const config = configFor();
  const target = open(config);
  expect((await target.current(config.services[0])).image).toBe(`registry.example.com/shop/api:39-prod@${D('1')}`);
  expect((await target.current(config.services[2])).image).toBe(`shop/worker:7-prod@${D('2')}`);
  const { d, logger } = engineDeps(target, dir);
  const before = gh.commits('shop/gitops', 'main').length;
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.summary).toMatch(/3 services changed .*approved by alice; health was not checked \(neither argocd nor kubernetes configured\)/);
  expect(outcome.exitCode).toBe(0);
  expect(logger.lines.join('\n')).toMatch(/plan: shop\/gitops@main: health was not checked/);
  const commits = gh.commits('shop/gitops', 'main');
  expect(commits.length - before).toBe(1);
  expect(gh.file('shop/gitops', 'main', 'overlays/prod/kustomization.yaml')).toBe(swapped(KUSTOMIZATION, [
    ['newTag: 39-prod     # keep', 'newTag: 38-prod     # keep'],
    [`digest: ${D('1')}`, `digest: ${D('3')}`],
    ['    newTag: "5-prod"\n', `    newTag: "4-prod"\n    digest: ${D('4')}\n`],
  ]));
  expect(gh.file('shop/gitops', 'main', 'charts/shop/values-prod.yaml')).toBe(swapped(VALUES, [['tag: 7-prod\n', 'tag: 6-prod\n'], [`digest: ${D('2')}`, `digest: ${D('5')}`]]));
  expect(gh.file('shop/gitops', 'main', 'README.md')).toBe('untouched\n');

  const undo = await undoRollback(d, undoRequest(config.services));
  expect(undo.exitCode).toBe(0);
  const after = gh.commits('shop/gitops', 'main');
  expect(after.length - before).toBe(2);
  expect(after[0].message).toMatch(new RegExp(`^Revert "Rollback of prod to 2026-11-18, approved by alice"\\n\\nThis reverts commit ${commits[0].sha}\\.\\n`));
  expect(gh.file('shop/gitops', 'main', 'overlays/prod/kustomization.yaml')).toBe(KUSTOMIZATION);
  expect(gh.file('shop/gitops', 'main', 'charts/shop/values-prod.yaml')).toBe(VALUES);
});

test('a Flux $imagepolicy marker on an image line is refused before any commit, naming the ImagePolicy', async () => {
  gh.push('shop/gitops', 'main', 'overlays/prod/kustomization.yaml',
    KUSTOMIZATION.replace('newTag: "5-prod"', 'newTag: "5-prod" # {"$imagepolicy": "flux-system:web:tag"}'));
  const config = configFor();
  const { d } = engineDeps(open(config), dir);
  const head = gh.head('shop/gitops', 'main');
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18')).catch((e) => e);
  expect(outcome.message).toBe(
    'Preflight: Service web: overlays/prod/kustomization.yaml line 13 in shop/gitops@main carries the Flux marker {"$imagepolicy": "flux-system:web"}, ' +
    'so Flux image automation would move web forward again; pause the ImageUpdateAutomation that applies ImagePolicy flux-system/web (flux suspend image update); ' +
    "or set automation: ignore on the environment's target; nothing was changed.",
  );
  expect(outcome.exitCode).toBe(1);
  expect(gh.head('shop/gitops', 'main')).toBe(head);
  expect(writes()).toEqual([]);
});

test('an Argo CD Image Updater write-back file beside the files is refused, naming the Application', async () => {
  gh.push('shop/gitops', 'main', 'charts/shop/.argocd-source-shop-prod.yaml', 'helm:\n  parameters:\n  - name: worker.image.tag\n    value: 7-prod\n');
  const config = configFor();
  const { d } = engineDeps(open(config), dir);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18')).catch((e) => e);
  expect(outcome.message).toMatch(/^Preflight: Service worker: charts\/shop\/\.argocd-source-shop-prod\.yaml in shop\/gitops@main is an Argo CD Image Updater write-back file, .*pause image updates of Application shop-prod .*; nothing was changed\.$/);
  expect(writes()).toEqual([]);
});

test('automation: ignore goes ahead, says so in the plan and leaves a mark in the commit', async () => {
  gh.push('shop/gitops', 'main', 'overlays/prod/kustomization.yaml',
    KUSTOMIZATION.replace('newTag: "5-prod"', 'newTag: "5-prod" # {"$imagepolicy": "flux-system:web:tag"}'));
  const config = configFor(', automation: ignore');
  const target = open(config);
  const { d, logger } = engineDeps(target, dir);
  expect(await target.notes!(config.services)).toEqual([
    expect.stringMatching(/^web: .*Flux marker .*; automation: ignore is set, so the rollback goes ahead and automation may undo it\.$/),
    'shop/gitops@main: health was not checked (neither argocd nor kubernetes configured): the commit is done when it lands.',
  ]);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  expect(logger.lines.join('\n')).toMatch(/plan: web: .*automation: ignore is set/);
  expect(gh.commits('shop/gitops', 'main')[0].message).toMatch(/\nImage automation not paused \(automation: ignore\): .*ImagePolicy flux-system\/web/);
  // The marker stays on its line: Flux keeps reading it once resumed.
  expect(gh.file('shop/gitops', 'main', 'overlays/prod/kustomization.yaml')).toContain('newTag: "4-prod" # {"$imagepolicy": "flux-system:web:tag"}');
});

test('automation: ignore and the automation moves the tag forward during settle: the run fails naming it, and is put back', async () => {
  const marked = KUSTOMIZATION.replace('newTag: "5-prod"', 'newTag: "5-prod" # {"$imagepolicy": "flux-system:web:tag"}');
  gh.push('shop/gitops', 'main', 'overlays/prod/kustomization.yaml', marked);
  const config = configFor(', automation: ignore');
  // Flux's image automation, played on the GitHub double: at its next interval it writes the newest tag back.
  const automation = async () => {
    const now = gh.file('shop/gitops', 'main', 'overlays/prod/kustomization.yaml')!;
    const moved = now.replace(/newTag: "4-prod"( #[^\n]*)\n    digest: \S+\n/, 'newTag: "5-prod"$1\n');
    if (moved !== now) gh.push('shop/gitops', 'main', 'overlays/prod/kustomization.yaml', moved, 'fluxcdbot: move web to 5-prod');
  };
  const { d } = engineDeps(open(config), dir, { sleep: automation });
  const outcome = await runRollback(d, { ...runRequest(config.services, catalog, '2026-11-18'), settleMs: 30_000 });
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \(web: moved away from registry\.example\.com\/shop\/web:4-prod@sha256:4+ within 30s of becoming healthy: it runs registry\.example\.com\/shop\/web:5-prod \(likely cause: image automation \(overlays\/prod\/kustomization\.yaml line 13 in shop\/gitops@main carries the Flux marker \{"\$imagepolicy": "flux-system:web"\}\) put it back\)\); every changed service was put back \(api, worker\)\.$/);
  expect(gh.commits('shop/gitops', 'main').map((c) => c.message.split('\n')[0])).toEqual([
    'Revert "Rollback of prod to 2026-11-18, approved by alice"', 'fluxcdbot: move web to 5-prod', 'Rollback of prod to 2026-11-18, approved by alice', 'someone else', 'initial',
  ]);
  expect(gh.file('shop/gitops', 'main', 'overlays/prod/kustomization.yaml')).toBe(marked);
});

test('pullRequest: the rollback is a pull request; once merged, undo reverts its merge commit (through a pull request again)', async () => {
  const config = configFor(', pullRequest: true');
  const target = open(config);
  const { d } = engineDeps(target, dir);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  expect(outcome.summary).toMatch(/health is not checked \(the change takes effect when the pull request is merged\)\.$/);
  expect(gh.pulls).toHaveLength(1);
  const merged = gh.mergePull('shop/gitops', 1);
  const undo = await undoRollback(d, undoRequest(config.services));
  expect(undo.exitCode).toBe(0);
  expect(gh.pulls).toHaveLength(2);
  expect(gh.pulls[1].title).toBe('Revert "Rollback of prod to 2026-11-18, approved by alice"');
  expect(gh.commits('shop/gitops', gh.pulls[1].head.ref)[0].message).toContain(`\n\nThis reverts commit ${merged}.\n`);
  expect(gh.file('shop/gitops', gh.pulls[1].head.ref, 'overlays/prod/kustomization.yaml')).toBe(KUSTOMIZATION);
  expect(gh.file('shop/gitops', gh.pulls[1].head.ref, 'charts/shop/values-prod.yaml')).toBe(VALUES);
});

test('a protected branch is said in its own sentence, with the way that works; nothing changed', async () => {
  gh.protect('shop/gitops', 'main');
  const config = configFor();
  const { d } = engineDeps(open(config), dir);
  const head = gh.head('shop/gitops', 'main');
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toBe('Rollback of prod to 2026-11-18 failed (shop/gitops@main is a protected branch (Changes must be made through a pull request); nothing was changed: set pullRequest: true on the github target to roll back through a pull request); nothing was changed.');
  expect(gh.head('shop/gitops', 'main')).toBe(head);
  // One attempt: a protected branch is not "someone else pushing", so it is not retried.
  expect(gh.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
});

test('a service none of whose files holds its image: one sentence naming the service and the files, before any commit', async () => {
  const config = configFor();
  config.services[1].gitops = { paths: ['charts/shop/values-prod.yaml'] };
  const { d } = engineDeps(open(config), dir);
  const err = await runRollback(d, runRequest(config.services, catalog, '2026-11-18')).catch((e) => e);
  expect(err.message).toBe('Service web: no image of shop/web in charts/shop/values-prod.yaml of shop/gitops@main.');
  expect(err.kind).toBe('input');
  expect(writes()).toEqual([]);
});

describe('what the repository remembers (Target.history)', () => {
  it("lists each service's image change at the committer time of the commit that made it, from the files as they were", async () => {
    await gh.close();
    let clock = Date.parse('2026-11-20T10:00:00Z');
    gh = await startGithubDouble({ token: TOKEN, now: () => clock });
    gh.addRepo('shop/gitops', 'main', { 'overlays/prod/kustomization.yaml': KUSTOMIZATION, 'charts/shop/values-prod.yaml': VALUES, 'README.md': 'untouched\n' });
    const config = configFor();
    const t = open(config);
    const [api, web, worker] = config.services;
    const A = { api: (await t.current(api)).image, web: (await t.current(web)).image, worker: (await t.current(worker)).image };

    clock = Date.parse('2026-11-21T09:00:00Z');
    gh.push('shop/gitops', 'main', 'overlays/prod/kustomization.yaml', KUSTOMIZATION.replace('newTag: "5-prod"', 'newTag: "4-prod"'), 'web back to 4');
    const webB = (await t.current(web)).image;
    clock = Date.parse('2026-11-22T08:30:00Z');
    gh.push('shop/gitops', 'main', 'charts/shop/values-prod.yaml', VALUES.replace('tag: 7-prod', 'tag: 6-prod'), 'worker back to 6');
    const workerC = (await t.current(worker)).image;
    clock = Date.parse('2026-11-23T12:00:00Z');
    gh.push('shop/gitops', 'main', 'README.md', 'touched\n', 'docs only');
    expect(new Set([A.web, webB]).size).toBe(2);
    expect(new Set([A.worker, workerC]).size).toBe(2);

    const h = await t.history!(config.services);
    expect(h.source).toBe('git history');
    expect(h.changes).toEqual([
      { service: 'api', time: '2026-11-20T10:00:00Z', image: A.api },
      { service: 'web', time: '2026-11-20T10:00:00Z', image: A.web },
      { service: 'worker', time: '2026-11-20T10:00:00Z', image: A.worker },
      { service: 'web', time: '2026-11-21T09:00:00Z', image: webB },
      { service: 'worker', time: '2026-11-22T08:30:00Z', image: workerC },
    ]);
    // Only the manifests' commits were listed, through the commits API with the path filter.
    expect(gh.requests.filter((r) => r.path.startsWith('/repos/shop/gitops/commits')).map((r) => new URL(r.path, gh.url).searchParams.get('path')).sort())
      .toEqual(['charts/shop/values-prod.yaml', 'overlays/prod/kustomization.yaml']);
    expect(writes()).toEqual([]);
  });
});
