/**
 * The docker target: one container per service on a single Docker host (the seed article's case).
 * A change replaces the container: pull the image, rename the old container to
 * `<name>-rollback-old-<stamp>` and stop it, create the new one from the old one's configuration
 * with the new image, start it, and only when it runs (and is healthy, if it has a healthcheck)
 * remove the old one. If the new one fails, it is removed and the old one comes back under its
 * name, running: the host is as it was. Each replacement is recorded in a per-host history file.
 */
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DockerTargetConfig, ServiceConfig } from '../../config/types';
import { ContainerInspect, engineMessage, pullAuthFor } from './engine';
import { appendHistory, hostSlug, imageChanges, lastRun, readHistory } from './history';
import { recreateRequest } from './recreate';
import { engineTarget, EngineTargetDeps } from './setup';
import { engineTime } from './time';
import { describeError, failure, inputError } from '../../errors';
import { parseImageRef, sameImage } from '../../image/reference';
import type { Deployed, Target, TargetContext } from '../types';

export interface DockerTargetDeps extends EngineTargetDeps {
  /** Seconds the engine gives the old container to stop before it kills it. Default: the container's own StopTimeout, else 10 (the engine decides). */
  stopSeconds?: number;
}

interface Replacement {
  container: string;
  /** The old container, renamed and stopped; it comes back if the new one fails. */
  oldId: string;
  oldName: string;
  oldWasRunning: boolean;
  oldImage: string;
  newId: string;
}

export function containerName(service: ServiceConfig, config: DockerTargetConfig): string {
  return service.docker?.container ?? (config.container ?? '{service}').split('{service}').join(service.name);
}

