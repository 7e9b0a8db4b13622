/**
 * Undo without a snapshot, from a target's own history: the net effect of the last run in the
 * docker history file (lastRun, pure), and the engine's undo from Target.lastChanges against an
 * in-memory target that keeps such a history (all or nothing, refusals, its own snapshot, an
 * interrupted undo finished). The real engine end to end is test/integration/docker-undo-history.test.ts.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceConfig } from '../../src/config/types';
import { HISTORY_SCHEMA_VERSION, lastRun, type History, type HistoryEntry } from '../../src/targets/docker/history';
import { runRollback, undoRollback, type EngineDeps } from '../../src/run/engine';
import { latestSnapshotFile, readSnapshot, runsDir } from '../../src/run/snapshot';
import type { RememberedRun } from '../../src/targets/types';
import { CATALOG, FakeTarget, NAMES, PLANNED, SERVICES, START } from '../doubles/memory-target';
import { engineDeps } from '../support/engine-deps';

const entry = (container: string, replaced: string, by: string, run?: string, at = '2026-11-21T10:00:00.000Z'): HistoryEntry =>
  ({ at, service: container, container, replaced, by, ...(run ? { run } : {}) });
const history = (...entries: HistoryEntry[]): History => ({ schemaVersion: HISTORY_SCHEMA_VERSION, host: 'unix:///var/run/docker.sock', entries });
const ours = new Map([['shop-api', 'api'], ['shop-web', 'web']]);

describe('lastRun: the net effect of the last run in a docker history file', () => {
  it('takes only the last run of these containers, first image before to last image after', () => {
    const h = history(
      entry('shop-api', 'api:1', 'api:2', 'r1'),
      entry('shop-web', 'web:1', 'web:2', 'r2'),
      entry('shop-api', 'api:2', 'api:3', 'r2'),
      entry('shop-api', 'api:3', 'api:4', 'r2', '2026-11-21T11:00:00.000Z'),
      entry('other-db', 'db:1', 'db:2', 'r3'), // another environment's container on the same host
    );
    expect(lastRun(h, ours)).toEqual({
      run: 'r2', at: '2026-11-21T11:00:00.000Z',
      changes: [
        { service: 'web', container: 'shop-web', before: 'web:1', after: 'web:2', at: '2026-11-21T10:00:00.000Z' },
        { service: 'api', container: 'shop-api', before: 'api:2', after: 'api:4', at: '2026-11-21T11:00:00.000Z' },
      ],
    });
  });

  it('a change put back within its run cancels out; digests compare as images', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const h = history(entry('shop-api', 'r/api:1', 'r/api:2', 'r1'), entry('shop-api', `r/api:2@${d}`, 'r/api:1', 'r2'), entry('shop-api', 'r/api:1', `r/api:2@${d}`, 'r2'));
    expect(lastRun(h, ours)).toEqual({ run: 'r2', at: '2026-11-21T10:00:00.000Z', changes: [] });
  });

  it('nothing recorded for these containers is undefined; entries without a run mark are runs of their own', () => {
    expect(lastRun(history(), ours)).toBeUndefined();
    expect(lastRun(history(entry('other-db', 'db:1', 'db:2', 'r1')), ours)).toBeUndefined();
    const legacy = lastRun(history(entry('shop-web', 'web:1', 'web:2', undefined, 'T1'), entry('shop-api', 'api:1', 'api:2', undefined, 'T2')), ours);
    expect(legacy?.changes.map((c) => c.service)).toEqual(['api']);
  });
});

/** The in-memory target keeping a history like the docker target: one entry per healthy replacement, marked with its run; a failed one is put back at once. */
class HistoryTarget extends FakeTarget {
  static seq = 0;
  readonly mark = `run-${++HistoryTarget.seq}`;
  constructor(readonly kept: History = history(), images?: Record<string, string>) {
    super();
    if (images) this.images = { ...images };
  }
  private before = new Map<string, string>();
  override async deploy(s: ServiceConfig, image: string) {
    this.before.set(s.name, this.images[s.name]);
    await super.deploy(s, image);
  }
  override async waitHealthy(s: ServiceConfig, image: string) {
    const was = this.before.get(s.name);
    try {
      await super.waitHealthy(s, image);
    } catch (err) {
      // As the docker target does: a replacement that fails brings the old container back, and is not recorded.
      if (was !== undefined) this.images[s.name] = was;
      this.before.delete(s.name);
      throw err;
    }
    if (was !== undefined && was !== image) this.kept.entries.push(entry(s.name, was, image, this.mark));
    this.before.delete(s.name);
  }
  async lastChanges(services: ServiceConfig[]): Promise<RememberedRun> {
    this.calls.push('lastChanges');
    const last = lastRun(this.kept, new Map(services.map((s) => [s.name, s.name])));
    return { source: 'the test history', last: last && { at: last.at, changes: last.changes.map(({ service, before, after }) => ({ service, before, after })) } };
  }
}

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-undo-history-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const deps = (target: FakeTarget, extra: Partial<EngineDeps> = {}) => engineDeps(target, dir, extra);
const common = { environment: 'prod', services: SERVICES, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 5000 };
const run = (target: FakeTarget) => runRollback(deps(target).d, { ...common, approver: 'alice', catalog: CATALOG, date: '2026-11-18' });
const wipeSnapshots = () => rmSync(runsDir(dir), { recursive: true, force: true });
/** A run to 2026-11-18 recorded in a fresh history, then the snapshots gone (a wiped workspace); returns the history. */
async function ranThenWiped(): Promise<History> {
  const kept = history();
  expect((await run(new HistoryTarget(kept))).exitCode).toBe(0);
  wipeSnapshots();
  return kept;
}

