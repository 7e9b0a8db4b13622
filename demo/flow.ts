/**
 * The demo's flow: the main job, step by step, through the real worker:
 * get -> the plan of each date -> choose a date -> run -> the fleet before and after, and the
 * Slack message -> undo. The environment (registry, Marathon, Slack) and the worker are passed in,
 * so the test suite runs this very flow and checks what it did.
 */
import { relative } from 'node:path';
import { describePlan } from '../src/cli/commands/select';
import type { PlanService } from '../src/plan/plan';
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
  plan?: PlanJson;
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
  // Image references are long (registry host, 64-digit digests); the demo shortens them when it shows them.
  const show = (text: string, indent = '   ') => {
    for (const line of text.replace(/\n+$/, '').split('\n')) if (line.trim()) say(dim(`${indent}${shortenReferences(line, env.registryHost)}`));
  };
  // Shows the command (shell-quoted, as you would type it), runs it, shows its logs (|) and answer (>).
  const rollback = async (args: string[], opts: { interactive?: boolean } = {}): Promise<WorkerResult> => {
    say(`   $ rollback ${args.map((a) => (/^[\w./:@=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`);
    const r = await worker.run(args, { interactive: opts.interactive });
    show(r.stderr, '   | ');
    show(r.stdout, '   > ');
    return r;
  };
  const result: FlowResult = { code: 1, choices: [], before: [], slack: [] };

  step(1, 'Read the registry: which dates can the whole fleet go back to?');
  const got = await rollback(['get', ...base]);
  if (got.code !== 0) return fail(say, result, got, 'get');
  result.choices = got.stdout.split('\n').filter(Boolean);
  say(`   ${result.choices.length} rollback points; develop and stage builds were left out by the tag rule of prod.`);

  step(2, 'What would each date change? (against what Marathon runs now)');
  say(`   $ rollback plan ${base.join(' ')} --date <each date> --json   ${dim('(summarised)')}`);
  const plans = new Map<string, PlanJson>();
  for (const date of result.choices) {
    const p = await worker.run(['plan', ...base, '--date', date, '--json']);
    if (p.code !== 0) {
      show(p.stderr, '   | ');
      return fail(say, result, p, 'plan');
    }
    const plan = JSON.parse(p.stdout) as PlanJson;
    plans.set(date, plan);
    const { label, detail } = describePlan(date, plan.services);
    say(`   ${label}`);
    for (const line of detail.slice(1)) say(dim(`       ${line}`));
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
  result.plan = plans.get(date);

  step(4, `Roll prod back to ${date}`);
  result.before = await env.fleet();
  say('   The fleet in Marathon before:');
  showFleet(say, env.registryHost, result.before);
  const run = await rollback(['run', ...base, '--date', date, '--approver', options.approver]);
  result.afterRun = await env.fleet();
  result.slack = env.slackMessages();
  if (run.code !== 0) return fail(say, result, run, 'run');
  say('   The fleet after (* changed):');
  showFleet(say, env.registryHost, result.afterRun, result.before);
  if (result.slack.length === 0) say('   Slack received nothing.');
  else {
    say(`   Slack received ${result.slack.length} message${result.slack.length === 1 ? '' : 's'}; the last one:`);
    show(result.slack[result.slack.length - 1], '     ');
  }

  step(5, 'Undo: put back what the rollback replaced');
  if (sameFleet(result.afterRun, result.before)) {
    // The date the fleet already runs: re-running a rollback is safe and changes nothing.
    say('   Nothing changed, so there is nothing to undo.');
    result.code = 0;
    return result;
  }
  const undo = options.interactive && options.confirm ? await options.confirm('   Undo the rollback now? [Y/n] ') : options.undo;
  if (!undo) {
    say('   Skipped (the environment is thrown away anyway).');
  } else {
    const u = await rollback(['undo', ...base, '--approver', options.approver]);
    result.afterUndo = await env.fleet();
    result.slack = env.slackMessages();
    if (u.code !== 0) return fail(say, result, u, 'undo');
    say('   The fleet after undo (* changed):');
    showFleet(say, env.registryHost, result.afterUndo, result.afterRun);
  }
  result.code = 0;
  return result;
}

function sameFleet(a: FleetApp[], b: FleetApp[]): boolean {
  return a.length === b.length && a.every((app, i) => app.id === b[i].id && app.image === b[i].image);
}

function fail(say: (t: string) => void, result: FlowResult, r: WorkerResult | undefined, what: string): FlowResult {
  say(`   The demo stops here: '${what}' ${r ? `exited with ${r.code}` : 'had no date to use'}.`);
  result.code = r?.code || 1;
  return result;
}

/** `rollback plan --json`, as printed. */
export interface PlanJson {
  environment: string;
  date: string;
  services: PlanService[];
}

/** Text with the demo registry's host left out of image references and digests cut to 12 digits. */
export function shortenReferences(text: string, registryHost: string): string {
  return text.split(`${registryHost}/`).join('').replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1…');
}

function showFleet(say: (t: string) => void, registryHost: string, fleet: FleetApp[], previous?: FleetApp[]): void {
  const width = Math.max(...fleet.map((a) => a.id.length));
  for (const app of fleet) {
    const was = previous?.find((p) => p.id === app.id)?.image;
    const mark = previous && was !== app.image ? '*' : ' ';
    say(`   ${mark} ${app.id.padEnd(width)}  ${shortenReferences(app.image, registryHost)}`);
  }
}
