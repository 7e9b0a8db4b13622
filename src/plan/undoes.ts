/**
 * What a rollback takes away, service by service: the revision each changed service runs now and
 * the one it goes to (read from the images' labels, docs/undoes.md), the repository they come
 * from, the compare link, and the commits that go away, asked of GitHub (compare API) or GitLab
 * (repository compare API). Pure parts here (source URLs, links, words); the asking is in
 * src/plan/undoes-fetch.ts.
 *
 * Direction: the commits a rollback takes away are those reachable from the CURRENT revision and
 * not from the TARGET one, so the compare is target...current (GitHub's base...head, GitLab's
 * from=target&to=current).
 */

export interface UndoneCommit {
  sha: string;
  /** The first line of the commit message. */
  title: string;
  author?: string;
  date?: string;
}

export interface Undoes {
  /** The revision the service runs now (absent when its image does not say). */
  from?: string;
  /** The revision it goes to. */
  to?: string;
  /** The repository both were built from (the target image's, else the current one's). */
  source?: string;
  /** The page that shows what goes away (GitHub or GitLab), when the source is one. */
  compare?: string;
  /** Newest first (at most what the host lists: 250 for GitHub). */
  commits?: UndoneCommit[];
  /** How many commits go away (may be more than `commits` lists). */
  count?: number;
  /** Why the commit list is not there, in words. */
  unavailable?: string;
  /** The service moves forward: it runs an image older than the target. */
  forward?: string;
}

export type HostKind = 'github' | 'gitlab';

/** A repository on GitHub or GitLab, from an image's source label. */
export interface SourceRepo {
  kind: HostKind;
  /** https://github.com, or a GitLab instance (with its path prefix, if any). */
  web: string;
  /** owner/name, or group/subgroup/project. */
  path: string;
}

export interface HostHints {
  /** GitHub's API base (github.apiUrl): its host counts as GitHub (GitHub Enterprise). */
  githubApiUrl?: string;
  /** GitLab instances the configuration names (gitlab targets' url). */
  gitlabUrls?: string[];
}

/**
 * The repository of a source label: https://github.com/o/r(.git), git@github.com:o/r.git,
 * git+https://..., https://gitlab.example.com/group/sub/project(/-/tree/...). Undefined when the
 * host is neither GitHub nor a GitLab we know (gitlab.com, a configured instance, a gitlab.* host).
 */
export function sourceRepo(source: string | undefined, hints: HostHints = {}): SourceRepo | undefined {
  if (!source) return undefined;
  let text = source.trim().replace(/^git\+/, '');
  const scp = /^[\w.-]+@([^:/]+):(.+)$/.exec(text);
  if (scp) text = `https://${scp[1]}/${scp[2]}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!/^(https?|ssh|git):$/.test(url.protocol)) return undefined;
  const scheme = url.protocol === 'http:' ? 'http:' : 'https:';
  const path = url.pathname.replace(/\/-\/.*$/, '').replace(/\.git$/, '').replace(/^\/+|\/+$/g, '');
  const host = url.host.toLowerCase();
  const githubHosts = new Set(['github.com']);
  if (hints.githubApiUrl) {
    const api = new URL(hints.githubApiUrl);
    if (api.host !== 'api.github.com') githubHosts.add(api.host.toLowerCase());
  }
  if (githubHosts.has(host)) {
    const parts = path.split('/');
    if (parts.length < 2 || !parts[0] || !parts[1]) return undefined;
    return { kind: 'github', web: `${scheme}//${host}`, path: `${parts[0]}/${parts[1]}` };
  }
  for (const instance of hints.gitlabUrls ?? []) {
    const i = new URL(instance);
    const prefix = i.pathname.replace(/^\/+|\/+$/g, '');
    if (i.host.toLowerCase() !== host) continue;
    if (prefix && !path.startsWith(`${prefix}/`)) continue;
    const project = prefix ? path.slice(prefix.length + 1) : path;
    if (project.includes('/')) return { kind: 'gitlab', web: instance.replace(/\/+$/, ''), path: project };
  }
  if ((host === 'gitlab.com' || host.startsWith('gitlab.')) && path.includes('/')) return { kind: 'gitlab', web: `${scheme}//${host}`, path };
  return undefined;
}

