/**
 * The swarm target against the REAL Docker engine (one-node swarm) pulling from the REAL registry.
 * Services are created through the Engine API; what they run is checked with the docker CLI,
 * a path independent of the target's own client.
 */
import type { ServiceConfig } from '../../src/config/types';
import type { EngineClient } from '../../src/targets/docker/engine';
import { createSwarmTarget } from '../../src/targets/docker/swarm';
import { RunningRegistry } from '../support/registry';
import {
  changesTo, createSwarmService, docker, engineAvailable, FAILS, rollTo, runId, runImages, setUp, swarmActive, targetContext, tearDown, timed,
} from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('swarm-target', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)'], [swarmActive(), 'a one-node swarm (docker swarm init)']]));

jest.setTimeout(150_000);

maybe('swarm target on the real engine', () => {
  const id = runId();
  const stack = `${id}s`;
  let reg: RunningRegistry;
  let engine: EngineClient;
  let stateDir: string;
  const { refs, push } = runImages(id, () => reg);
  const services: ServiceConfig[] = ['api', 'web', 'worker'].map((name) => ({ name, repository: `${id}/${name}` }));
  const timings: string[] = [];

  const createService = (name: string, image: string) => createSwarmService(engine, { name, image, id, stack, env: [`SERVICE=${name}`] });

  /** What `docker service inspect` and `docker service ps` say: spec image, and images of running tasks. */
  function observed(name: string) {
    const spec = docker('service', 'inspect', `${stack}_${name}`, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}');
    const env = docker('service', 'inspect', `${stack}_${name}`, '--format', '{{json .Spec.TaskTemplate.ContainerSpec.Env}}');
    const tasks = docker('service', 'ps', `${stack}_${name}`, '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.Image}} {{.CurrentState}}')
      .split('\n')
      .filter(Boolean);
    return { spec, env, tasks };
  }


  beforeAll(async () => {
    ({ reg, engine, dir: stateDir } = await setUp('rollback-swarm-'));
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    await push('api', '3-stage', '2026-11-03T10:00:00Z');
    await push('web', '2-stage', '2026-11-02T10:00:00Z');
    await push('web', '3-stage', '2026-11-03T11:00:00Z');
    await push('worker', '1-stage', '2026-11-01T09:00:00Z');
    await push('worker', '4-stage', '2026-11-04T09:00:00Z', FAILS);
    await push('worker', '3-stage', '2026-11-03T09:00:00Z');
    for (const s of services) await createService(s.name, refs[s.name]['3-stage']);
  });

  afterAll(async () => {
    await tearDown({ engine, id, reg, dir: stateDir });
    if (timings.length) console.log(`swarm timings: ${timings.join('; ')}`);
  });

  it('rolls a 3-service stack back to a date, every task at the planned digest, then forward again', async () => {
    const { ctx } = targetContext({ swarm: { stack } }, services, stateDir);
    const target = createSwarmTarget(ctx, { pollMs: 250 });
    try {
      expect(target.describe()).toContain(`stack ${stack}`);
      // Wait until the stack is up at the newest images (creation is asynchronous).
      await Promise.all(services.map((s) => target.waitHealthy(s, refs[s.name]['3-stage'], 60_000)));
      for (const s of services) {
        expect(await target.current(s)).toEqual({ image: refs[s.name]['3-stage'], id: `${stack}_${s.name}` });
        expect(await target.busy(s)).toBeUndefined();
      }

      // Date 2026-11-02: api -> its 11-01 image, web -> 11-02, worker -> 11-01.
      const plan = changesTo(services, refs, { api: '1-stage', web: '2-stage', worker: '1-stage' });
      const results = await timed(timings, 'rollback of 3 services', () => rollTo(target, plan, 60_000));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      for (const [s, image] of plan) {
        const seen = observed(s.name);
        expect(seen.spec).toBe(image);
        // Only the image changed: the rest of the spec came back untouched.
        expect(seen.env).toBe(JSON.stringify([`SERVICE=${s.name}`]));
        expect(seen.tasks).toHaveLength(1);
        expect(seen.tasks[0]).toMatch(new RegExp(`^${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} Running`));
      }

      // Undo: the newest images come back.
      const back = await timed(timings, 'undo of 3 services', () => rollTo(target, changesTo(services, refs, '3-stage'), 60_000));
      expect(back.every((r) => r.status === 'fulfilled')).toBe(true);
      for (const s of services) {
        expect(observed(s.name).spec).toBe(refs[s.name]['3-stage']);
        expect(observed(s.name).tasks[0].startsWith(`${refs[s.name]['3-stage']} Running`)).toBe(true);
      }
    } finally {
      await target.close();
    }
  });

  it('detects an image that fails at start within the timeout, and the stack can be put back', async () => {
    const { ctx } = targetContext({ swarm: { stack } }, services, stateDir);
    const target = createSwarmTarget(ctx, { pollMs: 250 });
    try {
      await Promise.all(services.map((s) => target.waitHealthy(s, refs[s.name]['3-stage'], 60_000)));
      const before = Object.fromEntries(await Promise.all(services.map(async (s) => [s.name, (await target.current(s)).image])));
      const results = await timed(timings, 'failing image detected after', () =>
        rollTo(target, [[services[0], refs.api['1-stage']], [services[2], refs.worker['4-stage']]], 30_000));
      expect(results[0].status).toBe('fulfilled');
      expect(results[1].status).toBe('rejected');
      const reason = String((results[1] as PromiseRejectedResult).reason.message);
      expect(reason).toContain(`${stack}_worker`);
      expect(reason).toMatch(/non-zero exit \(3\)/);

      // Putting back what changed (what the run engine does on failure).
      const restored = await timed(timings, 'put back 2 services', () =>
        rollTo(target, services.filter((s) => s.name !== 'web').map((s) => [s, before[s.name]]), 60_000));
      expect(restored.every((r) => r.status === 'fulfilled')).toBe(true);
      for (const s of services) {
        const seen = observed(s.name);
        expect(seen.spec).toBe(before[s.name]);
        expect(seen.tasks.filter((l) => l.startsWith(`${before[s.name]} Running`))).toHaveLength(1);
      }
    } finally {
      await target.close();
    }
  });

  it('names the service, stack and engine when a service does not exist', async () => {
    const { ctx } = targetContext({ swarm: { stack: `${stack}x` } }, services, stateDir);
    const target = createSwarmTarget(ctx);
    try {
      await expect(target.current(services[0])).rejects.toMatchObject({
        kind: 'input',
        message: expect.stringContaining(`Swarm service '${stack}x_api' (for service api) does not exist on the Docker engine at unix:///var/run/docker.sock`),
      });
      // The per-service override wins over <stack>_<service>.
      const override = { ...services[1], swarm: { service: `${stack}_web` } };
      expect((await target.current(override)).id).toBe(`${stack}_web`);
    } finally {
      await target.close();
    }
  });

  it('refuses replicated and global jobs in preflight with a sentence; a replicated service is not refused', async () => {
    const jobs: [string, Record<string, unknown>, string][] = [
      ['rjob', { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } }, 'replicated job'],
      ['gjob', { GlobalJob: {} }, 'global job'],
    ];
    for (const [name, mode] of jobs) {
      await engine.json('POST', '/services/create', {
        body: {
          Name: `${stack}_${name}`,
          Labels: { 'rollback-test': id },
          TaskTemplate: { ContainerSpec: { Image: refs.api['1-stage'], Command: ['true'] }, RestartPolicy: { Condition: 'none' } },
          Mode: mode,
        },
      });
    }
    const { ctx } = targetContext({ swarm: { stack } }, services, stateDir);
    const target = createSwarmTarget(ctx, { pollMs: 250 });
    try {
      for (const [name, , kind] of jobs) {
        expect(await target.refuse!({ name, repository: `${id}/api` }, refs.api['3-stage'])).toBe(
          `Swarm service '${stack}_${name}' (for service ${name}) is a ${kind}, which runs to completion and is not a service that can be rolled back (its update would re-run the job); leave it out of this environment's services, or run the job yourself with the image you want`,
        );
      }
      expect(await target.refuse!(services[0], refs.api['1-stage'])).toBeUndefined();
      // Asking changed nothing: the job's spec still has its own image.
      expect(docker('service', 'inspect', `${stack}_rjob`, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}')).toBe(refs.api['1-stage']);
    } finally {
      await target.close();
    }
  });
});
