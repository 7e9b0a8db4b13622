/**
 * The docker target against the REAL Docker engine, pulling from the REAL registry: containers are
 * replaced in place, keep their configuration, fail safely (the old container comes back), and
 * every replacement lands in the per-host history file. Checked with the docker CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DockerTargetConfig, ServiceConfig } from '../../src/config/types';
import type { EngineClient } from '../../src/targets/docker/engine';
import { readHistory } from '../../src/targets/docker/history';
import { createDockerTarget } from '../../src/targets/docker/container';
import { freePort, RunningRegistry } from '../support/registry';
import {
  changesTo, docker, engineAvailable, FAILS, RUNS, runContainer as runContainerOn, rollTo, runId, runImages, setUp, targetContext, tearDown, timed,
} from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('docker-target', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)']]));

jest.setTimeout(150_000);

maybe('docker target on the real engine', () => {
  const id = runId();
  let reg: RunningRegistry;
  let engine: EngineClient;
  let stateDir: string;
  const images = runImages(id, () => reg);
  const refs = images.refs;
  const services: ServiceConfig[] = ['api', 'web', 'worker'].map((name) => ({ name, repository: `${id}/${name}` }));
  const timings: string[] = [];
  const name = (service: string) => `${id}-${service}`;
  const targetConfig = (extra: Partial<DockerTargetConfig> = {}) => ({ docker: { container: `${id}-{service}`, monitor: 1, ...extra } });

  const push = (service: string, tag: string, created: string, cmd = RUNS, config: Record<string, unknown> = {}) =>
    images.push(service, tag, created, cmd, { Env: ['PATH=/bin', `IMAGE_TAG=${tag}`], Labels: { 'org.example.version': tag }, ...config });

  const runContainer = (service: string, image: string) => runContainerOn(engine, { name: name(service), image, id, service });

  const inspect = (service: string) => JSON.parse(docker('inspect', name(service)))[0];


  beforeAll(async () => {
    ({ reg, engine, dir: stateDir } = await setUp('rollback-docker-'));
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    await push('api', '3-stage', '2026-11-03T10:00:00Z');
    const health = { Healthcheck: { Test: ['CMD', 'true'], Interval: 500e6, Timeout: 1e9, Retries: 1, StartPeriod: 0 } };
    await push('web', '2-stage', '2026-11-02T10:00:00Z', RUNS, health);
    await push('web', '3-stage', '2026-11-03T11:00:00Z', RUNS, health);
    await push('web', '5-stage', '2026-11-05T11:00:00Z', RUNS, { Healthcheck: { ...health.Healthcheck, Test: ['CMD-SHELL', 'echo db down; false'] } });
    await push('worker', '1-stage', '2026-11-01T09:00:00Z');
    await push('worker', '3-stage', '2026-11-03T09:00:00Z');
    await push('worker', '4-stage', '2026-11-04T09:00:00Z', FAILS);
    await push('worker', '6-stage', '2026-11-06T09:00:00Z', ['/bin/no-such-program']);
    for (const s of services) await runContainer(s.name, refs[s.name]['3-stage']);
  });

  afterAll(async () => {
    await tearDown({ engine, id, reg, containers: services.map((s) => name(s.name)), dir: stateDir });
    if (timings.length) console.log(`docker timings: ${timings.join('; ')}`);
  });

  it('replaces 3 containers with a date\'s images keeping their configuration, records them, and undoes', async () => {
    const { ctx } = targetContext(targetConfig(), services, stateDir);
    const target = createDockerTarget(ctx, { pollMs: 200, stopSeconds: 2 });
    try {
      for (const s of services) {
        expect(await target.current(s)).toEqual({ image: refs[s.name]['3-stage'], id: name(s.name) });
        expect(await target.busy(s)).toBeUndefined();
      }
      docker('exec', name('api'), 'sh', '-c', 'echo kept > /data/file; echo anon > /cache/file');
      const plan = changesTo(services, refs, { api: '1-stage', web: '2-stage', worker: '1-stage' });
      const results = await timed(timings, 'rollback of 3 containers', () => rollTo(target, plan, 60_000));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      for (const [s, image] of plan) {
        const c = inspect(s.name);
        expect(c.Config.Image).toBe(image);
        expect(c.State.Running).toBe(true);
        const tag = image.replace(/^.*:(\d-stage)@.*$/, '$1');
        // The user's settings stay; the image's own values come from the NEW image, not the old one.
        expect(c.Config.Env).toEqual(expect.arrayContaining([`SERVICE=${s.name}`, 'LOG_LEVEL=debug', `IMAGE_TAG=${tag}`]));
        expect(c.Config.Env.filter((e: string) => e.startsWith('IMAGE_TAG='))).toHaveLength(1);
        expect(c.Config.Labels).toMatchObject({ 'rollback-test': id, team: 'shop', 'org.example.version': tag });
        expect(c.HostConfig.RestartPolicy.Name).toBe('unless-stopped');
        expect(c.HostConfig.NetworkMode).toBe('none');
        expect(c.Config.StopTimeout).toBe(2);
      }
      expect(inspect('web').State.Health.Status).toBe('healthy');
      // Named and anonymous volumes came along with their data.
      expect(docker('exec', name('api'), 'cat', '/data/file', '/cache/file')).toBe('kept\nanon');
      // No old container is left behind.
      expect(docker('ps', '-a', '--filter', `name=${id}-`, '--format', '{{.Names}}').split('\n').sort()).toEqual(services.map((s) => name(s.name)).sort());

      const history = readHistory(join(stateDir, 'docker-history-unix-var-run-docker.sock.json'), 'unix:///var/run/docker.sock');
      expect(history.entries.map((e) => [e.container, e.replaced, e.by]).sort()).toEqual(
        plan.map(([s, image]) => [name(s.name), refs[s.name]['3-stage'], image]).sort(),
      );

      const back = await timed(timings, 'undo of 3 containers', () => rollTo(target, changesTo(services, refs, '3-stage'), 60_000));
      expect(back.every((r) => r.status === 'fulfilled')).toBe(true);
      for (const s of services) {
        expect(inspect(s.name).Config.Image).toBe(refs[s.name]['3-stage']);
        expect(inspect(s.name).State.Running).toBe(true);
      }
      expect(docker('exec', name('api'), 'cat', '/data/file', '/cache/file')).toBe('kept\nanon');
    } finally {
      await target.close();
    }
  });

  it('brings the old container back when the new image exits at start or turns unhealthy', async () => {
    const { ctx } = targetContext(targetConfig(), services, stateDir);
    const target = createDockerTarget(ctx, { pollMs: 200, stopSeconds: 2 });
    try {
      const before = Object.fromEntries(services.map((s) => [s.name, inspect(s.name).Id]));
      const results = await timed(timings, 'exit and unhealthy detected and put back after', () =>
        rollTo(target, [[services[1], refs.web['5-stage']], [services[2], refs.worker['4-stage']]], 30_000));
      const reasons = results.map((r) => (r.status === 'rejected' ? String(r.reason.message) : 'fulfilled'));
      expect(reasons[0]).toMatch(new RegExp(`Container ${name('web')} on .* is unhealthy \\(healthcheck said: db down\\); the old container ${name('web')} was put back`));
      // Exit code 3 when seen exited; under a restart policy it may already run again (then the code reads 0 and is not shown).
      expect(reasons[1]).toMatch(
        new RegExp(`Container ${name('worker')} on .* exited (with code 3|and was restarted \\d+ time\\(s\\) by its restart policy).*config missing.*the old container ${name('worker')} was put back`),
      );
      for (const s of [services[1], services[2]]) {
        const c = inspect(s.name);
        // The very same container, under its own name, running its old image again.
        expect(c.Id).toBe(before[s.name]);
        expect(c.Config.Image).toBe(refs[s.name]['3-stage']);
        expect(c.State.Running).toBe(true);
        expect(await target.current(s)).toEqual({ image: refs[s.name]['3-stage'], id: name(s.name) });
      }
      expect(docker('ps', '-a', '--filter', `name=${id}-`, '--format', '{{.Names}}').split('\n').sort()).toEqual(services.map((s) => name(s.name)).sort());
    } finally {
      await target.close();
    }
  });

  it('a new container the engine cannot start, or an image it cannot pull, leaves the old one running', async () => {
    const { ctx } = targetContext(targetConfig(), services, stateDir);
    const target = createDockerTarget(ctx, { pollMs: 200, stopSeconds: 2 });
    try {
      const before = inspect('worker').Id;
      await timed(timings, 'start failure put back after', () => expect(target.deploy(services[2], refs.worker['6-stage'])).rejects.toThrow(
        new RegExp(`^Container ${name('worker')} could not be replaced by one on .*6-stage.*: .*could not start the new container ${name('worker')} \\(HTTP \\d+\\): .*no-such-program.*; the old container ${name('worker')} was put back on .*3-stage`),
      ));
      const missing = `${reg.host}/${id}/worker:9-stage@sha256:${'0'.repeat(64)}`;
      await expect(target.deploy(services[2], missing)).rejects.toThrow(/could not pull .*9-stage.*: .*(not found|unknown)/);
      const c = inspect('worker');
      expect([c.Id, c.Config.Image, c.State.Running]).toEqual([before, refs.worker['3-stage'], true]);
      expect(docker('ps', '-a', '--filter', `name=${id}-worker`, '--format', '{{.Names}}')).toBe(name('worker'));
    } finally {
      await target.close();
    }
  });

  it('keeps user networks (the primary with its alias, the others connected again) and published ports', async () => {
    const front = `${id}-front`;
    const back = `${id}-back`;
    for (const n of [front, back]) await engine.json('POST', '/networks/create', { body: { Name: n, Labels: { 'rollback-test': id } } });
    const gw: ServiceConfig = { name: 'gw', repository: `${id}/api` };
    const port = await freePort();
    await engine.pullImage(refs.api['3-stage']);
    const created = await engine.json<{ Id: string }>('POST', '/containers/create', {
      query: { name: name('gw') },
      body: {
        Image: refs.api['3-stage'],
        Labels: { 'rollback-test': id },
        ExposedPorts: { '8080/tcp': {} },
        HostConfig: { NetworkMode: front, PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
        NetworkingConfig: { EndpointsConfig: { [front]: { Aliases: ['gateway'] } } },
      },
    });
    await engine.json('POST', `/networks/${back}/connect`, { body: { Container: created.Id, EndpointConfig: { Aliases: ['gw-back'] } } });
    expect((await engine.call('POST', `/containers/${created.Id}/start`)).status).toBe(204);
    expect(inspect('gw').NetworkSettings.Networks[front].Aliases).toEqual(expect.arrayContaining(['gateway', created.Id.slice(0, 12)]));
    const { ctx } = targetContext(targetConfig(), [gw], stateDir);
    const target = createDockerTarget(ctx, { pollMs: 200, stopSeconds: 2 });
    try {
      await target.deploy(gw, refs.api['1-stage']);
      await target.waitHealthy(gw, refs.api['1-stage'], 30_000);
      const c = inspect('gw');
      expect(c.Id).not.toBe(created.Id);
      expect(c.HostConfig.NetworkMode).toBe(front);
      expect(Object.keys(c.NetworkSettings.Networks).sort()).toEqual([back, front].sort());
      // The engine adds each container's own short id as an alias; the old one's must not come along.
      expect(c.NetworkSettings.Networks[front].Aliases).toContain('gateway');
      expect(c.NetworkSettings.Networks[front].Aliases).not.toContain(created.Id.slice(0, 12));
      expect(c.NetworkSettings.Networks[back].Aliases).toContain('gw-back');
      // The same host port: only possible because the old container was stopped first.
      expect(c.HostConfig.PortBindings).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
      expect(c.NetworkSettings.Ports['8080/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(port) }]);
    } finally {
      await target.close();
    }
  });

  it('refuses to start over a container left by an interrupted rollback, and names a missing container', async () => {
    const { ctx } = targetContext(targetConfig(), services, stateDir);
    const target = createDockerTarget(ctx);
    try {
      docker('rename', name('worker'), `${name('worker')}-rollback-old-20261121T000000Z`);
      try {
        expect(await target.busy(services[2])).toMatch(
          new RegExp(`Container ${name('worker')}-rollback-old-20261121T000000Z is left from an interrupted rollback of '${name('worker')}'`),
        );
        await expect(target.current(services[2])).rejects.toMatchObject({
          kind: 'input',
          message: expect.stringContaining(`Container '${name('worker')}' (for service worker) does not exist on the Docker engine at unix:///var/run/docker.sock`),
        });
      } finally {
        docker('rename', `${name('worker')}-rollback-old-20261121T000000Z`, name('worker'));
      }
      expect(await target.busy(services[2])).toBeUndefined();
      expect(existsSync(stateDir)).toBe(true);
      expect(readFileSync(join(stateDir, 'docker-history-unix-var-run-docker.sock.json'), 'utf8')).toContain('"schemaVersion": 1');
    } finally {
      await target.close();
    }
  });
});
