/**
 * The swarm target: services of a Docker Swarm, found as `<stack>_<service>` (the names
 * `docker stack deploy` gives) or `<service>` without a stack; a service's `swarm.service` wins.
 * A change is one service update with only the image different; it is done when Swarm says the
 * update completed and every running task runs the new image.
 */
import type { ServiceConfig, SwarmTargetConfig } from '../../config/types';
import { pullAuthFor, Service, Task } from './engine';
import { engineTarget, EngineTargetDeps } from './setup';
import { engineTime } from './time';
import { failure, inputError, RollbackError } from '../../errors';
import { sameImage } from '../../image/reference';
import type { Deployed, Target, TargetContext } from '../types';

export interface SwarmTargetDeps extends EngineTargetDeps {
  /** Attempts at an update the engine calls "out of sequence" (someone else changed the service). Default 5. */
  updateAttempts?: number;
}

/** Task states that end a task for good without it having run to completion. */
const FAILED_TASK_STATES = new Set(['failed', 'rejected', 'orphaned']);

export function swarmServiceName(service: ServiceConfig, config: SwarmTargetConfig): string {
  return service.swarm?.service ?? (config.stack ? `${config.stack}_${service.name}` : service.name);
}

function taskImage(task: Task): string {
  return task.Spec?.ContainerSpec?.Image ?? '';
}

/** "task api.2: starting container failed: ... (exit code 3)" for the newest failed task. */
function taskProblem(name: string, task: Task): string {
  const s = task.Status ?? {};
  const why = s.Err || s.Message || s.State || 'no reason given';
  const code = s.ContainerStatus?.ExitCode;
  return `task ${name}${task.Slot ? `.${task.Slot}` : ''} ${s.State ?? 'ended'}: ${why}${code ? ` (exit code ${code})` : ''}`;
}

function newest(tasks: Task[]): Task | undefined {
  return [...tasks].sort((a, b) => (engineTime(b.UpdatedAt) ?? 0) - (engineTime(a.UpdatedAt) ?? 0))[0];
}

