/**
 * The GitHub Deployments audit: for each service a run changes, a deployment in the configured
 * repository (environment, ref, payload with date, image, approver, service and the services held back), then its
 * statuses: in_progress when the run starts, failure when a service fails, success for all only
 * once the run is done (after settle), inactive when the service was put back. Who rolled back what is then visible in GitHub's Environments.
 * https://docs.github.com/en/rest/deployments/deployments#create-a-deployment
 * https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status
 * A failure here is reported by the fan-out (src/notify/index.ts) and never fails the rollback.
 */
import { RollbackError } from '../errors';
import { createGithub, Github, GithubOptions, githubError } from '../github/octokit';
import { undoesSummary, type Undoes } from '../plan/undoes';
import type { Change, Notifier, RunEvent, RunInfo } from './types';

export interface GithubDeploymentsOptions {
  /** owner/name */
  repo: string;
  ref?: string;
  token?: string;
  apiUrl?: string;
  /** Link from each status back to the run (Jenkins BUILD_URL). */
  logUrl?: string;
  github?: Partial<GithubOptions>;
}

/** Commits the deployment payload lists (newest first); `count` says how many go away in all. */
const PAYLOAD_COMMITS = 20;

/** What the change takes away, for the payload (docs/undoes.md); null when it was not worked out. */
function undoesPayload(u: Undoes | undefined): Record<string, unknown> | null {
  if (!u) return null;
  return {
    from: u.from ?? null, to: u.to ?? null, source: u.source ?? null, compare: u.compare ?? null, count: u.count ?? null,
    commits: (u.commits ?? []).slice(0, PAYLOAD_COMMITS).map((c) => ({ sha: c.sha, title: c.title })),
    ...(u.unavailable ? { unavailable: u.unavailable } : {}),
    ...(u.forward ? { forward: u.forward } : {}),
  };
}

/** GitHub limits a deployment's description to 140 characters: cut with an ellipsis. */
function fit(text: string): string {
  return text.length <= 140 ? text : `${text.slice(0, 139)}…`;
}

type State = 'queued' | 'in_progress' | 'success' | 'failure' | 'inactive' | 'error';
const FINAL = new Set<State>(['success', 'failure', 'inactive', 'error']);

