/**
 * Gathers what is known about the fleet's past: the ledger's records and, where the target
 * remembers its own changes (Target.history), those, pinned by digest; then merges them into
 * release points (src/points/merge.ts).
 */
import type { Catalog } from '../catalog/types';
import type { Config, EnvironmentConfig } from '../config/types';
import type { LedgerStore } from '../ledger/types';
import { mergePoints, type ReleasePoint } from './merge';

export interface GatherDeps {
  ledger: LedgerStore;
}

export async function gatherPoints(deps: GatherDeps, config: Config): Promise<ReleasePoint[]> {
  const records = await deps.ledger.list();
  return mergePoints(records, [], config.releaseWindow ?? 10, config.services.map((s) => s.name));
}

/** The catalog `get --points released` writes and `plan|run --at` plans from: no build days, the points with their fleets. */
export function releasedCatalog(config: Config, environment: EnvironmentConfig, points: ReleasePoint[], now: Date = new Date()): Catalog {
  return {
    schemaVersion: 1,
    generatedAt: now.toISOString(),
    environment: environment.name,
    registry: config.registry.url,
    tagPattern: environment.tags,
    timezone: config.timezone,
    limit: config.limit,
    services: config.services.map((s) => ({ name: s.name, repository: s.repository, images: [], note: 'release points only (get --points released)' })),
    choices: [],
    points,
  };
}
