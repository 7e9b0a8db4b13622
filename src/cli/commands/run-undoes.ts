/**
 * What each change of `rollback run` takes away (docs/undoes.md), for the notifiers: worked out
 * before the engine starts with the plan command's functions and compare cache, then added to
 * every change of the run's events. Only a change the engine makes exactly as planned here (same
 * image before, same target) gets it. Any failure leaves the changes without it: the run goes on.
 */
import { dirname, join } from 'node:path';
import type { Catalog } from '../../catalog/types';
import { choosePlan, type Selection } from '../../plan/choose';
import { planFor } from '../../plan/points';
import { describeUndoes } from '../../plan/undoes-fetch';
import type { Undoes } from '../../plan/undoes';
import type { Change, Notifier, RunEvent } from '../../notify/types';
import type { CommandContext } from '../context';
import { exitCodeOf } from '../../errors';
import { currentImages } from './plan';
import { heldByConfig, type Setup } from './run';

interface Planned {
  from: string;
  to: string;
  undoes: Undoes;
}

/** Per changing service: the image it runs now, its target and what the change takes away. */
export async function undoesForRun(ctx: CommandContext, s: Setup, catalog: Catalog, date: string, selection: Selection): Promise<Map<string, Planned>> {
  const out = new Map<string, Planned>();
  try {
    const chosen = choosePlan(planFor(catalog, date, await currentImages(s, catalog)), selection, heldByConfig(s.config));
    const plan = await describeUndoes(chosen, catalog, {
      config: s.config, logger: ctx.logger, env: ctx.env, cacheFile: join(dirname(s.catalogFile), 'compare-cache.json'), catalogHasProvenance: !ctx.options.at,
    });
    for (const e of plan.entries) if (e.action === 'change' && e.target && e.undoes) out.set(e.service, { from: e.current, to: e.target.reference, undoes: e.undoes });
  } catch (err) {
    // Bad input (an unknown date or point, say) is the engine's to refuse, in its one sentence.
    if (exitCodeOf(err) === 2) return out;
    ctx.logger.warn(`What the rollback takes away could not be worked out for the notifications (${(err as Error).message.replace(/\.$/, '')}); the run goes on without it.`);
  }
  return out;
}

/** The notifier, with `undoes` on every change of a run's events that the engine makes as planned. */
export function withChangeUndoes(notifier: Notifier, planned: Map<string, Planned>): Notifier {
  if (planned.size === 0) return notifier;
  const add = (c: Change): Change => {
    const p = planned.get(c.service);
    return p && p.from === c.from && p.to === c.to ? { ...c, undoes: p.undoes } : c;
  };
  return {
    name: notifier.name,
    notify(event: RunEvent): Promise<void> {
      if (event.run.action !== 'run') return notifier.notify(event);
      const run = { ...event.run, changes: event.run.changes.map(add) };
      return notifier.notify('change' in event ? { ...event, run, change: add(event.change) } : { ...event, run });
    },
  };
}
