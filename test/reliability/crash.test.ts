/**
 * Kill at every step. A 3-service Marathon rollback (images in the real registry, the Marathon
 * double as the target) runs as a real process, the bundled worker; it is SIGKILLed right after
 * the k-th request it made to Marathon was answered, for EVERY k of an uninterrupted run. After
 * each kill, both ways out are tried, each on its own fresh copy of the situation:
 *   - `rollback undo` puts every service back to the image it ran before the run;
 *   - running the same `rollback run` again finishes the job (and taking over the dead run's lock).
 * The issue-3 suite (test/integration/undo.test.ts) kills after each PUT; this one after every
 * request, GETs and polls included, where a crash leaves a deployment half-known.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { runCli } from '../support/cli';
import { expectOneClearSentence, recordFigures } from '../support/fuzz';
import { FLEET as NAMES, FLEET_DATE as D, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { registryAvailable } from '../support/registry';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const maybe = registryAvailable() ? describe : describe.skip;

maybe('the worker SIGKILLed after each request it makes to Marathon', () => {
  let fleet: MarathonFleet;
  let bundle: WorkerBundle;
  let dir: string;
  let m: MarathonDouble | undefined;
  let child: ChildProcess | undefined;
  /** Requests of one uninterrupted run: the crash points. */
  let steps: string[] = [];
  const tried = { undo: 0, rerun: 0, finishedFirst: 0, halfway: 0 };

  const env = (marathon: MarathonDouble) => fleet.env(marathon);
  const args = (cmd: string, ...rest: string[]) => fleet.args(cmd, ...rest);
  const images = (marathon: MarathonDouble) => fleet.images(marathon);
  const START = () => fleet.start();
  const PLANNED = () => fleet.planned();

  /** `rollback ...` in this process (the way out after a crash); returns exit code and stderr. */
  async function cli(marathon: MarathonDouble, ...a: string[]): Promise<{ code: number; err: string }> {
    const r = await runCli(a, { env: env(marathon), cwd: dir });
    return { code: r.code, err: r.stderr };
  }

  /** A fresh situation: the fleet at its newest images, no runs, no locks. */
  async function fresh(killAt: number): Promise<MarathonDouble> {
    rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
    rmSync(join(dir, '.rollback', 'locks'), { recursive: true, force: true });
    let seen = 0;
    const marathon = await startMarathon({
      deployMs: 10,
      apps: fleet.apps(),
      // Called once the answer went out: the kill lands while the worker handles that answer.
      onRequest: () => {
        if (++seen === killAt) child?.kill('SIGKILL');
      },
    });
    m = marathon;
    return marathon;
  }

  /** `rollback run` as a real process; resolves with 'killed', or its exit code if it ended first. */
  function runWorker(marathon: MarathonDouble): Promise<{ killed: boolean; code: number | null; stderr: string }> {
    const c = spawn(process.execPath, [bundle.file, ...args('run', '--date', D)], { env: env(marathon), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr!.on('data', (d) => { stderr += d; });
    return new Promise((res) => c.on('exit', (code, signal) => res({ killed: signal === 'SIGKILL', code, stderr })));
  }

  const label = (r: { method: string; path: string; query: Record<string, string> }) => `${r.method} ${r.path}${Object.keys(r.query).length ? '?' + new URLSearchParams(r.query) : ''}`;

  beforeAll(async () => {
    bundle = await buildWorkerBundle();
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-crash-', deployTimeout: 20 });
    dir = fleet.dir;
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
    bundle?.remove();
  });

  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await m?.stop();
    m = undefined;
  });

  it('an uninterrupted run sets the crash points: every request it makes to Marathon', async () => {
    const marathon = await fresh(0);
    const run = await runWorker(marathon);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(images(marathon)).toEqual(PLANNED());
    steps = marathon.requests.map(label);
    // Lookup, current images, preflight, then per service GET + PUT + polls: well over one step per service.
    expect(steps.filter((s) => s.startsWith('PUT ')).length).toBe(3);
    expect(steps.length).toBeGreaterThan(6);
  });

  it('after a kill at each step, undo puts every service back to its image before the run', async () => {
    expect(steps.length).toBeGreaterThan(0);
    for (let k = 1; k <= steps.length; k++) {
      const marathon = await fresh(k);
      const run = await runWorker(marathon);
      if (!run.killed) {
        // Timing moved the run's end before step k (fewer polls this time): it completed; undo must still restore.
        expect(run.code).toBe(0);
        tried.finishedFirst++;
      } else {
        tried.undo++;
        // The kills that matter most: some services changed, others not.
        const changed = images(marathon).filter((img, i) => img !== START()[i]).length;
        if (changed > 0 && changed < NAMES.length) tried.halfway++;
      }
      const at = `killed after step ${k} (${label(marathon.requests[k - 1] ?? { method: '?', path: '?', query: {} })})`;
      const undo = await cli(marathon, ...args('undo'));
      const last = undo.err.trim().split('\n').pop() ?? '';
      expectOneClearSentence(last.replace(/^rollback: /, ''), at);
      if (undo.code === 2) {
        // Killed before the snapshot was written: nothing changed, and undo says there is nothing to undo.
        expect({ at, last }).toEqual({ at, last: expect.stringMatching(/There is no snapshot of prod/) });
      } else {
        expect({ at, code: undo.code, err: undo.code === 0 ? '' : undo.err }).toEqual({ at, code: 0, err: '' });
      }
      expect({ at, images: images(marathon) }).toEqual({ at, images: START() });
      // Nothing is left half-deployed once the dust settles.
      expect({ at, inFlight: [...marathon.deployments.values()].filter((d) => d.image !== marathon.running.get(d.affectedApps[0])).length }).toEqual({ at, inFlight: 0 });
      await marathon.stop();
      m = undefined;
    }
    expect(tried.halfway).toBeGreaterThan(0);
  }, 600_000);

  it('after a kill at each step, the same run again finishes the job (and undo after it still restores)', async () => {
    expect(steps.length).toBeGreaterThan(0);
    for (let k = 1; k <= steps.length; k++) {
      const marathon = await fresh(k);
      const run = await runWorker(marathon);
      if (run.killed) tried.rerun++;
      else tried.finishedFirst++;
      const at = `killed after step ${k} (${label(marathon.requests[k - 1] ?? { method: '?', path: '?', query: {} })})`;
      const again = await cli(marathon, ...args('run', '--date', D));
      expect({ at, code: again.code, err: again.code === 0 ? '' : again.err }).toEqual({ at, code: 0, err: '' });
      expect({ at, images: images(marathon) }).toEqual({ at, images: PLANNED() });
      if (run.killed && /Took over|lock/.test(again.err)) expect(again.err).not.toMatch(/is locked by/);
      const undo = await cli(marathon, ...args('undo'));
      expect({ at, code: undo.code, err: undo.code === 0 ? '' : undo.err }).toEqual({ at, code: 0, err: '' });
      expect({ at, images: images(marathon) }).toEqual({ at, images: START() });
      await marathon.stop();
      m = undefined;
    }
  }, 600_000);

  afterAll(() => {
    if (tried.undo + tried.rerun > 0) {
      recordFigures({
        suite: 'crash',
        figures: {
          'crash points (requests of one run)': steps.length,
          'kills then undo': tried.undo,
          'kills then re-run': tried.rerun,
          'kills that left the fleet half changed': tried.halfway,
          'runs that finished before the kill point': tried.finishedFirst,
        },
        summary: `a 3-service Marathon rollback, the bundled worker SIGKILLed after each of its ${steps.length} requests to Marathon; every time undo restored the fleet and a re-run completed it`,
      });
    }
  });
});
