/**
 * A GitLab REST API (v4) double, written from GitLab's API documentation, for the gitlab GitOps
 * target: branches, repository files (base64 content with last_commit_id), the repository tree,
 * commits with `actions` (the optimistic lock of last_commit_id: 400 "You are attempting to update
 * a file that has changed since you started editing it."), merge requests, and a merge that makes
 * a merge commit. Projects are addressed by id or URL-encoded path, under an optional path prefix
 * (a self-managed instance at https://host/gitlab). Faults: 401, 404, 429 with Retry-After, 5xx,
 * someone committing to a file just before us, a protected branch. Commits carry a committer time
 * from an injectable clock, and are listed by branch and path (what the repository remembers).
 * https://docs.gitlab.com/api/commits/ https://docs.gitlab.com/api/repository_files/
 * https://docs.gitlab.com/api/repositories/#list-repository-tree https://docs.gitlab.com/api/merge_requests/
 */
import { createHash } from 'node:crypto';
import { reachable } from './commit-graph';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

interface Commit {
  id: string;
  parents: string[];
  message: string;
  /** Committer time, from the double's clock (GitLab's format: 2026-11-20T10:00:00.000+00:00). */
  date: string;
  /** path -> content and the last commit that changed it */
  files: Map<string, { content: string; last: string }>;
}

export interface GitlabRequest {
  method: string;
  path: string;
  token?: string;
  authorization?: string;
  body?: Obj;
}

export interface GitlabDouble {
  /** The instance URL (with the prefix): what `gitlab.url` names. */
  url: string;
  requests: GitlabRequest[];
  addProject(id: number, path: string, branch: string, files: Record<string, string>): void;
  file(project: string, branch: string, path: string): string | undefined;
  head(project: string, branch: string): string | undefined;
  commits(project: string, branch: string): { id: string; message: string }[];
  /** Someone commits to `path` on `branch` right before our next `times` commits. */
  changeBeforeNextCommit(project: string, branch: string, path: string, content: string, times?: number): void;
  /** Someone commits to `path` on `branch` (a developer's push); returns the new commit id. */
  push(project: string, branch: string, path: string, content: string, message: string): string;
  /** The next `count` requests whose path matches answer `status` (429 with Retry-After: 1). */
  fail(count: number, status: number, match?: RegExp, method?: string): void;
  protect(project: string, branch: string): void;
  mergeRequests: Obj[];
  /** Merges an open merge request with a merge commit, as the "Merge" button does. */
  merge(project: string, iid: number): string;
  close(): Promise<void>;
}

const sha = (s: string) => createHash('sha1').update(s).digest('hex');

