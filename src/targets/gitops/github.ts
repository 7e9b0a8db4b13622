/**
 * GitHub as a GitOps host: files read through the contents API (the git data API's blobs for files
 * over 1 MB), a rollback written as ONE commit with the git data API (blobs, tree, commit, ref update
 * without force), so the branch moves all at once or not at all; with pullRequest: true the commit
 * goes to a new branch and a pull request is opened. https://docs.github.com/en/rest/git
 */
import type { GithubTargetConfig } from '../../config/types';
import { failure, inputError } from '../../errors';
import { createGithub, Github, GithubOptions, githubError } from '../../github/octokit';
import type { Target, TargetContext } from '../types';
import type { FileSet, GitHost } from './host';
import { createGitopsTarget } from './target';

export interface GithubTargetDeps {
  github?: Partial<GithubOptions>;
  /** For the pull-request branch name. */
  now?: () => Date;
}

export function createGithubHost(ctx: TargetContext, cfg: GithubTargetConfig, deps: GithubTargetDeps = {}): GitHost {
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
  const now = deps.now ?? ctx.now ?? (() => new Date());
  const where = `${cfg.repo}@${branch}`;

  async function call<T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> {
    try {
      return (await fn()).data;
    } catch (err) {
      throw githubError(err, what);
    }
  }

  return {
    where,
    review: cfg.pullRequest ? 'pull request' : undefined,
    describe: () => `GitHub repository ${where} (${cfg.paths.join(', ')})${cfg.pullRequest ? ', by pull request' : ''}`,

    async read(paths: string[]): Promise<FileSet> {
      const ref = await call(`Reading branch ${where}`, () => o.rest.git.getRef({ owner, repo, ref: `heads/${branch}` }));
      return this.readAt!(paths, ref.object.sha);
    },

    async commitsOf(paths: string[], limit: number) {
      // GET /repos/{owner}/{repo}/commits?sha=<branch>&path=<path>: the commits that changed that path, newest first.
      // https://docs.github.com/en/rest/commits/commits#list-commits
      const seen = new Map<string, string>();
      for (const path of [...new Set(paths)]) {
        const list = await call(`Listing the commits of ${path} in ${where}`, () => o.rest.repos.listCommits({ owner, repo, sha: branch, path, per_page: Math.min(limit, 100) }));
        for (const c of list) {
          const time = c.commit.committer?.date ?? c.commit.author?.date;
          if (time && !Number.isNaN(Date.parse(time))) seen.set(c.sha, time);
        }
      }
      return [...seen].map(([sha, time]) => ({ sha, time })).sort((a, b) => Date.parse(b.time) - Date.parse(a.time)).slice(0, limit);
    },

    async readAt(paths: string[], head: string): Promise<FileSet> {
      const commit = await call(`Reading commit ${head.slice(0, 7)} of ${cfg.repo}`, () => o.rest.git.getCommit({ owner, repo, commit_sha: head }));
      const files = new Map<string, string>();
      for (const path of [...new Set(paths)]) {
        const data = await call(`Reading ${path} in ${where}`, () => o.rest.repos.getContent({ owner, repo, path, ref: head })) as { type?: string; content?: string; encoding?: string; sha?: string };
        if (data.type !== 'file' || typeof data.sha !== 'string') throw inputError(`${path} in ${where} is not a file (paths must name YAML or JSON files).`);
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
    },

    async list(dir: string, head: string): Promise<string[]> {
      try {
        const { data } = await o.rest.repos.getContent({ owner, repo, path: dir === '.' ? '' : dir, ref: head });
        return Array.isArray(data) ? data.filter((e) => e.type === 'file').map((e) => e.name) : [];
      } catch (err) {
        if ((err as { status?: number }).status === 404) return [];
        throw githubError(err, `Listing ${dir} in ${where}`);
      }
    },

    async commit(base, edited, subject, body) {
      const tree: { path: string; mode: '100644'; type: 'blob'; sha: string }[] = [];
      for (const [path, content] of edited) {
        const blob = await call(`Writing ${path} to ${cfg.repo}`, () => o.rest.git.createBlob({ owner, repo, content: Buffer.from(content).toString('base64'), encoding: 'base64' }));
        tree.push({ path, mode: '100644' as const, type: 'blob' as const, sha: blob.sha });
      }
      const newTree = await call(`Writing the tree to ${cfg.repo}`, () => o.rest.git.createTree({ owner, repo, base_tree: base.tree!, tree }));
      const commit = await call(`Writing the commit to ${cfg.repo}`, () => o.rest.git.createCommit({ owner, repo, message: `${subject}\n\n${body}\n`, tree: newTree.sha, parents: [base.head] }));
      if (cfg.pullRequest) {
        const stamp = now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
        const head = `rollback/${ctx.environment.name}-${stamp}-${commit.sha.slice(0, 7)}`;
        await call(`Creating branch ${head} in ${cfg.repo}`, () => o.rest.git.createRef({ owner, repo, ref: `refs/heads/${head}`, sha: commit.sha }));
        const pr = await call(`Opening a pull request from ${head} to ${branch} in ${cfg.repo}`, () =>
          o.rest.pulls.create({ owner, repo, title: subject, head, base: branch, body: `${body}\n\nOpened by the rollback worker; the rollback takes effect once this is merged.` }));
        return { review: `pull request #${pr.number} (${pr.html_url})` };
      }
      try {
        // force: false is the all-or-nothing guard: the ref moves only if nobody pushed since we read it.
        await o.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: commit.sha, force: false });
      } catch (err) {
        const e = err as { status?: number; response?: { data?: { message?: string } } };
        const message = e.response?.data?.message ?? '';
        // A protected branch refuses every direct push, however often it is tried.
        // https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
        if (e.status === 422 && /protected branch|must be made through a pull request|required status check/i.test(message)) {
          throw failure(`${where} is a protected branch (${message.replace(/\.$/, '')}); nothing was changed: set pullRequest: true on the github target to roll back through a pull request.`);
        }
        if (e.status === 422 || e.status === 409) {
          ctx.logger.info(`${where} moved while we committed (HTTP ${e.status}); reading it again.`);
          return 'moved';
        }
        throw githubError(err, `Updating ${where}`);
      }
      return { sha: commit.sha };
    },

    async mergedAs(review: string): Promise<string | undefined> {
      const n = /#(\d+)/.exec(review)?.[1];
      if (!n) return undefined;
      const pr = await call(`Reading pull request #${n} of ${cfg.repo}`, () => o.rest.pulls.get({ owner, repo, pull_number: Number(n) }));
      return pr.merged && pr.merge_commit_sha ? pr.merge_commit_sha : undefined;
    },

    async busy(): Promise<string | undefined> {
      if (!cfg.pullRequest) return undefined;
      const open = await call(`Listing pull requests of ${cfg.repo}`, () => o.rest.pulls.list({ owner, repo, state: 'open', base: branch, per_page: 100 }));
      const mine = open.find((pr) => pr.head.ref.startsWith(`rollback/${ctx.environment.name}-`));
      return mine ? `pull request #${mine.number} (${mine.head.ref}) of an earlier rollback is still open in ${cfg.repo}; merge or close it first.` : undefined;
    },

    error: githubError,
    close: () => gh.close(),
  };
}

export function createGithubTarget(ctx: TargetContext, deps: GithubTargetDeps = {}): Target {
  const cfg = (ctx.environment.target as { github: GithubTargetConfig }).github;
  return createGitopsTarget(ctx, cfg, createGithubHost(ctx, cfg, deps));
}
