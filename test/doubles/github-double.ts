/**
 * A GitHub REST double (node:http), shapes from GitHub's REST docs:
 * - packages: https://docs.github.com/en/rest/packages/packages#list-package-versions-for-a-package-owned-by-an-organization
 * - deployments and statuses: https://docs.github.com/en/rest/deployments/deployments, .../statuses
 * - contents: https://docs.github.com/en/rest/repos/contents#get-repository-content
 * - git data: https://docs.github.com/en/rest/git (blobs, trees, commits, refs)
 * - pulls: https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
 * - compare: https://docs.github.com/en/rest/commits/commits#compare-two-commits (GET
 *   /repos/{owner}/{repo}/compare/{base}...{head}: the commits reachable from head and not from
 *   base, oldest first, with status ahead/behind/diverged/identical, ahead_by, behind_by, total_commits)
 * Faults: primary rate limit (403, x-ratelimit-remaining: 0 + reset), secondary (429 + retry-after),
 * 5xx, and a concurrent push that makes the next ref update a non-fast-forward (422).
 *
 * A deployment needs a ref that exists: in a repository made with addRepo, a ref that is not one of
 * its branches, tags or commits is answered 422 "No ref found for: <ref>", as GitHub does. A
 * repository never added stands for one whose refs all exist (the audit tests do not model them).
 */
import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reachable } from './commit-graph';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: Obj;
}

export interface PackageVersion {
  digest: string;
  tags: string[];
  created: string;
}

export interface GithubDouble {
  url: string;
  requests: RecordedRequest[];
  /** owner 'org:shop' or 'user:alice'; package 'api' or 'shop/api'. */
  addPackage(owner: string, name: string, versions: PackageVersion[]): void;
  /** Creates a repository whose `branch` holds these files. */
  addRepo(repo: string, branch: string, files: Record<string, string>): void;
  file(repo: string, branch: string, path: string): string | undefined;
  commits(repo: string, branch: string): { sha: string; message: string }[];
  /** Another commit lands on the branch (someone else pushes), changing `path`. */
  push(repo: string, branch: string, path: string, content: string, message?: string): void;
  /** The next ref update finds the branch moved: a concurrent push just before it. */
  raceNextRefUpdate(repo: string, branch: string, path: string, content: string, times?: number): void;
  rateLimit(count: number, kind: 'primary' | 'secondary'): void;
  /** The branch requires pull requests: ref updates answer 422 as GitHub does. */
  protect(repo: string, branch: string): void;
  /** Merges an open pull request with a merge commit (the "Merge pull request" button); returns its sha. */
  mergePull(repo: string, number: number): string;
  /** The branch head's commit sha. */
  head(repo: string, branch: string): string | undefined;
  serverErrors(count: number, status?: number, match?: RegExp): void;
  deployments: Obj[];
  statuses: Map<number, Obj[]>;
  pulls: Obj[];
  close(): Promise<void>;
}

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

