/**
 * The demo's flow: the main job, step by step, through the real worker:
 * get -> the plan of each date -> choose a date -> run -> the fleet before and after, and the
 * Slack message -> undo. The environment (registry, Marathon, Slack) and the worker are passed in,
 * so the test suite runs this very flow and checks what it did.
 */
import { relative } from 'node:path';
import type { DemoEnvironment, FleetApp } from './environment';
import { defaultDate } from './story';
import type { Worker, WorkerResult } from './worker';

export interface FlowOptions {
  /** The date to roll back to; asked in the terminal when absent and interactive. */
  date?: string;
  /** Ask in the terminal (select, and whether to undo). */
  interactive: boolean;
  /** Run undo at the end (non-interactive); interactive runs ask. */
  undo: boolean;
  /** Who approves, as Slack will show it. */
  approver: string;
  color: boolean;
  /** Writes a line of the demo's narration. */
  say: (text: string) => void;
  /** Asks a yes/no question in the terminal (interactive only). */
  confirm?: (question: string) => Promise<boolean>;
}

export interface FlowResult {
  /** 0 when the story ran to its end. */
  code: number;
  choices: string[];
  date?: string;
  /** The plan of the chosen date, as `rollback plan --json` printed it. */
  plan?: { services: { service: string; current: string; target: string | null; action: string }[] };
  before: FleetApp[];
  afterRun?: FleetApp[];
  afterUndo?: FleetApp[];
  slack: string[];
}

export async function runFlow(env: DemoEnvironment, worker: Worker, options: FlowOptions): Promise<FlowResult> {
  const { say } = options;
  const bold = (s: string) => (options.color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string) => (options.color ? `\x1b[2m${s}\x1b[22m` : s);
  const config = relative(env.workDir, env.configFile) || env.configFile;
  const base = ['--config', config, '--env', 'prod'];
  const step = (n: number, text: string) => say(`\n${bold(`${n}. ${text}`)}`);
  const show = (text: string, indent = '   ') => {
    for (const line of text.replace(/\n+$/, '').split('\n')) if (line.trim()) say(dim(`${indent}${line}`));
  };
  const rollback = async (args: string[], opts: { interactive?: boolean; quiet?: boolean } = {}): Promise<WorkerResult> => {
    say(`   $ rollback ${args.join(' ')}`);
    const r = await worker.run(args, { interactive: opts.interactive });
    if (!opts.quiet) {
      show(r.stderr, '   | ');
      show(r.stdout, '   > ');
    }
    return r;
  };
  const result: FlowResult = { code: 1, choices: [], before: [], slack: [] };

  step(1, 'Read the registry: which dates can the whole fleet go back to?');
  const got = await rollback(['get', ...base]);
  if (got.code !== 0) return fail(say, result, got, 'get');
  result.choices = got.stdout.split('\n').filter(Boolean);
  say(`   ${result.choices.length} rollback points; develop and stage builds were left out by the tag rule of prod.`);

  step(2, 'What would each date change?');
  for (const date of result.choices) {
    const p = await rollback(['plan', ...base, '--date', date]);
    if (p.code !== 0) return fail(say, result, p, 'plan');
  }

  step(3, 'Choose the date');
  let date = options.date;
  if (!date && options.interactive) {
    const chosen = await rollback(['select', ...base], { interactive: true });
    if (chosen.code !== 0) {
      say('   No date chosen: nothing was changed.');
      result.code = chosen.code;
      return result;
    }
    date = chosen.stdout.trim();
  } else if (!date) {
    date = defaultDate(result.choices);
    say(`   Not asking (no terminal): taking ${date}, the newest date before the last release (${result.choices[0]}).`);
  } else {
    say(`   Taking ${date} (--date).`);
  }
  if (!date) return fail(say, result, undefined, 'select');
  result.date = date;
  const planned = await worker.run(['plan', ...base, '--date', date, '--json']);
  if (planned.code !== 0) return fail(say, result, planned, 'plan');
  result.plan = JSON.parse(planned.stdout) as FlowResult['plan'];

  step(4, `Roll prod back to ${date}`);
  result.before = await env.fleet();
  say('   The fleet in Marathon before:');
  showFleet(say, result.before);
  const run = await rollback(['run', ...base, '--date', date, '--approver', options.approver]);
  result.afterRun = await env.fleet();
  result.slack = env.slackMessages();
  if (run.code !== 0) return fail(say, result, run, 'run');
  say('   The fleet after (* changed):');
  showFleet(say, result.afterRun, result.before);
  say('   Slack received:');
  for (const m of result.slack) show(m, '     ');

  step(5, 'Undo: put back what the rollback replaced');
  const undo = options.interactive && options.confirm ? await options.confirm('   Undo the rollback now? [Y/n] ') : options.undo;
  if (!undo) {
    say('   Skipped (the environment is thrown away anyway).');
  } else {
    const u = await rollback(['undo', ...base]);
    result.afterUndo = await env.fleet();
    result.slack = env.slackMessages();
    if (u.code !== 0) return fail(say, result, u, 'undo');
    say('   The fleet after undo (* changed):');
    showFleet(say, result.afterUndo, result.afterRun);
  }
  result.code = 0;
  return result;
}

function fail(say: (t: string) => void, result: FlowResult, r: WorkerResult | undefined, what: string): FlowResult {
  say(`   The demo stops here: '${what}' ${r ? `exited with ${r.code}` : 'had no date to use'}.`);
  result.code = r?.code || 1;
  return result;
}

/** The image reference, short enough to read: repository:tag, the digest abbreviated. */
export function shortImage(image: string): string {
  const withoutHost = image.replace(/^[^/]+[.:][^/]*\//, '');
  return withoutHost.replace(/@sha256:([0-9a-f]{12})[0-9a-f]+$/, '@sha256:$1…');
}

function showFleet(say: (t: string) => void, fleet: FleetApp[], previous?: FleetApp[]): void {
  const width = Math.max(...fleet.map((a) => a.id.length));
  for (const app of fleet) {
    const was = previous?.find((p) => p.id === app.id)?.image;
    const mark = previous && was !== app.image ? '*' : ' ';
    say(`   ${mark} ${app.id.padEnd(width)}  ${shortImage(app.image)}`);
  }
}
