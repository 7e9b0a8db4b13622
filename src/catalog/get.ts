/**
 * `get` without the CLI: config + environment -> image source -> dated images -> catalog.
 * Used by the get command, the demo and the bench. The caller writes the catalog; this writes
 * only the date cache.
 */
import type { Config } from '../config/types';
import { environmentOf } from '../config/load';
import { RollbackError } from '../errors';
import type { HttpClientOptions } from '../http/client';
import type { Logger } from '../log';
import { memoryDateCache, openDateCache } from '../registry/cache';
import { FoundImage, openImageSource, SourceFactory } from '../registry/source';
import { buildCatalog, byDateDesc, imagePrefix } from './build';
import type { Catalog } from './types';

export interface GetProgress {
  repositoriesDone: number;
  repositoriesTotal: number;
  tagsDone: number;
  /** Tags accepted by the environment's filter so far (grows as tag lists arrive). */
  tagsTotal: number;
  requests: number;
  /** How the registry is spoken to: "HTTP/2, 1 connection". */
  transport?: string;
}

export interface GetOptions {
  logger: Logger;
  /** The date cache file; undefined keeps dates in memory only. */
  cacheFile?: string;
  onProgress?: (p: GetProgress) => void;
  sourceFactory?: SourceFactory;
  http?: HttpClientOptions;
  onRequest?: (method: string, url: string) => void;
  now?: () => Date;
}


export async function getCatalog(config: Config, envName: string, options: GetOptions): Promise<Catalog> {
  const { logger } = options;
  const env = environmentOf(config, envName);
  const pattern = new RegExp(env.tags);
  const accepts = (tag: string) => pattern.test(tag);
  const cache = options.cacheFile ? openDateCache(options.cacheFile, logger) : memoryDateCache();
  const source = (options.sourceFactory ?? openImageSource)(config, { logger, cache, http: options.http, onRequest: options.onRequest });
  const repositories = [...new Set(config.services.map((s) => s.repository))];
  const perRepo = new Map<string, { tags: number; done: number }>();
  let repositoriesDone = 0;
  const report = () => {
    if (!options.onProgress) return;
    let tagsDone = 0;
    let tagsTotal = 0;
    for (const p of perRepo.values()) {
      tagsDone += p.done;
      tagsTotal += p.tags;
    }
    options.onProgress({ repositoriesDone, repositoriesTotal: repositories.length, tagsDone, tagsTotal, requests: source.requests(), transport: source.transport?.() });
  };
  logger.debug(`Reading ${repositories.length} repositories from ${source.describe()}, tags matching /${env.tags}/.`);
  const found = new Map<string, FoundImage[]>();
  const abort = new AbortController();
  try {
    // Registry-wide trouble (unreachable, wrong password) is said once, not per service.
    await source.ready?.();
    // All repositories at once: the registry client's limiter bounds the requests in flight.
    // The first failure stops new requests; we wait for the ones in flight before closing.
    const results = await Promise.allSettled(
      repositories.map(async (repository) => {
        try {
          const images = await source.images(
            repository,
            accepts,
            (p) => {
              perRepo.set(repository, p);
              report();
            },
            abort.signal,
          );
          // Only the newest `limit` can reach the catalog: the rest is let go now, not held until
          // every repository is read (50,000 images at 100k tags).
          found.set(repository, images.sort(byDateDesc).slice(0, config.limit));
        } catch (err) {
          if (abort.signal.aborted && (err as Error)?.name === 'AbortError') throw err;
          abort.abort();
          if (err instanceof RollbackError) {
            const services = config.services.filter((s) => s.repository === repository).map((s) => s.name).join(', ');
            throw new RollbackError(err.kind, `Service ${services}: ${err.message}`, { cause: err, retryable: err.retryable });
          }
          throw err;
        }
        repositoriesDone++;
        report();
      }),
    );
    // The first real failure, not the aborts it caused in other repositories.
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    const first = failures.find((e) => (e as Error)?.name !== 'AbortError') ?? failures[0];
    if (first !== undefined) throw first;
  } finally {
    try {
      // Dates learnt before a failure still save the next run its requests.
      cache.save();
    } catch (err) {
      logger.warn(`Date cache ${options.cacheFile} could not be written (${(err as Error).message}); the next get will be cold.`);
    }
    await source.close();
  }
  const services = config.services.map((s) => {
    const images = found.get(s.repository) ?? [];
    if (images.length > 0) return { name: s.name, repository: s.repository, images };
    const undated = source.undated?.(s.repository) ?? 0;
    const note = undated > 0
      ? `${undated === 1 ? 'the only tag' : `all ${undated} tags`} of ${s.repository} matching /${env.tags}/ ${undated === 1 ? 'has' : 'have'} no usable date (no 'created' after 1980, no date label, no annotation), so ${s.name} has no rollback point`
      : `no tag of ${s.repository} matching /${env.tags}/ could be found and dated, so ${s.name} has no rollback point`;
    logger.warn(`Service ${s.name}: ${note}.`);
    return { name: s.name, repository: s.repository, images, note };
  });
  return buildCatalog({
    environment: env.name,
    registry: config.registry.url,
    registryHost: imagePrefix(config.registry.url),
    tagPattern: env.tags,
    timezone: config.timezone,
    limit: config.limit,
    services,
    generatedAt: (options.now?.() ?? new Date()).toISOString(),
  });
}
