/**
 * The run engine with a chosen set of services (--only, --except, hold: true) against the in-memory
 * target: only the chosen ones change, all-or-nothing and the snapshot cover exactly them, undo puts
 * back exactly what that run changed, and the events name who was held back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRollback, undoRollback } from '../../src/run/engine';
import { latestSnapshotFile, readSnapshot } from '../../src/run/snapshot';
import { CATALOG, FakeTarget, NAMES, PLANNED, SERVICES, START } from '../doubles/memory-target';
import { engineDeps } from '../support/engine-deps';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-choose-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const req = (over: Partial<Parameters<typeof runRollback>[1]> = {}) => ({
  environment: 'prod', services: SERVICES, approver: 'alice', dryRun: false, parallel: 2, deployTimeoutMs: 5000, catalog: CATALOG, date: '2026-11-18', ...over,
});
const deploys = (t: FakeTarget) => t.calls.filter((c) => c.startsWith('deploy')).map((c) => c.split(' ')[1]);

describe('run engine, with a chosen set of services', () => {
  it('--except: only the others change; the snapshot, the summary and the events say who was held back', async () => {
    const target = new FakeTarget();
    const { d, events, logger } = engineDeps(target, dir);
    const out = await runRollback(d, req({ except: ['db'] }));
    expect(out.exitCode).toBe(0);
    expect(target.images).toEqual({ ...PLANNED, db: START.db });
    expect(deploys(target).sort()).toEqual(['api', 'auth', 'web']);
    expect(out.summary).toBe('Rollback of prod to 2026-11-18 with db held back: 3 services changed (api, web, auth), approved by alice.');
    expect(readSnapshot(out.snapshot!).services.map((s) => s.service)).toEqual(['api', 'web', 'auth']);
    const started = events.find((e) => e.type === 'started')!;
    expect(started.run.held).toEqual([{ service: 'db', by: 'except', image: START.db }]);
    expect(started.run.changes.map((c) => c.service)).toEqual(['api', 'web', 'auth']);
    expect(logger.lines.join('\n')).toContain('db is held back (by --except) and runs 2-prod, built on 2026-11-20, after 2026-11-18, while api, web and auth go back: check that they work with it.');
  });

  it('hold: true in the config holds a service back; --only naming it rolls it back', async () => {
    const services = SERVICES.map((s) => (s.name === 'web' ? { ...s, hold: true } : s));
    const target = new FakeTarget();
    const first = await runRollback(engineDeps(target, dir).d, req({ services }));
    expect(first.exitCode).toBe(0);
    expect(target.images).toEqual({ ...PLANNED, web: START.web });
    expect(first.summary).toMatch(/^Rollback of prod to 2026-11-18 with web held back: 3 services changed/);
    const only = await runRollback(engineDeps(target, dir).d, req({ services, only: ['web'] }));
    expect(only.summary).toBe('Rollback of prod to 2026-11-18 with api, db, auth held back: 1 service changed (web), approved by alice.');
    expect(target.images).toEqual(PLANNED);
  });

  it('a failure puts back only the chosen services that changed; the held one is never touched', async () => {
    const target = new FakeTarget();
    target.unhealthy.set('auth', PLANNED.auth);
    const out = await runRollback(engineDeps(target, dir).d, req({ except: ['web'], parallel: 1 }));
    expect(out.exitCode).toBe(1);
    expect(target.images).toEqual(START);
    expect(out.summary).toMatch(/^Rollback of prod to 2026-11-18 with web held back failed \(auth: .*\); every changed service was put back \(api, db, auth\)\.$/);
    expect(target.calls.filter((c) => c.includes(' web'))).toEqual(['current web']);
  });

  it('undo of a partial run puts back exactly what that run changed, even after the held service moved since', async () => {
    const target = new FakeTarget();
    const run = await runRollback(engineDeps(target, dir).d, req({ only: ['api', 'web'] }));
    expect(run.exitCode).toBe(0);
    expect(target.images).toEqual({ ...PLANNED, db: START.db, auth: START.auth });
    // Someone deploys db by hand after the partial run: undo must not touch it.
    target.images.db = PLANNED.db;
    target.calls = [];
    const undo = await undoRollback(engineDeps(target, dir).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
    expect(undo.exitCode).toBe(0);
    expect(target.images).toEqual({ ...START, db: PLANNED.db });
    expect(deploys(target).sort()).toEqual(['api', 'web']);
    expect(undo.summary).toMatch(/: 2 services put back \(api, web\), approved by bob\.$/);
  });

  it('a dry run and "nothing to do" name who is held back', async () => {
    const target = new FakeTarget();
    const dry = await runRollback(engineDeps(target, dir).d, req({ except: ['api'], dryRun: true }));
    expect(dry.summary).toBe('Dry run of Rollback of prod to 2026-11-18 with api held back: 3 services would change (web, db, auth); preflight passed; nothing was changed.');
    target.images = { ...PLANNED, api: START.api };
    const none = await runRollback(engineDeps(target, dir).d, req({ except: ['api'] }));
    expect(none.summary).toBe('Nothing to do: every service of prod that goes back already runs its image for 2026-11-18 (or has none); held back: api (by --except).');
    expect(target.images.api).toBe(START.api);
  });

  it('settle watches the chosen services: one moved back during the wait fails the run, the others are put back, the held one is never touched', async () => {
    const target = new FakeTarget();
    const { d } = engineDeps(target, dir);
    const sleep = d.sleep!;
    // Another controller puts api back while the run waits; auth (held back) moving would concern nobody.
    d.sleep = async (ms) => { if (ms === 30_000) { target.images.api = START.api; target.images.auth = 'reg.example:5000/shop/auth:hand-made'; } await sleep(ms); };
    const out = await runRollback(d, req({ except: ['auth'], settleMs: 30_000, parallel: 1 }));
    expect(out.exitCode).toBe(1);
    expect(out.summary).toMatch(/^Rollback of prod to 2026-11-18 with auth held back failed \(api: moved away from .* within 30s of becoming healthy: .*\); every changed service was put back \(web, db\)\.$/);
    expect(target.images).toEqual({ ...START, auth: 'reg.example:5000/shop/auth:hand-made' });
    expect(target.calls.filter((c) => c.includes(' auth'))).toEqual(['current auth']);
  });

  it('a re-run that holds back a service the killed run had already changed keeps it in the snapshot, so undo still puts it back', async () => {
    const target = new FakeTarget();
    target.hangAt = 1; // api changed, web in the middle of its change, then the worker is "gone"
    void runRollback(engineDeps(target, dir, { lock: { pid: 999_999_999, alive: () => false } }).d, req({ parallel: 1 }));
    for (let i = 0; i < 50 && !target.calls.includes(`deploy web ${PLANNED.web}`); i++) await new Promise((r) => setImmediate(r));
    target.hangAt = -1;
    expect(readSnapshot(latestSnapshotFile(dir, 'prod')!).finishedAt).toBeUndefined();
    const out = await runRollback(engineDeps(target, dir).d, req({ except: ['api'] }));
    expect(out.exitCode).toBe(0);
    expect(Object.fromEntries(readSnapshot(out.snapshot!).services.map((e) => [e.service, e.before]))).toEqual(Object.fromEntries(NAMES.map((n) => [n, START[n]])));
    const undo = await undoRollback(engineDeps(target, dir).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
    expect(undo.exitCode).toBe(0);
    expect(target.images).toEqual(START);
  });

  it('--at (a release point) goes through the same choice: the held service stays, undo puts back only the others', async () => {
    const at = '2026-11-19T08:00:00Z';
    const catalog = { ...CATALOG, points: [{ time: at, origin: 'Jenkins #412', services: Object.entries(PLANNED).map(([service, image]) => ({ service, image })) }] };
    const target = new FakeTarget();
    const out = await runRollback(engineDeps(target, dir).d, req({ catalog, date: at, except: ['web', 'auth'] }));
    expect(out.summary).toBe(`Rollback of prod to ${at} with web, auth held back: 2 services changed (api, db), approved by alice.`);
    expect(target.images).toEqual({ ...START, api: PLANNED.api, db: PLANNED.db });
    await undoRollback(engineDeps(target, dir).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
    expect(target.images).toEqual(START);
    expect(deploys(target).sort()).toEqual(['api', 'api', 'db', 'db']);
  });

  it('refuses an unknown service and --only with --except before anything changes (exit 2)', async () => {
    const target = new FakeTarget();
    await expect(runRollback(engineDeps(target, dir).d, req({ only: ['cart'] }))).rejects.toMatchObject({ exitCode: 2, message: "--only names a service not in the plan for prod: 'cart'; valid services: api, web, db, auth." });
    await expect(runRollback(engineDeps(target, dir).d, req({ only: ['api'], except: ['web'] }))).rejects.toMatchObject({ exitCode: 2 });
    expect(deploys(target)).toEqual([]);
  });
});
