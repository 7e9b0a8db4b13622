/**
 * `npm run demo`: the whole rollback story in one command, on loopback, with nothing of your own.
 * Starts a registry, Marathon and Slack (see environment.ts), then runs the real worker through
 * get -> plan -> select -> run -> undo (see flow.ts). Everything it started goes away at exit,
 * Ctrl-C included.
 *
 *   npm run demo                       asks which date in the terminal
 *   npm run demo -- --date 2026-11-17  no questions
 *   npm run demo -- --help
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { colorEnabled } from '../src/cli/progress';
import { startEnvironment, type DemoEnvironment } from './environment';
import { runFlow } from './flow';
import { createWorker, type Worker } from './worker';

const USAGE = `Usage: npm run demo -- [options]

Runs the whole rollback on a throwaway environment on this machine (registry, Marathon, Slack),
through the same worker Jenkins runs.

Options:
  --date YYYY-MM-DD   roll back to this date without asking (default when there is no terminal:
                      the newest date before the last release)
  --no-undo           do not undo the rollback at the end (without a terminal, undo runs)
  --registry-double   use the registry double even when docker-registry is installed
  --worker source     run the TypeScript sources (tsx) instead of the bundle resources/rollback.js
  --worker FILE.js    run this build of the worker
  -h, --help          this text
`;

const root = resolve(__dirname, '..');

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: process.argv.slice(2),
      options: {
        date: { type: 'string' },
        'no-undo': { type: 'boolean' },
        'registry-double': { type: 'boolean' },
        worker: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message.replace(/\.$/, '')}; see 'npm run demo -- --help'.\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(args.date)) {
    process.stderr.write(`demo: --date must be of the form YYYY-MM-DD, not '${args.date}'.\n`);
    return 2;
  }
  const bundle = args.worker && args.worker !== 'bundle' && args.worker !== 'source' ? resolve(args.worker) : resolve(root, 'resources/rollback.js');
  if (args.worker && args.worker !== 'source' && !existsSync(bundle)) {
    process.stderr.write(`demo: --worker ${args.worker}: there is no such file (use 'bundle', 'source' or the path of a built worker).\n`);
    return 2;
  }
  const useSource = args.worker === 'source' || !existsSync(bundle);

  const color = Boolean(process.stdout.isTTY) && colorEnabled(process.env);
  let readerGone = false;
  const say = (text: string) => {
    if (!readerGone) process.stdout.write(`${text}\n`);
  };
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY && process.stdout.isTTY) && !args.date;
  const started = Date.now();

  let starting: Promise<DemoEnvironment> | undefined;
  let worker: Worker | undefined;
  let cleaning: Promise<void> | undefined;
  // Workers first (a run being stopped puts back what it changed, and needs Marathon for that).
  // An environment still starting is waited for, then closed: its registry must not outlive us.
  const cleanup = () => (cleaning ??= (async () => {
    await worker?.stopAll();
    const env = await starting?.catch(() => undefined);
    await env?.close();
  })());
  // Ctrl-C, a closed terminal or a kill: take everything down, then leave with 128 + signal.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    interrupted = true;
    say(`\nInterrupted (${signal}): stopping the demo's registry, Marathon and Slack, removing its files.`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('SIGHUP', () => onSignal('SIGHUP', 129));
  // `npm run demo | head`: the reader left. Stop talking, and clean up as after a signal
  // (unhandled, EPIPE would end the process at once and leave the registry running).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' || readerGone) return;
    readerGone = true;
    interrupted = true;
    void cleanup().finally(() => process.exit(141));
  });

  try {
    const b = (s: string) => (color ? `\x1b[1m${s}\x1b[22m` : s);
    say(b('Rollback demo: a shop of four services (orders, payments, inventory, web) runs in Marathon.'));
    say('Yesterday\'s release (orders, inventory, web) broke an old feature; payments was not part of it.');
    say('We put the whole fleet back to the images of an earlier date, all or nothing.\n');
    say(b('Starting a throwaway environment on loopback:'));
    starting = startEnvironment({ registryDouble: args['registry-double'], say: (t) => say(`   ${t}`) });
    const env = await starting;
    say(`   Worker: ${useSource ? 'the TypeScript sources (tsx)' : `the bundle Jenkins runs, node ${bundle.startsWith(`${root}/`) ? relative(root, bundle) : bundle}`}; work folder ${env.workDir}`);
    const workerEnv: NodeJS.ProcessEnv = { ...process.env, ...env.workerEnv };
    delete workerEnv.ROLLBACK_PARAMS; // the demo passes flags; a value left in the shell must not change them
    worker = createWorker({
      entry: useSource ? resolve(root, 'src/index.ts') : bundle,
      tsxLoader: resolve(root, 'node_modules/tsx/dist/loader.mjs'),
      cwd: env.workDir,
      env: workerEnv,
    });
    const result = await runFlow(env, worker, {
      date: args.date,
      interactive,
      undo: !args['no-undo'],
      approver: `${safeUser()} (demo)`,
      color,
      say,
      confirm: interactive ? confirm : undefined,
    });
    if (result.code === 0) say(`\n${b('Done')} in ${((Date.now() - started) / 1000).toFixed(1)} s. Cleaning up.`);
    return result.code;
  } catch (err) {
    // After an interrupt the flow trips over the servers going away; that is not news.
    if (!interrupted) process.stderr.write(`demo: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

function safeUser(): string {
  try {
    return userInfo().username || 'you';
  } catch {
    return 'you';
  }
}

function confirm(question: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    // readline eats Ctrl-C at a prompt; pass it on so the demo cleans up like anywhere else.
    rl.on('SIGINT', () => {
      rl.close();
      process.kill(process.pid, 'SIGINT');
    });
    rl.question(question, (answer) => {
      rl.close();
      resolvePromise(!/^\s*n/i.test(answer));
    });
  });
}

void main().then((code) => {
  process.exitCode = code;
});
