/**
 * Where images come from. The Distribution-API source (any Docker/OCI registry) is one; a GHCR
 * source (GitHub Packages API) is another. `openImageSource` is the one place that picks.
 */
import type { Config } from '../config/types';
import type { HttpClientOptions } from '../http/client';
import type { Logger } from '../log';
import type { DateCache } from './cache';
import { createRegistryClient, RegistryClient, SkippedImage } from './client';
import { ghcrRegistry, ghcrSource, ghcrToken, isGhcr } from './ghcr';

export interface FoundImage {
  tag: string;
  /** Manifest digest the tag pointed at when read. */
  digest: string;
  /** Creation time, ISO 8601 UTC. */
  created: string;
  /** The commit it was built from (org.opencontainers.image.revision or org.label-schema.vcs-ref). */
  revision?: string;
  /** The repository it was built from (org.opencontainers.image.source or org.label-schema.vcs-url). */
  source?: string;
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
  /** Tags of a repository read but without a usable date (the plan says so in words). */
  undated?(repository: string): number;
  /** HTTP requests sent so far. */
  requests(): number;
  /** How the registry was spoken to, for the summary: "HTTP/2, 1 connection". */
  transport?(): string | undefined;
  close(): Promise<void>;
}

export interface SourceOptions {
  logger: Logger;
  cache: DateCache;
  http?: HttpClientOptions;
  onRequest?: (method: string, url: string) => void;
  /**
   * registry.immutableTags: trust the cache's tag -> digest entries, so a warm get reads only the
   * tag lists. Default false: a HEAD per tag, because a tag can be pushed again.
   */
  immutableTags?: boolean;
}

export type SourceFactory = (config: Config, options: SourceOptions) => ImageSource;

/** Picks the image source for a configuration. Add new kinds here. */
export const openImageSource: SourceFactory = (config, options) => {
  const distribution = (registry = config.registry) =>
    distributionSource(createRegistryClient(registry, options), config.registry.url, { ...options, immutableTags: config.registry.immutableTags }, config.registry.concurrency);
  if (!isGhcr(config.registry.url)) return distribution();
  // ghcr.io: one paginated Packages API listing per repository instead of a manifest per tag. The
  // Packages API wants a token even for public images: without one, the Distribution API
  // (anonymous pull tokens, or the agent's docker login) is read.
  const token = ghcrToken(config);
  if (!token) return distribution();
  return ghcrSource(config, options, {}, () => distribution(ghcrRegistry(config)));
};

/** One repository being read: its tags to date, and where its answer goes. */
interface RepositoryJob {
  repository: string;
  tags: string[];
  /** Index of the next tag to start. */
  next: number;
  running: number;
  found: (FoundImage | undefined)[];
  skipped: string[];
  undated: number;
  progress: RepositoryProgress;
  onProgress?: (p: RepositoryProgress) => void;
  signal?: AbortSignal;
  failed: boolean;
  error: unknown;
  finish: () => void;
}

/**
 * Images from a Distribution-API registry. Cold (empty cache): one GET of the manifest and one of
 * the config blob per tag. Warm: a HEAD per tag for its digest, and the date from the cache;
 * only digests not in the cache are read in full. With `immutableTags`, a tag already in the
 * cache costs no request at all.
 *
 * Tags are dated by ONE pool of workers shared by all repositories, twice the requests the
 * registry client keeps in flight, so its limiter always has the next request waiting. Never more
 * than that many tags are in progress at once, however large the fleet: with a pool per repository
 * (64 x 50 repositories waiting on a limiter of 8) their requests lived long enough to be promoted
 * to V8's old space, and a get of 100k tags peaked at ~280 MB RSS (npm run bench, docs/bench.md).
 */
