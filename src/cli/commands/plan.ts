/**
 * `rollback plan --config rollback.yml --env prod --date 2026-11-19 [--only a,b | --except c] [--catalog FILE] [--json]`
 * What a date would change, per service, against what the target runs now: a table on stdout
 * (or JSON with --json). Changes nothing, takes no lock.
 */
import { checkDate, formatPlan, planJson } from '../../plan/plan';
import { planFor } from '../../plan/points';
import { releasedCatalogFor } from './points';
import { inputError } from '../../errors';
import type { CommandContext } from '../context';
import type { Catalog } from '../../catalog/types';
import { choosePlan } from '../../plan/choose';
import { heldByConfig, loadEnvironment, readCatalogFor, selectionOf, setup, type RunIo, type Setup } from './run';
import { runPool } from '../../run/pool';
import { describeUndoes } from '../../plan/undoes-fetch';
import { withUndoes } from '../../plan/undoes';
import { dirname, join } from 'node:path';

/** What every service of the catalog runs now, asked of the target (plan and select need it). */
export async function currentImages(s: Pick<Setup, 'config' | 'target'>, catalog: Catalog): Promise<Record<string, string>> {
  const current: Record<string, string> = {};
  await runPool(catalog.services, s.config.parallel, async (cs) => {
    const service = s.config.services.find((x) => x.name === cs.name);
    if (!service) throw inputError(`The catalog lists service '${cs.name}', which is not in ${s.config.source}; run 'rollback get' again.`);
    current[cs.name] = (await s.target.current(service)).image;
  });
  return current;
}

export async function planCommand(ctx: CommandContext, io: RunIo = {}): Promise<number> {
  const loaded = loadEnvironment(ctx);
  const at = ctx.options.at;
  const stored = at ? undefined : readCatalogFor(loaded.catalogFile, loaded.environment.name);
  const date = at ?? checkDate(stored!, ctx.options.date);
  const selection = selectionOf(ctx, loaded.config);
  const s = await setup(ctx, io, false, loaded);
  try {
    const catalog = stored ?? (await releasedCatalogFor(ctx, s));
    const chosen = choosePlan(planFor(catalog, date, await currentImages(s, catalog)), selection, heldByConfig(s.config));
    // What each change takes away (revisions, compare link, commits); cached beside the date cache.
    const plan = await describeUndoes(chosen, catalog, { config: s.config, logger: ctx.logger, env: ctx.env, cacheFile: join(dirname(loaded.catalogFile), 'compare-cache.json'), catalogHasProvenance: !at });
    ctx.stdout(ctx.options.json ? planJson(plan) : withUndoes(formatPlan(plan), plan.entries));
    // What the target adds (image automation told to be ignored, health not checked): after the table, or in the log with --json.
    const services = catalog.services.map((cs) => s.config.services.find((x) => x.name === cs.name)!);
    for (const note of await s.target.notes?.(services) ?? []) {
      if (ctx.options.json) ctx.logger.info(note);
      else ctx.stdout(`${note}\n`);
    }
    return 0;
  } finally {
    await s.close();
  }
}
