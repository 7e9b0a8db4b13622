/**
 * The docker target: one container per service on a single Docker host (the seed article's case),
 * or, with `project`, every replica of a Compose service (compose.ts), replaced one at a time.
 * A change replaces the container: pull the image, rename the old container to
 * `<name>-rollback-old-<stamp>` and stop it, create the new one from the old one's configuration
 * with the new image, start it, and only when it runs (and is healthy, if it has a healthcheck)
 * remove the old one. If the new one fails, it is removed and the old one comes back under its
 * name, running: the host is as it was. Each replacement is recorded in a per-host history file.
 * A Compose service's replicas go one after the other, each waited for before the next; the old
 * containers are kept (stopped) until the last replica is up, so a failure at any replica puts
 * the whole set back.
 */
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DockerTargetConfig, ServiceConfig } from '../../config/types';
import { ContainerInspect, engineMessage, pullAuthFor } from './engine';
import { composeReplicas, composeContainers, nameOf, namespaceSharers, OLD_MARK } from './compose';
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

/** A change of one service in progress: its replicas still to replace, and those replaced so far. */
interface Rollout {
  image: string;
  todo: ContainerInspect[];
  /** Replaced and up (their old containers kept, stopped, until the whole set is up). */
  done: Replacement[];
  /** Replaced, not yet seen up. */
  current?: Replacement;
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
  const pending = new Map<string, Rollout>();
  /** Marks this worker's replacements in the history, so undo can take one run's net effect (random: two targets in one process are two runs). */
  const runMark = `${new Date(clock.now()).toISOString()} pid ${process.pid} ${randomBytes(3).toString('hex')}`;

  const project = config.project;
  if (project && config.container) {
    throw inputError(`${configWhere}: set either project (a Compose project: every replica of each service) or container (one container per service), not both.`);
  }
  /** How messages and the history name the service: its container, or its Compose service. */
  const label = (service: ServiceConfig) => (project ? `${project}/${service.name}` : containerName(service, config));
  const subject = (service: ServiceConfig) => (project ? `Compose service ${service.name} of project ${project}` : `Container ${containerName(service, config)}`);

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

