/**
 * The run engine against an in-memory target (the Target interface is all it knows), with faults
 * at every position: all-or-nothing, put-back failures, re-runs, undo, interrupted runs, dry run,
 * preflight and notifier failures. Real files for snapshots and locks, in a temp dir.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceConfig } from '../../src/config/types';
import { runRollback, undoRollback, type EngineDeps } from '../../src/run/engine';
import { latestSnapshotFile, readSnapshot } from '../../src/run/snapshot';
import { CATALOG, dg, FakeTarget, NAMES, PLANNED, SERVICES, START } from '../doubles/memory-target';
import { engineDeps } from '../support/engine-deps';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-engine-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const deps = (target: FakeTarget, extra: Partial<EngineDeps> = {}) => engineDeps(target, dir, extra);

const req = (over: Partial<Parameters<typeof runRollback>[1]> = {}) => ({
  environment: 'prod', services: SERVICES, approver: 'alice', dryRun: false, parallel: 2, deployTimeoutMs: 5000, catalog: CATALOG, date: '2026-11-18', ...over,
});

describe('run engine', () => {
  it('rolls every service to the planned image, then a re-run changes nothing', async () => {
    const target = new FakeTarget();
    const { d, events } = deps(target);
    const out = await runRollback(d, req());
    expect(out.exitCode).toBe(0);
    expect(target.images).toEqual(PLANNED);
    expect(out.summary).toBe('Rollback of prod to 2026-11-18: 4 services changed (api, web, db, auth), approved by alice.');
    expect(events.map((e) => e.type).filter((t) => t === 'started' || t === 'done')).toEqual(['started', 'done']);
    const snap = readSnapshot(out.snapshot!);
    expect(snap.services.map((s) => [s.service, s.before, s.state])).toEqual(NAMES.map((n) => [n, START[n], 'done']));

    target.calls = [];
    const again = await runRollback(deps(target).d, req());
    expect(again.exitCode).toBe(0);
    expect(again.summary).toMatch(/^Nothing to do/);
    expect(target.calls.filter((c) => c.startsWith('deploy'))).toEqual([]);
  });

  for (const parallel of [1, 3]) {
    for (const [pos, name] of NAMES.entries()) {
      it(`a failure of service #${pos + 1} (${name}), parallel ${parallel}, leaves the fleet exactly as it was`, async () => {
        const target = new FakeTarget();
        if (pos % 2 === 0) target.failDeploy.set(name, PLANNED[name]);
        else target.unhealthy.set(name, PLANNED[name]); // accepted, then unhealthy: counts as changed
        const { d } = deps(target);
        const out = await runRollback(d, req({ parallel }));
        expect(out.exitCode).toBe(1);
        expect(target.images).toEqual(START);
        expect(out.summary).toMatch(new RegExp(`^Rollback of prod to 2026-11-18 failed \\(${name}: .*\\); (every changed service was put back|nothing was changed)`));
        // No service was started after the failure was known (parallel 1: exactly those before it).
        if (parallel === 1) expect(target.calls.filter((c) => c.startsWith(`deploy`) && c.endsWith('1-prod@' + dg(`${c.split(' ')[1]}1`))).length).toBe(pos + 1);
      });
    }
  }

  it('says exit 3 and names every service and its state when putting back fails', async () => {
    const target = new FakeTarget();
    target.unhealthy.set('db', PLANNED.db);
    target.failDeploy.set('api', START.api); // cannot go back
    const { d, events } = deps(target);
    const out = await runRollback(d, req({ parallel: 1 }));
    expect(out.exitCode).toBe(3);
    expect(out.summary).toContain('could not be fully put back');
    expect(out.summary).toMatch(/api NOT put back \(may run .*1-prod.*should run .*2-prod/);
    expect(out.summary).toMatch(/web put back/);
    expect(out.summary).toMatch(/db put back/);
    expect(out.summary).toMatch(/auth untouched/);
    expect(events.find((e) => e.type === 'partial')).toBeDefined();
    expect(readSnapshot(out.snapshot!).outcome).toBe('partial');
  });

  it('undo puts back what the run replaced, and undo again redoes it (undo can be undone)', async () => {
    const target = new FakeTarget();
    await runRollback(deps(target).d, req());
    expect(target.images).toEqual(PLANNED);
    const u = await undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
    expect(u.exitCode).toBe(0);
    expect(target.images).toEqual(START);
    const again = await undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
    expect(again.exitCode).toBe(0);
    expect(target.images).toEqual(PLANNED);
  });

  it('undo says plainly when there is nothing to undo, or the snapshot is of another environment', async () => {
    const target = new FakeTarget();
    const undo = (over = {}) => undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000, ...over });
    await expect(undo()).rejects.toThrow(/^There is no snapshot of prod under .*; nothing to undo/);
    const out = await runRollback(deps(target).d, req());
    await expect(undo({ environment: 'stage' })).rejects.toThrow(/^There is no snapshot of stage/);
    await expect(undoRollback(deps(target).d, { environment: 'stage', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000, snapshot: out.snapshot })).rejects.toThrow(/is of environment prod, not stage\.$/);
    target.images = { ...START }; // someone put it all back by hand
    const nothing = await undo();
    expect(nothing.exitCode).toBe(0);
    expect(nothing.summary).toMatch(/^Nothing to undo: every service that run changed already runs what .* recorded\.$/);
    const dry = await (target.images = { ...PLANNED }, undo({ dryRun: true }));
    expect(dry.summary).toMatch(/^Dry run of Undo of prod .*: 4 services would be put back \(api, web, db, auth\); nothing was changed\.$/);
    expect(target.images).toEqual(PLANNED);
  });

  it('a dry run plans, checks and locks, and changes nothing and writes no snapshot', async () => {
    const target = new FakeTarget();
    const out = await runRollback(deps(target).d, req({ dryRun: true }));
    expect(out.exitCode).toBe(0);
    expect(out.summary).toBe('Dry run of Rollback of prod to 2026-11-18: 4 services would change (api, web, db, auth); preflight passed; nothing was changed.');
    expect(target.images).toEqual(START);
    expect(target.calls.some((c) => c.startsWith('deploy'))).toBe(false);
    expect(latestSnapshotFile(dir, 'prod')).toBeUndefined();
  });

  it('preflight: a target image gone from the registry stops the run before any change', async () => {
    const target = new FakeTarget();
    const { d } = deps(target, { imageExists: async (i) => i.service !== 'db' });
    await expect(runRollback(d, req())).rejects.toThrow(/^Preflight: .*shop\/db:1-prod@sha256:.* \(service db\) is no longer in the registry; nothing was changed\.$/);
    expect(target.images).toEqual(START);
  });

  it('preflight: a change the target refuses (Target.refuse) stops the run and the undo before any change, naming the first in plan order', async () => {
    const target = new FakeTarget();
    target.refusals.set('db', 'db is managed by Argo CD application shop, which would put it back; roll back through the GitOps target');
    target.refusals.set('auth', 'auth is a job');
    const out = runRollback(deps(target).d, req());
    await expect(out).rejects.toThrow('Preflight: db is managed by Argo CD application shop, which would put it back; roll back through the GitOps target; nothing was changed.');
    expect(target.images).toEqual(START);
    expect(target.calls.filter((c) => c.startsWith('deploy'))).toEqual([]);
    expect(target.calls).toContain(`refuse? api ${PLANNED.api}`);

    target.refusals.clear();
    const done = await runRollback(deps(target).d, req());
    expect(done.exitCode).toBe(0);
    target.refusals.set('web', 'web is held by a controller');
    target.calls = [];
    await expect(undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 }))
      .rejects.toThrow('Preflight: web is held by a controller; nothing was changed.');
    expect(target.images).toEqual(PLANNED);
  });

  it('preflight waits for a deployment in flight, and refuses (bounded) when it stays', async () => {
    const target = new FakeTarget();
    target.busyOnce.add('web');
    expect((await runRollback(deps(target).d, req())).exitCode).toBe(0);
    const t2 = new FakeTarget();
    t2.busyAlways.add('web');
    await expect(runRollback(deps(t2, { busyWaitMs: 10_000 }).d, req())).rejects.toThrow('Preflight: web is deploying (waited 10s); nothing was changed.');
    expect(t2.images).toEqual(START);
  });

  it('preflight asks the services whether they are busy `parallel` at a time, and names the first problem in plan order', async () => {
    const target = new FakeTarget();
    const asked = target.busy.bind(target);
    let inFlight = 0;
    let peak = 0;
    target.busy = async (s) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return asked(s);
    };
    target.busyAlways.add('auth');
    target.busyAlways.add('web');
    await expect(runRollback(deps(target, { busyWaitMs: 10_000 }).d, req({ parallel: 3 }))).rejects.toThrow('Preflight: web is deploying (waited 10s); nothing was changed.');
    expect(peak).toBe(3);
    expect(target.images).toEqual(START);
  });

  it('a failing notifier is a warning, never a failed rollback', async () => {
    const target = new FakeTarget();
    const { d, logger } = deps(target, { notifier: { name: 'Slack', notify: async () => { throw new Error('webhook down'); } } });
    expect((await runRollback(d, req())).exitCode).toBe(0);
    expect(logger.lines.some((l) => l.startsWith('warning: notification (started) failed'))).toBe(true);
  });

  it('a second run of the same environment waits for the first, then refuses naming it; nothing of its own is changed', async () => {
    const target = new FakeTarget();
    target.hangAt = 1; // the first run stays in the middle of its second change
    void runRollback(deps(target).d, req({ parallel: 1 }));
    for (let i = 0; i < 50 && !target.calls.some((c) => c.startsWith('deploy web')); i++) await new Promise((r) => setImmediate(r));
    const calls = target.calls.length;
    const second = deps(target, { lock: { waitMs: 3000, pollMs: 1000 } });
    await expect(runRollback(second.d, req())).rejects.toThrow(/^Environment prod is locked by rollback run --date 2026-11-18 of \S+ \(pid \d+ on \S+\) since 2026-11-21T03:00:00\.000Z; waited 3s, nothing was changed\.$/);
    expect(second.logger.lines[0]).toMatch(/^Waiting for the lock on prod: held by rollback run --date 2026-11-18/);
    expect(target.calls.length).toBe(calls);
  });

  it('warns about a configured service the catalog does not know, and leaves it alone', async () => {
    const target = new FakeTarget();
    const { d, logger } = deps(target);
    const out = await runRollback(d, req({ services: [...SERVICES, { name: 'mail', repository: 'shop/mail' }] }));
    expect(out.exitCode).toBe(0);
    expect(logger.lines).toContain("warning: Service mail is in the configuration but not in the catalog, so it is left as it is; run 'rollback get' again to include it.");
    expect(target.calls.some((c) => c.includes('mail'))).toBe(false);
  });

  it('refuses an unknown date with the valid ones, before touching the target', async () => {
    const target = new FakeTarget();
    await expect(runRollback(deps(target).d, req({ date: '2026-11-19' }))).rejects.toThrow('Date 2026-11-19 is not a rollback point of prod; valid dates: 2026-11-20, 2026-11-18.');
    expect(target.calls).toEqual([]);
  });

  // A killed worker, simulated: the k-th change never returns and the process is "gone" (its
  // lock names a dead pid). Then undo restores the fleet, or a re-run finishes the job.
  const steps = NAMES.length;
  for (let k = 0; k < steps; k++) {
    for (const afterApply of [false, true]) {
      it(`killed at change ${k + 1}${afterApply ? ' (after the target applied it)' : ''}: undo restores, a re-run completes`, async () => {
        for (const then of ['undo', 'rerun'] as const) {
          rmSync(dir, { recursive: true, force: true });
          const target = new FakeTarget();
          target.hangAt = k;
          target.hangAfterApply = afterApply;
          const dead = deps(target, { lock: { pid: 999_999_999, alive: () => false } });
          void runRollback(dead.d, req({ parallel: 1 }));
          await new Promise((r) => setImmediate(r));
          for (let i = 0; i < 20 && !target.calls.includes(`deploy ${NAMES[k]} ${PLANNED[NAMES[k]]}`); i++) await new Promise((r) => setImmediate(r));
          target.hangAt = -1;
          const interrupted = readSnapshot(latestSnapshotFile(dir, 'prod')!);
          expect(interrupted.finishedAt).toBeUndefined();
          expect(interrupted.services[k].state).toBe('deploying');
          if (then === 'undo') {
            const out = await undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
            expect(out.exitCode).toBe(0);
            expect(target.images).toEqual(START);
          } else {
            const out = await runRollback(deps(target).d, req());
            expect(out.exitCode).toBe(0);
            expect(target.images).toEqual(PLANNED);
            // The new snapshot still knows what the fleet ran before the first attempt.
            const snap = readSnapshot(out.snapshot!);
            expect(Object.fromEntries(snap.services.map((s) => [s.service, s.before]))).toEqual(Object.fromEntries(NAMES.slice(0, snap.services.length).map((n) => [n, START[n]])));
            const u = await undoRollback(deps(target).d, { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 });
            expect(u.exitCode).toBe(0);
            expect(target.images).toEqual(START);
          }
        }
      });
    }
  }

  it('an interruption (SIGTERM) stops new services and puts back what changed', async () => {
    const target = new FakeTarget();
    const controller = new AbortController();
    const orig = target.waitHealthy.bind(target);
    target.waitHealthy = async (s, image) => {
      if (s.name === 'web') controller.abort('SIGTERM');
      return orig(s, image);
    };
    const out = await runRollback(deps(target, { signal: controller.signal }).d, req({ parallel: 1 }));
    expect(out.exitCode).toBe(1);
    expect(out.summary).toBe('Rollback of prod to 2026-11-18 failed (interrupted by SIGTERM); every changed service was put back (api, web).');
    expect(target.images).toEqual(START);
    expect(target.calls.filter((c) => c.startsWith('deploy db') || c.startsWith('deploy auth'))).toEqual([]);
  });

  it('an atomic target (GitOps) gets one change for the fleet, and one to put it back', async () => {
    const target = new FakeTarget();
    const commits: string[][] = [];
    const atomic = Object.assign(target, {
      deployAll: async (changes: { service: ServiceConfig; image: string }[]) => {
        commits.push(changes.map((c) => c.service.name));
        for (const c of changes) target.images[c.service.name] = c.image;
      },
    });
    expect((await runRollback(deps(atomic).d, req())).exitCode).toBe(0);
    expect(commits).toEqual([NAMES]);
    expect(target.images).toEqual(PLANNED);
    expect(target.calls.some((c) => c.startsWith('deploy '))).toBe(false);

    target.images = { ...START };
    commits.length = 0;
    target.unhealthy.set('db', PLANNED.db);
    const out = await runRollback(deps(atomic).d, req());
    expect(out.exitCode).toBe(1);
    expect(out.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \(db: Unexpected error: db did not become healthy\); every changed service was put back \(api, web, db, auth\)\.$/);
    expect(commits).toEqual([NAMES, NAMES]);
    expect(target.images).toEqual(START);
  });

  it('keeps snapshots as files under runs/ with a pointer to the latest', async () => {
    const target = new FakeTarget();
    const out = await runRollback(deps(target).d, req());
    const files = readdirSync(join(dir, 'runs'));
    expect(files).toContain('prod-latest.json');
    expect(JSON.parse(readFileSync(join(dir, 'runs', 'prod-latest.json'), 'utf8')).snapshot).toBe(out.snapshot!.split('/').pop());
  });
});
