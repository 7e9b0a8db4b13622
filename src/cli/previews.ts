/**
 * `rollback get --previews N`: the plans of the newest N dates, written beside the catalog in the
 * same worker run as the get, so a Jenkins question shows them without starting the worker again.
 * The target is asked once what it runs; every preview is a plan against that answer.
 *   <state>/previews.json           { environment, previews: [{ date, services } | { date, error }] }
 *   <state>/previews/<date>.txt     the plan table (as `rollback plan` prints it), or "(no preview: <sentence>)"
 *   <state>/services.txt            one service per line, "<name>" or "<name> hold" (`hold: true`): the
 *                                   question's checkboxes (vars/rollback.groovy), written by every get
 * A preview is only a help for the person choosing: one that cannot be made says why and get still
 * succeeds (run plans again, and fails loudly).
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Catalog } from '../catalog/types';
import { writeFileAtomic } from '../catalog/io';
import { describeError } from '../errors';
import { buildPlan, formatPlan, planServices, type PlanService } from '../plan/plan';
import { choosePlan } from '../plan/choose';
import type { Config } from '../config/types';
import type { CommandContext } from './context';
import { currentImages } from './commands/plan';
import { heldByConfig, loadEnvironment, setup } from './commands/run';
import { describeUndoes } from '../plan/undoes-fetch';
import { withUndoes } from '../plan/undoes';

type Preview = { date: string; services: PlanService[]; table: string } | { date: string; error: string };

async function makePreviews(ctx: CommandContext, catalog: Catalog, dates: string[]): Promise<Preview[]> {
  let current: Record<string, string>;
  let held: string[];
  let loaded: ReturnType<typeof loadEnvironment>;
  try {
    loaded = loadEnvironment(ctx);
    held = heldByConfig(loaded.config);
    const s = await setup(ctx, {}, false, loaded);
    try {
      current = await currentImages(s, catalog);
    } finally {
      await s.close();
    }
  } catch (err) {
    const error = describeError(err);
    return dates.map((date) => ({ date, error }));
  }
  const previews: Preview[] = [];
  // One date after another: each finds the compare answers of the one before in the cache.
  for (const date of dates) {
    try {
      // As `rollback plan` shows it without --only/--except: the config's held services stay.
      const chosen = choosePlan(buildPlan(catalog, date, current), {}, held);
      // What each change takes away (a help only: describeUndoes says why when it cannot tell).
      const plan = await describeUndoes(chosen, catalog, { config: loaded.config, logger: ctx.logger, env: ctx.env, cacheFile: join(dirname(loaded.catalogFile), 'compare-cache.json'), catalogHasProvenance: true });
      previews.push({ date, services: planServices(plan), table: withUndoes(formatPlan(plan), plan.entries, true) });
    } catch (err) {
      previews.push({ date, error: describeError(err) });
    }
  }
  return previews;
}

/** Writes the previews of the newest `count` dates into stateDir (and clears those of an earlier get). */
export async function writePreviews(ctx: CommandContext, catalog: Catalog, stateDir: string, count: number): Promise<void> {
  const dir = join(stateDir, 'previews');
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(stateDir, 'previews.json'), { force: true });
  if (count <= 0) return;
  const previews = await makePreviews(ctx, catalog, catalog.choices.slice(0, count));
  for (const p of previews) {
    writeFileAtomic(join(dir, `${p.date}.txt`), 'error' in p ? `(no preview: ${p.error})\n` : p.table);
    if ('error' in p) ctx.logger.info(`No preview of ${p.date}: ${p.error}`);
  }
  const json = previews.map((p) => ('error' in p ? p : { date: p.date, services: p.services }));
  writeFileAtomic(join(stateDir, 'previews.json'), JSON.stringify({ environment: catalog.environment, previews: json }, null, 2) + '\n');
  ctx.logger.info(`Previews of the newest ${previews.length} rollback points: ${join(stateDir, 'previews')}/.`);
}

/**
 * The catalog's services for the Jenkins question, one per line: "<name>", or "<name> hold" for a
 * service the configuration holds back (its checkbox starts unchecked).
 */
export function writeServiceChoices(stateDir: string, catalog: Catalog, config: Config): void {
  const hold = new Set(heldByConfig(config));
  writeFileAtomic(join(stateDir, 'services.txt'), catalog.services.map((s) => `${s.name}${hold.has(s.name) ? ' hold' : ''}\n`).join(''));
}
