/**
 * Release points at the edge (docs/points.md):
 *   rollback get --points released ...   prints them, newest first, and writes them into the catalog
 *   rollback plan|run --at TIME ...      plans from them (releasedCatalogFor)
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readCatalog, writeCatalog, writeFileAtomic } from '../../catalog/io';
import type { Catalog } from '../../catalog/types';
import { inputError } from '../../errors';
import { registryHost } from '../../image/reference';
import { openLedger } from '../../ledger/open';
import { registryPinner } from '../../ledger/record';
import { createRegistryClient } from '../../registry/client';
import { gatherPoints, releasedCatalog } from '../../points/gather';
import { pointLabel, type ReleasePoint } from '../../points/merge';
import type { CommandContext } from '../context';
import { setup, type RunIo, type Setup } from './run';

/**
 * The release points of the environment, from the ledger and what the target remembers; points a
 * catalog file already holds (a catalog Jenkins stashed on another agent) are added, never trusted
 * over a live one of the same time.
 */
export async function releasedCatalogFor(ctx: CommandContext, s: Pick<Setup, 'config' | 'environment' | 'stateDir' | 'target' | 'catalogFile'>): Promise<Catalog> {
  const ledger = openLedger(s.config, s.environment.name, s.stateDir, ctx.logger);
  const registry = createRegistryClient(s.config.registry, { logger: ctx.logger });
  let points: ReleasePoint[];
  try {
    points = await gatherPoints({ ledger, target: s.target, pin: registryPinner(registry, registryHost(s.config.registry.url)), logger: ctx.logger }, s.config);
  } finally {
    await ledger.close();
    await registry.close();
  }
  if (existsSync(s.catalogFile)) {
    try {
      const stashed = readCatalog(s.catalogFile);
      if (stashed.environment === s.environment.name) {
        for (const p of stashed.points ?? []) if (!points.some((x) => x.time === p.time)) points.push(p);
        points.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
      }
    } catch (err) {
      ctx.logger.debug(`Catalog ${s.catalogFile} not read for release points: ${(err as Error).message}`);
    }
  }
  return releasedCatalog(s.config, s.environment, points);
}

/** The file beside the catalog holding each point's label ("<time>  <what ran> (<origin>)"), one a line. */
export const POINT_LABELS = 'points.txt';

/** `rollback get --points released` (or config `points: released`). */
export async function getPointsCommand(ctx: CommandContext, io: RunIo = {}): Promise<number> {
  const s = await setup(ctx, io, false);
  try {
    const catalog = await releasedCatalogFor(ctx, s);
    const points = catalog.points ?? [];
    if (points.length === 0) {
      throw inputError(`No release point of ${s.environment.name} is known (no ledger record, nothing the target remembers); run 'rollback record' after a deployment, or use build days (--points built).`);
    }
    writeCatalog(s.catalogFile, catalog);
    // Beside the catalog, for the Jenkins question (vars/rollback.groovy labels): one label per point, newest first.
    writeFileAtomic(join(dirname(s.catalogFile), POINT_LABELS), points.map((p) => `${pointLabel(p)}\n`).join(''));
    for (const p of points) ctx.logger.info(pointLabel(p));
    ctx.logger.info(`${points.length} release point${points.length === 1 ? '' : 's'} of ${s.environment.name}; catalog: ${ctx.options.catalog}.`);
    ctx.stdout(points.map((p) => `${p.time}\n`).join(''));
    return 0;
  } finally {
    await s.close();
  }
}