/** 20261121T210407Z: sortable, and valid in a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function createDockerTarget(ctx: TargetContext, deps: DockerTargetDeps = {}): Target {
  const { config, configWhere, address, engine, clock, pollMs } = engineTarget(ctx, 'docker', deps);
  const monitorMs = (config.monitor ?? 5) * 1000;
  const stopSeconds = deps.stopSeconds;
  const historyFile = config.history
    ? isAbsolute(config.history) ? config.history : resolve(dirname(ctx.config.source), config.history) // like kubeconfig: beside rollback.yml, not wherever the worker was started
    : join(ctx.stateDir, `docker-history-${hostSlug(address.host)}.json`);
  const log = ctx.logger;
  const pending = new Map<string, Replacement>();
  /** Marks this worker's replacements in the history, so undo can take one run's net effect (random: two targets in one process are two runs). */
  const runMark = `${new Date(clock.now()).toISOString()} pid ${process.pid} ${randomBytes(3).toString('hex')}`;

  async function inspect(service: ServiceConfig): Promise<ContainerInspect> {
    const name = containerName(service, config);
    const found = await engine.inspectContainer(name);
    if (!found) {
      throw inputError(
        `Container '${name}' (for service ${service.name}) does not exist on ${engine.where}; check the container pattern in ${configWhere} or set docker.container for ${service.name}.`,
      );
    }
    return found;
  }

  /**
   * The image a container runs, digest-pinned. Config.Image is what it was created from; when that
   * carries no digest (docker run repo:tag), the digest comes from the image it actually runs, so a
   * tag pushed again since cannot hide what runs (and undo brings back exactly this).
   */
  async function runningImage(c: ContainerInspect): Promise<string> {
    const ref = c.Config.Image ?? c.Image;
    const parsed = parseImageRef(ref);
    if (parsed.digest) return ref;
    const image = await engine.inspectImage(c.Image);
    const norm = (p: string) => p.replace(/^library\//, '');
    const match = (image?.RepoDigests ?? []).find((d) => {
      const r = parseImageRef(d);
      return norm(r.path) === norm(parsed.path) && (r.host ?? '') === (parsed.host ?? '');
    });
    return match ? `${ref}@${match.slice(match.indexOf('@') + 1)}` : ref;
  }

  async function call(method: 'POST' | 'DELETE', path: string, what: string, query?: Record<string, string | number | boolean>, okStatuses = [200, 201, 204]) {
    const res = await engine.call(method, path, { query });
    if (!okStatuses.includes(res.status)) {
      throw failure(`${engine.where} could not ${what} (HTTP ${res.status}): ${engineMessage(res)}.`);
    }
    return res;
  }

  /** Removes the new container (if any) and brings the old one back under its name, running as before. */
  async function restore(r: Pick<Replacement, 'container' | 'oldId' | 'oldName' | 'oldWasRunning'> & { newId?: string }): Promise<void> {
    if (r.newId) await call('DELETE', `/containers/${r.newId}`, `remove the new container ${r.container}`, { force: true, v: false }, [200, 204, 404]);
    await call('POST', `/containers/${r.oldId}/rename`, `rename ${r.oldName} back to ${r.container}`, { name: r.container }, [200, 204]);
    if (r.oldWasRunning) await call('POST', `/containers/${r.oldId}/start`, `start the old container ${r.container} again`, undefined, [204, 304]);
  }

  async function failAndRestore(r: Replacement, reason: string): Promise<never> {
    try {
      await restore(r);
    } catch (err) {
      throw failure(`${reason}; and the old container could not be put back: ${describeError(err)} It is kept as ${r.oldName}.`);
    } finally {
      pending.delete(r.container);
    }
    throw failure(`${reason}; the old container ${r.container} was put back on ${r.oldImage}.`);
  }

  async function lastLogs(id: string): Promise<string> {
    const text = await engine.containerLogs(id, 5).catch(() => '');
    const line = text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
    return line ? ` (last output: ${line.slice(0, 300)})` : '';
  }

  return {
    describe: () => `Docker host at ${address.host}`,

    async current(service): Promise<Deployed> {
      const c = await inspect(service);
      return { image: await runningImage(c), id: containerName(service, config) };
    },

    async busy(service) {
      const name = containerName(service, config);
      // The name filter is a regular expression over names, which start with '/'.
      const left = await engine.listContainers({ name: [`^/${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-rollback-old-`] });
      if (left.length > 0) {
        const names = left.map((c) => c.Names[0]?.replace(/^\//, '')).join(', ');
        return `Container ${names} is left from an interrupted rollback of '${name}'; check which one should run, then remove it or rename it back (docker rm / docker rename).`;
      }
      return undefined;
    },

    async deploy(service, image) {
      const name = containerName(service, config);
      const old = await inspect(service);
      const oldImage = await runningImage(old);
      if (sameImage(oldImage, image) && old.State.Running) {
        pending.delete(name);
        return;
      }
      // Pull first: if the image cannot be had, nothing has changed yet.
      await engine.pullImage(image, pullAuthFor(image, ctx.registryAuth, ctx.config.registry));
      const request = recreateRequest(old, await engine.inspectImage(old.Image), image);
      const oldName = `${name}-rollback-old-${stamp(clock.now())}`;
      const base = { container: name, oldId: old.Id, oldName, oldWasRunning: old.State.Running, oldImage };
      await call('POST', `/containers/${old.Id}/rename`, `rename ${name} to ${oldName}`, { name: oldName });
      let newId: string | undefined;
      try {
        await call('POST', `/containers/${old.Id}/stop`, `stop ${name}`, stopSeconds === undefined ? undefined : { t: stopSeconds }, [204, 304]);
        const created = await engine.json<{ Id: string; Warnings?: string[] }>('POST', '/containers/create', { query: { name }, body: request.body });
        newId = created.Id;
        for (const w of created.Warnings ?? []) log.warn(`container ${name}: ${w}`);
        for (const n of request.extraNetworks) {
          await engine.json('POST', `/networks/${encodeURIComponent(n.name)}/connect`, { body: { Container: newId, EndpointConfig: n.endpoint } });
        }
        await call('POST', `/containers/${newId}/start`, `start the new container ${name}`, undefined, [204, 304]);
      } catch (err) {
        const reason = `Container ${name} could not be replaced by one on ${image}: ${describeError(err).replace(/\.$/, '')}`;
        await failAndRestore({ ...base, newId: newId ?? '' }, reason);
      }
      pending.set(name, { ...base, newId: newId! });
    },

    async waitHealthy(service, image, timeoutMs) {
      const name = containerName(service, config);
      const r = pending.get(name);
      const deadline = clock.now() + timeoutMs;
      /** When we first saw the current start of the container running (our clock, not the engine's). */
      let runningSince: { startedAt: string; at: number } | undefined;
      let lastSeen = '';
      /** Restarts before we looked: none for a new container; an old one's past crashes are not this change's. */
      let restartsBefore: number | undefined = r ? 0 : undefined;
      for (;;) {
        const c = r ? await engine.inspectContainer(r.newId) : await engine.inspectContainer(name);
        if (!c) {
          const reason = `Container ${name} on ${image} disappeared while it was starting`;
          if (r) await failAndRestore(r, reason);
          throw failure(`${reason}.`);
        }
        if (!r && !sameImage(await runningImage(c), image)) {
          throw failure(`Container ${name} runs ${await runningImage(c)}, not ${image}.`);
        }
        const s = c.State;
        restartsBefore ??= c.RestartCount ?? 0;
        const restarts = (c.RestartCount ?? 0) - restartsBefore;
        const seen = `${s.Status}${s.Health ? `, health ${s.Health.Status}` : ''}${c.RestartCount ? `, ${c.RestartCount} restart(s)` : ''}`;
        if (seen !== lastSeen) log.debug(`Container ${name} on ${image}: ${seen}.`);
        lastSeen = seen;
        let problem: string | undefined;
        if (s.Status === 'exited' || s.Status === 'dead' || restarts > 0 || s.Restarting) {
          // With a restart policy the engine restarts it at once: a restart count above 0 is an exit we
          // missed, and once it runs again State.ExitCode reads 0 (seen on the real engine), so no code then.
          const how = s.Running
            ? `exited and was restarted ${restarts} time(s) by its restart policy`
            : `exited with code ${s.ExitCode ?? '?'}${s.Restarting ? ' and is being restarted' : ''}`;
          problem = `Container ${name} on ${image} ${how}${s.Error ? `: ${s.Error}` : ''}${await lastLogs(c.Id)}`;
        } else if (s.Health?.Status === 'unhealthy') {
          const last = s.Health.Log?.[s.Health.Log.length - 1]?.Output?.trim();
          problem = `Container ${name} on ${image} is unhealthy${last ? ` (healthcheck said: ${last.slice(0, 200)})` : ''}`;
        } else if (s.Running) {
          const now = clock.now();
          if (!runningSince || runningSince.startedAt !== (s.StartedAt ?? '')) runningSince = { startedAt: s.StartedAt ?? '', at: now };
          const up = s.Health ? s.Health.Status === 'healthy' : now - runningSince.at >= monitorMs;
          if (up) {
            if (r) {
              pending.delete(name);
              await call('DELETE', `/containers/${r.oldId}`, `remove the old container ${r.oldName}`, { v: false }, [200, 204, 404]).catch((err) =>
                log.warn(`${describeError(err).replace(/^the /, 'The ')} Remove ${r.oldName} by hand.`),
              );
              try {
                appendHistory(historyFile, address.host, { at: new Date(clock.now()).toISOString(), service: service.name, container: name, replaced: r.oldImage, by: image, run: runMark });
              } catch (err) {
                // The container is fine; a history that cannot be written must not undo a good change.
                log.warn(`${describeError(err)} Container ${name} replaced ${r.oldImage}; it is not in ${historyFile}.`);
              }
            }
            return;
          }
        }
        if (problem) {
          if (r) await failAndRestore(r, problem);
          throw failure(`${problem}.`);
        }
        if (clock.now() >= deadline) {
          const state = s.Health ? `health ${s.Health.Status}` : s.Status;
          const reason = `Container ${name} on ${image} did not become ${s.Health ? 'healthy' : 'steady'} within ${Math.round(timeoutMs / 1000)} s (${state}, started ${engineTime(s.StartedAt) ? s.StartedAt : 'never'})`;
          if (r) await failAndRestore(r, reason);
          throw failure(`${reason}.`);
        }
        await clock.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())));
      }
    },

    async lastChanges(services) {
      const last = lastRun(readHistory(historyFile, address.host), new Map(services.map((s) => [containerName(s, config), s.name])));
      return {
        source: `the docker history file ${historyFile}`,
        last: last && { at: last.at, changes: last.changes.map((c) => ({ service: c.service, before: c.before, after: c.after })) },
      };
    },

    async history(services) {
      const containers = new Map(services.map((s) => [containerName(s, config), s.name]));
      return { source: 'docker history', changes: imageChanges(readHistory(historyFile, address.host), containers) };
    },

    close: () => engine.close(),
  };
}
