/**
 * GitHub pieces against the GitHub REST double (no real GitHub here): the GHCR source through
 * `get`, and the GitOps github target through the run engine: get -> plan -> run (one commit)
 * -> failure (nothing changed) -> undo; faults: rate limits, 5xx, a concurrent push.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCatalog } from '../../src/catalog/get';
import { runCli } from '../support/cli';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { mask, memoryLogger } from '../../src/log';
import { buildPlan } from '../../src/plan/plan';
import { ghcrSource } from '../../src/registry/ghcr';
import { runRollback, undoRollback } from '../../src/run/engine';
import { createGithubTarget } from '../../src/targets/gitops/github';
import type { Target } from '../../src/targets/types';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';

const TOKEN = 'ghp_test0123456789abcdef';
const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
const MANIFEST = (api: string, web: string) =>
  `# prod workloads\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ${api}   # keep me\n---\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: "${web}"\n`;

let gh: GithubDouble;
let dir: string;
let config: Config;
const noSleep = { sleep: async () => undefined };

function configFor(url: string, extra = ''): Config {
  return parseConfig(
    `registry: {url: https://ghcr.io}\ngithub:\n  token: \${GH_TOKEN}\n  apiUrl: ${url}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: alice/web}\nenvironments:\n  prod:\n    tags: '-prod$'\n    target:\n      github: {repo: shop/gitops, branch: main, paths: [prod/apps.yaml]${extra}}\n`,
    'rollback.yml',
    { GH_TOKEN: TOKEN },
  );
}

beforeEach(async () => {
  gh = await startGithubDouble({ token: TOKEN, perPage: 2 });
  dir = mkdtempSync(join(tmpdir(), 'github-target-'));
  config = configFor(gh.url);
  // shop is an organization, alice a user: the source learns which from the 404.
  gh.addPackage('org:shop', 'api', [
    { digest: d('3'), tags: ['3-prod', 'latest'], created: '2026-11-20T10:00:00Z' },
    { digest: d('2'), tags: ['2-prod'], created: '2026-11-18T10:00:00Z' },
    { digest: d('9'), tags: [], created: '2026-11-17T10:00:00Z' },
    { digest: d('1'), tags: ['1-prod', '1-stage'], created: '2026-11-15T10:00:00Z' },
  ]);
  gh.addPackage('user:alice', 'web', [
    { digest: d('b'), tags: ['8-prod'], created: '2026-11-19T09:00:00Z' },
    { digest: d('a'), tags: ['7-prod'], created: '2026-11-14T09:00:00Z' },
  ]);
  gh.addRepo('shop/gitops', 'main', {
    'prod/apps.yaml': MANIFEST(`ghcr.io/shop/api:3-prod@${d('3')}`, `ghcr.io/alice/web:8-prod@${d('b')}`),
    'README.md': 'untouched\n',
  });
});

afterEach(async () => {
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (c = config) => getCatalog(c, 'prod', { logger: memoryLogger(), http: noSleep, sourceFactory: (cfg, o) => ghcrSource(cfg, o, { sleep: async () => undefined }) });

test('GHCR: one paginated listing per package, tags filtered, same catalog semantics', async () => {
  const catalog = await get();
  expect(catalog.choices).toEqual(['2026-11-20', '2026-11-19', '2026-11-18', '2026-11-15', '2026-11-14']);
  expect(catalog.services[0].images.map((i) => i.reference)).toEqual([
    `ghcr.io/shop/api:3-prod@${d('3')}`, `ghcr.io/shop/api:2-prod@${d('2')}`, `ghcr.io/shop/api:1-prod@${d('1')}`,
  ]);
  const listing = gh.requests.filter((r) => r.path.includes('/packages/'));
  // api: 2 pages (Link rel=next); web: a 404 as an org, then 1 page as a user. No manifest requests.
  // Repositories are read in parallel: compare as a sorted list.
  expect(listing.map((r) => r.path.replace(/\?.*$/, '')).sort()).toEqual([
    '/orgs/alice/packages/container/web/versions',
    '/orgs/shop/packages/container/api/versions', '/orgs/shop/packages/container/api/versions',
    '/users/alice/packages/container/web/versions',
  ]);
  expect(listing).toHaveLength(4);
  expect(gh.requests.every((r) => r.authorization === `token ${TOKEN}`)).toBe(true);
});

test('GHCR: rate limits (primary and secondary) and 5xx are waited out; a missing package is one sentence', async () => {
  gh.rateLimit(1, 'primary');
  expect((await get()).choices).toHaveLength(5);
  gh.rateLimit(1, 'secondary');
  expect((await get()).choices).toHaveLength(5);
  gh.serverErrors(2, 502);
  expect((await get()).choices).toHaveLength(5);
  const bad = parseConfig(
    `registry: {url: https://ghcr.io}\ngithub: {apiUrl: '${gh.url}', token: '\${GH_TOKEN}'}\nservices: [{name: x, repository: shop/nope}]\nenvironments: {prod: {target: {github: {repo: shop/gitops, paths: [a.yaml]}}}}\n`,
    'rollback.yml', { GH_TOKEN: TOKEN },
  );
  const err = await get(bad).catch((e) => e);
  expect(mask(err.message)).toMatch(/^Service x: Listing the versions of package shop\/nope on ghcr.io failed \(HTTP 404\): not found, or the token cannot see it/);
});

function engineDeps(target: Target) {
  const logger = memoryLogger();
  let t = Date.parse('2026-11-21T03:00:00Z');
  return {
    logger,
    deps: { target, logger, stateDir: dir, imageExists: async () => true, now: () => new Date((t += 1000)), sleep: async () => undefined, lock: { waitMs: 1000, pollMs: 10 } },
  };
}
const request = (catalog: Awaited<ReturnType<typeof get>>, date: string) => ({
  environment: 'prod', services: config.services, approver: 'alice', dryRun: false, parallel: 2, deployTimeoutMs: 60_000, catalog, date,
});

test('github target: get -> plan -> run is ONE commit, only image values change; undo is another', async () => {
  const catalog = await get();
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep });
  try {
    const current = { api: (await target.current(config.services[0])).image, web: (await target.current(config.services[1])).image };
    expect(await target.current(config.services[0])).toEqual({ image: `ghcr.io/shop/api:3-prod@${d('3')}`, id: 'prod/apps.yaml:10' });
    const plan = buildPlan(catalog, '2026-11-18', current);
    expect(plan.entries.map((e) => [e.service, e.action, e.target?.tag])).toEqual([['api', 'change', '2-prod'], ['web', 'change', '7-prod']]);

    const { deps } = engineDeps(target);
    const before = gh.commits('shop/gitops', 'main').length;
    const outcome = await runRollback(deps, request(catalog, '2026-11-18'));
    expect(outcome.exitCode).toBe(0);
    const commits = gh.commits('shop/gitops', 'main');
    expect(commits.length - before).toBe(1);
    expect(commits[0].message).toBe(
      'Rollback of prod to 2026-11-18, approved by alice\n\n' +
      `- api: ghcr.io/shop/api:3-prod@${d('3')} -> ghcr.io/shop/api:2-prod@${d('2')}\n` +
      `- web: ghcr.io/alice/web:8-prod@${d('b')} -> ghcr.io/alice/web:7-prod@${d('a')}\n`,
    );
    expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(MANIFEST(`ghcr.io/shop/api:2-prod@${d('2')}`, `ghcr.io/alice/web:7-prod@${d('a')}`));
    expect(gh.file('shop/gitops', 'main', 'README.md')).toBe('untouched\n');

    const undo = await undoRollback(deps, { environment: 'prod', services: config.services, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 60_000 });
    expect(undo.exitCode).toBe(0);
    expect(gh.commits('shop/gitops', 'main').length - before).toBe(2);
    expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(MANIFEST(`ghcr.io/shop/api:3-prod@${d('3')}`, `ghcr.io/alice/web:8-prod@${d('b')}`));
  } finally {
    await target.close();
  }
});

test('github target: a push racing the commit is re-read once; twice is a failure with nothing changed', async () => {
  const catalog = await get();
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep });
  try {
    const { deps } = engineDeps(target);
    gh.raceNextRefUpdate('shop/gitops', 'main', 'README.md', 'someone else\n');
    expect((await runRollback(deps, request(catalog, '2026-11-18'))).exitCode).toBe(0);
    // Their commit is kept, ours is on top of it.
    expect(gh.commits('shop/gitops', 'main').map((c) => c.message.split('\n')[0])).toEqual(['Rollback of prod to 2026-11-18, approved by alice', 'a concurrent push', 'initial']);
    expect(gh.file('shop/gitops', 'main', 'README.md')).toBe('someone else\n');

    const fileBefore = gh.file('shop/gitops', 'main', 'prod/apps.yaml');
    // The next two ref updates both race: the first attempt and the retry both lose.
    gh.raceNextRefUpdate('shop/gitops', 'main', 'README.md', 'another push\n', 2);
    const outcome = await runRollback(deps, request(catalog, '2026-11-20'));
    expect(outcome.exitCode).toBe(1);
    expect(outcome.summary).toMatch(/shop\/gitops@main kept moving while we committed \(someone else is pushing\); nothing was changed/);
    expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(fileBefore);
  } finally {
    await target.close();
  }
});

test('github target: pull request mode commits to a new branch and opens one PR; busy while it is open', async () => {
  config = configFor(gh.url, ', pullRequest: true');
  const catalog = await get();
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep, now: () => new Date('2026-11-21T03:04:05Z') });
  try {
    const { deps } = engineDeps(target);
    const outcome = await runRollback(deps, request(catalog, '2026-11-18'));
    expect(outcome.exitCode).toBe(0);
    expect(gh.pulls).toHaveLength(1);
    expect(gh.pulls[0]).toMatchObject({ base: { ref: 'main' }, title: expect.stringMatching(/^Rollback of prod to 2026-11-18/) });
    expect(gh.pulls[0].head.ref).toMatch(/^rollback\/prod-20261121T030405-[0-9a-f]{7}$/);
    expect(gh.file('shop/gitops', gh.pulls[0].head.ref, 'prod/apps.yaml')).toContain(`ghcr.io/shop/api:2-prod@${d('2')}`);
    expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toContain(`ghcr.io/shop/api:3-prod@${d('3')}`);
    expect(await target.busy(config.services[0])).toMatch(/^pull request #1 \(rollback\/prod-.*\) of an earlier rollback is still open in shop\/gitops/);
  } finally {
    await target.close();
  }
});

test('github target: a service whose image is in no manifest is refused before any write', async () => {
  gh.push('shop/gitops', 'main', 'prod/apps.yaml', 'kind: ConfigMap\n');
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep });
  try {
    const err = await target.current(config.services[0]).catch((e) => e);
    expect(err.message).toBe('Service api: no image of shop/api in prod/apps.yaml of shop/gitops@main.');
    expect(err.kind).toBe('input');
    const writes = gh.requests.filter((r) => r.method !== 'GET');
    expect(writes).toEqual([]);
  } finally {
    await target.close();
  }
});

test('through main(): get (GHCR) -> plan -> run losing a race twice (nothing changed) -> run -> undo', async () => {
  writeFileSync(
    join(dir, 'rollback.yml'),
    `registry: {url: https://ghcr.io}\nsettle: 0\ngithub:\n  token: \${GH_TOKEN}\n  apiUrl: ${gh.url}\n  deployments: {repo: shop/audit}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: alice/web}\nenvironments:\n  prod:\n    tags: '-prod$'\n    target:\n      github: {repo: shop/gitops, paths: [prod/apps.yaml]}\n`,
  );
  const cli = async (...argv: string[]) => {
    const r = await runCli([...argv, '--config', 'rollback.yml', '--env', 'prod'], { env: { GH_TOKEN: TOKEN }, cwd: dir });
    expect(r.stderr + r.stdout).not.toContain(TOKEN);
    return r;
  };
  const got = await cli('get');
  expect(got).toMatchObject({ code: 0, stdout: '2026-11-20\n2026-11-19\n2026-11-18\n2026-11-15\n2026-11-14\n' });
  const plan = await cli('plan', '--date', '2026-11-15');
  expect(plan.code).toBe(0);
  const start = gh.file('shop/gitops', 'main', 'prod/apps.yaml');

  gh.raceNextRefUpdate('shop/gitops', 'main', 'README.md', 'busy repo\n', 2);
  const lost = await cli('run', '--date', '2026-11-15', '--approver', 'alice');
  expect(lost.code).toBe(1);
  expect(lost.stderr).toMatch(/kept moving while we committed .*nothing was changed/);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(start);

  const ok = await cli('run', '--date', '2026-11-15', '--approver', 'alice');
  expect(ok.code).toBe(0);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(MANIFEST(`ghcr.io/shop/api:1-prod@${d('1')}`, `ghcr.io/alice/web:7-prod@${d('a')}`));
  expect(gh.commits('shop/gitops', 'main')[0].message.split('\n')[0]).toBe('Rollback of prod to 2026-11-15, approved by alice');
  // The audit: one deployment per service and run, success for the run that went through.
  const last = gh.deployments.slice(-2);
  expect(last.map((x) => [x.payload.service, gh.statuses.get(x.id)!.map((s: { state: string }) => s.state)])).toEqual([['api', ['in_progress', 'success']], ['web', ['in_progress', 'success']]]);

  const undone = await cli('undo', '--approver', 'bob');
  expect(undone.code).toBe(0);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(start);
});

test('github target: a manifest over the contents API size limit is read as a blob', async () => {
  await gh.close();
  gh = await startGithubDouble({ token: TOKEN, contentLimit: 100 });
  config = configFor(gh.url);
  gh.addRepo('shop/gitops', 'main', { 'prod/apps.yaml': MANIFEST(`ghcr.io/shop/api:3-prod@${d('3')}`, `ghcr.io/alice/web:8-prod@${d('b')}`) });
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep });
  try {
    expect((await target.current(config.services[1])).image).toBe(`ghcr.io/alice/web:8-prod@${d('b')}`);
    expect(gh.requests.some((r) => r.method === 'GET' && r.path.includes('/git/blobs/'))).toBe(true);
  } finally {
    await target.close();
  }
});

test('github target: a failure after the blobs are written, before the branch moves, changes nothing', async () => {
  const catalog = await get();
  const target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir }, { github: noSleep });
  try {
    const { deps } = engineDeps(target);
    const start = gh.file('shop/gitops', 'main', 'prod/apps.yaml');
    const commits = gh.commits('shop/gitops', 'main').length;
    // POSTs are not blindly resent: a 502 on the tree is an answer, and the run stops there.
    gh.serverErrors(1, 502, /git\/trees/);
    const outcome = await runRollback(deps, request(catalog, '2026-11-18'));
    expect(outcome.exitCode).toBe(1);
    expect(outcome.summary).toMatch(/Writing the tree to shop\/gitops failed \(HTTP 502\).*nothing was changed/);
    expect(gh.requests.some((r) => r.method === 'POST' && r.path.endsWith('/git/blobs'))).toBe(true);
    expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(start);
    expect(gh.commits('shop/gitops', 'main')).toHaveLength(commits);
    expect((await runRollback(deps, request(catalog, '2026-11-18'))).exitCode).toBe(0);
  } finally {
    await target.close();
  }
});
