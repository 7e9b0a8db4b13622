/**
 * Gathers what is known about the fleet's past: the ledger's records and, where the target
 * remembers its own changes (Target.history), those, pinned by digest; then merges them into
 * release points (src/points/merge.ts).
 */
import type { Catalog } from '../catalog/types';
import type { Config, EnvironmentConfig, ServiceConfig } from '../config/types';
import { describeError, RollbackError } from '../errors';
import type { LedgerStore } from '../ledger/types';
import type { Logger } from '../log';
import type { Target } from '../targets/types';
import { mergePoints, type ReleasePoint, type ServiceChange } from './merge';

export interface GatherDeps {
  ledger: LedgerStore;
  target: Pick<Target, 'history' | 'describe'>;
  /** The image as a digest-pinned reference (src/ledger/record.ts registryPinner). */
  pin: (service: ServiceConfig, image: string) => Promise<string>;
  logger: Logger;
}

/** What the target remembers, pinned; an image that cannot be pinned (deleted since) is an unknown image then. */
async function remembered(deps: GatherDeps, config: Config): Promise<ServiceChange[]> {
  if (!deps.target.history) return [];
  let history;
  try {
    history = await deps.target.history(config.services);
  } catch (err) {
    // Points missing from the list could make --at pick an older one: say it, never guess.
    throw new RollbackError('failed', `Could not read what ${deps.target.describe()} remembers of its services' images: ${describeError(err).replace(/\.$/, '')}.`, { cause: err });
  }
  const pinned = new Map<string, Promise<string | undefined>>();
  const pin = (service: ServiceConfig, image: string) => {
    const key = `${service.name}\0${image}`;
    if (!pinned.has(key)) {
      pinned.set(key, deps.pin(service, image).catch((err) => {
        deps.logger.warn(`${history!.source}: ${describeError(err).replace(/\.$/, '')}; ${service.name} has no known image from that change on.`);
        return undefined;
      }));
    }
    return pinned.get(key)!;
  };
  const out: ServiceChange[] = [];
  for (const c of history.changes) {
    const service = config.services.find((s) => s.name === c.service);
    if (!service) continue;
    out.push({ service: c.service, time: c.time, image: await pin(service, c.image), source: history.source });
  }
  return out;
}

export async function gatherPoints(deps: GatherDeps, config: Config): Promise<ReleasePoint[]> {
  const records = await deps.ledger.list();
  const changes = await remembered(deps, config);
  return mergePoints(records, changes, config.releaseWindow ?? 10, config.services.map((s) => s.name));
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
