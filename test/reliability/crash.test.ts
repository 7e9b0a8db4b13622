/**
 * Kill at every step. A 3-service Marathon rollback (images in the real registry, the Marathon
 * double as the target) runs as a real process, the bundled worker; it is SIGKILLed right after
 * the k-th request it made to Marathon was answered, for EVERY k of an uninterrupted run. After
 * each kill, both ways out are tried, each on its own fresh copy of the situation:
 *   - `rollback undo` puts every service back to the image it ran before the run;
 *   - running the same `rollback run` again finishes the job (and taking over the dead run's lock).
 * The issue-3 suite (test/integration/undo.test.ts) kills after each PUT; this one after every
 * request, GETs and polls included, where a crash leaves a deployment half-known.
 *
 * Two fleets: a healthy one (the run ends at the plan), and one where web's planned image fails
 * its health checks, so its deployment stays in flight as Marathon keeps it, and the answer to
 * web's PUT is lost on the way back (the worker never learns the deployment id). There the run
 * fails and puts everything back (exit 1); after a kill at any step, undo and the re-run must find
 * that stuck deployment by the journal's intent and supersede it, and the fleet must end as before.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { runCli } from '../support/cli';
import { expectOneClearSentence, suiteFigures } from '../support/fuzz';
import { FLEET as NAMES, FLEET_DATE as D, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { readyOrFail, registryMissing } from '../support/ready';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const maybe = readyOrFail('crash', registryMissing());

interface Scenario {
  name: string;
  /** deployTimeout of its rollback.yml: short where a deployment is stuck on purpose. */
  deployTimeout: number;
  /** Faults planted on each fresh Marathon, given the planned images. */
  faults(marathon: MarathonDouble, planned: string[]): void;
  /** How an uninterrupted run (and a re-run) ends: at the plan (0) or all put back (1). */
  runCode: 0 | 1;
}

const SCENARIOS: Scenario[] = [
  { name: 'a healthy fleet', deployTimeout: 20, faults: () => {}, runCode: 0 },
  {
    name: "web's planned image stuck in deployment (failing health checks), its PUT answer lost",
    deployTimeout: 1,
    faults: (marathon, planned) => {
      marathon.faults['/ds/prod/web'] = { unhealthy: planned[1], reset: { times: 1, afterApply: true } };
    },
    runCode: 1,
  },
];

/** What all scenarios tried, for the figures. */
const tried = { points: 0, undo: 0, rerun: 0, finishedFirst: 0, halfway: 0, stuck: 0, lostAnswers: 0, stuckPoints: 0 };
const { it, record } = suiteFigures('crash');