export function distributionSource(client: RegistryClient, url: string, options: SourceOptions, concurrency = 8): ImageSource {
  const { cache, logger } = options;
  const host = new URL(url).host;
  // Repositories whose tags are waiting, in the order their tag lists arrived: one repository is
  // finished before the next is started, so its images can be handed back early.
  const queue: RepositoryJob[] = [];
  /** Workers not running: twice the requests the client keeps in flight, known once it has probed (HTTP/2 widens it). */
  let idle: number | undefined;
  let warm: boolean | undefined;
  const undatedBy = new Map<string, number>();

  const dateTag = async (repository: string, tag: string, warm: boolean): Promise<FoundImage> => {
    let reference = tag;
    if (warm) {
      const digest = await client.digest(repository, tag);
      const created = cache.get(digest);
      const provenance = cache.provenance(digest);
      // A date cached before provenance was kept: read once more, for the labels.
      if (created && provenance) return { tag, digest, created, ...provenance };
      reference = digest;
    }
    const dated = await client.imageDate(repository, reference);
    cache.set(dated.digest, dated.created);
    cache.setProvenance(dated.digest, dated.provenance ?? {});
    return { tag, digest: dated.digest, created: dated.created, ...dated.provenance };
  };

  /** The next tag to start, or undefined; drops repositories that are done or stopped. */
  const take = (): { job: RepositoryJob; index: number } | undefined => {
    while (queue.length > 0) {
      const job = queue[0];
      if (!job.failed && job.signal?.aborted) fail(job, job.signal.reason);
      if (!job.failed && job.next < job.tags.length) return { job, index: job.next++ };
      queue.shift();
      settle(job);
    }
    return undefined;
  };

  const fail = (job: RepositoryJob, err: unknown) => {
    if (job.failed) return;
    job.failed = true;
    job.error = err;
  };

  const settle = (job: RepositoryJob) => {
    if (job.running === 0 && (job.failed || job.next >= job.tags.length)) job.finish();
  };

  const worker = async () => {
    idle!--;
    for (let t = take(); t; t = take()) {
      const { job, index } = t;
      job.running++;
      const tag = job.tags[index];
      try {
        const image = await dateTag(job.repository, tag, warm === true);
        job.found[index] = image;
        if (options.immutableTags) cache.rememberTag(`${host}/${job.repository}`, tag, image.digest);
      } catch (err) {
        if (err instanceof SkippedImage) {
          job.skipped.push(err.message);
          if (err.undated) job.undated++;
        }
        else fail(job, err);
      } finally {
        job.running--;
        job.progress.done++;
        job.onProgress?.({ ...job.progress });
        settle(job);
      }
    }
    idle!++;
  };

  /** The tags `accepts`; the full list is not kept while they are dated (100k strings at scale). */
  const environmentTags = async (repository: string, scope: string, accepts: (tag: string) => boolean): Promise<string[]> => {
    const all = await client.tags(repository);
    // Tags deleted from the registry leave the cache (every tag of the repository counts, as
    // other environments share the cache file).
    if (options.immutableTags) cache.forgetTags(scope, all);
    return all.filter(accepts);
  };

  return {
    describe: () => `registry ${url}`,
    undated: (repository) => undatedBy.get(repository) ?? 0,
    ready: async () => void (await client.probe()),
    requests: () => client.requests(),
    transport: () => client.transport?.(),
    close: () => client.close(),
    async images(repository, accepts, onProgress, signal) {
      await client.probe();
      idle ??= 2 * (client.concurrency?.() ?? concurrency);
      // Decided once, before any tag is dated: a cold get must not turn warm half-way.
      warm ??= cache.size() > 0;
      const scope = `${host}/${repository}`;
      const tags = await environmentTags(repository, scope, accepts);
      const known: FoundImage[] = [];
      let todo = tags;
      if (options.immutableTags) {
        // A tag read before keeps its digest and date (the user promises tags are never pushed
        // again); only tags new since the last get are asked for.
        todo = [];
        for (const tag of tags) {
          const digest = cache.tagDigest(scope, tag);
          const created = digest && cache.get(digest);
          const provenance = digest && cache.provenance(digest);
          if (digest && created && provenance) known.push({ tag, digest, created, ...provenance });
          else todo.push(tag);
        }
      } else {
        // Not trusted without the option: entries from an earlier setting must not be used later.
        cache.forgetTags(scope);
      }
      const progress = { tags: tags.length, done: known.length };
      onProgress?.({ ...progress });
      const job: RepositoryJob = { repository, tags: todo, next: 0, running: 0, found: new Array(todo.length), skipped: [], undated: 0, progress, onProgress, signal, failed: false, error: undefined, finish: () => undefined };
      if (todo.length > 0) {
        await new Promise<void>((resolve) => {
          job.finish = resolve;
          queue.push(job);
          // Workers start on demand and end when the queue is empty.
          while (idle! > 0 && queue.length > 0) void worker();
        });
      }
      if (job.failed) throw job.error;
      undatedBy.set(repository, job.undated);
      if (job.skipped.length > 0) {
        logger.warn(`${repository}: ${job.skipped.length} tag(s) skipped, e.g. ${job.skipped[0]}`);
        for (const s of job.skipped) logger.debug(s);
      }
      for (const image of job.found) if (image) known.push(image);
      return known;
    },
  };
}
