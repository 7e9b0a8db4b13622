/**
 * GitLab as a GitOps host, through its REST API under `<url>/api/v4` (gitlab.com, or a self-managed
 * instance, also under a path prefix such as https://git.example.com/gitlab). Files are read at the
 * branch head (Repository files API, which also gives each file's last commit); a rollback is ONE
 * commit of every file through the Commits API with `actions`, each carrying `last_commit_id`, so
 * GitLab refuses it (400, "the file has changed") if someone changed one of those files since we read
 * it: then the files are read again and the commit tried once more. With mergeRequest: true the
 * commit goes to a new branch and a merge request is opened.
 * https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions
 * https://docs.gitlab.com/api/repository_files/ and https://docs.gitlab.com/api/merge_requests/
 * The token (gitlab.token, default GITLAB_TOKEN) goes in PRIVATE-TOKEN to this instance only.
 */
import type { GitlabTargetConfig } from '../../config/types';
import { failure, inputError, RollbackError } from '../../errors';
import { createHttpClient, HttpClient, HttpClientOptions, HttpResponse, parseJson } from '../../http/client';
import { addSecret } from '../../log';
import type { Target, TargetContext } from '../types';
import type { FileSet, GitHost } from './host';
import { createGitopsTarget } from './target';

export interface GitlabTargetDeps {
  http?: HttpClientOptions;
  now?: () => Date;
}

/** GitLab's error body: { message } (a string, or field -> errors), or { error }. */
function messageOf(res: HttpResponse): string {
  try {
    const b = JSON.parse(res.body.toString('utf8')) as { message?: unknown; error?: unknown };
    const m = b.message ?? b.error;
    if (typeof m === 'string') return m;
    if (m && typeof m === 'object') return Object.entries(m).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; ');
  } catch {
    // not JSON: fall through
  }
  return res.body.toString('utf8').slice(0, 200).trim() || `HTTP ${res.status}`;
}

export function gitlabError(res: HttpResponse, what: string): RollbackError {
  const message = messageOf(res).replace(/\.$/, '');
  const hint =
    res.status === 401 ? 'GitLab refused the token (gitlab.token, default the GITLAB_TOKEN environment variable)' :
    res.status === 403 ? `the GitLab token may not do this (${message})` :
    res.status === 404 ? `not found, or the token cannot see it (${message})` :
    res.status === 429 ? `GitLab's rate limit held for too long (${message}); try again later` : message;
  return new RollbackError('failed', `${what} failed (HTTP ${res.status}): ${hint}.`, { retryable: res.status === 429 || res.status >= 500 });
}

