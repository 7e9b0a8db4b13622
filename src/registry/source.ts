/**
 * Where images come from. The Distribution-API source (any Docker/OCI registry) is one; a GHCR
 * source (GitHub Packages API) is another. `openImageSource` is the one place that picks.
 */
import type { Config } from '../config/types';
import type { HttpClientOptions } from '../http/client';
import type { Logger } from '../log';
import type { DateCache } from './cache';
import { createRegistryClient, RegistryClient, SkippedImage } from './client';
import { ghcrSource, isGhcr } from './ghcr';
import { runPool } from '../run/pool';

/** Tags of one repository being dated at once; at least the widest registry.concurrency (64). */
const TAGS_IN_FLIGHT = 64;

export interface FoundImage {
  tag: string;
  /** Manifest digest the tag pointed at when read. */
  digest: string;
  /** Creation time, ISO 8601 UTC. */
  created: string;
}

/** Progress of one repository: `tags` accepted by the filter, `done` of them dated so far. */
export interface RepositoryProgress {
  tags: number;
  done: number;
}

export interface ImageSource {
  /** For messages: "registry https://registry.example.com". */
  describe(): string;
  /** Checks the source answers and accepts our credentials, before any repository is read. */
  ready?(): Promise<void>;
  /**
   * Every image of a repository whose tag `accepts`, dated. Tags that cannot be dated are skipped
   * with a warning. Once `signal` aborts (another repository failed), no new request is started.
   */
  images(repository: string, accepts: (tag: string) => boolean, onProgress?: (p: RepositoryProgress) => void, signal?: AbortSignal): Promise<FoundImage[]>;
  /** HTTP requests sent so far. */
  requests(): number;
  close(): Promise<void>;
}

export interface SourceOptions {
  logger: Logger;
  cache: DateCache;
  http?: HttpClientOptions;
  onRequest?: (method: string, url: string) => void;
}

export type SourceFactory = (config: Config, options: SourceOptions) => ImageSource;

/** Picks the image source for a configuration. Add new kinds here. */
export const openImageSource: SourceFactory = (config, options) =>
  // ghcr.io: one paginated Packages API listing per repository instead of a manifest per tag.
  isGhcr(config.registry.url) ? ghcrSource(config, options) : distributionSource(createRegistryClient(config.registry, options), config.registry.url, options);

/**
 * Images from a Distribution-API registry. Cold (empty cache): one GET of the manifest and one of
 * the config blob per tag. Warm: a HEAD per tag for its digest, and the date from the cache;
 * only digests not in the cache are read in full.
 */
export function distributionSource(client: RegistryClient, url: string, options: SourceOptions): ImageSource {
  const { cache, logger } = options;
  return {
    describe: () => `registry ${url}`,
    ready: async () => void (await client.probe()),
    requests: () => client.requests(),
    close: () => client.close(),
    async images(repository, accepts, onProgress, signal) {
      await client.probe();
      const tags = (await client.tags(repository)).filter(accepts);
      const progress = { tags: tags.length, done: 0 };
      onProgress?.({ ...progress });
      const warm = cache.size() > 0;
      const skipped: string[] = [];
      // A bounded pool of tags, not one task per tag: at 100k tags, 50k tasks queued at once behind
      // the limiter held ~600 MB (npm run bench); 64 per repository still fill the widest limiter.
      const found: (FoundImage | undefined)[] = new Array(tags.length);
      await runPool(tags, TAGS_IN_FLIGHT, async (tag, index) => {
        found[index] = await (async (): Promise<FoundImage | undefined> => {
          try {
            signal?.throwIfAborted();
            if (warm) {
              const digest = await client.digest(repository, tag);
              const created = cache.get(digest);
              if (created) return { tag, digest, created };
              const dated = await client.imageDate(repository, digest);
              cache.set(dated.digest, dated.created);
              return { tag, digest: dated.digest, created: dated.created };
            }
            const dated = await client.imageDate(repository, tag);
            cache.set(dated.digest, dated.created);
            return { tag, ...dated };
          } catch (err) {
            if (!(err instanceof SkippedImage)) throw err;
            skipped.push(err.message);
            return undefined;
          } finally {
            progress.done++;
            onProgress?.({ ...progress });
          }
        })();
      });
      if (skipped.length > 0) {
        logger.warn(`${repository}: ${skipped.length} tag(s) skipped, e.g. ${skipped[0]}`);
        for (const s of skipped) logger.debug(s);
      }
      return found.filter((f): f is FoundImage => f !== undefined);
    },
  };
}