export async function startGithubDouble(options: { token?: string; perPage?: number; contentLimit?: number; now?: () => number } = {}): Promise<GithubDouble> {
  const requests: RecordedRequest[] = [];
  const packages = new Map<string, Obj[]>();
  const blobs = new Map<string, string>();
  const trees = new Map<string, Map<string, string>>(); // tree sha -> path -> blob sha
  const commitObjs = new Map<string, { sha: string; tree: string; parents: string[]; message: string; date: string }>();
  const clock = options.now ?? Date.now;
  const refs = new Map<string, string>(); // repo + ' ' + ref -> commit sha
  const deployments: Obj[] = [];
  const statuses = new Map<number, Obj[]>();
  const pulls: Obj[] = [];
  let rate = { count: 0, kind: 'primary' as 'primary' | 'secondary' };
  let errors = { count: 0, status: 502, match: /./ };
  const races = new Map<string, { path: string; content: string; times: number }>();
  const protectedRefs = new Set<string>();
  let nextId = 1000;
  let started = 0;

  const putBlob = (content: string) => { const s = sha1(`blob ${content}`); blobs.set(s, content); return s; };
  const putTree = (files: Map<string, string>) => { const s = sha1(`tree ${JSON.stringify([...files].sort())}`); trees.set(s, files); return s; };
  const putCommit = (tree: string, parents: string[], message: string) => {
    const s = sha1(`commit ${tree} ${parents.join(',')} ${message} ${started++}`);
    commitObjs.set(s, { sha: s, tree, parents, message, date: new Date(clock()).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    return s;
  };
  const treeOf = (repo: string, branch: string) => {
    const head = refs.get(`${repo} refs/heads/${branch}`);
    return head ? trees.get(commitObjs.get(head)!.tree)! : undefined;
  };
  function pushCommit(repo: string, branch: string, path: string, content: string, message: string) {
    const key = `${repo} refs/heads/${branch}`;
    const head = refs.get(key)!;
    const files = new Map(trees.get(commitObjs.get(head)!.tree)!);
    files.set(path, putBlob(content));
    refs.set(key, putCommit(putTree(files), [head], message));
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ratelimit-remaining': '4999', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }
  const notFound = (res: ServerResponse) => send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });

  async function handle(req: IncomingMessage, res: ServerResponse, base: string) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', base);
    const body = text ? JSON.parse(text) : undefined;
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname + url.search, authorization: req.headers.authorization, body });
    if (options.token && req.headers.authorization !== `token ${options.token}` && req.headers.authorization !== `Bearer ${options.token}`) {
      return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }
    if (rate.count > 0) {
      rate.count -= 1;
      if (rate.kind === 'primary') {
        return send(res, 403, { message: 'API rate limit exceeded for user ID 1.' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 2) });
      }
      return send(res, 429, { message: 'You have exceeded a secondary rate limit.' }, { 'retry-after': '3' });
    }
    if (errors.count > 0 && errors.match.test(url.pathname)) {
      errors.count -= 1;
      return send(res, errors.status, { message: 'Server Error' });
    }
    const p = decodeURIComponent(url.pathname);
    let m: RegExpMatchArray | null;

    // Packages: GET /orgs/{org}/packages/container/{name}/versions (and /users/{user}/...), paginated with Link.
    if ((m = p.match(/^\/(orgs|users)\/([^/]+)\/packages\/container\/([^/]+)\/versions$/)) && method === 'GET') {
      const all = packages.get(`${m[1] === 'orgs' ? 'org' : 'user'}:${m[2]} ${decodeURIComponent(m[3])}`);
      if (!all) return send(res, 404, { message: 'Package not found.' });
      const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? options.perPage ?? 30), options.perPage ?? 100);
      const page = Number(url.searchParams.get('page') ?? 1);
      const slice = all.slice((page - 1) * perPage, page * perPage);
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link = (n: number, rel: string) => { const u = new URL(url); u.searchParams.set('page', String(n)); u.searchParams.set('per_page', String(perPage)); return `<${u}>; rel="${rel}"`; };
      const links = [...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []), ...(page > 1 ? [link(1, 'first'), link(page - 1, 'prev')] : [])];
      return send(res, 200, slice, links.length ? { link: links.join(', ') } : {});
    }

    if (!(m = p.match(/^\/repos\/([^/]+\/[^/]+)(\/.*)$/))) return notFound(res);
    const repo = m[1];
    const rest = m[2];

    // Deployments and their statuses.
    if (rest === '/deployments' && method === 'POST') {
      if (!body?.ref) return send(res, 422, { message: 'Validation Failed', errors: [{ field: 'ref', code: 'missing_field' }] });
      const known = [...refs.keys()].some((k) => k.startsWith(`${repo} `));
      const ref = String(body.ref).replace(/^refs\/(heads|tags)\//, '');
      if (known && !refs.has(`${repo} refs/heads/${ref}`) && !refs.has(`${repo} refs/tags/${ref}`) && !commitObjs.has(ref)) {
        return send(res, 422, { message: `No ref found for: ${body.ref}`, documentation_url: 'https://docs.github.com/rest/deployments/deployments#create-a-deployment' });
      }
      const d = { id: nextId++, url: `${base}/repos/${repo}/deployments/${nextId}`, sha: '0'.repeat(40), ref: body.ref, task: body.task ?? 'deploy', payload: body.payload ?? {}, environment: body.environment ?? 'production', description: body.description ?? null, created_at: new Date().toISOString(), repo, request: body };
      deployments.push(d);
      statuses.set(d.id, []);
      return send(res, 201, d);
    }
    if ((m = rest.match(/^\/deployments\/(\d+)\/statuses$/)) && method === 'POST') {
      const list = statuses.get(Number(m[1]));
      if (!list) return notFound(res);
      if (!['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'].includes(body?.state)) return send(res, 422, { message: 'Validation Failed' });
      const s = { id: nextId++, state: body.state, description: body.description ?? '', environment: body.environment, log_url: body.log_url, created_at: new Date().toISOString() };
      list.push(s);
      return send(res, 201, s);
    }

    // Contents (read only here): base64 content and the blob sha.
    if ((m = rest.match(/^\/contents(?:\/(.*))?$/)) && method === 'GET') {
      const ref = url.searchParams.get('ref') ?? 'main';
      const commit = commitObjs.get(ref) ?? commitObjs.get(refs.get(`${repo} refs/heads/${ref}`) ?? '');
      const path = decodeURIComponent(m[1] ?? '').replace(/\/+$/, '');
      const blob = commit ? trees.get(commit.tree)!.get(path) : undefined;
      if (!blob && commit) {
        // A directory: its entries, files and subdirectories, one level deep.
        const prefix = path ? `${path}/` : '';
        const entries = new Map<string, Obj>();
        for (const [p2, sha] of trees.get(commit.tree)!) {
          if (!p2.startsWith(prefix)) continue;
          const [name, ...more] = p2.slice(prefix.length).split('/');
          entries.set(name, { type: more.length ? 'dir' : 'file', name, path: prefix + name, sha: more.length ? sha1(prefix + name) : sha });
        }
        if (entries.size) return send(res, 200, [...entries.values()]);
      }
      if (!blob) return notFound(res);
      const content = blobs.get(blob)!;
      if (Buffer.byteLength(content) > (options.contentLimit ?? 1024 * 1024)) {
        // Over the contents API's limit: no inline content, the blob must be read via git data.
        return send(res, 200, { type: 'file', encoding: 'none', content: '', size: Buffer.byteLength(content), name: path.split('/').pop(), path, sha: blob });
      }
      return send(res, 200, { type: 'file', encoding: 'base64', size: Buffer.byteLength(content), name: path.split('/').pop(), path, sha: blob, content: Buffer.from(content).toString('base64').replace(/(.{60})/g, '$1\n') });
    }

    // List commits (https://docs.github.com/en/rest/commits/commits#list-commits): from sha (branch or
    // commit) along first parents, newest first; with path, only those whose blob at path differs from their parent's.
    if (rest === '/commits' && method === 'GET') {
      const from = url.searchParams.get('sha') ?? 'main';
      let sha: string | undefined = commitObjs.has(from) ? from : refs.get(`${repo} refs/heads/${from}`);
      if (!sha) return send(res, 422, { message: `No commit found for SHA: ${from}` });
      const path = url.searchParams.get('path');
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100);
      const out: Obj[] = [];
      while (sha && out.length < perPage) {
        const c: { tree: string; parents: string[]; message: string; date: string } = commitObjs.get(sha)!;
        const parent = c.parents[0] ? commitObjs.get(c.parents[0]) : undefined;
        const blob = path ? trees.get(c.tree)!.get(path) : undefined;
        if (!path || (blob && blob !== (parent ? trees.get(parent.tree)!.get(path) : undefined))) {
          out.push({ sha, commit: { message: c.message, author: { name: 'dev', email: 'dev@example.com', date: c.date }, committer: { name: 'dev', email: 'dev@example.com', date: c.date } }, parents: c.parents.map((p: string) => ({ sha: p })) });
        }
        sha = c.parents[0];
      }
      return send(res, 200, out);
    }

    // Compare two commits (the refs may be shas or branch names).
    if ((m = rest.match(/^\/compare\/(.+)\.\.\.(.+)$/)) && method === 'GET') {
      const resolve = (ref: string) => (commitObjs.has(ref) ? ref : refs.get(`${repo} refs/heads/${ref}`) ?? refs.get(`${repo} refs/tags/${ref}`));
      const baseSha = resolve(m[1]);
      const headSha = resolve(m[2]);
      if (!baseSha || !headSha) return notFound(res);
      const reach = (from: string) => reachable(from, (id) => commitObjs.get(id)!.parents);
      const fromBase = new Set(reach(baseSha));
      const fromHead = new Set(reach(headSha));
      // Oldest first: reach() walks newest first along first parents in this linear-history double.
      const ahead = reach(headSha).filter((s) => !fromBase.has(s)).reverse();
      const behind = reach(baseSha).filter((s) => !fromHead.has(s));
      const status = ahead.length && behind.length ? 'diverged' : ahead.length ? 'ahead' : behind.length ? 'behind' : 'identical';
      return send(res, 200, {
        url: `${base}/repos/${repo}/compare/${m[1]}...${m[2]}`,
        html_url: `http://github.example/${repo}/compare/${m[1]}...${m[2]}`,
        status, ahead_by: ahead.length, behind_by: behind.length, total_commits: ahead.length,
        commits: ahead.slice(0, 250).map((s) => ({ sha: s, html_url: `http://github.example/${repo}/commit/${s}`, commit: { message: commitObjs.get(s)!.message, author: { name: 'dev', email: 'dev@example.com', date: '2026-11-01T00:00:00Z' } } })),
        files: [],
      });
    }

    // Git data.
    if ((m = rest.match(/^\/git\/ref\/(.+)$/)) && method === 'GET') {
      const sha = refs.get(`${repo} refs/${m[1]}`);
      return sha ? send(res, 200, { ref: `refs/${m[1]}`, object: { sha, type: 'commit' } }) : notFound(res);
    }
    if ((m = rest.match(/^\/git\/commits\/([0-9a-f]+)$/)) && method === 'GET') {
      const c = commitObjs.get(m[1]);
      return c ? send(res, 200, { sha: c.sha, message: c.message, tree: { sha: c.tree }, parents: c.parents.map((s) => ({ sha: s })) }) : notFound(res);
    }
    if ((m = rest.match(/^\/git\/blobs\/([0-9a-f]+)$/)) && method === 'GET') {
      const content = blobs.get(m[1]);
      return content === undefined ? notFound(res) : send(res, 200, { sha: m[1], size: Buffer.byteLength(content), encoding: 'base64', content: Buffer.from(content).toString('base64') });
    }
    if (rest === '/git/blobs' && method === 'POST') {
      const content = body.encoding === 'base64' ? Buffer.from(body.content, 'base64').toString('utf8') : body.content;
      return send(res, 201, { sha: putBlob(content), url: '' });
    }
    if (rest === '/git/trees' && method === 'POST') {
      const files = new Map(body.base_tree ? trees.get(body.base_tree) ?? [] : []);
      if (body.base_tree && !trees.has(body.base_tree)) return send(res, 422, { message: 'Invalid tree info' });
      for (const e of body.tree) {
        if (e.sha === null) files.delete(e.path);
        else if (!blobs.has(e.sha)) return send(res, 422, { message: `Invalid tree info: blob ${e.sha} not found` });
        else files.set(e.path, e.sha);
      }
      return send(res, 201, { sha: putTree(files), tree: [...files].map(([path, sha]) => ({ path, sha, mode: '100644', type: 'blob' })) });
    }
    if (rest === '/git/commits' && method === 'POST') {
      if (!trees.has(body.tree)) return send(res, 422, { message: 'Tree SHA does not exist' });
      return send(res, 201, { sha: putCommit(body.tree, body.parents ?? [], body.message), message: body.message, tree: { sha: body.tree } });
    }
    if ((m = rest.match(/^\/git\/refs\/(.+)$/)) && method === 'PATCH') {
      const key = `${repo} refs/${m[1]}`;
      const race = races.get(key);
      if (race) {
        if (--race.times <= 0) races.delete(key);
        pushCommit(repo, m[1].replace(/^heads\//, ''), race.path, race.content, 'a concurrent push');
      }
      const head = refs.get(key);
      if (!head) return send(res, 422, { message: 'Reference does not exist' });
      // A protected branch (required pull request reviews) refuses every direct update.
      // https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
      if (protectedRefs.has(key)) return send(res, 422, { message: 'Changes must be made through a pull request.', documentation_url: 'https://docs.github.com/articles/about-protected-branches' });
      const parents = commitObjs.get(body.sha)?.parents ?? [];
      // Without force, the new commit must descend from the current head (fast-forward).
      if (!body.force && !parents.includes(head) && body.sha !== head) return send(res, 422, { message: 'Update is not a fast forward' });
      refs.set(key, body.sha);
      return send(res, 200, { ref: `refs/${m[1]}`, object: { sha: body.sha, type: 'commit' } });
    }
    if (rest === '/git/refs' && method === 'POST') {
      const key = `${repo} ${body.ref}`;
      if (refs.has(key)) return send(res, 422, { message: 'Reference already exists' });
      if (!commitObjs.has(body.sha)) return send(res, 422, { message: 'Object does not exist' });
      refs.set(key, body.sha);
      return send(res, 201, { ref: body.ref, object: { sha: body.sha, type: 'commit' } });
    }

    // Pulls.
    if (rest === '/pulls' && method === 'POST') {
      if (!refs.has(`${repo} refs/heads/${body.head}`)) return send(res, 422, { message: 'Validation Failed', errors: [{ field: 'head', code: 'invalid' }] });
      const n = pulls.length + 1;
      const pr = { number: n, state: 'open', merged: false, merge_commit_sha: null, title: body.title, body: body.body, head: { ref: body.head }, base: { ref: body.base }, html_url: `https://github.example/${repo}/pull/${n}`, repo };
      pulls.push(pr);
      return send(res, 201, pr);
    }
    if ((m = rest.match(/^\/pulls\/(\d+)$/)) && method === 'GET') {
      const pr = pulls.find((x) => x.repo === repo && x.number === Number(m![1]));
      return pr ? send(res, 200, pr) : notFound(res);
    }
    if (rest === '/pulls' && method === 'GET') {
      const base2 = url.searchParams.get('base');
      return send(res, 200, pulls.filter((pr) => pr.repo === repo && pr.state === 'open' && (!base2 || pr.base.ref === base2)));
    }
    return notFound(res);
  }

  const server = createServer((req, res) => {
    handle(req, res, `http://${req.headers.host}`).catch((err) => send(res, 500, { message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    deployments,
    statuses,
    pulls,
    addPackage(owner, name, versions) {
      packages.set(`${owner} ${name}`, versions.map((v, i) => ({
        id: 5000 + i, name: v.digest, url: '', package_html_url: '', created_at: v.created, updated_at: v.created, html_url: '',
        metadata: { package_type: 'container', container: { tags: v.tags } },
      })));
    },
    addRepo(repo, branch, files) {
      const tree = putTree(new Map(Object.entries(files).map(([p, c]) => [p, putBlob(c)])));
      refs.set(`${repo} refs/heads/${branch}`, putCommit(tree, [], 'initial'));
    },
    file(repo, branch, path) {
      const blob = treeOf(repo, branch)?.get(path);
      return blob ? blobs.get(blob) : undefined;
    },
    commits(repo, branch) {
      const out: { sha: string; message: string }[] = [];
      let sha = refs.get(`${repo} refs/heads/${branch}`);
      while (sha) {
        const c = commitObjs.get(sha)!;
        out.push({ sha, message: c.message });
        sha = c.parents[0];
      }
      return out;
    },
    push(repo, branch, path, content, message = 'someone else') {
      pushCommit(repo, branch, path, content, message);
    },
    raceNextRefUpdate(repo, branch, path, content, times = 1) {
      races.set(`${repo} refs/heads/${branch}`, { path, content, times });
    },
    mergePull(repo, number) {
      const pr = pulls.find((x) => x.repo === repo && x.number === number)!;
      const base = refs.get(`${repo} refs/heads/${pr.base.ref}`)!;
      const head = refs.get(`${repo} refs/heads/${pr.head.ref}`)!;
      const merged = putCommit(commitObjs.get(head)!.tree, [base, head], `Merge pull request #${number} from ${pr.head.ref}`);
      refs.set(`${repo} refs/heads/${pr.base.ref}`, merged);
      Object.assign(pr, { state: 'closed', merged: true, merge_commit_sha: merged });
      return merged;
    },
    protect(repo, branch) {
      protectedRefs.add(`${repo} refs/heads/${branch}`);
    },
    head(repo, branch) {
      return refs.get(`${repo} refs/heads/${branch}`);
    },
    rateLimit(count, kind) {
      rate = { count, kind };
    },
    serverErrors(count, status = 502, match = /./) {
      errors = { count, status, match };
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
