/**
 * Waiting for the cluster through Argo CD (against the Argo CD API double, which follows the GitHub
 * double's branch): a service is healthy only once its Application runs the rollback's commit,
 * Synced and Healthy; Degraded on that commit fails the run, and a commit that never arrives times
 * out; both are put back with a revert commit, itself waited for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { runRollback } from '../../src/run/engine';
import { createGithubTarget } from '../../src/targets/gitops/github';
import type { Target } from '../../src/targets/types';
import { ArgoDouble, Outcome, startArgoDouble } from '../doubles/argocd-double';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';
import { engineDeps } from '../support/engine-deps';
import { runRequest, shopImage, twoDeployments, twoServiceCatalog } from '../support/gitops';

const GH_TOKEN = 'ghp_argo0123456789';
const ARGO_TOKEN = 'argocd-token-0123456789';
const START = twoDeployments(shopImage('api', '39-prod', '1'), shopImage('web', '5-prod', 'b'));
const catalog = twoServiceCatalog();

let gh: GithubDouble;
let argo: ArgoDouble;
let dir: string;
let target: Target | undefined;

function setUp(outcome: (message: string) => Outcome) {
  const config: Config = parseConfig(
    `registry: {url: https://registry.example.com}\ngithub: {token: '\${GH_TOKEN}', apiUrl: '${gh.url}'}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\n` +
    `environments:\n  prod:\n    target:\n      github:\n        repo: shop/gitops\n        paths: [prod/apps.yaml]\n        argocd: {url: '${argo.url}', token: '\${ARGO_TOKEN}', application: shop-prod}\n`,
    'rollback.yml', { GH_TOKEN, ARGO_TOKEN },
  );
  const messageOf = (sha: string) => gh.commits('shop/gitops', 'main').find((c) => c.sha === sha)?.message ?? '';
  argo.addApp('shop-prod', { head: () => gh.head('shop/gitops', 'main'), outcome: (rev) => outcome(messageOf(rev)) });
  // One driven clock for the engine and the target's waits: a wait costs no real time.
  let t = Date.parse('2026-11-21T03:00:00Z');
  const clock = { now: () => new Date(t), sleep: async (ms: number) => { t += ms; } };
  target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir, pollMs: 5000, ...clock }, { github: { sleep: async () => undefined } });
  return { config, ...engineDeps(target, dir, clock) };
}

beforeEach(async () => {
  gh = await startGithubDouble({ token: GH_TOKEN });
  argo = await startArgoDouble({ token: ARGO_TOKEN });
  gh.addRepo('shop/gitops', 'main', { 'prod/apps.yaml': START });
  dir = mkdtempSync(join(tmpdir(), 'gitops-argocd-'));
});

afterEach(async () => {
  await target?.close();
  await argo.close();
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Synced and Healthy on the rollback commit: healthy only then; the first read asks Argo CD to refresh', async () => {
  const { config, d, logger } = setUp(() => 'Healthy');
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  expect(outcome.summary).toBe('Rollback of prod to 2026-11-18: 2 services changed (api, web), approved by alice.');
  const rollback = gh.head('shop/gitops', 'main')!;
  expect(argo.synced('shop-prod')).toEqual([rollback]);
  expect(argo.requests[0].path).toBe('/api/v1/applications/shop-prod?refresh=normal');
  expect(argo.requests.every((r) => r.authorization === `Bearer ${ARGO_TOKEN}`)).toBe(true);
  // Reads went on until the Application showed the commit Healthy (Progressing first).
  expect(argo.requests.length).toBeGreaterThan(2);
  expect(logger.lines.join('\n')).toMatch(/plan: shop\/gitops@main: healthy once Argo CD's Application shows the commit Synced and Healthy/);
});

test('Degraded on the rollback commit fails the run; a revert commit puts it back and is waited for', async () => {
  // Both services wait in parallel on one Application: whichever fails first is named.
  const { config, d } = setUp((message) => (message.startsWith('Rollback of') ? 'Degraded' : 'Healthy'));
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \((api|web): Argo CD Application shop-prod runs commit [0-9a-f]{12} of \1 but is Degraded \(Deployment "api" exceeded its progress deadline\)\); every changed service was put back \(api, web\)\.$/);
  const commits = gh.commits('shop/gitops', 'main');
  expect(commits.map((c) => c.message.split('\n')[0])).toEqual(['Revert "Rollback of prod to 2026-11-18, approved by alice"', 'Rollback of prod to 2026-11-18, approved by alice', 'initial']);
  expect(commits[0].message).toContain(`This reverts commit ${commits[1].sha}.`);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(START);
  expect(argo.synced('shop-prod')).toEqual([commits[1].sha, commits[0].sha]);
});

test('a rollback commit that never arrives times out and is reverted; the revert arrives and is healthy', async () => {
  const { config, d } = setUp((message) => (message.startsWith('Rollback of') ? 'never' : 'Healthy'));
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/did not run commit [0-9a-f]{12} of (api|web) healthily within 60s \(it is at [0-9a-f]{12}, Synced, Healthy, last sync Succeeded\)\); every changed service was put back \(api, web\)\.$/);
  const commits = gh.commits('shop/gitops', 'main');
  expect(commits[0].message).toMatch(/^Revert "Rollback of prod/);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(START);
  expect(argo.synced('shop-prod')).toEqual([commits[0].sha]);
});