export async function startGitlabDouble(options: { token: string; prefix?: string; now?: () => number }): Promise<GitlabDouble> {
  const clock = options.now ?? Date.now;
  const prefix = options.prefix ?? '';
  const requests: GitlabRequest[] = [];
  const projects = new Map<string, { id: number; path: string; branches: Map<string, string>; protected: Set<string> }>();
  const commits = new Map<string, Commit>();
  const mergeRequests: Obj[] = [];
  const changes = new Map<string, { path: string; content: string; times: number }>();
  let faults = { count: 0, status: 500, match: /./, method: '' };
  let counter = 0;

  const newCommit = (parent: Commit | undefined, message: string, edits: Record<string, string>): Commit => {
    const id = sha(`${parent?.id ?? ''} ${message} ${counter++}`);
    const files = new Map(parent?.files ?? []);
    for (const [p, content] of Object.entries(edits)) files.set(p, { content, last: id });
    const c = { id, parents: parent ? [parent.id] : [], message, date: new Date(clock()).toISOString().replace(/Z$/, '+00:00'), files };
    commits.set(id, c);
    return c;
  };
  const projectOf = (key: string) => projects.get(/^\d+$/.test(key) ? key : projects.get(key)?.id.toString() ?? key) ?? [...projects.values()].find((p) => p.path === key);
  const asJson = (c: Commit) => ({ id: c.id, short_id: c.id.slice(0, 8), title: c.message.split('\n')[0], message: c.message, parent_ids: c.parents, authored_date: c.date, committed_date: c.date, created_at: c.date });

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const body = text ? JSON.parse(text) : undefined;
    requests.push({ method, path: url.pathname + url.search, token: req.headers['private-token'] as string | undefined, authorization: req.headers.authorization, body });
    if (!url.pathname.startsWith(`${prefix}/api/v4/`)) return send(res, 404, { message: '404 Not Found' });
    // Personal/project access tokens: PRIVATE-TOKEN, or OAuth-style Bearer. https://docs.gitlab.com/api/rest/authentication/
    if (req.headers['private-token'] !== options.token && req.headers.authorization !== `Bearer ${options.token}`) return send(res, 401, { message: '401 Unauthorized' });
    // The raw path: a project path and a file path arrive URL-encoded (%2F) and must stay one segment each.
    const raw = url.pathname.slice(`${prefix}/api/v4`.length);
    if (faults.count > 0 && faults.match.test(raw) && (!faults.method || faults.method === method)) {
      faults.count -= 1;
      if (faults.status === 429) return send(res, 429, { message: '429 Too Many Requests' }, { 'retry-after': '1' });
      if (faults.status === 404) return send(res, 404, { message: '404 Project Not Found' });
      if (faults.status === 401) return send(res, 401, { message: '401 Unauthorized' });
      return send(res, faults.status, { message: `${faults.status} Server Error` });
    }
    let m = raw.match(/^\/projects\/([^/]+)(\/.*)?$/);
    if (!m) return send(res, 404, { message: '404 Not Found' });
    const project = projectOf(decodeURIComponent(m[1]));
    if (!project) return send(res, 404, { message: '404 Project Not Found' });
    const rest = m[2] ?? '';
    const commitAt = (ref: string) => commits.get(ref) ?? commits.get(project.branches.get(ref) ?? '');

    if ((m = rest.match(/^\/repository\/branches\/([^/]+)$/)) && method === 'GET') {
      const c = commitAt(decodeURIComponent(m[1]));
      if (!c || !project.branches.has(decodeURIComponent(m[1]))) return send(res, 404, { message: '404 Branch Not Found' });
      return send(res, 200, { name: decodeURIComponent(m[1]), commit: asJson(c), protected: project.protected.has(decodeURIComponent(m[1])) });
    }
    if ((m = rest.match(/^\/repository\/files\/([^/]+)$/)) && method === 'GET') {
      const ref = url.searchParams.get('ref');
      if (!ref) return send(res, 400, { error: 'ref is missing' });
      const c = commitAt(ref);
      const path = decodeURIComponent(m[1]);
      const f = c?.files.get(path);
      if (!c || !f) return send(res, 404, { message: '404 File Not Found' });
      return send(res, 200, {
        file_name: path.split('/').pop(), file_path: path, size: Buffer.byteLength(f.content), encoding: 'base64',
        content: Buffer.from(f.content).toString('base64'), ref, blob_id: sha(`blob ${f.content}`), commit_id: c.id, last_commit_id: f.last,
      });
    }
    if (rest === '/repository/tree' && method === 'GET') {
      const c = commitAt(url.searchParams.get('ref') ?? 'main');
      const dir = (url.searchParams.get('path') ?? '').replace(/\/+$/, '');
      const pre = dir ? `${dir}/` : '';
      const entries = new Map<string, Obj>();
      for (const p of c?.files.keys() ?? []) {
        if (!p.startsWith(pre)) continue;
        const [name, ...more] = p.slice(pre.length).split('/');
        entries.set(name, { id: sha(pre + name), name, type: more.length ? 'tree' : 'blob', path: pre + name, mode: more.length ? '040000' : '100644' });
      }
      if (!entries.size) return send(res, 404, { message: '404 Tree Not Found' });
      return send(res, 200, [...entries.values()]);
    }
    // GET /projects/:id/repository/compare?from=&to=: the commits on `to` that are not on `from`
    // (merge-base comparison, straight=false), oldest first. https://docs.gitlab.com/api/repositories/#compare-branches-tags-or-commits
    if (rest === '/repository/compare' && method === 'GET') {
      const from = commitAt(url.searchParams.get('from') ?? '');
      const to = commitAt(url.searchParams.get('to') ?? '');
      if (!from || !to) return send(res, 404, { message: '404 Ref Not Found' });
      const reach = (start: Commit) => reachable(start.id, (id) => commits.get(id)!.parents);
      const onFrom = new Set(reach(from));
      const list = reach(to).filter((id) => !onFrom.has(id)).reverse().map((id) => ({ ...asJson(commits.get(id)!), author_name: 'dev', created_at: '2026-11-01T00:00:00Z' }));
      return send(res, 200, { commit: list.length ? list[list.length - 1] : null, commits: list, diffs: [], compare_timeout: false, compare_same_ref: from.id === to.id, web_url: `http://gitlab.example/${project.path}/-/compare/${from.id}...${to.id}` });
    }
    // GET /projects/:id/repository/commits?ref_name=&path=&per_page=: from ref_name (default the default
    // branch) along first parents, newest first; with path, only the commits that changed that file.
    // https://docs.gitlab.com/api/commits/#list-repository-commits
    if (rest === '/repository/commits' && method === 'GET') {
      const ref = url.searchParams.get('ref_name') ?? [...project.branches.keys()][0];
      let c = commitAt(ref);
      if (!c) return send(res, 404, { message: '404 Not Found' });
      const path = url.searchParams.get('path');
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 20), 100);
      const out: Obj[] = [];
      while (c && out.length < perPage) {
        if (!path || c.files.get(path)?.last === c.id) out.push(asJson(c));
        c = commits.get(c.parents[0]);
      }
      return send(res, 200, out);
    }
    if ((m = rest.match(/^\/repository\/commits\/([^/]+)$/)) && method === 'GET') {
      const c = commitAt(decodeURIComponent(m[1]));
      return c ? send(res, 200, asJson(c)) : send(res, 404, { message: '404 Commit Not Found' });
    }
    if (rest === '/repository/commits' && method === 'POST') {
      const branch = body.branch as string;
      const change = changes.get(`${project.id} ${branch}`);
      if (change) {
        if (--change.times <= 0) changes.delete(`${project.id} ${branch}`);
        project.branches.set(branch, newCommit(commitAt(branch), 'someone else', { [change.path]: change.content }).id);
      }
      if (project.protected.has(branch)) return send(res, 403, { message: 'You are not allowed to push into this branch' });
      let parent: Commit | undefined;
      if (project.branches.has(branch)) parent = commitAt(branch);
      else if (body.start_sha) parent = commits.get(body.start_sha);
      else if (body.start_branch) parent = commitAt(body.start_branch);
      if (!parent) return send(res, 400, { message: 'You can only create or edit files when you are on a branch' });
      const edits: Record<string, string> = {};
      for (const a of body.actions ?? []) {
        const cur = parent.files.get(a.file_path);
        if (a.action !== 'update') return send(res, 400, { message: `Unsupported action ${a.action} in this double` });
        if (!cur) return send(res, 400, { message: "A file with this name doesn't exist" });
        if (a.last_commit_id && a.last_commit_id !== cur.last) return send(res, 400, { message: 'You are attempting to update a file that has changed since you started editing it.' });
        edits[a.file_path] = a.encoding === 'base64' ? Buffer.from(a.content, 'base64').toString('utf8') : a.content;
      }
      const c = newCommit(parent, body.commit_message, edits);
      project.branches.set(branch, c.id);
      return send(res, 201, asJson(c));
    }
    if (rest === '/merge_requests' && method === 'POST') {
      if (!project.branches.has(body.source_branch)) return send(res, 400, { message: ['Source branch does not exist'] });
      const iid = mergeRequests.filter((x) => x.project_id === project.id).length + 1;
      const mr = { id: 9000 + mergeRequests.length, iid, project_id: project.id, title: body.title, description: body.description, state: 'opened', source_branch: body.source_branch, target_branch: body.target_branch, web_url: `https://gitlab.example/${project.path}/-/merge_requests/${iid}`, merge_commit_sha: null, squash_commit_sha: null };
      mergeRequests.push(mr);
      return send(res, 201, mr);
    }
    if (rest === '/merge_requests' && method === 'GET') {
      const state = url.searchParams.get('state');
      const target = url.searchParams.get('target_branch');
      return send(res, 200, mergeRequests.filter((x) => x.project_id === project.id && (!state || x.state === state) && (!target || x.target_branch === target)));
    }
    if ((m = rest.match(/^\/merge_requests\/(\d+)$/)) && method === 'GET') {
      const mr = mergeRequests.find((x) => x.project_id === project.id && x.iid === Number(m![1]));
      return mr ? send(res, 200, mr) : send(res, 404, { message: '404 Not found' });
    }
    return send(res, 404, { message: '404 Not Found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, { message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`;
  const byKey = (key: string) => projectOf(key)!;

  return {
    url,
    requests,
    mergeRequests,
    addProject(id, path, branch, files) {
      projects.set(String(id), { id, path, branches: new Map([[branch, newCommit(undefined, 'initial', files).id]]), protected: new Set() });
    },
    file: (project, branch, path) => commits.get(byKey(project).branches.get(branch) ?? '')?.files.get(path)?.content,
    head: (project, branch) => byKey(project).branches.get(branch),
    commits(project, branch) {
      const out: { id: string; message: string }[] = [];
      let c = commits.get(byKey(project).branches.get(branch) ?? '');
      while (c) {
        out.push({ id: c.id, message: c.message });
        c = commits.get(c.parents[0]);
      }
      return out;
    },
    push(project, branch, path, content, message) {
      const p = byKey(project);
      const c = newCommit(commits.get(p.branches.get(branch) ?? ''), message, { [path]: content });
      p.branches.set(branch, c.id);
      return c.id;
    },
    changeBeforeNextCommit(project, branch, path, content, times = 1) {
      changes.set(`${byKey(project).id} ${branch}`, { path, content, times });
    },
    fail(count, status, match = /./, method = '') {
      faults = { count, status, match, method };
    },
    protect(project, branch) {
      byKey(project).protected.add(branch);
    },
    merge(project, iid) {
      const p = byKey(project);
      const mr = mergeRequests.find((x) => x.project_id === p.id && x.iid === iid)!;
      const target = commits.get(p.branches.get(mr.target_branch)!)!;
      const source = commits.get(p.branches.get(mr.source_branch)!)!;
      const edits: Record<string, string> = {};
      for (const [path, f] of source.files) if (target.files.get(path)?.content !== f.content) edits[path] = f.content;
      const c = newCommit(target, `Merge branch '${mr.source_branch}' into '${mr.target_branch}'`, edits);
      c.parents.push(source.id);
      p.branches.set(mr.target_branch, c.id);
      Object.assign(mr, { state: 'merged', merge_commit_sha: c.id });
      return c.id;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
