/**
 * `rollback select`: the terminal's answer to Jenkins' `input` step, for shell and Ansible users.
 * Lists the catalog's dates, each with its plan (what it would change, per service, against what
 * the target runs now), and reads the choice: arrow keys + Enter, or the date's number.
 * stdout carries the chosen date and nothing else, so `date=$(rollback select ...)` works;
 * the list itself goes to the terminal on stderr.
 * Cancelling (Esc, q, Ctrl-C) changes nothing and exits 1, like any run that did nothing.
 */
import { dirname, join, resolve } from 'node:path';
import { describeUndoes } from '../../plan/undoes-fetch';
import { undoesSummary } from '../../plan/undoes';
import { failure, inputError } from '../../errors';
import { parseReference } from '../../image/reference';
import type { CatalogPoint } from '../../catalog/types';
import { planServices, type Plan, type PlanService } from '../../plan/plan';
import { planFor } from '../../plan/points';
import { pointLabel } from '../../points/merge';
import type { CommandContext } from '../context';
import { requireOption } from '../options';
import { colorEnabled } from '../progress';
import { pickInTerminal, type PickerItem, type TerminalIn, type TerminalOut } from '../terminal';
import { currentImages } from './plan';
import { heldByConfig, readCatalogFor, setup, type RunIo } from './run';
import { choosePlan } from '../../plan/choose';

export interface SelectIo extends RunIo {
  /** Where the list is drawn; process.stderr by default. */
  terminal?: TerminalOut;
}

/** Dates whose plans say what they take away (GitHub/GitLab calls only for these). */
const UNDOES_SHOWN = 3;

const tagOf = (reference: string) => {
  const r = parseReference(reference);
  return r.tag ?? (r.digest ? `@${r.digest.slice(0, 19)}` : reference);
};

/** One line saying what a date changes, and one line per service, compactly (pure). */
export function describePlan(date: string, entries: PlanService[]): PickerItem {
  const changed = entries.filter((e) => e.action === 'change');
  const total = entries.length;
  const label = changed.length === 0
    ? `${date}  nothing changes (the fleet already runs these images)`
    : `${date}  ${changed.length} of ${total} service${total === 1 ? '' : 's'} change: ${changed.map((e) => e.service).join(', ')}`;
  const width = Math.max(...entries.map((e) => e.service.length));
  const detail = [`Plan for ${date}:`];
  for (const e of entries) {
    const name = e.service.padEnd(width);
    const to = e.target ? tagOf(e.target) : '';
    // A build from an earlier day is the seed's special case: say so, it is what people double-check.
    if (e.action === 'change') detail.push(`${name}  ${tagOf(e.current)} -> ${to}  (built ${e.day}${e.day !== date ? `, no build on ${date}` : ''})`);
    else if (e.action === 'skip') detail.push(`${name}  stays on ${to}  (already runs it)`);
    else detail.push(`${name}  ${e.reason}`);
    // What the change takes away, when the images say where they come from (src/plan/undoes.ts).
    if (e.action === 'change' && e.undoes && (e.undoes.from || e.undoes.to)) {
      detail.push(`${' '.repeat(width)}  ${undoesSummary(e.undoes) || `${e.undoes.from ?? '?'} -> ${e.undoes.to ?? '?'}`}`);
      if (e.undoes.forward) detail.push(`${' '.repeat(width)}  warning: ${e.undoes.forward}`);
    }
  }
  return { label, detail };
}

/** A release point as a choice: "2026-11-25T14:02:11Z  orders 105, inventory 303, web 404 (Jenkins #412)", its plan below (pure). */
export function describePointChoice(point: CatalogPoint, entries: PlanService[]): PickerItem {
  const detail = [`Plan for ${point.time}:`];
  const width = Math.max(...entries.map((e) => e.service.length));
  for (const e of entries) {
    const name = e.service.padEnd(width);
    if (e.action === 'change') detail.push(`${name}  ${tagOf(e.current)} -> ${e.target ? tagOf(e.target) : ''}`);
    else if (e.action === 'skip') detail.push(`${name}  stays on ${e.target ? tagOf(e.target) : ''}  (already runs it)`);
    else detail.push(`${name}  ${e.reason}`);
  }
  return { label: pointLabel(point), detail };
}

export async function selectCommand(ctx: CommandContext, io: SelectIo = {}): Promise<number> {
  const input = (ctx.stdin ?? process.stdin) as TerminalIn;
  const terminal = io.terminal ?? process.stderr;
  // Refuse first: a script must learn at once that it should pass the date instead.
  if (!input.isTTY || !input.setRawMode || !(ctx.stderrIsTTY ?? terminal.isTTY)) {
    throw inputError("'rollback select' needs a terminal to ask in (stdin and stderr must be a TTY); in scripts, Ansible and Jenkins pass the date with --date (one of the dates 'rollback get' prints).");
  }
  const envName = requireOption(ctx.options, 'env', '--env');
  requireOption(ctx.options, 'config', '--config');
  const catalog = readCatalogFor(resolve(ctx.cwd, ctx.options.catalog), envName);
  // A catalog of release points (get --points released): each point with what ran and where it came from.
  const points = catalog.points ?? [];
  if (catalog.choices.length === 0 && points.length === 0) {
    throw failure(`The catalog for ${envName} has no rollback points (no tag matches ${catalog.tagPattern}); there is nothing to choose.`);
  }
  const s = await setup(ctx, io, false);
  let plans: Plan[];
  try {
    const current = await currentImages(s, catalog);
    // As `rollback plan` shows each date: the config's held services stay, and the plan says so.
    plans = (points.length ? points.map((p) => p.time) : catalog.choices).map((date) => choosePlan(planFor(catalog, date, current), {}, heldByConfig(s.config)));
    // What each change takes away, for the newest few (as the Jenkins question shows): one after another, so each finds the last one's answers cached.
    for (let i = 0; i < Math.min(UNDOES_SHOWN, plans.length); i++) {
      plans[i] = await describeUndoes(plans[i], catalog, { config: s.config, logger: ctx.logger, env: ctx.env, cacheFile: join(dirname(resolve(ctx.cwd, ctx.options.catalog)), 'compare-cache.json'), catalogHasProvenance: points.length === 0 });
    }
  } finally {
    await s.close();
  }

  const items = plans.map((p, i) => (points.length ? describePointChoice(points[i], planServices(p)) : describePlan(p.date, planServices(p))));
  const title = `Roll ${envName} back to which date? (${s.target.describe()})`;
  const result = await pickInTerminal(input, terminal, items, { title, color: colorEnabled(ctx.env) });
  if ('cancelled' in result) {
    ctx.logger.info(`No date chosen (${result.cancelled}); nothing was changed.`);
    return 1;
  }
  const date = points.length ? points[result.chosen].time : plans[result.chosen].date;
  ctx.stdout(`${date}\n`);
  return 0;
}
