/**
 * Images on ghcr.io from the GitHub Packages API: one paginated listing of the container
 * package's versions (name = manifest digest, created_at, metadata.container.tags) instead of a
 * manifest and config request per tag.
 * https://docs.github.com/en/rest/packages/packages#list-package-versions-for-a-package-owned-by-an-organization
 *
 * The date is the version's created_at: when that digest was pushed to GHCR, not the image
 * config's `created`. For images built and pushed by CI in one go they agree to the minute; an
 * image built earlier and pushed (or copied) later gets the push day. See docs/gitops.md.
 */
import type { Config } from '../config/types';
import { inputError } from '../errors';
import { createGithub, Github, GithubOptions, githubError } from '../github/octokit';
import type { FoundImage, ImageSource, SourceOptions } from './source';

export const GHCR_HOST = 'ghcr.io';

export function isGhcr(registryUrl: string): boolean {
  try {
    return new URL(registryUrl).host === GHCR_HOST;
  } catch {
    return false;
  }
}

interface PackageVersion {
  name: string;
  created_at: string;
  metadata?: { container?: { tags?: string[] } };
}

/** ghcr.io/<owner>/<package...>: the owner, and the package name (which may contain slashes). */
export function splitPackage(repository: string): { owner: string; name: string } {
  const i = repository.indexOf('/');
  if (i <= 0 || i === repository.length - 1) {
    throw inputError(`Repository ${repository} is not <owner>/<package>, as images on ${GHCR_HOST} are named.`);
  }
  return { owner: repository.slice(0, i), name: repository.slice(i + 1) };
}

export interface GhcrPackages {
  readonly apiUrl: string;
  /** Every active version of the package behind `repository` (owner/package), all pages. */
  versions(repository: string): Promise<PackageVersion[]>;
  requests(): number;
  close(): Promise<void>;
}

export interface GhcrOptions {
  logger: SourceOptions['logger'];
  http?: SourceOptions['http'];
  onRequest?: SourceOptions['onRequest'];
  github?: Partial<GithubOptions>;
}

export function ghcrPackages(config: Config, options: GhcrOptions): GhcrPackages {
  let count = 0;
  const github = options.github ?? {};
  const gh: Github = createGithub({
    // A GHCR pull token is a GitHub token: the registry password serves when github.token is not set.
    token: config.github?.token ?? config.registry.password,
    apiUrl: config.github?.apiUrl,
    ...github,
    http: {
      ...options.http,
      ...github.http,
      onRequest: (m, u) => { count++; options.onRequest?.(m, u); options.http?.onRequest?.(m, u); },
      onRetry: (reason, ms) => options.logger.debug(`ghcr: ${reason}; retrying in ${ms} ms`),
    },
  });
  /** Whether each owner is an organization or a user, learned from the first 404. */
  const ownerKind = new Map<string, 'org' | 'user'>();

  async function versions(repository: string): Promise<PackageVersion[]> {
    const { owner, name } = splitPackage(repository);
    const list = (kind: 'org' | 'user') =>
      kind === 'org'
        ? gh.octokit.paginate(gh.octokit.rest.packages.getAllPackageVersionsForPackageOwnedByOrg, { org: owner, package_type: 'container', package_name: name, per_page: 100, state: 'active' })
        : gh.octokit.paginate(gh.octokit.rest.packages.getAllPackageVersionsForPackageOwnedByUser, { username: owner, package_type: 'container', package_name: name, per_page: 100, state: 'active' });
    const known = ownerKind.get(owner);
    const kinds: ('org' | 'user')[] = known ? [known] : ['org', 'user'];
    const what = `Listing the versions of package ${owner}/${name} on ${GHCR_HOST}`;
    for (const kind of kinds) {
      try {
        const out = (await list(kind)) as PackageVersion[];
        ownerKind.set(owner, kind);
        return out;
      } catch (err) {
        // The API has separate paths for organizations and users; a 404 as one means: try the other.
        if ((err as { status?: number }).status === 404 && kind === 'org' && !known) continue;
        throw githubError(err, what);
      }
    }
    throw githubError({ status: 404, response: { data: { message: 'Package not found' } } }, what);
  }

  return { apiUrl: gh.apiUrl, versions, requests: () => count, close: () => gh.close() };
}

