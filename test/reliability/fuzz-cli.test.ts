/**
 * Random command lines and ROLLBACK_PARAMS, run through the real CLI entry (main) in this process,
 * in a working directory holding a valid config and catalog whose registry and Marathon are
 * doubles. Known flags, values that reach deep (the real config file, env, a valid date) and
 * noise are mixed, so cases end at the parser, in the config, in the catalog, or really plan and
 * run. Every case ends with exit 0, 1, 2 or 3; a failure's last line is one clear sentence; no
 * stack unless --debug; never a hang; and the fleet changes only through a `run` or `undo`
 * that is not a dry run (plan, get, select and every refused case change nothing).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { main } from '../../src/cli/main';
import { parseOptions } from '../../src/cli/options';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startRegistryDouble, type RegistryDouble } from '../doubles/registry-double';
import { argvToken, fuzzParams, FUZZ_RUNS, notOneClearSentence, suiteFigures, rollbackParams } from '../support/fuzz';

const NAMES = ['api', 'web'];
const D = '2026-11-18';

/** Values that lead somewhere real in this directory. */
const deepToken = fc.constantFrom('rollback.yml', 'prod', D, '2026-11-20', '.rollback/catalog.json', 'alice', 'stage');

/**
 * Paths a case may write to stay inside the working directory: `get --catalog X` writes X, a
 * run writes locks and snapshots beside it. (The fuzzer runs as root on CI machines.)
 */
function confined(argv: string[]): string[] {
  const safe = (v: string) => (/^[\w.-]+(\/[\w.-]+)*$/.test(v) && !v.split('/').includes('..') ? v : 'elsewhere.json');
  return argv.map((t, i) => {
    const m = /^--(catalog|snapshot)=(.*)$/s.exec(t);
    if (m) return `--${m[1]}=${safe(m[2])}`;
    if (i > 0 && (argv[i - 1] === '--catalog' || argv[i - 1] === '--snapshot')) return safe(t);
    return t;
  });
}
function confinedParams(p: string | undefined): string | undefined {
  try {
    const o = JSON.parse(p ?? '');
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      for (const k of ['catalog', 'snapshot']) if (typeof o[k] === 'string') o[k] = confined([`--${k}`, o[k]])[1];
      return JSON.stringify(o);
    }
  } catch {
    /* not JSON: nothing to confine */
  }
  return p;
}

/** Near-valid command lines: a command and its usual flags, each maybe left out or given noise. */
const pick = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: argvToken });
const nearValid = fc
  .tuple(
    fc.constantFrom('get', 'plan', 'run', 'undo', 'select'),
    fc.record({
      config: fc.option(pick(fc.constant('rollback.yml')), { freq: 8 }),
      env: fc.option(pick(fc.constantFrom('prod', 'stage')), { freq: 8 }),
      date: fc.option(pick(fc.constantFrom(D, '2026-11-20', '2026-11-19', '2026-13-01')), { freq: 3 }),
      dryRun: fc.boolean(),
      json: fc.boolean(),
      approver: fc.option(pick(fc.constant('alice')), { freq: 2 }),
    }),
    fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(argvToken, { minLength: 1, maxLength: 2 }) }),
  )
  .map(([command, f, noise]) => [
    command,
    ...(f.config === null ? [] : ['--config', f.config]),
    ...(f.env === null ? [] : ['--env', f.env]),
    ...(f.date === null ? [] : ['--date', f.date]),
    ...(f.dryRun ? ['--dry-run'] : []),
    ...(f.json ? ['--json'] : []),
    ...(f.approver === null ? [] : ['--approver', f.approver]),
    ...noise,
  ]);

const caseArb = fc.record({
  argv: fc.oneof(
    fc.array(fc.oneof({ weight: 3, arbitrary: argvToken }, { weight: 2, arbitrary: deepToken }), { maxLength: 9 }),
    nearValid,
  ).map(confined),
  params: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rollbackParams.map(confinedParams) }),
});

