/**
 * Crash safety with a real process: the worker (src/index.ts under tsx) is SIGKILLed right after
 * its k-th change reached Marathon. Then a re-run finishes the job (taking over the dead run's
 * lock), and undo restores the fleet as it was before the first attempt; or undo straight away.
 * The full kill-after-every-request chaos suite builds on the same pieces (issue 9).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { runCli } from '../support/cli';
import { FLEET_DATE as D, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { readyOrFail, registryMissing } from '../support/ready';

const ROOT = resolve(__dirname, '../..');
const LOADER = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const maybe = readyOrFail('undo', registryMissing());

maybe('a worker killed mid-run (SIGKILL)', () => {
  let fleet: MarathonFleet;
  let dir: string;
  let m: MarathonDouble;
  const err: string[] = [];
  let child: ChildProcess | undefined;
  let killAfterPut = 0;
  let killWith: NodeJS.Signals = 'SIGKILL';

  const env = () => fleet.env(m);
  const args = (cmd: string, ...rest: string[]) => fleet.args(cmd, ...rest);
  const cli = async (...a: string[]) => {
    const r = await runCli(a, { env: env(), cwd: dir });
    err.push(r.stderr);
    return r.code;
  };
  const images = () => fleet.images(m);
  const START = () => fleet.start();
  const PLANNED = () => fleet.planned();

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-kill-', deployTimeout: 5 });
    dir = fleet.dir;
  });
  afterAll(() => fleet?.close());

  beforeEach(async () => {
    err.length = 0;
    rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
    rmSync(join(dir, '.rollback', 'locks'), { recursive: true, force: true });
    m = await startMarathon({
      deployMs: 20,
      apps: fleet.apps(),
      // The kill lands right after Marathon answered the k-th PUT: the change is applied, the
      // worker never learns it.
      onRequest: (r) => {
        if (r.method === 'PUT' && m.requests.filter((x) => x.method === 'PUT').length === killAfterPut) child?.kill(killWith);
      },
    });
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await m?.stop();
  });

  /** `rollback run --date D` as a real process (src/index.ts under tsx), signalled with `signal` after the k-th PUT. */
  function runWorker(k: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    killAfterPut = k;
    killWith = signal;
    const c = spawn(process.execPath, ['--import', LOADER, join(ROOT, 'src/index.ts'), ...args('run', '--date', D)], { env: env(), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr!.on('data', (d) => { stderr += d; });
    return new Promise((res) => c.on('exit', (code, sig) => res({ code, signal: sig, stderr })));
  }

  /** Runs `rollback run` in a real process and kills it after the k-th PUT; resolves with its signal. */
  async function runAndKill(k: number): Promise<NodeJS.Signals | null> {
    const r = await runWorker(k, 'SIGKILL');
    if (!r.signal) throw new Error(`the worker ended by itself (exit ${r.code}) instead of being killed: ${r.stderr}`);
    return r.signal;
  }

  for (const k of [1, 2, 3]) {
    it(`killed after change ${k}: a re-run completes, then undo restores the fleet as it was before the first attempt`, async () => {
      expect(await runAndKill(k)).toBe('SIGKILL');
      expect(images().filter((img, i) => img === PLANNED()[i])).toHaveLength(k);
      const code = await cli(...args('run', '--date', D));
      expect({ code, log: code === 0 ? '' : err.join('') }).toEqual({ code: 0, log: '' });
      expect(err.join('')).toMatch(/Took over the lock of rollback run --date 2026-11-18 \(pid \d+/);
      expect(images()).toEqual(PLANNED());
      expect(await cli(...args('undo'))).toBe(0);
      expect(images()).toEqual(START());
    });
  }

  it('SIGTERM (a Jenkins abort) after change 1: no new service starts, the changed one is put back, exit 1', async () => {
    const { code, stderr } = await runWorker(1, 'SIGTERM');
    expect({ code, last: stderr.trim().split('\n').pop() }).toEqual({ code: 1, last: 'rollback: Rollback of prod to 2026-11-18 failed (interrupted by SIGTERM); every changed service was put back (api).' });
    expect(images()).toEqual(START());
    expect(m.requests.filter((r) => r.method === 'PUT').map((r) => r.path)).toEqual(['/v2/apps/ds/prod/api', '/v2/apps/ds/prod/api']);
  });

  it('killed after change 2: undo straight away puts both changed services back', async () => {
    expect(await runAndKill(2)).toBe('SIGKILL');
    const putsBefore = m.requests.filter((r) => r.method === 'PUT').length;
    expect(await cli(...args('undo'))).toBe(0);
    expect(err.join('')).toMatch(/: 2 services put back \(api, web\), approved by ci\.\n$/);
    expect(images()).toEqual(START());
    // Only the two changed apps were touched by the undo.
    expect(m.requests.filter((r) => r.method === 'PUT').slice(putsBefore).map((r) => r.path)).toEqual(['/v2/apps/ds/prod/api', '/v2/apps/ds/prod/web']);
  });
});
