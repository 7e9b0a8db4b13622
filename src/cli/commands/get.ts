/**
 * `rollback get`: reads the registry, writes the catalog, prints the rollback points (one date a
 * line, newest first) on stdout and nothing else. Two forms:
 *   rollback get --config rollback.yml --env prod [--catalog FILE]
 *   rollback get --registry URL --repos a,b,c --env master     (the seed's form: tags ending -master)
 * With --previews N (config form only) it also writes the plans of the newest N dates (src/cli/previews.ts).
 */
import { dirname, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { escapeRegExp, loadConfig } from '../../config/load';
import type { Config, TargetConfig } from '../../config/types';
import { inputError } from '../../errors';
import { getCatalog } from '../../catalog/get';
import { writeCatalog } from '../../catalog/io';
import { addSecret } from '../../log';
import type { CommandContext } from '../context';
import { requireOption } from '../options';
import { createProgressLine } from '../progress';
import { writePreviews, writeServiceChoices } from '../previews';

/**
 * A get allocates fast (two answers parsed per tag) and keeps little (the dates): V8 then lets the
 * old generation grow to up to 4x what is live before collecting it, and a get of 100k tags peaked
 * at ~200 MB RSS with ~45 MB live (npm run bench, docs/bench.md). Growing it by 20 % at a time
 * collects sooner at the same CPU time; it is not a limit (a larger fleet still gets the memory it
 * needs). https://github.com/v8/v8/blob/main/src/flags/flag-definitions.h (heap_growing_percent)
 */
function lowerHeapGrowth(): void {
  try {
    setFlagsFromString('--heap-growing-percent=20');
  } catch {
    // A runtime without the flag keeps its default growth.
  }
}

export const SEED_SOURCE = '--registry/--repos flags';

const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/**
 * The in-memory configuration of the seed form. Credentials come from REGISTRY_USER and
 * REGISTRY_PASSWORD (never flags: argv is visible in process lists). Services are named after
 * the last segment of their repository. There is no target: `get` never reads one.
 */
export function seedConfig(registry: string, repos: string, envName: string, env: NodeJS.ProcessEnv): Config {
  if (!/^https?:\/\/[^\s/]+/.test(registry)) throw inputError(`--registry must be a URL such as https://registry.example.com, not '${registry}'.`);
  const repositories = repos.split(',').map((r) => r.trim()).filter(Boolean);
  if (repositories.length === 0) throw inputError('--repos needs at least one repository, e.g. --repos shop/api,shop/web.');
  const bad = repositories.find((r) => !REPOSITORY.test(r));
  if (bad) throw inputError(`--repos: '${bad}' is not a repository name (lowercase, like shop/api).`);
  const lastSegments = repositories.map((r) => r.split('/').pop()!);
  const unique = new Set(lastSegments).size === lastSegments.length;
  const password = env.REGISTRY_PASSWORD || undefined;
  addSecret(password);
  return {
    source: SEED_SOURCE,
    registry: {
      url: registry.replace(/\/+$/, ''),
      username: env.REGISTRY_USER || undefined,
      password,
      concurrency: 8,
    },
    // Names must be unique; when two repositories end alike, the whole repository names the service.
    services: repositories.map((repository, i) => ({ name: unique ? lastSegments[i] : repository.replace(/\//g, '-'), repository })),
    environments: {
      [envName]: { name: envName, tags: `-${escapeRegExp(envName)}$`, target: undefined as unknown as TargetConfig },
    },
    limit: 10,
    timezone: 'UTC',
    parallel: 4,
    deployTimeout: 600,
    notify: {},
  };
}

export async function getCommand(ctx: CommandContext): Promise<number> {
  const { options, logger } = ctx;
  const envName = requireOption(options, 'env', '--env');
  let config: Config;
  if (options.config) {
    if (options.registry || options.repos) throw inputError('Give either --config or --registry with --repos, not both.');
    config = loadConfig(resolve(ctx.cwd, options.config), ctx.env);
    config.source = options.config;
  } else if (options.previews > 0) {
    throw inputError("'rollback get --previews' needs --config FILE: a preview asks the environment's target what it runs.");
  } else if (options.registry || options.repos) {
    config = seedConfig(requireOption(options, 'registry', '--registry (with --repos)'), requireOption(options, 'repos', '--repos (with --registry)'), envName, ctx.env);
  } else {
    throw inputError("'rollback get' needs --config FILE, or --registry URL with --repos a,b,c; see 'rollback --help'.");
  }
  if ((options.points ?? config.points) === 'released') {
    if (!options.config) throw inputError("Release points (--points released) need --config: they come from the ledger and the environment's target.");
    return (await import('./points')).getPointsCommand(ctx);
  }
  const catalogFile = resolve(ctx.cwd, options.catalog);
  lowerHeapGrowth();
  const started = Date.now();
  let last: { requests: number; tagsDone: number; transport?: string } = { requests: 0, tagsDone: 0 };
  // A live line on a terminal only (silent in Jenkins logs and pipes); log lines erase it first.
  const progress = createProgressLine({
    stream: { isTTY: ctx.stderrIsTTY, columns: process.stderr.columns, write: (t) => process.stderr.write(t) },
    env: ctx.env,
  });
  const catalog = await getCatalog(config, envName, {
    logger: progress.wrap(logger),
    cacheFile: join(dirname(catalogFile), 'dates-cache.json'),
    onProgress: (p) => {
      last = p;
      progress.update(p);
    },
  }).finally(() => progress.done());
  const images = catalog.services.reduce((n, s) => n + s.images.length, 0);
  const seconds = (Date.now() - started) / 1000;
  const summary =
    `Read ${last.tagsDone} ${catalog.environment} tags of ${catalog.services.length} services in ${seconds.toFixed(1)} s (${last.requests} requests${last.transport ? ` over ${last.transport}` : ''}); ` +
    `kept ${images} images, ${catalog.choices.length} rollback points`;
  if (catalog.choices.length === 0) {
    // No catalog is written: an empty one would only let a later plan or run fail less clearly.
    logger.info(`${summary}.`);
    throw inputError(`No service has an image whose tag matches /${catalog.tagPattern}/, so there is no date to go back to; check --env and the environment's tags.`);
  }
  writeCatalog(catalogFile, catalog);
  logger.info(`${summary}; catalog: ${options.catalog}.`);
  // Jenkins asks for the previews here, so the whole flow before its question is one worker run.
  await writePreviews(ctx, catalog, dirname(catalogFile), options.previews);
  writeServiceChoices(dirname(catalogFile), catalog, config);
  ctx.stdout(catalog.choices.map((d) => `${d}\n`).join(''));
  return 0;
}