  /** The service's containers: its one container, or every replica of its Compose service in replica order. */
  async function replicas(service: ServiceConfig): Promise<ContainerInspect[]> {
    if (!project) return [await inspect(service)];
    const found = await composeReplicas(engine, project, service.name);
    if (found.length === 0) {
      throw inputError(
        `Compose project '${project}' has no container of service '${service.name}' on ${engine.where} (labels com.docker.compose.project=${project}, com.docker.compose.service=${service.name}); check the project in ${configWhere}, or bring it up first.`,
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

  /** Puts back every replica the rollout replaced (newest first), then fails with `reason`. */
  async function failAndRestore(service: ServiceConfig, ro: Rollout, reason: string): Promise<never> {
    pending.delete(service.name);
    const replaced = [...ro.done, ...(ro.current ? [ro.current] : [])].reverse();
    const kept: string[] = [];
    let why = '';
    for (const r of replaced) {
      try {
        await restore(r);
      } catch (err) {
        why ||= describeError(err);
        kept.push(r.oldName);
      }
    }
    if (kept.length > 0) {
      const one = replaced.length === 1;
      throw failure(`${reason}; and the old container${one ? '' : 's'} could not be put back: ${why} ${one ? 'It is' : 'They are'} kept as ${kept.join(', ')}.`);
    }
    if (!project) throw failure(`${reason}; the old container ${replaced[0].container} was put back on ${replaced[0].oldImage}.`);
    const images = [...new Set(replaced.map((r) => r.oldImage))].join(', ');
    throw failure(`${reason}; ${replaced.length === 1 ? `the old container ${replaced[0].container} was` : `the ${replaced.length} old containers (${replaced.map((r) => r.container).reverse().join(', ')}) were`} put back on ${images}.`);
  }

  /** Pulls nothing; replaces one container by one on `image` (rename the old, stop it, create, start). */
  async function replace(old: ContainerInspect, image: string, onError: (reason: string, partial: Replacement) => Promise<never>): Promise<Replacement> {
    const name = nameOf(old);
    const oldImage = await runningImage(old);
    const request = recreateRequest(old, await engine.inspectImage(old.Image), image);
    const oldName = `${name}${OLD_MARK}${stamp(clock.now())}`;
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
      return onError(`Container ${name} could not be replaced by one on ${image}: ${describeError(err).replace(/\.$/, '')}`, { ...base, newId: newId ?? '' });
    }
    return { ...base, newId: newId! };
  }

  /** Starts the next replica of the rollout; false when none is left. */
  async function next(service: ServiceConfig, ro: Rollout): Promise<boolean> {
    const old = ro.todo.shift();
    if (!old) return false;
    ro.current = await replace(old, ro.image, (reason, partial) => failAndRestore(service, { ...ro, current: partial }, reason));
    return true;
  }

  async function lastLogs(id: string): Promise<string> {
    const text = await engine.containerLogs(id, 5).catch(() => '');
    const line = text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
    return line ? ` (last output: ${line.slice(0, 300)})` : '';
  }

  /**
   * Waits until container `id` (named `name`) runs `image` and is up: healthy with a healthcheck,
   * else running for `monitor` seconds without a restart. `fresh`: a container we just created
   * (every restart counts); else an existing one (restarts before we looked do not).
   * Returns undefined when up, else the sentence (without final period) saying what went wrong.
   */
  async function waitUp(name: string, id: string, image: string, deadline: number, timeoutMs: number, fresh: boolean): Promise<string | undefined> {
    /** When we first saw the current start of the container running (our clock, not the engine's). */
    let runningSince: { startedAt: string; at: number } | undefined;
    let lastSeen = '';
    let restartsBefore: number | undefined = fresh ? 0 : undefined;
    for (;;) {
      const c = await engine.inspectContainer(id);
      if (!c) return `Container ${name} on ${image} disappeared while it was starting`;
      if (!fresh && !sameImage(await runningImage(c), image)) {
        throw failure(`Container ${name} runs ${await runningImage(c)}, not ${image}.`);
      }
      const s = c.State;
      restartsBefore ??= c.RestartCount ?? 0;
      const restarts = (c.RestartCount ?? 0) - restartsBefore;
      const seen = `${s.Status}${s.Health ? `, health ${s.Health.Status}` : ''}${c.RestartCount ? `, ${c.RestartCount} restart(s)` : ''}`;
      if (seen !== lastSeen) log.debug(`Container ${name} on ${image}: ${seen}.`);
      lastSeen = seen;
      if (s.Status === 'exited' || s.Status === 'dead' || restarts > 0 || s.Restarting) {
        // With a restart policy the engine restarts it at once: a restart count above 0 is an exit we
        // missed, and once it runs again State.ExitCode reads 0 (seen on the real engine), so no code then.
        const how = s.Running
          ? `exited and was restarted ${restarts} time(s) by its restart policy`
          : `exited with code ${s.ExitCode ?? '?'}${s.Restarting ? ' and is being restarted' : ''}`;
        return `Container ${name} on ${image} ${how}${s.Error ? `: ${s.Error}` : ''}${await lastLogs(c.Id)}`;
      }
      if (s.Health?.Status === 'unhealthy') {
        const last = s.Health.Log?.[s.Health.Log.length - 1]?.Output?.trim();
        return `Container ${name} on ${image} is unhealthy${last ? ` (healthcheck said: ${last.slice(0, 200)})` : ''}`;
      }
      if (s.Running) {
        const now = clock.now();
        if (!runningSince || runningSince.startedAt !== (s.StartedAt ?? '')) runningSince = { startedAt: s.StartedAt ?? '', at: now };
        if (s.Health ? s.Health.Status === 'healthy' : now - runningSince.at >= monitorMs) return undefined;
      }
      if (clock.now() >= deadline) {
        const state = s.Health ? `health ${s.Health.Status}` : s.Status;
        return `Container ${name} on ${image} did not become ${s.Health ? 'healthy' : 'steady'} within ${Math.round(timeoutMs / 1000)} s (${state}, started ${engineTime(s.StartedAt) ? s.StartedAt : 'never'})`;
      }
      await clock.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())));
    }
  }

  return {
    describe: () => `Docker host at ${address.host}${project ? `, Compose project ${project}` : ''}`,

    async current(service): Promise<Deployed> {
      const all = await replicas(service);
      const images = await Promise.all(all.map((c) => runningImage(c)));
      // Replicas on different images would make "the" current image a lie: the plan could leave some on the bad one.
      if (images.some((i) => !sameImage(i, images[0]))) {
        throw failure(
          `${subject(service)} runs different images on its replicas (${all.map((c, i) => `${nameOf(c)}: ${images[i]}`).join('; ')}); a rollout by other means is in progress or was left half done: let it finish or bring the replicas to one image first (docker-compose up -d ${service.name}).`,
        );
      }
      return { image: images[0], id: label(service) };
    },

    async busy(service) {
      const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      // The name filter is a regular expression over names, which start with '/'.
      const left = project
        ? (await composeContainers(engine, project, service.name)).filter((c) => nameOf(c).includes(OLD_MARK))
        : await engine.listContainers({ name: [`^/${escape(containerName(service, config))}${OLD_MARK}`] });
      if (left.length > 0) {
        const names = left.map((c) => nameOf(c)).join(', ');
        return `Container ${names} is left from an interrupted rollback of '${label(service)}'; check which one should run, then remove it or rename it back (docker rm / docker rename).`;
      }
      return undefined;
    },

    async refuse(service) {
      const sharers = await namespaceSharers(engine, await replicas(service));
      if (sharers.length === 0) return undefined;
      const names = [...new Set(sharers.map((x) => x.sharer))].join(', ');
      const of = [...new Set(sharers.map((x) => x.of))].join(', ');
      return `${subject(service)} cannot be replaced: container${sharers.length > 1 ? 's' : ''} ${names} share${sharers.length > 1 ? '' : 's'} the network namespace of ${of} (network_mode: service:${service.name} or container:) and would lose their network with it; roll them back together with docker-compose up, or give them a network of their own`;
    },

    async deploy(service, image) {
      const all = await replicas(service);
      const todo: ContainerInspect[] = [];
      for (const c of all) if (!(sameImage(await runningImage(c), image) && c.State.Running)) todo.push(c);
      if (todo.length === 0) {
        pending.delete(service.name);
        return;
      }
      // Pull first: if the image cannot be had, nothing has changed yet.
      await engine.pullImage(image, pullAuthFor(image, ctx.registryAuth, ctx.config.registry));
      const ro: Rollout = { image, todo, done: [] };
      pending.set(service.name, ro);
      await next(service, ro);
    },

    async waitHealthy(service, image, timeoutMs) {
      const ro = pending.get(service.name);
      if (!ro) {
        // Nothing of ours in flight (a resumed run, or already there): every replica must be up on the image.
        for (const c of await replicas(service)) {
          const problem = await waitUp(nameOf(c), c.Id, image, clock.now() + timeoutMs, timeoutMs, false);
          if (problem) throw failure(`${problem}.`);
        }
        return;
      }
      // One replica at a time, each with the whole timeout: the others keep serving meanwhile.
      while (ro.current) {
        const r = ro.current;
        const problem = await waitUp(r.container, r.newId, image, clock.now() + timeoutMs, timeoutMs, true);
        if (problem) await failAndRestore(service, ro, problem);
        ro.done.push(r);
        ro.current = undefined;
        await next(service, ro);
      }
      pending.delete(service.name);
      for (const r of ro.done) {
        await call('DELETE', `/containers/${r.oldId}`, `remove the old container ${r.oldName}`, { v: false }, [200, 204, 404]).catch((err) =>
          log.warn(`${describeError(err).replace(/^the /, 'The ')} Remove ${r.oldName} by hand.`),
        );
      }
      const first = ro.done[0];
      try {
        appendHistory(historyFile, address.host, { at: new Date(clock.now()).toISOString(), service: service.name, container: label(service), replaced: first.oldImage, by: image, run: runMark });
      } catch (err) {
        // The containers are fine; a history that cannot be written must not undo a good change.
        log.warn(`${describeError(err)} ${subject(service)} replaced ${first.oldImage}; it is not in ${historyFile}.`);
      }
    },

    async lastChanges(services) {
      const last = lastRun(readHistory(historyFile, address.host), new Map(services.map((s) => [label(s), s.name])));
      return {
        source: `the docker history file ${historyFile}`,
        last: last && { at: last.at, changes: last.changes.map((c) => ({ service: c.service, before: c.before, after: c.after })) },
      };
    },

    async history(services) {
      const containers = new Map(services.map((s) => [label(s), s.name]));
      return { source: 'docker history', changes: imageChanges(readHistory(historyFile, address.host), containers) };
    },

    close: () => engine.close(),
  };
}
