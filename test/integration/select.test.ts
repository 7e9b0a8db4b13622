/**
 * `rollback select` through a real pseudo-terminal: keys in, the chosen date out on stdout (and
 * nothing else there). The world is the demo's: the registry double seeded with the story, the
 * Marathon double running the fleet; the catalog comes from a real `get`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { startEnvironment, type DemoEnvironment } from '../../demo/environment';
import { defaultDate, IMAGES } from '../../demo/story';
import { main } from '../../src/cli/main';
import { KEYS, runInPty, shq } from '../support/pty';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const root = resolve(__dirname, '../..');

let env: DemoEnvironment;
let bundle: WorkerBundle;
let workerEnv: NodeJS.ProcessEnv;
let choices: string[];
let getStderr = '';
const base = ['--config', 'rollback.yml', '--env', 'prod'];

beforeAll(async () => {
  bundle = await buildWorkerBundle();
  env = await startEnvironment({ registryDouble: true });
  workerEnv = { ...process.env, ...env.workerEnv };
  delete workerEnv.ROLLBACK_PARAMS;
  delete workerEnv.NO_COLOR;
  let out = '';
  let err = '';
  const code = await main(['get', ...base], workerEnv, { cwd: env.workDir, stdout: (t) => (out += t), stderr: (t) => (err += t), stderrIsTTY: false });
  if (code !== 0) throw new Error(`get failed (${code}): ${err}`);
  getStderr = err;
  choices = out.split('\n').filter(Boolean);
});

afterAll(async () => {
  await env?.close();
  bundle?.remove();
});

/** Runs select in a pty with stdout to a file, as `date=$(rollback select ...)` would. */
function select(outFile: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const cmd = `cd ${shq(env.workDir)} && ${shq(process.execPath)} ${shq(bundle.file)} select ${base.join(' ')} > ${shq(outFile)}`;
  return runInPty(cmd, { cwd: root, env: { ...workerEnv, ...extraEnv } });
}

it('shows every date with its plan, moves with the arrow keys and prints the chosen date alone on stdout', async () => {
  expect(choices.length).toBe(new Set(IMAGES.filter((i) => i.tag.endsWith('-master')).map((i) => i.daysAgo)).size);
  const outFile = join(env.workDir, 'arrow.out');
  const pty = select(outFile);
  try {
    await pty.waitFor('Enter to choose');
    for (const d of choices) expect(pty.screen()).toContain(d);
    // The newest date is highlighted first; its plan is the list's first detail.
    expect(pty.screen()).toContain(`Plan for ${choices[0]}:`);
    expect(pty.screen()).toContain(`\x1b[1m> 1  ${choices[0]}`); // the highlighted line, in bold
    pty.type(KEYS.down);
    await pty.waitFor(`Plan for ${choices[1]}:`);
    // The seed's special case, in the plan: inventory had no build that day and goes back to its older one.
    expect(pty.screen()).toMatch(new RegExp(`inventory\\s+303-master -> 301-master  \\(built ${choices[2]}, no build on ${choices[1]}\\)`));
    expect(pty.screen()).toMatch(/payments\s+stays on 202-master/);
    pty.type(KEYS.enter);
    expect(await pty.exited).toBe(0);
  } finally {
    pty.kill();
  }
  expect(readFileSync(outFile, 'utf8')).toBe(`${choices[1]}\n`);
  expect(choices[1]).toBe(defaultDate(choices));
});

it('with release points (get --points released): each point with what ran and where it came from; prints its time', async () => {
  const points = ['--catalog', '.rollback/points/catalog.json'];
  const cli = async (...args: string[]) => {
    let out = '';
    let err = '';
    const code = await main(args, workerEnv, { cwd: env.workDir, stdout: (t) => (out += t), stderr: (t) => (err += t), stderrIsTTY: false });
    return { code, out, err };
  };
  const rec = await cli('record', ...base, ...points);
  expect(rec.code).toBe(0);
  const time = rec.out.trim();
  const got = await cli('get', ...base, ...points, '--points', 'released');
  expect([got.code, got.out.split('\n')[0]]).toEqual([0, time]);
  const outFile = join(env.workDir, 'points.out');
  const cmd = `cd ${shq(env.workDir)} && ${shq(process.execPath)} ${shq(bundle.file)} select ${[...base, ...points].join(' ')} > ${shq(outFile)}`;
  const pty = runInPty(cmd, { cwd: root, env: { ...workerEnv, NO_COLOR: '1' } });
  try {
    await pty.waitFor('Enter to choose');
    // "2026-11-25T14:02:11Z  orders 105, inventory 303, web 404 (recorded by ...)": one tag per service, then the origin.
    expect(pty.screen()).toMatch(new RegExp(`> 1  ${time}  (\\S+ [^,\\s]+, )+\\S+ [^,\\s]+ \\(recorded by [^)]+\\)`));
    expect(pty.screen()).toContain(`Plan for ${time}:`);
    pty.type(KEYS.enter);
    expect(await pty.exited).toBe(0);
  } finally {
    pty.kill();
  }
  expect(readFileSync(outFile, 'utf8')).toBe(`${time}\n`);
});

