/**
 * The GitHub Deployments audit notifier against the GitHub double, event by event: each status
 * sequence the engine can produce, dry runs, rate limits, and refusals said in one sentence.
 */
import { createGithubDeploymentsNotifier } from '../../src/notify/github-deployments';
import type { RunEvent, RunInfo } from '../../src/notify/types';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';

const TOKEN = 'ghp_audit_0123456789';
let gh: GithubDouble;
beforeEach(async () => {
  gh = await startGithubDouble({ token: TOKEN });
});
afterEach(() => gh.close());

const run = (over: Partial<RunInfo> = {}): RunInfo => ({
  action: 'run', environment: 'prod', date: '2026-11-18', approver: 'alice', target: 'Kubernetes at https://k', dryRun: false,
  changes: [
    { service: 'api', from: 'r/shop/api:3', to: 'r/shop/api:2', day: '2026-11-18' },
    { service: 'web', from: 'r/shop/web:2', to: 'r/shop/web:1', day: '2026-11-15' },
    { service: 'db', from: 'r/shop/db:9', to: 'r/shop/db:8', day: '2026-11-17' },
  ],
  ...over,
});

function notifier() {
  return createGithubDeploymentsNotifier({ repo: 'shop/audit', ref: 'release', token: TOKEN, apiUrl: gh.url, logUrl: 'https://jenkins/job/rollback/7/', github: { sleep: async () => undefined } });
}
const statesOf = () => Object.fromEntries(gh.deployments.map((d) => [d.payload.service, gh.statuses.get(d.id)!.map((s: { state: string }) => s.state)]));

test('started creates one deployment per service with the payload; ends map to statuses', async () => {
  const n = notifier();
  const r = run();
  const events: RunEvent[] = [
    { type: 'started', run: r },
    { type: 'service-done', run: r, change: r.changes[0] },
    { type: 'service-failed', run: r, change: r.changes[1], reason: 'web did not become healthy' },
    { type: 'service-reverted', run: r, change: r.changes[0] },
    { type: 'service-reverted', run: r, change: r.changes[1] },
    { type: 'failed', run: r, reason: 'Rollback of prod failed; every changed service was put back.' },
  ];
  for (const e of events) await n.notify(e);
  await n.close();
  expect(gh.deployments.map((d) => d.request)).toEqual(r.changes.map((c) => expect.objectContaining({
    ref: 'release', environment: 'prod', auto_merge: false, required_contexts: [], task: 'deploy:rollback',
    payload: expect.objectContaining({ service: c.service, image: c.to, previous: c.from, date: '2026-11-18', approver: 'alice' }),
  })));
  // api was healthy, then put back: never success, since the run did not end done (settle included).
  expect(statesOf()).toEqual({ api: ['in_progress', 'inactive'], web: ['in_progress', 'failure', 'inactive'], db: ['in_progress', 'inactive'] });
  expect(gh.statuses.get(gh.deployments[0].id)![0]).toMatchObject({ log_url: 'https://jenkins/job/rollback/7/', environment: 'prod' });
  expect(gh.requests.every((q) => q.authorization === `token ${TOKEN}`)).toBe(true);
});

test('done marks every open deployment success; partial marks the put-back ones inactive and the others error', async () => {
  const n = notifier();
  const r = run();
  await n.notify({ type: 'started', run: r });
  await n.notify({ type: 'done', run: r });
  expect(statesOf()).toEqual({ api: ['in_progress', 'success'], web: ['in_progress', 'success'], db: ['in_progress', 'success'] });

  const r2 = run({ changes: r.changes.slice(0, 2) });
  await n.notify({ type: 'started', run: r2 });
  await n.notify({ type: 'service-done', run: r2, change: r2.changes[0] });
  await n.notify({ type: 'partial', run: r2, reason: 'x', states: [{ service: 'api', state: 'put back' }, { service: 'web', state: 'NOT put back (may run r/shop/web:1)' }] });
  const latest = gh.deployments.slice(-2).map((d) => gh.statuses.get(d.id)!.map((s: { state: string; description: string }) => `${s.state}:${s.description}`));
  expect(latest[0]).toEqual(['in_progress:Rollback of prod to 2026-11-18: api -> r/shop/api:2', 'inactive:put back']);
  expect(latest[1]).toEqual(['in_progress:Rollback of prod to 2026-11-18: web -> r/shop/web:1', 'error:NOT put back (may run r/shop/web:1)']);
  await n.close();
});

