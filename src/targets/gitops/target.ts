/**
 * The GitOps target, whatever hosts the repository (GitHub or GitLab: see host.ts): the environment
 * is what the files in a repository say. A rollback is ONE commit putting every service's image
 * where the repository keeps it (edit.ts: plain `image:`, Kustomize `images:`, Helm values), so the
 * fleet changes all at once or not at all; then, when the environment says how, the run waits until
 * the cluster runs that commit (Argo CD's Application: sync revision and health, argocd.ts).
 *
 * Image automation (Flux `$imagepolicy` markers, Argo CD Image Updater write-back files) would move
 * the images forward again at its next interval: refused before any commit (Target.refuse) unless
 * the environment says `automation: ignore`, which the plan and the commit then say.
 * A put-back after a failed wait, and an undo, is a revert of the rollback's commit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { writeFileAtomic } from '../../catalog/io';
import type { GitopsTargetConfig, ServiceConfig } from '../../config/types';
import { failure, inputError, RollbackError } from '../../errors';
import { registryHost } from '../../image/reference';
import type { Deployed, Target, TargetContext, TargetHistory } from '../types';
import { createArgoWait, type ArgoWait } from './argocd';
import { createKubeWait, type KubeWait } from './kube-wait';
import { findSites, ImageSpec, ManifestError, replaceImages, sameReference } from './edit';
import type { FileSet, GitHost } from './host';

/** Commits read for Target.history, newest first: each costs a read of the files. */
export const HISTORY_COMMITS = 30;

interface Change {
  service: ServiceConfig;
  image: string;
}

/** The rollback commit a revert undoes: kept beside the snapshots, so `undo` on the same workspace finds it. */
interface LastCommit {
  sha?: string;
  /** A pull or merge request instead of a commit on the branch. */
  review?: string;
  subject: string;
  changes: { service: string; from: string; to: string }[];
}

