/**
 * Two runs on the same environment never interleave. Real worker processes (the bundle) race for
 * the same environment against the Marathon double; their changes must come one run after the
 * other, the later one waits (bounded) or refuses naming who holds the lock and since when, and a
 * lock left by a SIGKILLed run is taken over.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalog } from '../../src/catalog/types';
import { main } from '../../src/cli/main';
import { runCommand } from '../../src/cli/commands/run';
import { parseOptions } from '../../src/cli/options';
import { createLogger } from '../../src/log';
import { describeError, exitCodeOf } from '../../src/errors';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { expectOneClearSentence, suiteFigures } from '../support/fuzz';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';
import { readyOrFail, registryMissing } from '../support/ready';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const maybe = readyOrFail('concurrency', registryMissing());
const NAMES = ['api', 'web', 'db'];
const D1 = '2026-11-18';
const D0 = '2026-11-10';

maybe('two runs on one environment', () => {
  // Figures only from a run whose every test passed (suiteFigures), stamped with the commit.
  const { it, record } = suiteFigures('concurrency');
  let reg: RunningRegistry;
  let bundle: WorkerBundle;
  let dir: string;
  let catalog: Catalog;
  let m: MarathonDouble | undefined;
  const children: ChildProcess[] = [];
  const figures = { races: 0, waited: 0, refused: 0, takenOver: 0 };

  const env = () => ({ PATH: process.env.PATH, MARATHON_URL: m!.url, USER: 'ci' });
  const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), ...rest];
  const images = () => NAMES.map((n) => m!.apps.get(`/ds/prod/${n}`)!.container.docker.image);
  const ref = (n: string, tag: string) => catalog.services.find((s) => s.name === n)!.images.find((i) => i.tag === tag)!.reference;
  const START = () => NAMES.map((n) => `${reg.host}/shop/${n}:2-prod`);

  function worker(...a: string[]): { child: ChildProcess; stderr: () => string; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
    const child = spawn(process.execPath, [bundle.file, ...a], { env: env(), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    return { child, stderr: () => stderr, done: new Promise((res) => child.on('exit', (code, signal) => res({ code, signal, stderr }))) };
  }

  /** `hold`: while it answers true, Marathon finishes no deployment (the first run stays mid-change). */
  async function fresh(onPut?: (n: number) => void, hold?: () => boolean): Promise<void> {
    await m?.stop();
    rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
    rmSync(join(dir, '.rollback', 'locks'), { recursive: true, force: true });
    let puts = 0;
    m = await startMarathon({
      // Slow deployments, so two runs started together overlap in time.
      deployMs: 150,
      apps: NAMES.map((n) => ({ id: `/ds/prod/${n}`, image: `${reg.host}/shop/${n}:2-prod` })),
      onRequest: (r) => { if (r.method === 'PUT') onPut?.(++puts); },
      hold,
    });
  }

  beforeAll(async () => {
    reg = await startRegistry();
    for (const n of NAMES) {
      await pushImage(reg, { repository: `shop/${n}`, tag: '0-prod', created: `${D0}T10:00:00Z` });
      await pushImage(reg, { repository: `shop/${n}`, tag: '1-prod', created: `${D1}T10:00:00Z` });
      await pushImage(reg, { repository: `shop/${n}`, tag: '2-prod', created: '2026-11-20T10:00:00Z' });
    }
    bundle = await buildWorkerBundle();
    dir = mkdtempSync(join(tmpdir(), 'rollback-concurrency-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, 'services:', ...NAMES.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', '      marathon: { url: "${MARATHON_URL}", appPrefix: /ds/prod }', 'parallel: 1', 'deployTimeout: 20', 'settle: 0', '',
    ].join('\n'));
    await fresh();
    const code = await main(args('get'), env(), { stdout: () => {}, stderr: () => {}, cwd: dir, stderrIsTTY: false });
    expect(code).toBe(0);
    await m!.stop();
    catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8'));
  }, 120_000);

  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await m?.stop();
    m = undefined;
  });
  afterAll(async () => {
    await reg?.stop();
    bundle?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('two runs to different dates: one after the other, never interleaved; the later one waits and says for whom', async () => {
    for (let round = 0; round < 4; round++) {
      // Rounds 0-1: the second run starts while the first is changing its first service (someone
      // presses the button again); rounds 2-3: both start at the same instant (a race for the lock).
      const together = round >= 2;
      let startSecond: () => void = () => {};
      // The first run's first deployment is held until the second run says it waits (or 60 s
      // passed): a second worker slow to start on a loaded machine must still meet the lock.
      let late: ReturnType<typeof worker> | undefined;
      const heldSince = Date.now();
      const hold = () => !together && Date.now() - heldSince < 60_000 && !/Waiting for the lock/.test(late?.stderr() ?? '');
      await fresh((n) => { if (n === 1) startSecond(); }, hold);
      const a = worker(...args('run', '--date', D1));
      const b = together ? worker(...args('run', '--date', D0)) : await new Promise<ReturnType<typeof worker>>((res) => { startSecond = () => res(late = worker(...args('run', '--date', D0))); });
      const [ra, rb] = await Promise.all([a.done, b.done]);
      figures.races++;
      expect({ round, a: ra.code, b: rb.code, err: ra.code || rb.code ? ra.stderr + rb.stderr : '' }).toEqual({ round, a: 0, b: 0, err: '' });
      // Each PUT carries its run's image: the runs' PUTs form two blocks, never a mix.
      const puts = m!.requests.filter((r) => r.method === 'PUT').map((r) => ((r.body as { container: { docker: { image: string } } }).container.docker.image.includes(':1-prod@') ? 'D1' : 'D0'));
      expect([['D1', 'D1', 'D1', 'D0', 'D0', 'D0'], ['D0', 'D0', 'D0', 'D1', 'D1', 'D1']]).toContainEqual(puts);
      // The fleet is entirely at the date of the run that went second.
      const second = puts[5] === 'D1' ? '1-prod' : '0-prod';
      expect(images()).toEqual(NAMES.map((n) => ref(n, second)));
      const waiter = puts[5] === 'D1' ? ra : rb;
      if (!together) {
        expect(puts[0]).toBe('D1');
        expect(waiter.stderr).toMatch(/Waiting for the lock on prod: held by rollback run --date 2026-11-18 of \S+ \(pid \d+ on [^)]+\) since \d{4}-\d\d-\d\dT[\d:.]+Z\./);
      }
      if (/Waiting for the lock/.test(waiter.stderr)) figures.waited++;
    }
  }, 300_000);

  it('with a short bound, the second run refuses in one sentence naming the holder and since when, changing nothing', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => { release = r; });
    await fresh((n) => { if (n === 1) release(); });
    const a = worker(...args('run', '--date', D1));
    await held; // the first run holds the lock and has changed its first service
    const err: string[] = [];
    const ctx = { options: parseOptions(args('run', '--date', D0), {}), env: env(), logger: createLogger({ write: (l) => err.push(l) }), stdout: () => {}, cwd: dir, stderrIsTTY: false };
    const putsBefore = m!.requests.filter((r) => r.method === 'PUT').length;
    let code: number;
    let last: string;
    try {
      code = await runCommand(ctx, { engine: { lock: { waitMs: 300, pollMs: 50 } } });
      last = err.join('').trim().split('\n').pop()!;
    } catch (e) {
      // What main() prints and returns for it.
      code = exitCodeOf(e);
      last = `rollback: ${describeError(e)}`;
    }
    expect({ code, last }).toEqual({ code: 1, last: expect.stringMatching(/^rollback: Environment prod is locked by rollback run --date 2026-11-18 of \S+ \(pid \d+ on [^)]+\) since \S+Z; waited 0s, nothing was changed\.$/) });
    expectOneClearSentence(last.replace(/^rollback: /, ''));
    // The refused run sent no change: every PUT after the refusal belongs to the first run.
    expect(m!.requests.filter((r) => r.method === 'PUT').slice(putsBefore).every((r) => JSON.stringify(r.body).includes(':1-prod@'))).toBe(true);
    expect((await a.done).code).toBe(0);
    expect(images()).toEqual(NAMES.map((n) => ref(n, '1-prod')));
    figures.refused++;
  }, 120_000);

  it('a lock left by a SIGKILLed run is taken over, and the new run completes', async () => {
    let kill: () => void = () => {};
    await fresh((n) => { if (n === 2) kill(); });
    const a = worker(...args('run', '--date', D1));
    kill = () => a.child.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    expect(readFileSync(join(dir, '.rollback', 'locks', 'prod.lock'), 'utf8')).toContain('"command":"rollback run --date 2026-11-18"');
    const err: string[] = [];
    const code = await main(args('run', '--date', D1), env(), { stdout: () => {}, stderr: (t) => err.push(t), cwd: dir, stderrIsTTY: false });
    expect({ code, err: code ? err.join('') : '' }).toEqual({ code: 0, err: '' });
    expect(err.join('')).toMatch(/warning: Took over the lock of rollback run --date 2026-11-18 \(pid \d+, since \S+\), whose process is gone\./);
    expect(images()).toEqual(NAMES.map((n) => ref(n, '1-prod')));
    expect(START()).not.toEqual(images());
    figures.takenOver++;
  }, 120_000);

  afterAll(() => {
    if (figures.races && figures.refused && figures.takenOver) {
      record({
        figures: { 'races of two real runs': figures.races, 'second run waited, then ran': figures.waited, 'second run refused after its bound': figures.refused, 'stale locks taken over': figures.takenOver },
        summary: 'two bundled workers started together on one environment (to different dates): their changes never interleave; a bounded wait refuses naming the holder; a SIGKILLed run\'s lock is taken over',
      });
    }
  });
});