test('a partial rollback names what was held back in each deployment and in its descriptions', async () => {
  const n = notifier();
  const r = run({ changes: run().changes.slice(0, 2), held: [{ service: 'db', by: 'except', image: 'r/shop/db:9' }] });
  await n.notify({ type: 'started', run: r });
  await n.notify({ type: 'done', run: r });
  await n.close();
  expect(gh.deployments.map((d) => d.payload.service)).toEqual(['api', 'web']);
  for (const d of gh.deployments) {
    expect(d.payload.held).toEqual([{ service: 'db', by: 'except', image: 'r/shop/db:9' }]);
    expect(d.request.description).toBe(`Rollback of prod to 2026-11-18 with db held back: ${d.payload.service}, approved by alice`);
    expect(gh.statuses.get(d.id)!.map((s: { state: string; description: string }) => `${s.state}:${s.description}`).pop()).toBe('success:Rollback of prod to 2026-11-18 with db held back is done');
  }
});

test('a dry run records nothing; a rate limit is waited out; a refusal is one sentence', async () => {
  const n = notifier();
  await n.notify({ type: 'started', run: run({ dryRun: true }) });
  expect(gh.requests).toEqual([]);
  gh.rateLimit(1, 'secondary');
  await n.notify({ type: 'started', run: run() });
  expect(gh.deployments).toHaveLength(3);
  gh.serverErrors(1, 404, /statuses/);
  const err = await n.notify({ type: 'done', run: run() }).catch((e) => e);
  expect(err.message).toMatch(/^Setting GitHub deployment \d+ of api in shop\/audit to success failed \(HTTP 404\): not found, or the token cannot see it/);
  await n.close();
});

test('a ref that does not exist in the repository (GitHub answers 422 "No ref found for") is said in its own sentence', async () => {
  // The repository exists with a default branch `trunk`, not `main`: GitHub refuses a deployment on main.
  gh.addRepo('shop/audit', 'trunk', { 'README.md': 'audit\n' });
  const n = createGithubDeploymentsNotifier({ repo: 'shop/audit', token: TOKEN, apiUrl: gh.url, github: { sleep: async () => undefined } });
  const err = await n.notify({ type: 'started', run: run() }).catch((e) => e);
  expect(err.message).toBe('GitHub deployments in shop/audit: the ref main does not exist in that repository (HTTP 422: No ref found for: main); set github.deployments.ref to one of its branches, tags or commits.');
  expect(gh.deployments).toEqual([]);
  // On a ref that exists, the same repository takes the audit.
  const ok = createGithubDeploymentsNotifier({ repo: 'shop/audit', ref: 'trunk', token: TOKEN, apiUrl: gh.url, github: { sleep: async () => undefined } });
  await ok.notify({ type: 'started', run: run() });
  expect(gh.deployments.map((d) => d.ref)).toEqual(['trunk', 'trunk', 'trunk']);
  await n.close();
  await ok.close();
});

test('a change\'s undoes: the description says what it takes away within GitHub\'s 140 characters; the payload carries it', async () => {
  const titles = ['Rework the checkout flow so that carts survive a restart of the pricing service', 'Add cart badge', 'Fix login redirect'];
  const commits = titles.map((title, i) => ({ sha: `${i}`.repeat(40), title }));
  const r = run({ changes: [
    { service: 'api', from: 'r/shop/api:3', to: 'r/shop/api:2', day: '2026-11-18', undoes: { from: 'a'.repeat(40), to: 'b'.repeat(40), source: 'https://github.com/shop/api', compare: 'https://github.com/shop/api/compare/b...a', count: 3, commits } },
    { service: 'db', from: 'r/shop/db:9', to: 'r/shop/db:8', day: '2026-11-17' },
  ] });
  const n = notifier();
  await n.notify({ type: 'started', run: r });
  await n.close();
  const [api, db] = gh.deployments;
  expect(api.description).toHaveLength(140);
  const full = `Rollback of prod to 2026-11-18: api, approved by alice; takes away 3 commits: ${titles.join('; ')}`;
  expect(full.length).toBeGreaterThan(140);
  expect(api.description).toBe(`${full.slice(0, 139)}…`);
  expect(api.payload.undoes).toEqual({ from: 'a'.repeat(40), to: 'b'.repeat(40), source: 'https://github.com/shop/api', compare: 'https://github.com/shop/api/compare/b...a', count: 3, commits });
  expect(db.description).toBe('Rollback of prod to 2026-11-18: db, approved by alice');
  expect(db.payload.undoes).toBeNull();
});