export function createGithubDeploymentsNotifier(o: GithubDeploymentsOptions): Notifier & { close(): Promise<void> } {
  const [owner, repo] = o.repo.split('/');
  const gh: Github = createGithub({ token: o.token, apiUrl: o.apiUrl, ...o.github });
  /** Per service of the current run: its deployment id and last state. */
  const deployments = new Map<string, { id: number; state: State }>();

  // What was held back is part of the record: a partial rollback must not read as a whole one.
  const heldText = (run: RunInfo) => (run.held?.length ? ` with ${run.held.map((h) => h.service).join(', ')} held back` : '');
  const what = (run: RunInfo) =>
    run.action === 'undo' ? `Undo of the last rollback of ${run.environment}` : `Rollback of ${run.environment} to ${run.date}${heldText(run)}`;

  async function setState(run: RunInfo, service: string, state: State, description: string): Promise<void> {
    const d = deployments.get(service);
    if (!d || d.state === state) return;
    try {
      await gh.octokit.rest.repos.createDeploymentStatus({
        owner, repo, deployment_id: d.id, state, environment: run.environment,
        // GitHub limits a status description to 140 characters.
        description: description.slice(0, 140),
        ...(o.logUrl ? { log_url: o.logUrl } : {}),
        // Keep older deployments of the environment as they are: this audit marks them itself.
        auto_inactive: false,
      });
    } catch (err) {
      throw githubError(err, `Setting GitHub deployment ${d.id} of ${service} in ${o.repo} to ${state}`);
    }
    d.state = state;
  }

  async function create(run: RunInfo, change: Change): Promise<void> {
    let data;
    try {
      ({ data } = await gh.octokit.rest.repos.createDeployment({
        owner, repo,
        ref: o.ref ?? 'main',
        task: run.action === 'undo' ? 'deploy:rollback-undo' : 'deploy:rollback',
        environment: run.environment,
        // Not a code deployment: no merge of the default branch, no status checks to wait for.
        auto_merge: false,
        required_contexts: [],
        payload: {
          service: change.service, image: change.to, previous: change.from, date: run.date ?? null, day: change.day ?? null, approver: run.approver, target: run.target,
          // The services this run left as they were, each with what holds it and the image it keeps.
          held: (run.held ?? []).map((h) => ({ service: h.service, by: h.by, image: h.image })),
          // What the change takes away: revisions, compare link, count and the first commits.
          undoes: undoesPayload(change.undoes),
        },
        description: fit(`${what(run)}: ${change.service}, approved by ${run.approver}${change.undoes && (change.undoes.from || change.undoes.to) ? `; ${undoesSummary(change.undoes)}` : ''}`),
        transient_environment: false,
      }));
    } catch (err) {
      throw missingRef(err) ?? githubError(err, `Creating a GitHub deployment for ${change.service} in ${o.repo}`);
    }
    // 202 means GitHub merged instead of deploying; auto_merge: false rules it out, but check.
    if (!data || typeof (data as { id?: unknown }).id !== 'number') return;
    deployments.set(change.service, { id: (data as { id: number }).id, state: 'queued' });
    await setState(run, change.service, 'in_progress', `${what(run)}: ${change.service} -> ${change.to}`);
  }

  /**
   * GitHub answers 422 "No ref found for: <ref>" when the deployment's ref is not a branch, tag or
   * commit of the repository (a repository whose default branch is not main, say): its own sentence,
   * naming the setting that fixes it, not a generic validation failure.
   */
  function missingRef(err: unknown): RollbackError | undefined {
    const e = err as { status?: number; response?: { data?: { message?: unknown } } };
    const message = e.response?.data?.message;
    if (e.status !== 422 || typeof message !== 'string' || !/^No ref found for/i.test(message)) return undefined;
    return new RollbackError('failed', `GitHub deployments in ${o.repo}: the ref ${o.ref ?? 'main'} does not exist in that repository (HTTP 422: ${message.replace(/\.$/, '')}); set github.deployments.ref to one of its branches, tags or commits.`);
  }

  /** Events without per-service detail (GitOps runs) end every open deployment the same way. */
  async function finishAll(run: RunInfo, state: State, description: string): Promise<void> {
    for (const [service, d] of deployments) if (!FINAL.has(d.state)) await setState(run, service, state, description);
  }

  return {
    name: `GitHub deployments in ${o.repo}`,
    async notify(event: RunEvent): Promise<void> {
      const run = event.run;
      if (run.dryRun) return;
      switch (event.type) {
        case 'started':
          deployments.clear();
          // One at a time: each POST is small, and the order in GitHub's list then follows the plan.
          for (const change of run.changes) await create(run, change);
          return;
        case 'service-done':
          // Healthy is not done: the run still waits for the fleet to settle (a controller may put
          // the image back), so a deployment turns success only with the run's 'done'.
          return;
        case 'service-failed':
          return setState(run, event.change.service, 'failure', event.reason);
        case 'service-reverted':
          return setState(run, event.change.service, 'inactive', `put back to ${event.change.from}`);
        case 'done':
          return finishAll(run, 'success', `${what(run)} is done`);
        case 'failed':
          // Whatever is not final was never changed, or was put back: the rollback is not in effect.
          return finishAll(run, 'inactive', event.reason);
        case 'partial':
          for (const s of event.states) {
            const d = deployments.get(s.service);
            // Put back (or never changed): the rollback is not in effect there; anything else needs a person.
            if (d && !FINAL.has(d.state)) await setState(run, s.service, /^(put back|unchanged)\b/.test(s.state) ? 'inactive' : 'error', s.state);
          }
          return;
      }
    },
    close: () => gh.close(),
  };
}
