/**
 * Settle (src/run/settle.ts): a run is done only when every changed service still runs its new
 * image `settle` after the last one became healthy. The in-memory target plays another controller
 * (Argo CD self-heal, a Flux interval) that puts the old image back some time after our change,
 * on the engine's driven clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceConfig } from '../../src/config/types';
import { runRollback, undoRollback } from '../../src/run/engine';
import { readSnapshot } from '../../src/run/snapshot';
import { CATALOG, FakeTarget, PLANNED, SERVICES, START } from '../doubles/memory-target';
import { engineDeps } from '../support/engine-deps';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-settle-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A target whose services another controller owns: `heal` says, per service, how long after our
 * change the controller puts back the image it wants (the one before our change).
 */
class HealingTarget extends FakeTarget {
  heal = new Map<string, number>();
  owner?: string;
  private due = new Map<string, { at: number; image: string }>();
  constructor(private clock: () => number) { super(); }
  private tick(name: string) {
    const d = this.due.get(name);
    if (d && this.clock() >= d.at) {
      this.images[name] = d.image;
      this.due.delete(name);
    }
  }
  override async current(s: ServiceConfig) {
    this.tick(s.name);
    return super.current(s);
  }
  override async deploy(s: ServiceConfig, image: string) {
    const wanted = this.due.get(s.name)?.image ?? this.images[s.name];
    await super.deploy(s, image);
    const after = this.heal.get(s.name);
    if (after !== undefined && image !== wanted) this.due.set(s.name, { at: this.clock() + after, image: wanted });
    else this.due.delete(s.name);
  }
  async controllerOf(s: ServiceConfig) {
    return this.heal.has(s.name) ? this.owner : undefined;
  }
}

function setup(settleMs: number | undefined) {
  const marks: string[] = [];
  const box: { target?: HealingTarget } = {};
  const { d, events, logger } = engineDeps(undefined as never, dir);
  const baseSleep = d.sleep!;
  const target = new HealingTarget(() => d.now!().getTime());
  box.target = target;
  d.target = target;
  d.sleep = async (ms) => { marks.push(`sleep ${ms}`); await baseSleep(ms); };
  d.notifier = { name: 'memory', notify: async (e) => { events.push(e); marks.push(`event ${e.type}`); } };
  const req = { environment: 'prod', services: SERVICES, approver: 'alice', dryRun: false, parallel: 2, deployTimeoutMs: 5000, catalog: CATALOG, date: '2026-11-18', settleMs };
  return { d, events, logger, target, marks, req };
}

describe('settle', () => {
  it('a controller that puts an image back within settle fails the run, which puts back every changed service and never says done', async () => {
    const { d, events, target, marks, req } = setup(30_000);
    target.heal.set('db', 10_000);
    target.owner = 'Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id)';
    const out = await runRollback(d, req);
    expect(out.exitCode).toBe(1);
    expect(out.summary).toBe(
      `Rollback of prod to 2026-11-18 failed (db: moved away from ${PLANNED.db} within 30s of becoming healthy: it runs ${START.db} ` +
      '(likely cause: Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id) put it back)); every changed service was put back (api, web, auth).',
    );
    expect(target.images).toEqual(START);
    expect(events.map((e) => e.type)).not.toContain('done');
    expect(events.map((e) => e.type)).toContain('failed');
    // The settle wait came after every service was healthy, and before the outcome was told.
    expect(marks.indexOf('sleep 30000')).toBeGreaterThan(marks.lastIndexOf('event service-done'));
    expect(marks.indexOf('sleep 30000')).toBeLessThan(marks.indexOf('event failed'));
    expect(readSnapshot(out.snapshot!).outcome).toBe('failed');
  });

  it('without ownership metadata the sentence still names the service, the image found and a likely cause', async () => {
    const { d, target, req } = setup(5_000);
    target.heal.set('api', 1_000);
    const out = await runRollback(d, req);
    expect(out.exitCode).toBe(1);
    expect(out.summary).toContain(`(api: moved away from ${PLANNED.api} within 5s of becoming healthy: it runs ${START.api} (likely cause: another controller or a person changed it back))`);
    expect(target.images).toEqual(START);
  });

  it('a fleet that stays is done after the settle wait, and the done event comes after it', async () => {
    const { d, events, target, marks, logger, req } = setup(30_000);
    const out = await runRollback(d, req);
    expect(out.exitCode).toBe(0);
    expect(target.images).toEqual(PLANNED);
    expect(marks.indexOf('sleep 30000')).toBeGreaterThan(-1);
    expect(marks.indexOf('sleep 30000')).toBeLessThan(marks.indexOf('event done'));
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
    expect(logger.lines.join('\n')).toMatch(/Settled: every changed service still runs its new image after 30s\./);
  });

  it('settle 0 (and no settle at all) turns the check off', async () => {
    for (const settleMs of [0, undefined]) {
      const { d, target, marks, req } = setup(settleMs);
      target.heal.set('db', 1);
      const out = await runRollback(d, req);
      expect(out.exitCode).toBe(0);
      expect(marks.filter((m) => m.startsWith('sleep'))).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
      dir = mkdtempSync(join(tmpdir(), 'rollback-settle-'));
    }
  });

  it('an atomic target (GitOps deployAll) is checked too, and put back in one change', async () => {
    const { d, target, req } = setup(30_000);
    const commits: string[][] = [];
    Object.assign(target, {
      deployAll: async (changes: { service: ServiceConfig; image: string }[]) => {
        commits.push(changes.map((c) => c.service.name));
        for (const c of changes) await target.deploy(c.service, c.image);
      },
    });
    target.heal.set('web', 20_000);
    const out = await runRollback(d, req);
    expect(out.exitCode).toBe(1);
    expect(out.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \(web: moved away from .* within 30s of becoming healthy: it runs .*\); every changed service was put back \(api, db, auth\)\.$/);
    expect(commits).toEqual([['api', 'web', 'db', 'auth'], ['api', 'db', 'auth']]);
    expect(target.images).toEqual(START);
  });

  it('applies to undo: an undo the controller reverts fails and leaves the fleet as the run left it', async () => {
    const { d, target, req } = setup(30_000);
    expect((await runRollback(d, req)).exitCode).toBe(0);
    target.heal.set('auth', 3_000);
    const u = await undoRollback(d, { ...req, approver: 'bob' });
    expect(u.exitCode).toBe(1);
    expect(u.summary).toMatch(new RegExp(`^Undo of prod \\(snapshot .*\\) failed \\(auth: moved away from ${START.auth.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} within 30s`));
    expect(target.images).toEqual(PLANNED);
  });

  it('a service that cannot be read after the wait is a failure too', async () => {
    const { d, target, req } = setup(2_000);
    const orig = target.current.bind(target);
    let t0 = 0;
    target.current = async (s) => {
      if (s.name === 'web' && target.calls.filter((c) => c === 'sleep-done').length) throw new Error('connection refused');
      return orig(s);
    };
    const sleep = d.sleep!;
    d.sleep = async (ms) => { await sleep(ms); if (ms === 2_000) target.calls.push('sleep-done'); t0 += ms; };
    const out = await runRollback(d, req);
    expect(out.exitCode).not.toBe(0);
    expect(out.summary).toMatch(/web: could not be read again after settling 2s \(.*connection refused/);
    expect(t0).toBeGreaterThanOrEqual(2_000);
  });
});
