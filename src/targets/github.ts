/**
 * The github target (GitOps): the environment is what the YAML manifests in a repository say.
 * A rollback is ONE commit that puts every service's image into the manifests, made with the
 * git data API (blobs, tree, commit, ref update), so the fleet changes all at once or not at
 * all; with pullRequest: true the commit goes to a new branch and a pull request is opened.
 * The GitOps controller (Argo CD, Flux, ...) that applies the commit is outside: waitHealthy
 * returns at once. https://docs.github.com/en/rest/git
 */
import type { GithubTargetConfig, ServiceConfig } from '../config/types';
import { failure, inputError, RollbackError } from '../errors';
import { createGithub, Github, GithubOptions, githubError } from '../github/octokit';
import { findImages, ManifestError, replaceImages } from '../gitops/edit';
import { registryHost } from '../image/reference';
import type { Deployed, Target, TargetContext } from './types';

export interface GithubTargetDeps {
  github?: Partial<GithubOptions>;
  /** For the pull-request branch name. */
  now?: () => Date;
}

interface Snapshot {
  head: string;
  tree: string;
  files: Map<string, string>;
}

export function createGithubTarget(ctx: TargetContext, deps: GithubTargetDeps = {}): Target {
  const cfg = (ctx.environment.target as { github: GithubTargetConfig }).github;
  const [owner, repo] = cfg.repo.split('/');
  const branch = cfg.branch ?? 'main';
  const gh: Github = createGithub({
    token: ctx.config.github?.token,
    apiUrl: ctx.config.github?.apiUrl,
    sleep: ctx.sleep,
    ...deps.github,
    http: { onRetry: (reason, ms) => ctx.logger.debug(`github: ${reason}; retrying in ${ms} ms`), ...deps.github?.http },
  });
  const o = gh.octokit;
  const host = registryHost(ctx.config.registry.url);
  const now = deps.now ?? ctx.now ?? (() => new Date());
  const pathsOf = (s: ServiceConfig) => s.github?.paths ?? cfg.paths;
  const where = `${cfg.repo}@${branch}`;

  async function call<T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> {
    try {
      return (await fn()).data;
    } catch (err) {
      throw githubError(err, what);
    }
  }

  /** The branch head and the manifests as they are in it; every read is pinned to that commit. */
  async function snapshot(paths: string[]): Promise<Snapshot> {
    const ref = await call(`Reading branch ${where}`, () => o.rest.git.getRef({ owner, repo, ref: `heads/${branch}` }));
    const head = ref.object.sha;
    const commit = await call(`Reading commit ${head.slice(0, 7)} of ${cfg.repo}`, () => o.rest.git.getCommit({ owner, repo, commit_sha: head }));
    const files = new Map<string, string>();
    for (const path of [...new Set(paths)]) {
      const data = await call(`Reading ${path} in ${where}`, () => o.rest.repos.getContent({ owner, repo, path, ref: head })) as { type?: string; content?: string; encoding?: string; sha?: string };
      if (data.type !== 'file' || typeof data.sha !== 'string') throw inputError(`${path} in ${where} is not a file (github.paths must name YAML files).`);
      if (data.encoding === 'base64' && typeof data.content === 'string') {
        // Files up to 1 MB come inline, base64 with line breaks.
        files.set(path, Buffer.from(data.content.replace(/\n/g, ''), 'base64').toString('utf8'));
      } else {
        // Larger files come with encoding "none" and no content: read the blob instead.
        // https://docs.github.com/en/rest/repos/contents#size-limits
        const blob = await call(`Reading ${path} in ${where}`, () => o.rest.git.getBlob({ owner, repo, file_sha: data.sha! }));
        files.set(path, Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8'));
      }
    }
    return { head, tree: commit.tree.sha, files };
  }

  function imagesIn(snap: Snapshot, service: ServiceConfig): { path: string; image: string; line: number }[] {
    const out: { path: string; image: string; line: number }[] = [];
    for (const path of pathsOf(service)) {
      try {
        for (const s of findImages(snap.files.get(path) ?? '', service.repository, host)) out.push({ path, image: s.image, line: s.line });
      } catch (err) {
        if (err instanceof ManifestError) throw inputError(`${path} in ${where}: ${err.message}.`);
        throw err;
      }
    }
    return out;
  }

  /** Builds the new file texts; refuses (before writing anything) if a service's image is nowhere. */
  function edit(snap: Snapshot, changes: { service: ServiceConfig; image: string }[]): Map<string, string> {
    const byFile = new Map<string, { repository: string; image: string }[]>();
    for (const c of changes) {
      if (imagesIn(snap, c.service).length === 0) {
        throw inputError(`Service ${c.service.name}: no image of ${c.service.repository} in ${pathsOf(c.service).join(', ')} of ${where}.`);
      }
      for (const path of pathsOf(c.service)) {
        byFile.set(path, [...(byFile.get(path) ?? []), { repository: c.service.repository, image: c.image }]);
      }
    }
    const out = new Map<string, string>();
    for (const [path, replacements] of byFile) {
      const before = snap.files.get(path)!;
      let after: string;
      try {
        after = replaceImages(before, replacements, host).text;
      } catch (err) {
        if (err instanceof ManifestError) throw failure(`${path} in ${where}: ${err.message}.`);
        throw err;
      }
      if (after !== before) out.set(path, after);
    }
    return out;
  }

  /** One attempt: read, edit, write one commit. Returns false when the branch moved underneath. */
  async function commitOnce(changes: { service: ServiceConfig; image: string }[], message: string): Promise<boolean> {
    const paths = [...new Set(changes.flatMap((c) => pathsOf(c.service)))];
    const snap = await snapshot(paths);
    const edited = edit(snap, changes);
    if (edited.size === 0) {
      ctx.logger.info(`${where} already has every image; no commit needed.`);
      return true;
    }
    const tree: { path: string; mode: '100644'; type: 'blob'; sha: string }[] = [];
    for (const [path, content] of edited) {
      const blob = await call(`Writing ${path} to ${cfg.repo}`, () => o.rest.git.createBlob({ owner, repo, content: Buffer.from(content).toString('base64'), encoding: 'base64' }));
      tree.push({ path, mode: '100644' as const, type: 'blob' as const, sha: blob.sha });
    }
    const newTree = await call(`Writing the tree to ${cfg.repo}`, () => o.rest.git.createTree({ owner, repo, base_tree: snap.tree, tree }));
    const body = changes.map((c) => {
      const was = imagesIn(snap, c.service)[0]?.image;
      return `- ${c.service.name}: ${was && was !== c.image ? `${was} -> ` : ''}${c.image}`;
    });
    const full = `${message}\n\n${body.join('\n')}\n`;
    const commit = await call(`Writing the commit to ${cfg.repo}`, () => o.rest.git.createCommit({ owner, repo, message: full, tree: newTree.sha, parents: [snap.head] }));
    if (cfg.pullRequest) {
      const stamp = now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
      const head = `rollback/${ctx.environment.name}-${stamp}-${commit.sha.slice(0, 7)}`;
      await call(`Creating branch ${head} in ${cfg.repo}`, () => o.rest.git.createRef({ owner, repo, ref: `refs/heads/${head}`, sha: commit.sha }));
      const pr = await call(`Opening a pull request from ${head} to ${branch} in ${cfg.repo}`, () =>
        o.rest.pulls.create({ owner, repo, title: message, head, base: branch, body: `${body.join('\n')}\n\nOpened by the rollback worker; the rollback takes effect once this is merged.` }));
      ctx.logger.info(`Opened pull request #${pr.number} (${pr.html_url}) with ${edited.size} manifest(s) changed; it rolls back once merged.`);
      return true;
    }
    try {
      // force: false is the all-or-nothing guard: the ref moves only if nobody pushed since we read it.
      await o.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: commit.sha, force: false });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 422 || status === 409) {
        ctx.logger.info(`${where} moved while we committed (HTTP ${status}); reading it again.`);
        return false;
      }
      throw githubError(err, `Updating ${where}`);
    }
    ctx.logger.info(`Committed ${commit.sha.slice(0, 7)} to ${where}, changing ${[...edited.keys()].join(', ')}.`);
    return true;
  }

  async function deployAll(changes: { service: ServiceConfig; image: string }[], message: string): Promise<void> {
    if (changes.length === 0) return;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (await commitOnce(changes, message)) return;
    }
    throw failure(`${where} kept moving while we committed (someone else is pushing); nothing was changed, try again.`);
  }

  return {
    describe: () => `GitHub repository ${where} (${cfg.paths.join(', ')})${cfg.pullRequest ? ', by pull request' : ''}`,

    async current(service: ServiceConfig): Promise<Deployed> {
      const snap = await snapshot(pathsOf(service));
      const found = imagesIn(snap, service);
      if (found.length === 0) throw inputError(`Service ${service.name}: no image of ${service.repository} in ${pathsOf(service).join(', ')} of ${where}.`);
      const distinct = [...new Set(found.map((f) => f.image))];
      if (distinct.length > 1) {
        ctx.logger.warn(`${service.name}: the manifests disagree (${found.map((f) => `${f.path}:${f.line} ${f.image}`).join('; ')}); a rollback sets them all.`);
      }
      return { image: found[0].image, id: `${found[0].path}:${found[0].line}` };
    },

    async busy(): Promise<string | undefined> {
      if (!cfg.pullRequest) return undefined;
      const open = await call(`Listing pull requests of ${cfg.repo}`, () => o.rest.pulls.list({ owner, repo, state: 'open', base: branch, per_page: 100 }));
      const mine = open.find((pr) => pr.head.ref.startsWith(`rollback/${ctx.environment.name}-`));
      return mine ? `pull request #${mine.number} (${mine.head.ref}) of an earlier rollback is still open in ${cfg.repo}; merge or close it first.` : undefined;
    },

    /** Per service, for engines that do not use deployAll: one commit each. */
    async deploy(service: ServiceConfig, image: string): Promise<void> {
      await deployAll([{ service, image }], `Roll back ${service.name} to ${image}`);
    },

    deployAll: async (changes, message) => {
      try {
        await deployAll(changes, message);
      } catch (err) {
        if (err instanceof RollbackError) throw err;
        throw githubError(err, `Committing to ${where}`);
      }
    },

    // The GitOps controller applies the commit; its health is not visible from here.
    waitHealthy: async () => undefined,

    close: () => gh.close(),
  };
}
