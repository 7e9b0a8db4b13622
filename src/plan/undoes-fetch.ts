/**
 * Fills `undoes` (src/plan/undoes.ts) on the changed services of a plan: provenance of the target
 * and of the current image (from the catalog; else read from the registry, one manifest and one
 * config blob, for the services that change only), then the commits that go away, asked of GitHub
 * (GET /repos/{o}/{r}/compare/{base}...{head}, https://docs.github.com/en/rest/commits/commits#compare-two-commits)
 * or GitLab (GET /projects/:id/repository/compare?from=&to=, https://docs.gitlab.com/api/repositories/#compare-branches-tags-or-commits),
 * concurrently, cached per (repository, from, to) in a file beside the date cache.
 */
import { readFileSync } from 'node:fs';
import type { Catalog } from '../catalog/types';
import { registryHost } from '../catalog/build';
import { writeFileAtomic } from '../catalog/io';
import type { Config } from '../config/types';
import { createGithub, githubError } from '../github/octokit';
import { createHttpClient, type HttpClientOptions } from '../http/client';
import { parseImageRef } from '../image/reference';
import { addSecret, type Logger } from '../log';
import { createRegistryClient, type RegistryClient } from '../registry/client';
import { gitlabError } from '../targets/gitops/gitlab';
import { runsImage, type Plan, type PlanEntry } from './plan';
import { compareLink, sourceRepo, type HostHints, type SourceRepo, type UndoneCommit, type Undoes } from './undoes';

export interface UndoesOptions {
  config: Config;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** The compare cache file (beside the date cache); undefined keeps answers in memory. */
  cacheFile?: string;
  http?: HttpClientOptions;
  /**
   * The catalog came from `get` with this worker (build days): an image it lists without
   * provenance has none, and is not read again. False for release points (--at), whose images
   * are read from the registry.
   */
  catalogHasProvenance?: boolean;
  /** Tests pass a registry client; default one is made from config.registry. */
  registry?: RegistryClient;
}

interface Provenance {
  revision?: string;
  source?: string;
  created?: string;
}

interface Listed {
  count: number;
  commits: UndoneCommit[];
}

const HEX = /^[0-9a-f]{7,64}$/i;
const CACHE_VERSION = 1;
/** Commits kept per answer (the plan shows a few; --json carries these). */
const KEEP = 250;

function readCache(file: string | undefined): Map<string, Listed> {
  const m = new Map<string, Listed>();
  if (!file) return m;
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; compares?: Record<string, Listed> };
    if (data.version === CACHE_VERSION && data.compares && typeof data.compares === 'object') {
      for (const [k, v] of Object.entries(data.compares)) if (v && typeof v.count === 'number' && Array.isArray(v.commits)) m.set(k, v);
    }
  } catch {
    // missing or damaged: asked again
  }
  return m;
}

/** GitLab instances named by the configuration's gitlab targets. */
function hintsOf(config: Config): HostHints {
  const gitlabUrls: string[] = [];
  for (const env of Object.values(config.environments)) {
    const t = env.target as { gitlab?: { url: string } };
    if (t.gitlab?.url) gitlabUrls.push(t.gitlab.url);
  }
  return { githubApiUrl: config.github?.apiUrl, gitlabUrls };
}

function gitlabToken(config: Config, env: NodeJS.ProcessEnv, web: string): string | undefined {
  for (const e of Object.values(config.environments)) {
    const t = e.target as { gitlab?: { url: string; token?: string } };
    if (t.gitlab?.token && t.gitlab.url.replace(/\/+$/, '') === web) return t.gitlab.token;
  }
  return env.GITLAB_TOKEN || undefined;
}

const firstLine = (m: string) => m.split('\n')[0].trim();