export function createGitlabHost(ctx: TargetContext, cfg: GitlabTargetConfig, deps: GitlabTargetDeps = {}): GitHost {
  const token = cfg.token ?? ctx.env.GITLAB_TOKEN;
  if (token) addSecret(token);
  const api = `${cfg.url.replace(/\/+$/, '')}/api/v4`;
  const project = `${api}/projects/${encodeURIComponent(cfg.project)}`;
  const branch = cfg.branch ?? 'main';
  const where = `${cfg.project}@${branch}`;
  const now = deps.now ?? ctx.now ?? (() => new Date());
  const http: HttpClient = createHttpClient({
    sleep: ctx.sleep, ...deps.http,
    onRetry: (reason, ms) => ctx.logger.debug(`gitlab: ${reason}; retrying in ${ms} ms`),
  });

  async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<HttpResponse> {
    return http.request(url, {
      method,
      headers: { accept: 'application/json', ...(token ? { 'private-token': token } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  }

  async function get<T>(url: string, what: string): Promise<T> {
    const res = await call('GET', url);
    if (res.status !== 200) throw gitlabError(res, what);
    return parseJson<T>(res, what);
  }

  /** The files at `head` (Repository files API, pinned to that commit), each with its last commit. */
  async function filesAt(paths: string[], head: string, missing: (path: string, res: HttpResponse) => RollbackError): Promise<FileSet> {
    const files = new Map<string, string>();
    const lastCommits = new Map<string, string>();
    for (const path of [...new Set(paths)]) {
      const res = await call('GET', `${project}/repository/files/${encodeURIComponent(path)}?ref=${head}`);
      if (res.status === 404) throw missing(path, res);
      if (res.status !== 200) throw gitlabError(res, `Reading ${path} in ${where}`);
      const f = parseJson<{ content?: string; encoding?: string; last_commit_id?: string }>(res, `file ${path}`);
      if (typeof f.content !== 'string') throw failure(`Reading ${path} in ${where} failed: GitLab sent no content.`);
      files.set(path, Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8'));
      if (f.last_commit_id) lastCommits.set(path, f.last_commit_id);
    }
    return { head, files, lastCommits };
  }

  const branchHead = async () => (await get<{ commit?: { id?: string } }>(`${project}/repository/branches/${encodeURIComponent(branch)}`, `Reading branch ${where}`)).commit?.id ?? '';

  return {
    where,
    review: cfg.mergeRequest ? 'merge request' : undefined,
    describe: () => `GitLab project ${cfg.project} at ${cfg.url} (${where}; ${cfg.paths.join(', ')})${cfg.mergeRequest ? ', by merge request' : ''}`,

    async read(paths: string[]): Promise<FileSet> {
      const head = await branchHead();
      if (!/^[0-9a-f]{7,64}$/.test(head)) throw failure(`Reading branch ${where} failed: GitLab sent no commit id.`);
      return filesAt(paths, head, (path) => inputError(`${path} is not a file in ${where} (gitlab.paths must name YAML or JSON files).`));
    },

    async commitsOf(paths: string[], limit: number) {
      // GET /projects/:id/repository/commits?ref_name=<branch>&path=<file>: the commits that changed that file, newest first.
      // https://docs.gitlab.com/api/commits/#list-repository-commits
      const seen = new Map<string, string>();
      for (const path of [...new Set(paths)]) {
        const list = await get<{ id?: string; committed_date?: string; created_at?: string }[]>(
          `${project}/repository/commits?ref_name=${encodeURIComponent(branch)}&path=${encodeURIComponent(path)}&per_page=${Math.min(limit, 100)}`,
          `Listing the commits of ${path} in ${where}`);
        for (const c of list) {
          const time = Date.parse(c.committed_date ?? c.created_at ?? '');
          if (typeof c.id === 'string' && !Number.isNaN(time)) seen.set(c.id, new Date(time).toISOString());
        }
      }
      return [...seen].map(([sha, time]) => ({ sha, time })).sort((a, b) => Date.parse(b.time) - Date.parse(a.time)).slice(0, limit);
    },

    // A file the commit does not hold answers 404, told as "(HTTP 404)" (Target.history skips it).
    readAt: (paths: string[], head: string) => filesAt(paths, head, (path, res) => gitlabError(res, `Reading ${path} at ${head.slice(0, 8)} of ${cfg.project}`)),

    async list(dir: string, head: string): Promise<string[]> {
      const res = await call('GET', `${project}/repository/tree?ref=${head}&per_page=100${dir === '.' ? '' : `&path=${encodeURIComponent(dir)}`}`);
      if (res.status === 404) return [];
      if (res.status !== 200) throw gitlabError(res, `Listing ${dir} in ${where}`);
      return parseJson<{ name: string; type: string }[]>(res, `tree of ${dir}`).filter((e) => e.type === 'blob').map((e) => e.name);
    },

    async commit(base, edited, subject, body) {
      const reviewBranch = cfg.mergeRequest
        ? `rollback/${ctx.environment.name}-${now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${base.head.slice(0, 7)}`
        : undefined;
      const message = `${subject}\n\n${body}\n`;
      const res = await call('POST', `${project}/repository/commits`, {
        branch: reviewBranch ?? branch,
        ...(reviewBranch ? { start_sha: base.head } : {}),
        commit_message: message,
        actions: [...edited].map(([path, content]) => ({ action: 'update', file_path: path, content, encoding: 'text', last_commit_id: base.lastCommits?.get(path) })),
      });
      if (res.status === 400 && /has changed since you started editing/i.test(messageOf(res))) {
        ctx.logger.info(`${where} changed while we committed (${messageOf(res).replace(/\.$/, '')}); reading it again.`);
        return 'moved';
      }
      if (res.status === 403 && /not allowed to push|protected branch/i.test(messageOf(res)) && !reviewBranch) {
        throw failure(`${where} is a protected branch (${messageOf(res).replace(/\.$/, '')}); nothing was changed: set mergeRequest: true on the gitlab target to roll back through a merge request.`);
      }
      if (res.status >= 500 && !reviewBranch) {
        // The answer was lost, not necessarily the commit: the branch tells.
        const top = await get<{ id: string; message?: string; parent_ids?: string[] }>(`${project}/repository/commits/${encodeURIComponent(branch)}`, `Reading branch ${where}`);
        if (top.id !== base.head && top.message?.trim() === message.trim()) return { sha: top.id };
        throw failure(`Committing to ${where} failed (HTTP ${res.status}): ${messageOf(res).replace(/\.$/, '')}; the branch does not have the commit, so nothing was changed.`);
      }
      if (res.status !== 201) throw gitlabError(res, `Committing to ${where}`);
      const commit = parseJson<{ id: string }>(res, 'commit');
      if (!reviewBranch) return { sha: commit.id };
      const mr = await call('POST', `${project}/merge_requests`, {
        source_branch: reviewBranch, target_branch: branch, title: subject, remove_source_branch: true,
        description: `${body}\n\nOpened by the rollback worker; the rollback takes effect once this is merged.`,
      });
      if (mr.status !== 201) throw gitlabError(mr, `Opening a merge request from ${reviewBranch} to ${branch} in ${cfg.project}`);
      const m = parseJson<{ iid: number; web_url?: string }>(mr, 'merge request');
      return { review: `merge request !${m.iid} (${m.web_url ?? reviewBranch})` };
    },

    async mergedAs(review: string): Promise<string | undefined> {
      const iid = /!(\d+)/.exec(review)?.[1];
      if (!iid) return undefined;
      const mr = await get<{ state?: string; merge_commit_sha?: string | null; squash_commit_sha?: string | null }>(`${project}/merge_requests/${iid}`, `Reading merge request !${iid} of ${cfg.project}`);
      return mr.state === 'merged' ? mr.merge_commit_sha ?? mr.squash_commit_sha ?? undefined : undefined;
    },

    async busy(): Promise<string | undefined> {
      if (!cfg.mergeRequest) return undefined;
      const open = await get<{ iid: number; source_branch: string }[]>(`${project}/merge_requests?state=opened&target_branch=${encodeURIComponent(branch)}&per_page=100`, `Listing merge requests of ${cfg.project}`);
      const mine = open.find((mr) => mr.source_branch.startsWith(`rollback/${ctx.environment.name}-`));
      return mine ? `merge request !${mine.iid} (${mine.source_branch}) of an earlier rollback is still open in ${cfg.project}; merge or close it first.` : undefined;
    },

    error: (err, what) => (err instanceof RollbackError ? err : failure(`${what} failed: ${err instanceof Error ? err.message : String(err)}.`, err)),
    close: () => http.close(),
  };
}

export function createGitlabTarget(ctx: TargetContext, deps: GitlabTargetDeps = {}): Target {
  const cfg = (ctx.environment.target as { gitlab: GitlabTargetConfig }).gitlab;
  return createGitopsTarget(ctx, cfg, createGitlabHost(ctx, cfg, deps));
}