for (const scenario of SCENARIOS) {
  maybe(`the worker SIGKILLed after each request it makes to Marathon: ${scenario.name}`, () => {
    let fleet: MarathonFleet;
    let bundle: WorkerBundle;
    let dir: string;
    let m: MarathonDouble | undefined;
    let child: ChildProcess | undefined;
    /** Requests of one uninterrupted run: the crash points. */
    let steps: string[] = [];

    const env = (marathon: MarathonDouble) => fleet.env(marathon);
    const args = (cmd: string, ...rest: string[]) => fleet.args(cmd, ...rest);
    const images = (marathon: MarathonDouble) => fleet.images(marathon);
    const START = () => fleet.start();
    const PLANNED = () => fleet.planned();
    /** Where a run of this scenario ends: the plan, or everything put back. */
    const END = () => (scenario.runCode === 0 ? PLANNED() : START());

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
      scenario.faults(marathon, PLANNED());
      m = marathon;
      return marathon;
    }

    /** Counts the faults that fired on a Marathon, then stops it. */
    async function done(marathon: MarathonDouble): Promise<void> {
      tried.stuck += marathon.fired.filter((f) => f.startsWith('stuck ')).length;
      tried.lostAnswers += marathon.fired.filter((f) => f.startsWith('lost-answer ')).length;
      await marathon.stop();
      m = undefined;
    }

    /** No deployment is left in flight once the dust settles (a stuck one would be). */
    const inFlight = (marathon: MarathonDouble) => [...marathon.deployments.values()].filter((d) => d.image !== marathon.running.get(d.affectedApps[0])).length;

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
      fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-crash-', deployTimeout: scenario.deployTimeout });
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
      expect({ code: run.code, stderr: run.code === scenario.runCode ? '' : run.stderr }).toEqual({ code: scenario.runCode, stderr: '' });
      expect(images(marathon)).toEqual(END());
      expect(inFlight(marathon)).toBe(0);
      steps = marathon.requests.filter((r) => r.status !== 0).map(label);
      // Lookup, current images, preflight, then per service GET + PUT + polls: well over one step per service.
      expect(steps.filter((s) => s.startsWith('PUT ')).length).toBeGreaterThanOrEqual(3);
      expect(steps.length).toBeGreaterThan(6);
      tried.points += steps.length;
      if (scenario.runCode === 1) tried.stuckPoints += steps.length;
      await done(marathon);
    });

    it('after a kill at each step, undo puts every service back to its image before the run', async () => {
      expect(steps.length).toBeGreaterThan(0);
      let halfway = 0;
      for (let k = 1; k <= steps.length; k++) {
        const marathon = await fresh(k);
        const run = await runWorker(marathon);
        if (!run.killed) {
          // Timing moved the run's end before step k (fewer polls this time): it completed; undo must still restore.
          expect({ k, code: run.code }).toEqual({ k, code: scenario.runCode });
          tried.finishedFirst++;
        } else {
          tried.undo++;
          // The kills that matter most: some services changed, others not.
          const changed = images(marathon).filter((img, i) => img !== START()[i]).length;
          if (changed > 0 && changed < NAMES.length) halfway++;
        }
        const at = `killed after step ${k} (${label(marathon.requests.filter((r) => r.status !== 0)[k - 1] ?? { method: '?', path: '?', query: {} })})`;
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
        // Nothing is left half-deployed once the dust settles: a stuck deployment was superseded.
        expect({ at, inFlight: inFlight(marathon) }).toEqual({ at, inFlight: 0 });
        await done(marathon);
      }
      expect(halfway).toBeGreaterThan(0);
      tried.halfway += halfway;
    }, 600_000);

    it('after a kill at each step, the same run again ends where an uninterrupted one does (and undo after it still restores)', async () => {
      expect(steps.length).toBeGreaterThan(0);
      for (let k = 1; k <= steps.length; k++) {
        const marathon = await fresh(k);
        const run = await runWorker(marathon);
        if (run.killed) tried.rerun++;
        else tried.finishedFirst++;
        const at = `killed after step ${k} (${label(marathon.requests.filter((r) => r.status !== 0)[k - 1] ?? { method: '?', path: '?', query: {} })})`;
        const again = await cli(marathon, ...args('run', '--date', D));
        expect({ at, code: again.code, err: again.code === scenario.runCode ? '' : again.err }).toEqual({ at, code: scenario.runCode, err: '' });
        expect({ at, images: images(marathon) }).toEqual({ at, images: END() });
        expect({ at, inFlight: inFlight(marathon) }).toEqual({ at, inFlight: 0 });
        if (run.killed && /Took over|lock/.test(again.err)) expect(again.err).not.toMatch(/is locked by/);
        const undo = await cli(marathon, ...args('undo'));
        expect({ at, code: undo.code, err: undo.code === 0 ? '' : undo.err }).toEqual({ at, code: 0, err: '' });
        expect({ at, images: images(marathon) }).toEqual({ at, images: START() });
        await done(marathon);
      }
    }, 600_000);
  });
}

afterAll(() => {
  record({
    figures: {
      'crash points (requests of one run, both fleets)': tried.points,
      'crash points with a stuck deployment and a lost answer': tried.stuckPoints,
      'kills then undo': tried.undo,
      'kills then re-run': tried.rerun,
      'kills that left the fleet half changed': tried.halfway,
      'runs that finished before the kill point': tried.finishedFirst,
      'stuck deployments met (fired)': tried.stuck,
      'PUT answers lost (fired)': tried.lostAnswers,
    },
    summary: `a 3-service Marathon rollback, the bundled worker SIGKILLed after each of its requests to Marathon, on a healthy fleet and on one whose web deployment is stuck on failing health checks with its PUT answer lost; every time undo restored the fleet, nothing was left in flight, and a re-run ended where an uninterrupted run does`,
  });
});