export function createSwarmTarget(ctx: TargetContext, deps: SwarmTargetDeps = {}): Target {
  const { config, configWhere, address, engine, clock, pollMs } = engineTarget(ctx, 'swarm', deps);
  const updateAttempts = deps.updateAttempts ?? 5;
  const log = ctx.logger;
  /**
   * Per service: the engine's time of the spec our update replaced. Tasks created before it belong
   * to earlier attempts at the same image and must not count. Not the time after our update: the
   * updater itself moves UpdatedAt (e.g. when it pauses), past the tasks it just created.
   */
  const updatedAt = new Map<string, number>();

  async function find(service: ServiceConfig): Promise<Service> {
    const name = swarmServiceName(service, config);
    const found = await engine.findService(name);
    if (!found) {
      throw inputError(
        `Swarm service '${name}' (for service ${service.name}) does not exist on ${engine.where}; check the stack in ${configWhere} or set swarm.service for ${service.name}.`,
      );
    }
    return found;
  }

  /** Updates the spec's image; returns the engine's UpdatedAt of the spec it replaced. */
  async function update(service: ServiceConfig, image: string): Promise<number> {
    const name = swarmServiceName(service, config);
    for (let attempt = 1; ; attempt++) {
      const current = await find(service);
      // The full spec goes back with only the image changed: the update API replaces the spec whole
      // (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Service/operation/ServiceUpdate).
      const spec = structuredClone(current.Spec);
      spec.TaskTemplate = { ...spec.TaskTemplate, ContainerSpec: { ...spec.TaskTemplate?.ContainerSpec, Image: image } };
      try {
        const warnings = await engine.updateService(current, spec, pullAuthFor(image, ctx.registryAuth, ctx.config.registry));
        for (const w of warnings) log.warn(`Swarm service ${name}: ${w}`);
        return engineTime(current.UpdatedAt) ?? 0;
      } catch (err) {
        // The version index guards against lost updates: if someone changed the service since we
        // read it, the engine answers "update out of sequence"; read it again and retry.
        if (err instanceof RollbackError && /out of sequence/i.test(err.message) && attempt < updateAttempts) {
          log.debug(`Swarm service ${name} changed while we updated it (attempt ${attempt}); reading it again.`);
          continue;
        }
        throw err;
      }
    }
  }

  return {
    describe: () => `Docker Swarm at ${address.host}${config.stack ? `, stack ${config.stack}` : ''}`,

    async current(service): Promise<Deployed> {
      const found = await find(service);
      const image = found.Spec.TaskTemplate?.ContainerSpec?.Image;
      if (!image) throw failure(`Swarm service '${found.Spec.Name}' has no container image in its spec (is it a plugin service?).`);
      return { image, id: found.Spec.Name };
    },

    async busy(service) {
      const found = await find(service);
      const state = found.UpdateStatus?.State;
      if (state === 'updating' || state === 'rollback_started') {
        return `Swarm service '${found.Spec.Name}' is in the middle of an update (${state}${found.UpdateStatus?.StartedAt ? ` since ${found.UpdateStatus.StartedAt}` : ''}); let it finish or pause it first.`;
      }
      return undefined;
    },

    async refuse(service) {
      // A job (docker service create --mode replicated-job|global-job, API 1.41) runs its tasks to
      // completion and then has none running: waiting for it to be "up" would time out, and the
      // put-back would run the job again. It is not a service to roll back.
      const found = await find(service);
      const mode = found.Spec.Mode ?? {};
      const job = 'ReplicatedJob' in mode ? 'replicated job' : 'GlobalJob' in mode ? 'global job' : undefined;
      if (!job) return undefined;
      return `Swarm service '${found.Spec.Name}' (for service ${service.name}) is a ${job}, which runs to completion and is not a service that can be rolled back (its update would re-run the job); leave it out of this environment's services, or run the job yourself with the image you want`;
    },

    async deploy(service, image) {
      updatedAt.set(service.name, await update(service, image));
    },

    async waitHealthy(service, image, timeoutMs) {
      const name = swarmServiceName(service, config);
      // Without our own deploy (a resumed run), tasks count from the start of the update in progress.
      let since = updatedAt.get(service.name);
      const deadline = clock.now() + timeoutMs;
      let summary = 'no task has started yet';
      for (;;) {
        const svc = await engine.inspectService(name);
        if (!svc) throw failure(`Swarm service '${name}' disappeared while it was being updated to ${image}.`);
        since ??= engineTime(svc.UpdateStatus?.StartedAt) ?? 0;
        const tasks = await engine.listTasks({ service: [svc.ID] });
        const ours = tasks.filter((t) => sameImage(taskImage(t), image) && (engineTime(t.CreatedAt) ?? 0) >= since!);
        const failed = ours.filter((t) => FAILED_TASK_STATES.has(t.Status?.State ?? ''));
        const state = svc.UpdateStatus?.State;
        // Swarm pauses (or rolls back, with --update-failure-action rollback) when new tasks fail
        // (https://docs.docker.com/engine/swarm/services/#configure-a-services-update-behavior).
        if (state === 'paused' || state === 'rollback_started' || state === 'rollback_paused' || state === 'rollback_completed') {
          const task = newest(failed);
          throw failure(
            `Swarm service '${name}' did not take ${image}: the update is ${state.replace('_', ' ')}${svc.UpdateStatus?.Message ? ` (${svc.UpdateStatus.Message})` : ''}${task ? `; ${taskProblem(name, task)}` : ''}.`,
          );
        }
        // After the state check: Swarm's own rollback (failure action "rollback") puts the previous spec back too.
        const specImage = svc.Spec.TaskTemplate?.ContainerSpec?.Image ?? '';
        if (!sameImage(specImage, image)) {
          throw failure(`Swarm service '${name}' was changed to ${specImage} by someone else while it was being updated to ${image}.`);
        }
        if (failed.length > 0) {
          throw failure(`Swarm service '${name}' did not take ${image}: ${taskProblem(name, newest(failed)!)}.`);
        }
        const running = tasks.filter((t) => t.DesiredState === 'running');
        const wanted = svc.Spec.Mode?.Replicated ? (svc.Spec.Mode.Replicated.Replicas ?? 1) : undefined;
        const up = running.filter((t) => t.Status?.State === 'running' && sameImage(taskImage(t), image));
        const allUp = up.length === running.length && (wanted === undefined ? running.length > 0 : up.length >= wanted);
        const next = `${up.length} of ${wanted ?? running.length} task(s) running ${image}, update ${state ?? 'not started'}`;
        if (next !== summary) log.debug(`Swarm service ${name}: ${next}.`);
        summary = next;
        // Seen on the real engine: an update resets UpdateStatus to none until the updater starts
        // (then "updating", and "completed" after the monitor period); a service never updated has
        // none at all. Without a status, all running tasks on the new image is the only evidence.
        if (allUp && (state === 'completed' || state === undefined)) return;
        if (clock.now() >= deadline) {
          throw failure(`Swarm service '${name}' did not finish its update to ${image} within ${Math.round(timeoutMs / 1000)} s: ${summary}.`);
        }
        await clock.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())));
      }
    },

    close: () => engine.close(),
  };
}
