/**
 * What the GitOps target (target.ts) needs of the service hosting the repository: GitHub
 * (github.ts) and GitLab (gitlab.ts) each implement it with their own API; the file editing,
 * automation checks, reverts and waiting are shared.
 */
import type { RollbackError } from '../../errors';

/** The branch head and the files as they are in it; every read is pinned to that commit. */
export interface FileSet {
  head: string;
  files: Map<string, string>;
  /** GitHub: the head's tree. */
  tree?: string;
  /** GitLab: per path, the last commit that changed it (the optimistic lock of its Commits API). */
  lastCommits?: Map<string, string>;
}

export type CommitResult = 'moved' | { sha?: string; review?: string };

export interface GitHost {
  /** "shop/gitops@main": for messages. */
  where: string;
  /** "pull request" or "merge request" when changes go through review instead of onto the branch. */
  review?: string;
  describe(): string;
  read(paths: string[]): Promise<FileSet>;
  /** File names (not paths) directly in `dir` at `head`; [] when the directory does not exist. */
  list(dir: string, head: string): Promise<string[]>;
  /**
   * One commit of `files` on top of `base.head`: onto the branch only if nobody pushed since
   * ('moved' otherwise), or onto a new branch with a pull/merge request in review mode.
   */
  commit(base: FileSet, files: Map<string, string>, subject: string, body: string): Promise<CommitResult>;
  /**
   * Optional: the branch's commits that changed any of `paths`, newest first, at most `limit`, each
   * with its committer time (ISO 8601), and a way to read the files as they were at one of them
   * (Target.history: what the repository remembers).
   */
  commitsOf?(paths: string[], limit: number): Promise<{ sha: string; time: string }[]>;
  readAt?(paths: string[], sha: string): Promise<FileSet>;
  /** The commit a merged review became on the branch (undefined while not merged). */
  mergedAs?(review: string): Promise<string | undefined>;
  busy(): Promise<string | undefined>;
  /** One sentence for a failed call. */
  error(err: unknown, what: string): RollbackError;
  close(): Promise<void>;
}
