import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RollbackError } from '../../src/errors';
import { Journal, latestSnapshotFile, readSnapshot, runsDir, type Snapshot } from '../../src/run/snapshot';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rollback-snap-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const base = (over: Partial<Snapshot> = {}): Snapshot => ({
  snapshotVersion: 1, action: 'run', environment: 'prod', date: '2026-11-18', approver: 'alice', target: 't', pid: 1, host: 'h', startedAt: '2026-11-21T03:00:00.000Z',
  services: [{ service: 'api', id: '/a', before: 'r/api:2', after: 'r/api:1@sha256:x', state: 'pending', updatedAt: '' }], ...over,
});

describe('snapshot and journal', () => {
  it('is on disk, with the latest pointer, before anything else happens; every state change is written', () => {
    let t = Date.parse('2026-11-21T03:00:00Z');
    const j = Journal.create(dir, base(), () => new Date(t));
    expect(latestSnapshotFile(dir, 'prod')).toBe(j.file);
    expect(j.file).toBe(join(runsDir(dir), `prod-20261121T030000Z-run-${process.pid}.json`));
    t += 1000;
    j.set('api', 'deploying');
    expect(readSnapshot(j.file).services[0]).toMatchObject({ state: 'deploying', updatedAt: '2026-11-21T03:00:01.000Z' });
    j.set('api', 'failed', 'it broke.');
    j.finish('failed');
    const s = readSnapshot(j.file);
    expect(s.services[0]).toMatchObject({ state: 'failed', error: 'it broke.' });
    expect(s).toMatchObject({ outcome: 'failed', finishedAt: '2026-11-21T03:00:01.000Z' });
    expect(latestSnapshotFile(dir, 'stage')).toBeUndefined();
  });

  it('finds the newest snapshot by name when the pointer is damaged', () => {
    mkdirSync(runsDir(dir), { recursive: true });
    writeFileSync(join(runsDir(dir), 'prod-20261120T010000Z-run-5.json'), JSON.stringify(base()));
    writeFileSync(join(runsDir(dir), 'prod-20261121T010000Z-undo-6.json'), JSON.stringify(base({ action: 'undo' })));
    writeFileSync(join(runsDir(dir), 'prod-latest.json'), '{"snapshot": "../../etc/passwd"}');
    expect(latestSnapshotFile(dir, 'prod')).toBe(join(runsDir(dir), 'prod-20261121T010000Z-undo-6.json'));
  });

  it('refuses a damaged or foreign snapshot in one sentence (exit 2)', () => {
    const f = join(dir, 's.json');
    writeFileSync(f, '{"snapshotVersion": 1, "environment": "prod", "services": [{"service": "api"}]}');
    expect(() => readSnapshot(f)).toThrow(`Snapshot ${f} is not a snapshot this worker wrote (snapshotVersion 1, services with before/after images).`);
    writeFileSync(f, '{"snapshotVersion": 1, "environ');
    expect(() => readSnapshot(f)).toThrow(RollbackError);
    expect(() => readSnapshot(join(dir, 'missing.json'))).toThrow(/does not exist\.$/);
  });
});
