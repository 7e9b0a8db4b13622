/**
 * Crash safety with a real process: the worker (src/index.ts under tsx) is SIGKILLed right after
 * its k-th change reached Marathon. Then a re-run finishes the job (taking over the dead run's
 * lock), and undo restores the fleet as it was before the first attempt; or undo straight away.
 * The full kill-after-every-request chaos suite builds on the same pieces (issue 9).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Catalog } from '../../src/catalog/types';
import { main } from '../../src/cli/main';
import { pushImage, registryAvailable, startRegistry, type RunningRegistry } from '../support/registry';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';

const ROOT = resolve(__dirname, '../..');
const LOADER = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const maybe = registryAvailable() ? describe : describe.skip;
const NAMES = ['api', 'web', 'db'];
const D = '2026-11-18';

maybe('a worker killed mid-run (SIGKILL)', () => {
  let reg: RunningRegistry;
  let dir: string;
  let catalog: Catalog;
  let m: MarathonDouble;
  const err: string[] = [];
  let child: ChildProcess | undefined;
  let killAfterPut = 0;
  let killWith: NodeJS.Signals = 'SIGKILL';

  const env = () => ({ PATH: process.env.PATH, MARATHON_URL: m.url, USER: 'ci' });
  const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), ...rest];
  const cli = (...a: string[]) => main(a, env(), { stdout: () => {}, stderr: (t) => err.push(t), cwd: dir, stderrIsTTY: false });
  const images = () => NAMES.map((n) => m.apps.get(`/ds/prod/${n}`)!.container.docker.image);
  const ref = (n: string, tag: string) => catalog.services.find((s) => s.name === n)!.images.find((i) => i.tag === tag)!.reference;
  const START = () => NAMES.map((n) => `${reg.host}/shop/${n}:2-prod`);
  const PLANNED = () => NAMES.map((n) => ref(n, '1-prod'));

  beforeAll(async () => {
    reg = await startRegistry();
    for (const n of NAMES) {
      await pushImage(reg, { repository: `shop/${n}`, tag: '1-prod', created: `${D}T10:00:00Z` });
      await pushImage(reg, { repository: `shop/${n}`, tag: '2-prod', created: '2026-11-20T10:00:00Z' });
    }
    dir = mkdtempSync(join(tmpdir(), 'rollback-kill-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, 'services:', ...NAMES.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', '      marathon: { url: "${MARATHON_URL}", appPrefix: /ds/prod }', 'parallel: 1', 'deployTimeout: 5', '',
    ].join('\n'));
    m = await startMarathon({ apps: [] });
    const code = await cli(...args('get'));
    if (code !== 0) throw new Error(err.join(''));
    await m.stop();
    catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    err.length = 0;
    rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
    rmSync(join(dir, '.rollback', 'locks'), { recursive: true, force: true });
    m = await startMarathon({
      deployMs: 20,
      apps: NAMES.map((n) => ({ id: `/ds/prod/${n}`, image: `${reg.host}/shop/${n}:2-prod` })),
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

  /** Runs `rollback run` in a real process and kills it after the k-th PUT; resolves with its signal. */
  function runAndKill(k: number): Promise<NodeJS.Signals | null> {
    killAfterPut = k;
    killWith = 'SIGKILL';
    const c = spawn(process.execPath, ['--import', LOADER, join(ROOT, 'src/index.ts'), ...args('run', '--date', D)], { env: env(), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr!.on('data', (d) => { stderr += d; });
    return new Promise((res, rej) => c.on('exit', (code, signal) => (signal ? res(signal) : rej(new Error(`the worker ended by itself (exit ${code}) instead of being killed: ${stderr}`)))));
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
    killAfterPut = 1;
    killWith = 'SIGTERM';
    const c = spawn(process.execPath, ['--import', LOADER, join(ROOT, 'src/index.ts'), ...args('run', '--date', D)], { env: env(), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr!.on('data', (d) => { stderr += d; });
    const code = await new Promise<number | null>((res) => c.on('exit', (x) => res(x)));
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
