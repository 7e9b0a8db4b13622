/**
 * All or nothing, as a property: for random faults (refused changes, unhealthy images, refused
 * put-backs) at random services and random parallelism, the run ends either with the fleet
 * exactly at the plan (exit 0), exactly as it was (exit 1), or with exit 3 and a message naming
 * every service whose state differs from both, in words that match what the target runs.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log';
import { runRollback } from '../../src/run/engine';
import { readSnapshot } from '../../src/run/snapshot';
import { CATALOG, FakeTarget, NAMES, PLANNED, SERVICES, START } from '../doubles/memory-target';

const faultArb = fc.constantFrom('none', 'refuse', 'unhealthy', 'refuse-back', 'unhealthy-back', 'both');

describe('run engine: all or nothing over random faults', () => {
  it('ends at the plan, as it was, or exit 3 naming the services left in between', async () => {
    await fc.assert(fc.asyncProperty(fc.array(faultArb, { minLength: NAMES.length, maxLength: NAMES.length }), fc.integer({ min: 1, max: 4 }), async (faults, parallel) => {
      const dir = mkdtempSync(join(tmpdir(), 'rollback-prop-'));
      try {
        const target = new FakeTarget();
        faults.forEach((f, i) => {
          const n = NAMES[i];
          if (f === 'refuse' || f === 'both') target.failDeploy.set(n, PLANNED[n]);
          if (f === 'unhealthy') target.unhealthy.set(n, PLANNED[n]);
          if (f === 'refuse-back') target.failDeploy.set(n, START[n]);
          if (f === 'unhealthy-back') target.unhealthy.set(n, START[n]);
          if (f === 'both') target.unhealthy.set(n, START[n]);
        });
        let t = 0;
        const out = await runRollback(
          { target, logger: createLogger({ quiet: true, write: () => {} }), stateDir: dir, imageExists: async () => true, now: () => new Date(t), sleep: async (ms) => { t += ms; } },
          { environment: 'prod', services: SERVICES, approver: 'alice', dryRun: false, parallel, deployTimeoutMs: 1000, catalog: CATALOG, date: '2026-11-18' },
        );
        const forward = faults.some((f) => f === 'refuse' || f === 'unhealthy' || f === 'both');
        if (out.exitCode === 0) {
          expect(forward).toBe(false);
          expect(target.images).toEqual(PLANNED);
        } else if (out.exitCode === 1) {
          expect(forward).toBe(true);
          expect(target.images).toEqual(START);
          expect(out.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \(\w+: .*\); (every changed service was put back \([\w, ]+\)|nothing was changed)\.$/);
        } else {
          expect(out.exitCode).toBe(3);
          // Every service not back where it was is named as NOT put back, and the snapshot agrees.
          const snap = readSnapshot(out.snapshot!);
          for (const n of NAMES) {
            if (target.images[n] !== START[n]) {
              expect(out.summary).toContain(`${n} NOT put back`);
              expect(snap.services.find((s) => s.service === n)!.state).toBe('revert-failed');
            }
          }
          for (const s of out.services) expect(out.summary).toContain(`${s.service} ${s.state}`);
        }
        // Nothing is ever left at an image that is neither the old one nor the planned one.
        for (const n of NAMES) expect([START[n], PLANNED[n]]).toContain(target.images[n]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }), { numRuns: 60 });
  });
});
