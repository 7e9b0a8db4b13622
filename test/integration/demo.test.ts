/**
 * The demo, run the way a newcomer's `npm run demo` runs it without a terminal, and checked from
 * the outside: Marathon's REST API (the double) and what the Slack double received.
 * Then a demo interrupted mid-way must leave nothing behind.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { request } from 'undici';
import { startEnvironment, type DemoEnvironment } from '../../demo/environment';
import { runFlow, type FlowResult } from '../../demo/flow';
import { createdAt, dayOf, IMAGES, PROD_TAGS, runningBefore, SERVICES, STAGE_APPS, APP_PREFIX } from '../../demo/story';
import { createWorker } from '../../demo/worker';
import { KEYS, runInPty, shq } from '../support/pty';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const root = resolve(__dirname, '../..');
const now = new Date();
const approver = 'night-shift (demo)';

let bundle: WorkerBundle;
let env: DemoEnvironment;
let result: FlowResult;
const narration: string[] = [];

beforeAll(async () => {
  bundle = await buildWorkerBundle();
  // The demo's default: the real docker-registry when installed (it is, on the test machine).
  env = await startEnvironment({ now });
  const worker = createWorker({ entry: bundle.file, cwd: env.workDir, env: { PATH: process.env.PATH, ...env.workerEnv } });
  result = await runFlow(env, worker, { interactive: false, undo: true, approver, color: false, say: (t) => narration.push(t) });
});

afterAll(async () => {
  await env?.close();
  bundle?.remove();
});

/** The story's prod builds of a service, newest first, with their day. */
const prodBuilds = (service: string) =>
  IMAGES.filter((i) => i.service === service && new RegExp(PROD_TAGS).test(i.tag))
    .map((i) => ({ tag: i.tag, day: dayOf(createdAt(i.daysAgo, now)) }))
    .sort((a, b) => (a.day < b.day ? 1 : -1));

const image = (fleet: { id: string; image: string }[] | undefined, id: string) => fleet?.find((a) => a.id === id)?.image;

it('runs the story to its end and offers the dates of prod releases only', () => {
  expect({ code: result.code, said: narration.join('\n') }).toEqual({ code: 0, said: expect.stringContaining('The fleet after undo') });
  const releaseDays = [...new Set(SERVICES.flatMap((s) => prodBuilds(s.name).map((b) => b.day)))].sort().reverse();
  expect(result.choices).toEqual(releaseDays);
  // Without a terminal it takes the newest date before the last release.
  expect(result.date).toBe(releaseDays[1]);
});

it('after run, every prod app runs its newest build on or before the date, pinned by digest, as planned', () => {
  for (const s of SERVICES) {
    const id = `${APP_PREFIX.prod}/${s.name}`;
    const expected = prodBuilds(s.name).find((b) => b.day <= result.date!)!;
    const after = image(result.afterRun, id)!;
    const planned = result.plan!.services.find((p) => p.service === s.name)!;
    if (expected.tag === runningBefore()[s.name]) {
      // Already there (payments): left alone, not even redeployed.
      expect({ service: s.name, after, action: planned.action }).toEqual({ service: s.name, after: image(result.before, id), action: 'skip' });
    } else {
      expect({ service: s.name, after }).toEqual({ service: s.name, after: expect.stringMatching(new RegExp(`/${s.repository}:${expected.tag}@sha256:[0-9a-f]{64}$`)) });
      expect(after).toBe(planned.target);
    }
  }
  // The seed's special case: inventory had no build that day and went back to an older one.
  const inventory = result.plan!.services.find((p) => p.service === 'inventory')!;
  expect(inventory.action).toBe('change');
  expect(inventory.day! < result.date!).toBe(true);
});

it('leaves the other environment alone', () => {
  for (const service of Object.keys(STAGE_APPS)) {
    const id = `${APP_PREFIX.stage}/${service}`;
    expect(image(result.afterRun, id)).toBe(image(result.before, id));
    expect(image(result.afterUndo, id)).toBe(image(result.before, id));
  }
});

it('tells Slack the date and who approved', () => {
  const said = result.slack.join('\n');
  expect(said).toContain(result.date!);
  expect(said).toContain(approver);
  expect(said).not.toContain(env.workerEnv.REGISTRY_PASSWORD);
});

it('never shows a secret: not the registry password, not the Slack webhook', () => {
  const shown = narration.join('\n');
  expect(shown).toContain('$ rollback run');
  for (const secret of [env.workerEnv.REGISTRY_PASSWORD, new URL(env.workerEnv.SLACK_WEBHOOK).pathname]) {
    expect(shown).not.toContain(secret);
  }
});

it('undo puts the fleet back exactly as it was', () => {
  expect(result.afterUndo).toEqual(result.before);
  expect(result.afterRun).not.toEqual(result.before);
});

it('in a terminal: asks for the date with select, rolls back to it, asks before undoing', async () => {
  const cmd = `${shq(process.execPath)} --import tsx demo/main.ts --registry-double --worker ${shq(bundle.file)}`;
  const pty = runInPty(cmd, { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
  try {
    await pty.waitFor('Enter to choose');
    pty.type('3'); // the oldest date: every service changes, payments included
    await pty.waitFor('> 3  ');
    pty.type(KEYS.enter);
    await pty.waitFor('Undo the rollback now?');
    pty.type('n\r');
    expect(await pty.exited).toBe(0);
  } finally {
    pty.kill();
  }
  const screen = pty.screen();
  const oldest = SERVICES.flatMap((s) => prodBuilds(s.name).map((b) => b.day)).sort()[0];
  expect(screen.slice(screen.indexOf('$ rollback select'))).toContain(`   > ${oldest}`);
  expect(screen).toContain(`$ rollback run --config rollback.yml --env prod --date ${oldest}`);
  for (const s of SERVICES) {
    const oldestBuild = prodBuilds(s.name).at(-1)!.tag;
    expect(screen).toMatch(new RegExp(`\\* ${APP_PREFIX.prod}/${s.name}\\s+${s.repository}:${oldestBuild}@sha256:`));
  }
  expect(screen).toContain('Skipped (the environment is thrown away anyway).');
  expect(screen).not.toContain('$ rollback undo');
});

it('Ctrl-C mid-way stops every server it started and removes its folder (exit 130)', async () => {
  const demo = spawn(process.execPath, ['--import', pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href, 'demo/main.ts', '--worker', bundle.file], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  demo.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => demo.on('close', (code) => r(code)));
  // Interrupt once the environment is up and the first worker step has begun.
  await new Promise<void>((resolveStarted, reject) => {
    demo.stdout.on('data', (d) => {
      out += d;
      if (out.includes('1. Read the registry')) resolveStarted();
    });
    demo.on('close', () => reject(new Error(`the demo ended before it started its first step:\n${out}`)));
  });
  demo.kill('SIGINT');
  expect(await exited).toBe(130);
  expect(out).toContain('Interrupted (SIGINT)');
  const workDir = /work folder (\S+)/.exec(out)![1];
  const registry = /Registry: .* at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1];
  const marathon = /Marathon double at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1];
  expect(existsSync(workDir)).toBe(false);
  for (const url of [registry, marathon]) {
    await expect(request(`${url}/v2/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  }
});