it('takes a typed number (and draws without colour under NO_COLOR)', async () => {
  const outFile = join(env.workDir, 'number.out');
  const pty = select(outFile, { NO_COLOR: '1' });
  try {
    await pty.waitFor('Enter to choose');
    pty.type('3');
    await pty.waitFor(`Plan for ${choices[2]}:`);
    pty.type(KEYS.enter);
    expect(await pty.exited).toBe(0);
  } finally {
    pty.kill();
  }
  expect(readFileSync(outFile, 'utf8')).toBe(`${choices[2]}\n`);
  expect(pty.screen()).toContain(`> 3  ${choices[2]}`);
  expect(pty.screen()).not.toMatch(/\x1b\[[12]m/);
});

it.each([
  ['Esc', KEYS.esc],
  ['Ctrl-C', KEYS.ctrlC],
])('cancels on %s: exit 1, nothing on stdout, the terminal left usable', async (name, key) => {
  const outFile = join(env.workDir, `cancel-${name}.out`);
  const pty = select(outFile);
  try {
    await pty.waitFor('Enter to choose');
    pty.type(key);
    expect(await pty.exited).toBe(1);
  } finally {
    pty.kill();
  }
  expect(pty.screen()).toContain(`No date chosen (${name}); nothing was changed.`);
  expect(pty.screen()).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  expect(pty.screen()).toContain('\x1b[?25h'); // cursor shown again
  expect(existsSync(outFile) ? readFileSync(outFile, 'utf8') : '').toBe('');
});

it('refuses without a terminal, pointing to --date (exit 2)', async () => {
  let out = '';
  let err = '';
  const stdin = Readable.from([]) as unknown as NodeJS.ReadableStream;
  const code = await main(['select', ...base], workerEnv, { cwd: env.workDir, stdin, stdout: (t) => (out += t), stderr: (t) => (err += t), stderrIsTTY: false });
  expect(code).toBe(2);
  expect(out).toBe('');
  expect(err.trim().split('\n')).toHaveLength(1);
  expect(err).toMatch(/needs a terminal.*--date/);
});

describe('get on a terminal', () => {
  const get = (extraEnv: NodeJS.ProcessEnv, name: string) => {
    const cmd = `cd ${shq(env.workDir)} && ${shq(process.execPath)} ${shq(bundle.file)} get ${base.join(' ')} --catalog ${name}.json > ${name}.out`;
    return runInPty(cmd, { cwd: root, env: { ...workerEnv, ...extraEnv } });
  };

  it('draws a progress line (repositories, tags, requests/s), erases it, and keeps stdout to the dates', async () => {
    const pty = get({}, 'progress');
    expect(await pty.exited).toBe(0);
    const screen = pty.screen();
    expect(screen).toMatch(/\r\x1b\[2K\x1b\[2mreading the registry: \d+\/4 repositories, \d+\/\d+ tags, \d+ requests, [\d.]+ req\/s/);
    expect(screen).toContain('4/4 repositories');
    // Erased before the summary line, so the summary starts on a clean line.
    expect(screen).toMatch(/\r\x1b\[2KRead \d+ prod tags/);
    expect(readFileSync(join(env.workDir, 'progress.out'), 'utf8')).toBe(choices.map((d) => `${d}\n`).join(''));
  });

  it('has no colour with NO_COLOR', async () => {
    const pty = get({ NO_COLOR: '1' }, 'nocolor');
    expect(await pty.exited).toBe(0);
    expect(pty.screen()).toContain('reading the registry: ');
    expect(pty.screen()).not.toContain('\x1b[2m');
  });

  it('stays silent when stderr is not a terminal', () => {
    expect(getStderr).toMatch(/^Read \d+ prod tags/);
    expect(getStderr).not.toContain('reading the registry');
    expect(getStderr).not.toContain('\x1b');
  });
});