export async function describeUndoes(plan: Plan, catalog: Catalog, o: UndoesOptions): Promise<Plan> {
  const changing = plan.entries.filter((e) => e.action === 'change' && e.target);
  if (changing.length === 0) return plan;
  const hints = hintsOf(o.config);
  const host = registryHost(o.config.registry.url);
  let registry = o.registry;
  const ownRegistry = !registry;
  const images = catalog.services.flatMap((s) => s.images);

  /** Provenance of an image reference: the catalog's, else the registry's (read once). */
  const known = new Map<string, Promise<Provenance | undefined>>();
  const provenanceOf = (ref: string, repository: string): Promise<Provenance | undefined> => {
    const inCatalog = images.find((i) => i.repository === repository && runsImage(ref, i));
    if (inCatalog && (inCatalog.revision || inCatalog.source || o.catalogHasProvenance)) return Promise.resolve({ revision: inCatalog.revision, source: inCatalog.source, created: inCatalog.created });
    let pending = known.get(ref);
    if (!pending) {
      pending = (async () => {
        const r = parseImageRef(ref);
        if (r.host && r.host !== host) return inCatalog ? { created: inCatalog.created } : undefined;
        const reference = r.digest ?? r.tag ?? 'latest';
        try {
          registry ??= createRegistryClient(o.config.registry, { logger: o.logger, http: o.http, env: o.env });
          const dated = await registry.imageDate(r.path, reference);
          return { ...dated.provenance, created: dated.created };
        } catch (err) {
          o.logger.debug(`Provenance of ${ref}: ${(err as Error).message}`);
          return inCatalog ? { created: inCatalog.created } : undefined;
        }
      })();
      known.set(ref, pending);
    }
    return pending;
  };

  const cache = readCache(o.cacheFile);
  let cacheChanged = false;
  const githubToken = o.config.github?.token ?? (o.env.GITHUB_TOKEN || undefined);
  const github = githubToken ? createGithub({ token: githubToken, apiUrl: o.config.github?.apiUrl, http: o.http }) : undefined;
  const gitlabHttp = createHttpClient({ ...o.http });
  const inFlight = new Map<string, Promise<Listed>>();

  const list = (repo: SourceRepo, target: string, current: string): Promise<Listed> => {
    const key = `${repo.web}/${repo.path} ${target} ${current}`;
    const cached = cache.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = inFlight.get(key);
    if (!pending) {
      pending = (repo.kind === 'github' ? listGithub(repo, target, current) : listGitlab(repo, target, current)).then((l) => {
        // Only commit ids name the same commits forever; a branch or tag may move.
        if (HEX.test(target) && HEX.test(current)) {
          cache.set(key, l);
          cacheChanged = true;
        }
        return l;
      });
      inFlight.set(key, pending);
    }
    return pending;
  };

  async function listGithub(repo: SourceRepo, target: string, current: string): Promise<Listed> {
    if (!github) throw new Error('no GitHub token (set GITHUB_TOKEN or github.token)');
    const [owner, name] = repo.path.split('/');
    try {
      const res = await github.octokit.rest.repos.compareCommitsWithBasehead({ owner, repo: name, basehead: `${target}...${current}`, per_page: 100 });
      const commits = (res.data.commits ?? []).slice().reverse().slice(0, KEEP).map((c) => ({
        sha: c.sha,
        title: firstLine(c.commit.message),
        ...(c.commit.author?.name ? { author: c.commit.author.name } : {}),
        ...(c.commit.author?.date ? { date: c.commit.author.date } : {}),
      }));
      return { count: res.data.ahead_by ?? commits.length, commits };
    } catch (err) {
      throw new Error(githubError(err, `Comparing ${repo.path} on GitHub`).message.replace(/\.$/, ''));
    }
  }

  async function listGitlab(repo: SourceRepo, target: string, current: string): Promise<Listed> {
    const token = gitlabToken(o.config, o.env, repo.web);
    if (!token) throw new Error(`no GitLab token for ${repo.web} (set GITLAB_TOKEN)`);
    addSecret(token);
    const url = `${repo.web}/api/v4/projects/${encodeURIComponent(repo.path)}/repository/compare?from=${encodeURIComponent(target)}&to=${encodeURIComponent(current)}`;
    let res;
    try {
      res = await gitlabHttp.request(url, { method: 'GET', headers: { accept: 'application/json', 'private-token': token } });
    } catch (err) {
      throw new Error(`${repo.web} cannot be reached (${(err as Error).message.replace(/\.$/, '')})`);
    }
    if (res.status !== 200) throw new Error(gitlabError(res, `Comparing ${repo.path} on GitLab`).message.replace(/\.$/, ''));
    const body = JSON.parse(res.body.toString('utf8')) as { commits?: { id: string; title?: string; message?: string; author_name?: string; created_at?: string }[] };
    const all = (body.commits ?? []).slice().reverse();
    return {
      count: all.length,
      commits: all.slice(0, KEEP).map((c) => ({ sha: c.id, title: firstLine(c.title ?? c.message ?? ''), ...(c.author_name ? { author: c.author_name } : {}), ...(c.created_at ? { date: c.created_at } : {}) })),
    };
  }

  const describe = async (e: PlanEntry): Promise<Undoes> => {
    const repository = e.target!.repository;
    const [now, to] = await Promise.all([provenanceOf(e.current, repository), provenanceOf(e.target!.reference, repository)]);
    const u: Undoes = {};
    if (now?.revision) u.from = now.revision;
    const toRev = e.target!.revision ?? to?.revision;
    if (toRev) u.to = toRev;
    const source = e.target!.source ?? to?.source ?? now?.source;
    if (source) u.source = source;
    const targetCreated = e.target!.created;
    if (now?.created && Date.parse(now.created) < Date.parse(targetCreated)) {
      u.forward = `${e.service} moves FORWARD, not back: it runs an image built ${now.created.slice(0, 10)}, older than its target ${e.target!.tag} built ${targetCreated.slice(0, 10)}.`;
    }
    const repo = sourceRepo(source, hints);
    if (!u.from || !u.to) {
      u.unavailable = `${!u.from && !u.to ? 'neither image says' : !u.from ? 'the image it runs now does not say' : 'the target image does not say'} which commit it was built from`;
      return u;
    }
    if (!repo) {
      u.unavailable = source ? `${source} is not a GitHub or GitLab repository the worker knows` : 'the images do not say which repository they come from';
      return u;
    }
    u.compare = compareLink(repo, u.to, u.from);
    if (u.from === u.to) {
      u.count = 0;
      u.commits = [];
      return u;
    }
    try {
      const l = await list(repo, u.to, u.from);
      u.count = l.count;
      u.commits = l.commits;
      if (l.count === 0 && !u.forward) u.forward = `${e.service} moves FORWARD, not back: commit ${u.to.slice(0, 7)} it goes to is newer than ${u.from.slice(0, 7)} it runs now.`;
    } catch (err) {
      u.unavailable = (err as Error).message;
    }
    return u;
  };

  try {
    const described = new Map<PlanEntry, Undoes>();
    await Promise.all(changing.map(async (e) => described.set(e, await describe(e))));
    return { ...plan, entries: plan.entries.map((e) => (described.has(e) ? { ...e, undoes: described.get(e) } : e)) };
  } finally {
    if (cacheChanged && o.cacheFile) {
      try {
        writeFileAtomic(o.cacheFile, JSON.stringify({ version: CACHE_VERSION, compares: Object.fromEntries(cache) }) + '\n');
      } catch (err) {
        o.logger.warn(`Compare cache ${o.cacheFile} could not be written (${(err as Error).message}).`);
      }
    }
    await github?.close();
    await gitlabHttp.close();
    if (ownRegistry) await registry?.close();
  }
}
