/**
 * The reliability figures can be trusted: a suite writes them only when all its tests passed,
 * stamped with the commit (test/support/fuzz.ts, suiteFigures), and
 * `scripts/reliability-figures.mjs --check` refuses figures measured at another commit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const HEAD = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const SUITES = ['crash', 'concurrency', 'chaos', 'fuzz-config', 'fuzz-catalog', 'fuzz-cli', 'fuzz-answers', 'secrets'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rollback-figures-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function check(): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'reliability-figures.mjs'), '--check', '--results', dir], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
}
const write = (suite: string, commit: string | undefined) =>
  writeFileSync(join(dir, `${suite}.json`), JSON.stringify({ suite, figures: { n: 1 }, summary: 's', ...(commit ? { commit } : {}), at: '2026-11-27T10:00:00Z' }));

test('--check accepts figures of every suite measured at HEAD, and refuses any from another commit or without one', () => {
  for (const s of SUITES) write(s, HEAD);
  expect(check()).toEqual({ code: 0, err: expect.stringContaining(`measured at HEAD ${HEAD.slice(0, 12)}`) });
  write('chaos', '0123456789abcdef0123456789abcdef01234567');
  write('secrets', undefined);
  const r = check();
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/figures measured at another commit than HEAD [0-9a-f]{12}: chaos \(commit 0123456789ab\), secrets \(no commit\)/);
  rmSync(join(dir, 'crash.json'));
  expect(check().err).toMatch(/no figures from: crash/);
});

/** Runs one fixture suite of test/fixtures/figures/ in its own jest. */
const runFixture = (name: string, env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--rootDir', ROOT, '--roots', '<rootDir>/test/fixtures/figures', '--testMatch', `**/${name}.fixture.ts`, '--ci'], {
  cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROLLBACK_TEST_SKIP: '', ...env },
});

test('a suite writes its figures, stamped with HEAD, only when every test passed', () => {
  const jest = (fail: boolean) => runFixture('suite', { ROLLBACK_RELIABILITY_RESULTS: dir, FIGURES_FIXTURE_FAIL: fail ? '1' : '0' });
  const file = join(dir, 'fixture.json');
  const passing = jest(false);
  expect({ code: passing.status, err: passing.status === 0 ? '' : passing.stderr }).toEqual({ code: 0, err: '' });
  const written = JSON.parse(readFileSync(file, 'utf8'));
  expect(written).toMatchObject({ suite: 'fixture', figures: { cases: 2 }, commit: HEAD, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  // A failing test: no figures, and the ones of the passing run before are gone too.
  expect(jest(true).status).toBe(1);
  expect(existsSync(file)).toBe(false);
}, 120_000);

test('no silent skip: a suite whose real server is missing fails saying how to install it, unless ROLLBACK_TEST_SKIP names it', () => {
  const missing = 'The real thing is not installed: run `sudo bash scripts/ensure-test-env.sh`.';
  const failing = runFixture('ready', { READY_MISSING: missing });
  expect(failing.status).toBe(1);
  expect(failing.stderr).toContain('The real thing is not installed: run `sudo bash scripts/ensure-test-env.sh`; or set ROLLBACK_TEST_SKIP=ready-fixture to skip this suite knowingly.');
  const skipped = runFixture('ready', { READY_MISSING: missing, ROLLBACK_TEST_SKIP: 'crash,ready-fixture' });
  expect({ code: skipped.status, skipped: /1 skipped/.test(skipped.stderr) }).toEqual({ code: 0, skipped: true });
  const ready = runFixture('ready', { READY_MISSING: '' });
  expect({ code: ready.status, passed: /1 passed/.test(ready.stderr) }).toEqual({ code: 0, passed: true });
}, 120_000);