/** The page that lists the commits reachable from `current` and not from `target`. */
export function compareLink(repo: SourceRepo, target: string, current: string): string {
  return repo.kind === 'github' ? `${repo.web}/${repo.path}/compare/${target}...${current}` : `${repo.web}/${repo.path}/-/compare/${target}...${current}`;
}

export const short = (rev: string) => (/^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 7) : rev);

/** "takes away 3 commits: Fix login; Add cart; ..." or the reason there is no list. */
export function undoesSummary(u: Undoes, titles = 3): string {
  if (u.count === undefined) return u.unavailable ? `commit list unavailable: ${u.unavailable}` : '';
  if (u.count === 0) return 'takes away no commits';
  const shown = (u.commits ?? []).slice(0, titles).map((c) => c.title);
  const more = u.count > shown.length ? `; and ${u.count - shown.length} more` : '';
  return `takes away ${u.count} commit${u.count === 1 ? '' : 's'}${shown.length ? `: ${shown.join('; ')}${more}` : ''}`;
}

/** The lines `rollback plan` prints under the table for one changed service. */
export function undoesLines(service: string, u: Undoes): string[] {
  const lines: string[] = [];
  if (u.forward) lines.push(`warning: ${u.forward}`);
  if (!u.from && !u.to) {
    lines.push(`${service}: neither image says which commit it was built from (no org.opencontainers.image.revision or org.label-schema.vcs-ref label), so what it takes away is unknown.`);
    return lines;
  }
  const from = u.from ? short(u.from) : '(unknown)';
  const to = u.to ? short(u.to) : '(unknown)';
  lines.push(`${service}: ${from} -> ${to}${u.source ? ` (${u.source})` : ''}${u.compare ? `, ${u.compare}` : ''}`);
  if (!u.count) {
    const summary = undoesSummary(u);
    if (summary) lines.push(`  ${summary}.`);
    return lines;
  }
  const shown = (u.commits ?? []).slice(0, 5);
  lines.push(`  takes away ${u.count} commit${u.count === 1 ? '' : 's'}${shown.length ? ', newest first:' : '.'}`);
  for (const c of shown) lines.push(`    ${c.sha.slice(0, 7)} ${c.title}`);
  if (u.count > shown.length && shown.length) lines.push(`    ... and ${u.count - shown.length} more`);
  return lines;
}

/**
 * The plan table with what each change takes away, above its last line (the summary stays last).
 */
export function withUndoes(table: string, entries: { service: string; action: string; undoes?: Undoes }[], compact = false): string {
  const changing = entries.filter((e) => e.action === 'change' && e.undoes);
  if (changing.length === 0) return table;
  // A fleet whose images carry no revision labels keeps its table as it was (plan --json still says
  // why per service); once one image says, every changing service is shown, those without labels too.
  if (changing.every((e) => !e.undoes!.from && !e.undoes!.to && !e.undoes!.source && !e.undoes!.forward)) return table;
  const lines = compact ? compactUndoes(changing) : changing.flatMap((e) => undoesLines(e.service, e.undoes!));
  const body = table.replace(/\n$/, '');
  const cut = body.lastIndexOf('\n');
  return `${body.slice(0, cut + 1)}${lines.join('\n')}\n${body.slice(cut + 1)}\n`;
}

/**
 * One line per changed service, for where people decide (the Jenkins question's description):
 * "api  157526e -> 9d68c16  takes away 3 commits: Bump express; Add cart badge; Fix login", the
 * compare link on the next line, and the forward warning.
 */
export function compactUndoes(entries: { service: string; undoes?: Undoes }[]): string[] {
  const width = Math.max(...entries.map((e) => e.service.length));
  return entries.flatMap((e) => {
    const u = e.undoes!;
    const revs = `${u.from ? short(u.from) : '?'} -> ${u.to ? short(u.to) : '?'}`;
    const what = !u.from && !u.to ? 'no revision labels' : undoesSummary(u);
    return [
      `${e.service.padEnd(width)}  ${revs}  ${what}`,
      ...(u.compare ? [`${' '.repeat(width)}  ${u.compare}`] : []),
      ...(u.forward ? [`${' '.repeat(width)}  warning: ${u.forward}`] : []),
    ];
  });
}