describe('fuzzed command line', () => {
  // Figures only from a run whose every test passed (suiteFigures), stamped with the commit.
  const { it, record } = suiteFigures('fuzz-cli');
  let reg: RegistryDouble;
  let m: MarathonDouble;
  let dir: string;
  let start: string[];
  const counts = { cases: 0, codes: { 0: 0, 1: 0, 2: 0, 3: 0 } as Record<number, number>, changedFleet: 0 };
  /** How cases ended, by the first words of their sentence (ROLLBACK_FUZZ_VERBOSE=1 prints it). */
  const endings = new Map<string, number>();

  beforeAll(async () => {
    reg = await startRegistryDouble({
      fleet: Object.fromEntries(NAMES.map((n) => [`shop/${n}`, { '1-prod': { created: `${D}T10:00:00Z` }, '2-prod': { created: '2026-11-20T10:00:00Z' } }])),
    });
    start = NAMES.map((n) => `${reg.host}/shop/${n}:2-prod`);
    m = await startMarathon({ deployMs: 0, apps: NAMES.map((n, i) => ({ id: `/ds/prod/${n}`, image: start[i] })) });
    dir = mkdtempSync(join(tmpdir(), 'rollback-fuzz-cli-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, 'services:', ...NAMES.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', `      marathon: { url: "${m.url}", appPrefix: /ds/prod }`, 'deployTimeout: 5', 'settle: 0', '',
    ].join('\n'));
    const code = await main(['get', '--config', 'rollback.yml', '--env', 'prod'], {}, { stdout: () => {}, stderr: () => {}, cwd: dir, stderrIsTTY: false });
    expect(code).toBe(0);
  });
  afterAll(async () => {
    await m?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const images = () => NAMES.map((n) => m.apps.get(`/ds/prod/${n}`)!.container.docker.image);
  const puts = () => m.requests.filter((r) => r.method === 'PUT').length;

  it('random argv and ROLLBACK_PARAMS end in 0-3 with one clear sentence, and only run/undo change the fleet', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ argv, params }) => {
        counts.cases++;
        const env: NodeJS.ProcessEnv = params === undefined ? {} : { ROLLBACK_PARAMS: params };
        const out: string[] = [];
        const err: string[] = [];
        const putsBefore = puts();
        let timer: NodeJS.Timeout | undefined;
        const hang = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`hang: no answer within 30 s for ${JSON.stringify({ argv, params })}`)), 30_000);
        });
        const code = await Promise.race([
          main(argv, env, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), cwd: dir, stderrIsTTY: false, stdin: Object.assign(Readable.from([]), { isTTY: false }) }),
          hang,
        ]).finally(() => clearTimeout(timer));
        const context = JSON.stringify({ argv, params, code, stderr: err.join('').slice(-600) });
        counts.codes[code] = (counts.codes[code] ?? 0) + 1;
        if (![0, 1, 2, 3].includes(code)) throw new Error(`exit ${code}: ${context}`);

        let debug = argv.includes('--debug');
        let changes = false;
        let usage = false;
        try {
          const o = parseOptions(argv, env);
          debug ||= o.debug;
          // No command at all: the usage text on stderr (stdout is for answers only) and exit 2.
          usage = !o.command && !o.help && !o.version;
          changes = (o.command === 'run' || o.command === 'undo') && !o.dryRun && !o.help && !o.version;
        } catch {
          /* refused by the parser: nothing may change */
        }
        const lines = err.join('').split('\n').filter((l) => l.trim() !== '');
        if (!debug) {
          const stack = lines.find((l) => /^\s+at /.test(l));
          if (stack) throw new Error(`stack trace without --debug: ${context}`);
        }
        if (usage) {
          if (code !== 2 || out.join('') !== '' || !err.join('').startsWith('Usage: rollback')) throw new Error(`no command, yet not exit 2 with the usage text on stderr only: ${context}`);
        } else if (code !== 0) {
          const last = lines.filter((l) => l.startsWith('rollback: ')).pop();
          if (!last) throw new Error(`exit ${code} without a "rollback: ..." sentence: ${context}`);
          const key = `${code} ${last.slice(10, 50)}`;
          endings.set(key, (endings.get(key) ?? 0) + 1);
          const why = notOneClearSentence(last.replace(/^rollback: /, ''));
          if (why) throw new Error(`last line ${why}: ${context}`);
        }
        if (puts() !== putsBefore) {
          if (!changes) throw new Error(`the fleet changed although no run or undo was asked for: ${context}`);
          counts.changedFleet++;
          // Put the fleet back for the next case (directly in the double: it is not under test here).
          NAMES.forEach((n, i) => {
            m.apps.get(`/ds/prod/${n}`)!.container.docker.image = start[i];
            m.running.set(`/ds/prod/${n}`, start[i]);
          });
          rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });
        }
        expect(images()).toEqual(start);
      }),
      fuzzParams(),
    );
    // The fuzzer reached every kind of ending it can, not only the parser's refusals.
    expect(counts.codes[2]).toBeGreaterThan(0);
    expect(counts.codes[0]).toBeGreaterThan(0);
    expect(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8')).toContain('"schemaVersion": 1');
  }, 600_000);

  it("node's multi-line parser messages become one sentence (no escaped newline in it)", async () => {
    const err: string[] = [];
    expect(await main(['run', '--env', '--json'], {}, { stdout: () => {}, stderr: (t) => err.push(t), cwd: dir, stderrIsTTY: false })).toBe(2);
    expect(err.join('')).toBe("rollback: Option '--env' argument is ambiguous (did you forget to specify the option argument for '--env'?); see 'rollback --help'.\n");
  });

  afterAll(() => {
    if (process.env.ROLLBACK_FUZZ_VERBOSE) console.log([...endings].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, n]) => `${n}\t${k}`).join('\n'));
    if (counts.cases >= FUZZ_RUNS) {
      record({
        figures: { 'command lines': counts.cases, 'exit 0': counts.codes[0], 'exit 1': counts.codes[1], 'exit 2': counts.codes[2], 'exit 3': counts.codes[3], 'runs that really changed the fleet': counts.changedFleet },
        summary: 'random argv (known flags, real values and noise) with random ROLLBACK_PARAMS through the real CLI entry, against registry and Marathon doubles',
      });
    }
  });
});
