import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RollbackError } from '../../src/errors';
import { acquireLock, processAlive } from '../../src/run/lock';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-lock-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fakeTime = () => {
  let t = Date.parse('2026-11-21T03:00:00Z');
  return { now: () => new Date(t), sleep: async (ms: number) => { t += ms; } };
};

describe('environment lock', () => {
  it('lets one run hold it; a second waits (bounded) and refuses naming holder and since when', async () => {
    const first = await acquireLock({ stateDir: dir, environment: 'prod', command: 'rollback run --date 2026-11-18', user: 'alice', ...fakeTime() });
    const held = JSON.parse(readFileSync(first.file, 'utf8'));
    expect(held).toMatchObject({ pid: process.pid, user: 'alice', command: 'rollback run --date 2026-11-18' });
    const waits: string[] = [];
    const err = await acquireLock({ stateDir: dir, environment: 'prod', command: 'rollback undo', waitMs: 5000, ...fakeTime(), onWait: (h) => waits.push(h.user) }).catch((e) => e);
    expect(err).toBeInstanceOf(RollbackError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(`Environment prod is locked by rollback run --date 2026-11-18 of alice (pid ${process.pid} on ${held.host}) since ${held.since}; waited 5s, nothing was changed.`);
    expect(waits).toEqual(['alice']);
    // Another environment is independent.
    const stage = await acquireLock({ stateDir: dir, environment: 'stage', command: 'x', ...fakeTime() });
    stage.release();
    first.release();
    expect(existsSync(first.file)).toBe(false);
    const again = await acquireLock({ stateDir: dir, environment: 'prod', command: 'y', ...fakeTime() });
    again.release();
  });

  it('gets the lock once the holder releases it while waiting', async () => {
    const first = await acquireLock({ stateDir: dir, environment: 'prod', command: 'a', ...fakeTime() });
    let polls = 0;
    const t = fakeTime();
    const second = await acquireLock({ stateDir: dir, environment: 'prod', command: 'b', now: t.now, sleep: async (ms) => { await t.sleep(ms); if (++polls === 3) first.release(); } });
    expect(polls).toBe(3);
    expect(JSON.parse(readFileSync(second.file, 'utf8')).command).toBe('b');
    second.release();
  });

  it('takes over a stale lock whose process is gone, and says whose it was', async () => {
    const host = hostname();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    const stale = { pid: 999_999_999, host, user: 'carol', since: '2026-11-20T01:00:00.000Z', command: 'rollback run --date 2026-11-18' };
    writeFileSync(join(dir, 'locks', 'prod.lock'), JSON.stringify(stale));
    expect(processAlive(999_999_999)).toBe(false);
    const lock = await acquireLock({ stateDir: dir, environment: 'prod', command: 'rollback run', ...fakeTime() });
    expect(lock.tookOver).toEqual(stale);
    expect(JSON.parse(readFileSync(lock.file, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('two waiters racing for one stale lock: exactly one wins at a time', async () => {
    const host = hostname();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', 'prod.lock'), JSON.stringify({ pid: 999_999_999, host, user: 'x', since: 's', command: 'c' }));
    const a = acquireLock({ stateDir: dir, environment: 'prod', command: 'a', pid: 111, alive: (p) => p !== 999_999_999, waitMs: 2000, ...fakeTime() });
    const b = acquireLock({ stateDir: dir, environment: 'prod', command: 'b', pid: 222, alive: (p) => p !== 999_999_999, waitMs: 2000, ...fakeTime() });
    const results = await Promise.allSettled([a, b]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message).toMatch(/is locked by [ab] of /);
  });

  it('a lock held on another host is never taken over; the refusal says how to clear it', async () => {
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', 'prod.lock'), JSON.stringify({ pid: 1, host: 'agent-7', user: 'dave', since: '2026-11-21T02:00:00Z', command: 'rollback run' }));
    await expect(acquireLock({ stateDir: dir, environment: 'prod', command: 'x', waitMs: 1000, ...fakeTime() })).rejects.toThrow(/locked by rollback run of dave \(pid 1 on agent-7\) since 2026-11-21T02:00:00Z; waited 1s, nothing was changed; if that run is gone, delete .*prod\.lock\./);
  });
});