/** The token for ghcr.io: github.token, else the registry password (a GHCR pull token is a GitHub token). */
export const ghcrToken = (config: Config): string | undefined => config.github?.token ?? config.registry.password;

/** The Packages API refused the token itself (401, or 403 not caused by the rate limit). */
function refusedToken(err: unknown): boolean {
  const cause = (err as { cause?: { status?: number; response?: { headers?: Record<string, string> } } })?.cause;
  const limited = cause?.response?.headers?.['x-ratelimit-remaining'] === '0';
  return (cause?.status === 401 || cause?.status === 403) && !limited;
}

/**
 * The image source for ghcr.io: one listing per repository, each tag of each version an image.
 * Fine-grained personal access tokens cannot read the Packages API
 * (https://docs.github.com/en/packages/learn-github-packages/about-permissions-for-github-packages):
 * when it refuses the token, `fallback` (the Distribution API with the same token) is read instead.
 */
export function ghcrSource(config: Config, options: SourceOptions, github: Partial<GithubOptions> = {}, fallback?: () => ImageSource): ImageSource {
  const packages = ghcrPackages(config, { ...options, github });
  let instead: ImageSource | undefined;
  return {
    describe: () => (instead ? instead.describe() : `${GHCR_HOST} through the GitHub Packages API at ${packages.apiUrl}`),
    requests: () => packages.requests() + (instead?.requests() ?? 0),
    undated: (repository) => instead?.undated?.(repository) ?? 0,
    close: async () => {
      await packages.close();
      await instead?.close();
    },
    async images(repository, accepts, onProgress, signal) {
      if (instead) return instead.images(repository, accepts, onProgress, signal);
      let versions: PackageVersion[];
      try {
        versions = await packages.versions(repository);
      } catch (err) {
        if (!fallback || !refusedToken(err)) throw err;
        if (!instead) {
          options.logger.info(`${GHCR_HOST}: the GitHub Packages API refused the token (fine-grained tokens cannot read it); reading the registry's Distribution API instead.`);
          instead = fallback();
        }
        return instead.images(repository, accepts, onProgress, signal);
      }
      const found: FoundImage[] = [];
      for (const v of versions) {
        if (!/^sha256:[a-f0-9]{64}$/.test(v.name) || Number.isNaN(Date.parse(v.created_at))) {
          options.logger.debug(`${repository}: version ${v.name} skipped (not a digest, or no created_at)`);
          continue;
        }
        const created = new Date(v.created_at).toISOString();
        for (const tag of v.metadata?.container?.tags ?? []) {
          if (accepts(tag)) found.push({ tag, digest: v.name, created });
        }
      }
      onProgress?.({ tags: found.length, done: found.length });
      return found;
    },
  };
}

/** ghcr.io's Distribution API with the GitHub token (ghcr.io takes any user name with a token). */
export function ghcrRegistry(config: Config): Config['registry'] {
  const token = ghcrToken(config);
  return token ? { ...config.registry, username: config.registry.username ?? 'token', password: token } : config.registry;
}

type ImageExists = (image: { repository: string; digest: string }) => Promise<boolean>;

/**
 * Preflight for `run`: is this digest still a version of its package (not deleted since `get`)?
 * When the Packages API refuses the token (fine-grained), `fallback` (a HEAD on the registry) answers.
 */
export function ghcrImageExists(packages: GhcrPackages, fallback?: ImageExists): ImageExists {
  let refused = false;
  return async (image) => {
    if (refused && fallback) return fallback(image);
    try {
      return (await packages.versions(image.repository)).some((v) => v.name === image.digest);
    } catch (err) {
      if (!fallback || !refusedToken(err)) throw err;
      refused = true;
      return fallback(image);
    }
  };
}