export function createGitopsTarget(ctx: TargetContext, cfg: GitopsTargetConfig, host: GitHost): Target {
  const registry = registryHost(ctx.config.registry.url);
  const where = host.where;
  const pathsOf = (s: ServiceConfig) => s.gitops?.paths ?? s.github?.paths ?? cfg.paths;
  const specOf = (s: ServiceConfig): ImageSpec => ({ repository: s.repository, values: s.gitops?.values });
  const review = Boolean(host.review);
  const argo: ArgoWait | undefined = cfg.argocd && !review ? createArgoWait(ctx, cfg.argocd) : undefined;
  const kube: KubeWait | undefined = cfg.kubernetes && !argo && !review ? createKubeWait(ctx, cfg.kubernetes) : undefined;
  const lastFile = join(ctx.stateDir, `gitops-${ctx.environment.name}-last-commit.json`);
  /** The commit the cluster must run now: the last one this process wrote. */
  let committed: string | undefined;

  const healthWords = review
    ? `health is not checked (the change takes effect when the ${host.review} is merged)`
    : argo ? `healthy once Argo CD's Application shows the commit Synced and Healthy`
      : kube ? `healthy once ${kube.describe()} runs the committed images and their rollouts are done`
        : 'health was not checked (neither argocd nor kubernetes configured): the commit is done when it lands';

  function sitesIn(files: FileSet, service: ServiceConfig) {
    const out: { path: string; image: string; line: number; imagePolicy?: { name: string; line: number } }[] = [];
    for (const path of pathsOf(service)) {
      try {
        for (const s of findSites(files.files.get(path) ?? '', specOf(service), registry)) out.push({ path, image: s.image, line: s.line, imagePolicy: s.imagePolicy });
      } catch (err) {
        if (err instanceof ManifestError) throw inputError(`${path} in ${where}: ${err.message}.`);
        throw err;
      }
    }
    return out;
  }

  const missing = (s: ServiceConfig) =>
    inputError(`Service ${s.name}: no image of ${s.repository} in ${pathsOf(s).join(', ')} of ${where}${s.gitops?.values ? ` (values ${s.gitops.values.repository}, ${s.gitops.values.tag})` : ''}.`);

  /** Image automation that would move this service forward again, as sentences (empty: none). */
  async function automationOf(service: ServiceConfig, files?: FileSet): Promise<string[]> {
    const snap = files ?? await host.read(pathsOf(service));
    const out: string[] = [];
    for (const s of sitesIn(snap, service)) {
      if (!s.imagePolicy) continue;
      const [ns, name] = s.imagePolicy.name.includes(':') ? s.imagePolicy.name.split(':') : ['flux-system', s.imagePolicy.name];
      out.push(`${s.path} line ${s.imagePolicy.line} in ${where} carries the Flux marker {"$imagepolicy": "${s.imagePolicy.name}"}, so Flux image automation would move ${service.name} forward again; pause the ImageUpdateAutomation that applies ImagePolicy ${ns}/${name} (flux suspend image update)`);
    }
    for (const dir of [...new Set(pathsOf(service).map((p) => posix.dirname(p)))]) {
      for (const name of await host.list(dir, snap.head)) {
        const m = /^\.argocd-source-(.+)\.ya?ml$/.exec(name);
        if (!m) continue;
        out.push(`${dir === '.' ? '' : `${dir}/`}${name} in ${where} is an Argo CD Image Updater write-back file, so the image updater would move ${service.name} forward again (and its overrides win over these files); pause image updates of Application ${m[1]} (its argocd-image-updater.argoproj.io annotations)`);
      }
    }
    return [...new Set(out)];
  }

  /** Builds the new file texts; refuses (before writing anything) if a service's image is nowhere. */
  function edit(snap: FileSet, changes: Change[]): Map<string, string> {
    const byFile = new Map<string, { repository: string; values?: ImageSpec['values']; image: string }[]>();
    for (const c of changes) {
      if (sitesIn(snap, c.service).length === 0) throw missing(c.service);
      for (const path of pathsOf(c.service)) byFile.set(path, [...(byFile.get(path) ?? []), { ...specOf(c.service), image: c.image }]);
    }
    const out = new Map<string, string>();
    for (const [path, replacements] of byFile) {
      const before = snap.files.get(path)!;
      let after: string;
      try {
        after = replaceImages(before, replacements, registry).text;
      } catch (err) {
        if (err instanceof ManifestError) throw failure(`${path} in ${where}: ${err.message}.`);
        throw err;
      }
      if (after !== before) out.set(path, after);
    }
    return out;
  }

  function readLast(): LastCommit | undefined {
    try {
      return existsSync(lastFile) ? JSON.parse(readFileSync(lastFile, 'utf8')) as LastCommit : undefined;
    } catch {
      return undefined;
    }
  }

  /** The rollback commit these changes undo exactly (each service back to what it had before it), if any. */
  async function reverting(changes: Change[]): Promise<LastCommit | undefined> {
    const last = readLast();
    if (!last) return undefined;
    const exact = changes.every((c) => last.changes.some((x) => x.service === c.service.name && sameReference(x.from, c.image)));
    if (!exact) return undefined;
    if (!last.sha && last.review && host.mergedAs) last.sha = await host.mergedAs(last.review);
    return last.sha ? last : undefined;
  }

  /** One attempt: read, edit, write one commit. Returns false when the branch moved underneath. */
  async function commitOnce(changes: Change[], message: string): Promise<boolean> {
    const paths = [...new Set(changes.flatMap((c) => pathsOf(c.service)))];
    const snap = await host.read(paths);
    const edited = edit(snap, changes);
    if (edited.size === 0) {
      ctx.logger.info(`${where} already has every image; no commit needed.`);
      return true;
    }
    const lines = changes.map((c) => {
      const was = sitesIn(snap, c.service)[0]?.image;
      return { service: c.service.name, from: was ?? '', to: c.image, text: `- ${c.service.name}: ${was && !sameReference(was, c.image) ? `${was} -> ` : ''}${c.image}` };
    });
    const undoing = await reverting(changes);
    const marks: string[] = [];
    if (cfg.automation === 'ignore') {
      for (const c of changes) for (const a of await automationOf(c.service, snap)) marks.push(`Image automation not paused (automation: ignore): ${a}.`);
    }
    const subject = undoing ? `Revert "${undoing.subject}"` : message;
    const body = [
      ...(undoing ? [`This reverts commit ${undoing.sha}.`, '', message, ''] : []),
      ...lines.map((l) => l.text),
      ...(marks.length ? ['', ...marks] : []),
    ];
    const result = await host.commit(snap, edited, subject, body.join('\n'));
    if (result === 'moved') return false;
    if (result.sha) committed = result.sha;
    if (!undoing) writeFileAtomic(lastFile, JSON.stringify({ sha: result.sha, review: result.review, subject, changes: lines.map(({ text: _t, ...x }) => x) } satisfies LastCommit, null, 2) + '\n');
    ctx.logger.info(result.review
      ? `Opened ${result.review} with ${edited.size} file(s) changed; it rolls back once merged.`
      : `Committed ${result.sha!.slice(0, 12)} to ${where}${undoing ? ` (reverting ${undoing.sha!.slice(0, 12)})` : ''}, changing ${[...edited.keys()].join(', ')}.`);
    return true;
  }

  async function deployAll(changes: Change[], message: string): Promise<void> {
    if (changes.length === 0) return;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (await commitOnce(changes, message)) return;
    }
    throw failure(`${where} kept moving while we committed (someone else is pushing); nothing was changed, try again.`);
  }

  return {
    describe: () => `${host.describe()}${cfg.automation === 'ignore' ? ', image automation ignored' : ''}; ${healthWords}`,

    async current(service: ServiceConfig): Promise<Deployed> {
      const snap = await host.read(pathsOf(service));
      const found = sitesIn(snap, service);
      if (found.length === 0) throw missing(service);
      const distinct = [...new Set(found.map((f) => f.image))];
      if (distinct.length > 1) {
        ctx.logger.warn(`${service.name}: the files disagree (${found.map((f) => `${f.path}:${f.line} ${f.image}`).join('; ')}); a rollback sets them all.`);
      }
      return { image: found[0].image, id: `${found[0].path}:${found[0].line}` };
    },

    /**
     * What the repository remembers: the newest HISTORY_COMMITS commits that changed the services'
     * files, read as they were at each; a commit after which a service's image differs is a change at
     * its committer time. A file a commit does not hold (yet) or cannot be parsed tells nothing.
     */
    ...(host.commitsOf && host.readAt ? {
      async history(services: ServiceConfig[]): Promise<TargetHistory> {
        const paths = [...new Set(services.flatMap(pathsOf))];
        const commits = (await host.commitsOf!(paths, HISTORY_COMMITS)).reverse();
        const changes: TargetHistory['changes'] = [];
        const previous = new Map<string, string>();
        for (const c of commits) {
          // Path by path: a file the commit does not hold yet (HTTP 404) tells nothing; any other failure fails the command.
          const files: FileSet = { head: c.sha, files: new Map() };
          for (const path of paths) {
            try {
              for (const [p, text] of (await host.readAt!([path], c.sha)).files) files.files.set(p, text);
            } catch (err) {
              if (!/\(HTTP 404\)/.test((err as Error).message)) throw err;
            }
          }
          for (const s of services) {
            let image: string | undefined;
            try {
              image = sitesIn(files, s)[0]?.image;
            } catch {
              image = undefined; // a file that did not parse at that commit tells nothing
            }
            if (!image || image === previous.get(s.name)) continue;
            changes.push({ service: s.name, time: c.time, image });
            previous.set(s.name, image);
          }
        }
        return { source: 'git history', changes };
      },
    } : {}),

    async notes(services: ServiceConfig[]): Promise<string[]> {
      const out: string[] = [];
      if (cfg.automation === 'ignore') {
        for (const s of services) for (const a of await automationOf(s)) out.push(`${s.name}: ${a}; automation: ignore is set, so the rollback goes ahead and automation may undo it.`);
      }
      out.push(`${where}: ${healthWords}.`);
      return out;
    },

    /** For settle's "likely cause": the image automation that moves this service, when the files carry one. */
    async controllerOf(service: ServiceConfig): Promise<string | undefined> {
      const found = await automationOf(service);
      return found.length ? `image automation (${found[0].replace(/, so .*$/, '')})` : undefined;
    },

    unchecked: () => (argo || kube ? undefined : healthWords),

    async refuse(service: ServiceConfig): Promise<string | undefined> {
      if (cfg.automation === 'ignore') return undefined;
      const found = await automationOf(service);
      return found.length ? `Service ${service.name}: ${found[0]}; or set automation: ignore on the environment's target` : undefined;
    },

    busy: async () => host.busy(),

    /** Per service, for engines that do not use deployAll: one commit each. */
    async deploy(service: ServiceConfig, image: string): Promise<void> {
      await deployAll([{ service, image }], `Roll back ${service.name} to ${image}`);
    },

    deployAll: async (changes, message) => {
      try {
        await deployAll(changes, message);
      } catch (err) {
        if (err instanceof RollbackError) throw err;
        throw host.error(err, `Committing to ${where}`);
      }
    },

    async waitHealthy(service: ServiceConfig, image: string, timeoutMs: number): Promise<void> {
      if (kube && committed) return kube.wait(service, image, timeoutMs);
      if (!argo || !committed) return;
      await argo.wait(service.gitops?.application ?? cfg.argocd!.application ?? ctx.environment.name, committed, service.name, timeoutMs);
    },

    close: async () => {
      await host.close();
      await argo?.close();
      await kube?.close();
    },
  };
}