describe('undo from the target\'s own history when no snapshot exists', () => {
  it('puts back what the last run replaced, with its own snapshot, notifications and lock; undo again redoes it', async () => {
    const kept = await ranThenWiped();
    // Another worker process (another agent): a new target instance over the same history.
    const target = new HistoryTarget(kept, PLANNED);
    const { d, events, logger } = deps(target);
    const out = await undoRollback(d, common);
    expect(out.exitCode).toBe(0);
    expect(out.summary).toBe('Undo of prod (the test history): 4 services put back (api, web, db, auth), approved by bob.');
    expect(target.images).toEqual(START);
    expect(logger.lines.join('\n')).toContain('No snapshot of prod: undoing the last change recorded in the test history (at ');
    expect(events.map((e) => e.type).filter((x) => x === 'started' || x === 'done')).toEqual(['started', 'done']);
    const snap = readSnapshot(out.snapshot!);
    expect([snap.action, snap.undoesHistory, snap.undoes]).toEqual(['undo', 'the test history', undefined]);
    expect(snap.services.map((s) => [s.service, s.before, s.after, s.state])).toEqual(NAMES.map((n) => [n, PLANNED[n], START[n], 'done']));
    expect(readdirSync(join(dir, 'locks'))).toEqual([]);

    wipeSnapshots();
    const again = new HistoryTarget(kept, START);
    expect((await undoRollback(deps(again).d, common)).exitCode).toBe(0);
    expect(again.images).toEqual(PLANNED);
  });

  it('a failure midway puts back every service it changed (all or nothing), and says so', async () => {
    const kept = await ranThenWiped();
    const target = new HistoryTarget(kept, PLANNED);
    target.unhealthy.set('db', START.db);
    const out = await undoRollback(deps(target).d, { ...common, parallel: 1 });
    expect(out.exitCode).toBe(1);
    expect(out.summary).toMatch(/^Undo of prod \(the test history\) failed \(db: .*db did not become healthy\); every changed service was put back \(api, web(, db)?\)\.$/);
    expect(target.images).toEqual(PLANNED);
    // That failed undo cancelled out in the history: undoing again finds nothing to do.
    wipeSnapshots();
    const next = await undoRollback(deps(new HistoryTarget(kept, PLANNED)).d, common);
    expect(next).toMatchObject({ exitCode: 0, summary: expect.stringMatching(/^Nothing to undo: the last change recorded in the test history \(at .*\) left every service as it was\.$/) });
  });

  it('refuses, changing nothing, when a service was changed by other means since', async () => {
    const kept = await ranThenWiped();
    const target = new HistoryTarget(kept, { ...PLANNED, web: 'reg.example:5000/shop/web:hand-made' });
    await expect(undoRollback(deps(target).d, common)).rejects.toMatchObject({
      kind: 'failed',
      message: `Preflight: web runs reg.example:5000/shop/web:hand-made, not ${PLANNED.web} that the last change recorded in the test history put in place; it was changed by other means since, so undo cannot tell what to put back; nothing was changed.`,
    });
    expect(target.calls.filter((c) => c.startsWith('deploy'))).toEqual([]);
    expect(latestSnapshotFile(dir, 'prod')).toBeUndefined();
  });

  it('refuses while any service of the environment is busy, even one the history does not name (a change killed midway records nothing)', async () => {
    const kept = await ranThenWiped();
    kept.entries = kept.entries.filter((e) => e.container !== 'auth');
    const target = new HistoryTarget(kept, PLANNED);
    target.busyAlways.add('auth');
    await expect(undoRollback(deps(target, { busyWaitMs: 10_000 }).d, common)).rejects.toMatchObject({
      kind: 'failed', message: 'Preflight: auth is deploying (waited 10s); nothing was changed.',
    });
    expect(target.images).toEqual(PLANNED);
  });

  it('with neither snapshot nor history, or a target without history: one sentence, exit 2', async () => {
    const none = new HistoryTarget();
    await expect(undoRollback(deps(none).d, common)).rejects.toMatchObject({
      kind: 'input', message: expect.stringMatching(/^There is no snapshot of prod under .*, and the test history records no change of its services; nothing to undo \(pass --snapshot FILE, or --catalog beside the state directory\)\.$/),
    });
    await expect(undoRollback(deps(new FakeTarget()).d, common)).rejects.toMatchObject({ kind: 'input', message: expect.stringMatching(/^There is no snapshot of prod under .*; nothing to undo \(pass/) });
  });

  it('a snapshot, when there is one, wins over the history; a dry run changes nothing', async () => {
    const kept = history();
    const target = new HistoryTarget(kept);
    await run(target);
    target.calls = [];
    const dry = await undoRollback(deps(target).d, { ...common, dryRun: true });
    expect(dry.summary).toMatch(/^Dry run of Undo of prod \(snapshot .*-run-\d+\.json\): 4 services would be put back/);
    expect(target.calls).not.toContain('lastChanges');
    wipeSnapshots();
    expect((await undoRollback(deps(target).d, { ...common, dryRun: true })).summary).toMatch(/^Dry run of Undo of prod \(the test history\): 4 services would be put back/);
    expect(target.images).toEqual(PLANNED);
  });

  it('an undo from history that was killed is finished from its snapshot, not undone', async () => {
    const kept = await ranThenWiped();
    const killed = new HistoryTarget(kept, PLANNED);
    killed.hangAt = 2; // the third change never returns: the worker died there
    void undoRollback(deps(killed, { lock: { pid: 999_999_999, alive: () => false } }).d, { ...common, parallel: 1 });
    const deploys = () => killed.calls.filter((c) => c.startsWith('deploy')).length;
    for (let i = 0; i < 50 && deploys() < 3; i++) await new Promise((r) => setImmediate(r));
    expect(deploys()).toBe(3);
    const snap = readSnapshot(latestSnapshotFile(dir, 'prod')!);
    expect([snap.action, snap.finishedAt, snap.services.filter((s) => s.state === 'done').length]).toEqual(['undo', undefined, 2]);
    // A new worker: the killed one's lock names a process that is gone.
    const target = new HistoryTarget(kept, { ...killed.images });
    const { d, logger } = deps(target);
    const out = await undoRollback(d, common);
    expect(logger.lines.join('\n')).toContain('The last undo of prod (from the test history) did not finish; finishing it.');
    expect(out.exitCode).toBe(0);
    expect(target.images).toEqual(START);
  });
});
