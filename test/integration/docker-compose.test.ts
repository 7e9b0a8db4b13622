/**
 * Compose projects on the REAL engine, brought up by the REAL docker-compose (Debian's v1.29)
 * from images in the REAL registry: `docker: { project }` rolls back every replica of a scaled
 * service, one at a time, through the CLI; `docker-compose ps` agrees; a later `up` with the same
 * files leaves them as they are; undo puts every replica back; an image that fails at start puts
 * every replica back; a container sharing a replica's network namespace is refused before any change.
 * Compose v2's names (shop-api-1) are shown with containers labelled as v2 labels them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineClient } from '../../src/targets/docker/engine';
import { runCli } from '../support/cli';
import { registryAvailable, RunningRegistry } from '../support/registry';
import { createDockerTarget } from '../../src/targets/docker/container';
import { docker, engineAvailable, rollTo, RUNS, runId, runImages, setUp, targetContext, tearDown } from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

function composeAvailable(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const maybe = readyOrFail('docker-compose', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)'], [registryAvailable(), 'the docker-registry binary'], [composeAvailable(), 'docker-compose']]));

jest.setTimeout(240_000);

maybe('Compose projects: every replica of a service (real docker-compose v1)', () => {
  const id = runId();
  const project = id; // docker-compose -p: the project name, and the prefix of its containers and network
  let reg: RunningRegistry;
  let engine: EngineClient;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const { refs, push } = runImages(id, () => reg);
  const timings: string[] = [];

  const compose = (...args: string[]) =>
    execFileSync('docker-compose', ['-p', project, '-f', join(dir, 'docker-compose.yml'), ...args], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  /** Every container of the project, by name: image, state, replica number. */
  const containers = () =>
    docker('ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}')
      .split('\n')
      .filter(Boolean)
      .sort()
      .map((n) => {
        const [image, state, number, service, aliases] = docker('inspect', n, '--format',
          '{{.Config.Image}}|{{.State.Status}}|{{index .Config.Labels "com.docker.compose.container-number"}}|{{index .Config.Labels "com.docker.compose.service"}}|{{json .NetworkSettings.Networks}}').split('|');
        return { name: n, image, state, number, service, networks: JSON.parse(aliases) as Record<string, { Aliases?: string[] }> };
      });
  /** Compose starts them from the file's tag; the rollback pins the digest (undo too): both are the tag's image. */
  const images = (service: string) => containers().filter((c) => c.service === service).map((c) => `${c.name} ${c.image.replace(/@sha256:[0-9a-f]{64}$/, '')} ${c.state}`);
  const at = (service: string, tag: string, n: number) => Array.from({ length: n }, (_, i) => `${project}_${service}_${i + 1} ${refs[service][tag].replace(/@sha256:[0-9a-f]{64}$/, '')} running`);

  async function cli(...args: string[]) {
    const t = Date.now();
    const r = await runCli(['--config', 'rollback.yml', '--env', 'edge', '--catalog', '.rollback/edge.json', ...args], { env, cwd: dir });
    timings.push(`${args.join(' ')}: exit ${r.code} in ${Date.now() - t} ms`);
    return r;
  }

  beforeAll(async () => {
    ({ reg, engine, dir } = await setUp('rollback-compose-'));
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    // 4 starts on the first replica, and fails on the second (the volume they share remembers):
    // the put-back must bring back a replica that was already replaced and up.
    await push('api', '4-stage', '2026-11-04T10:00:00Z', RUNS, {
      Entrypoint: ['sh', '-c', 'if [ -e /data/api-4 ]; then echo "second replica refused" >&2; exit 3; fi; touch /data/api-4; exec "$@"', 'sh'],
    });
    await push('api', '5-stage', '2026-11-05T10:00:00Z');
    await push('web', '2-stage', '2026-11-02T10:00:00Z');
    await push('web', '5-stage', '2026-11-05T11:00:00Z');
    // What a team's file looks like: a scaled service with its own command, env, a named volume,
    // labels, and the project network (with the service name as alias, which Compose adds).
    writeFileSync(join(dir, 'docker-compose.yml'), [
      "version: '2.4'",
      'services:',
      '  api:',
      `    image: ${reg.host}/${id}/api:5-stage`,
      '    scale: 3',
      '    command: ["sh", "-c", "trap \\"exit 0\\" TERM; echo api up; while true; do sleep 1; done"]',
      '    environment: { SERVICE: api, LOG_LEVEL: debug }',
      `    labels: { rollback-test: ${id}, team: shop }`,
      '    volumes: ["data:/data"]',
      '    stop_grace_period: 2s',
      '  web:',
      `    image: ${reg.host}/${id}/web:5-stage`,
      '    scale: 2',
      `    labels: { rollback-test: ${id} }`,
      '    stop_grace_period: 2s',
      'volumes:',
      `  data: { labels: { rollback-test: ${id} } }`,
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`,
      'services:', ...['api', 'web'].flatMap((s) => [`  - name: ${s}`, `    repository: ${id}/${s}`]),
      'environments:',
      '  edge:', "    tags: '-stage$'", '    target:', '      docker:', `        project: ${project}`, '        monitor: 1',
      'parallel: 2', 'deployTimeout: 40', 'settle: 0', '',
    ].join('\n'));
    env = { PATH: process.env.PATH, HOME: process.env.HOME, USER: 'someone' };
    const t = Date.now();
    compose('up', '-d');
    timings.push(`docker-compose up -d (3 api + 2 web): ${Date.now() - t} ms`);
  }, 240_000);

  afterAll(async () => {
    try {
      if (dir) compose('down', '-v', '--remove-orphans');
    } catch (err) {
      console.warn(`docker-compose down: ${(err as Error).message}`);
    }
    await tearDown({ engine, id, reg, dir });
    if (timings.length) console.log(`docker compose timings:\n  ${timings.join('\n  ')}`);
  });

  it('rolls every replica back one at a time; docker-compose ps agrees; a later up leaves them; undo puts every replica back', async () => {
    expect(images('api')).toEqual(at('api', '5-stage', 3));
    expect(images('web')).toEqual(at('web', '5-stage', 2));
    const before = containers();

    expect((await cli('get')).code).toBe(0);
    const run = await cli('run', '--date', '2026-11-02', '--approver', 'alice');
    expect(run.stderr).toContain('2 services changed (api, web), approved by alice');
    expect(run.code).toBe(0);
    expect(images('api')).toEqual(at('api', '1-stage', 3));
    expect(images('web')).toEqual(at('web', '2-stage', 2));
    // Same containers by name and replica number, nothing left over, same networks and aliases.
    const after = containers();
    expect(after.map((c) => [c.name, c.number, c.service])).toEqual(before.map((c) => [c.name, c.number, c.service]));
    for (const c of after) {
      const was = before.find((b) => b.name === c.name)!;
      expect(Object.keys(c.networks)).toEqual(Object.keys(was.networks));
      for (const ep of Object.values(c.networks)) expect(ep.Aliases).toContain(c.service);
      expect(Object.keys(c.networks)).toEqual([`${project}_default`]);
    }
    expect(docker('inspect', `${project}_api_2`, '--format', '{{json .Config.Env}}')).toMatch(/"SERVICE=api".*"LOG_LEVEL=debug"|"LOG_LEVEL=debug".*"SERVICE=api"/);
    expect(docker('inspect', `${project}_api_2`, '--format', '{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}')).toContain(`${project}_data:/data`);
    expect(docker('inspect', `${project}_api_2`, '--format', '{{json .Config.Cmd}}')).toContain('echo api up');
    // One at a time: each replica started only after the one before had run for `monitor` (1 s).
    const started = [1, 2, 3].map((n) => Date.parse(docker('inspect', `${project}_api_${n}`, '--format', '{{.State.StartedAt}}')));
    timings.push(`api replicas started ${started[1] - started[0]} ms and ${started[2] - started[1]} ms apart`);
    expect(started[1] - started[0]).toBeGreaterThanOrEqual(1000);
    expect(started[2] - started[1]).toBeGreaterThanOrEqual(1000);

    // docker-compose itself sees them as the project's, up, with their numbers.
    const ps = compose('ps');
    for (const n of [1, 2, 3]) expect(ps).toMatch(new RegExp(`${project}_api_${n} .* Up`));
    for (const n of [1, 2]) expect(ps).toMatch(new RegExp(`${project}_web_${n} .* Up`));

    // A later `up` with the same (old) files: Compose compares its config hash, which the
    // recreated containers kept, and leaves them on the rolled-back images.
    const up = spawnSync('docker-compose', ['-p', project, '-f', join(dir, 'docker-compose.yml'), 'up', '-d'], { encoding: 'utf8' });
    timings.push(`later up: ${`${up.stdout}${up.stderr}`.trim().replace(/\n/g, ' / ')}`);
    expect(up.status).toBe(0);
    for (const n of [1, 2, 3]) expect(up.stderr).toContain(`${project}_api_${n} is up-to-date`);
    expect(images('api')).toEqual(at('api', '1-stage', 3));
    expect(images('web')).toEqual(at('web', '2-stage', 2));

    const undo = await cli('undo');
    expect(undo.code).toBe(0);
    expect(images('api')).toEqual(at('api', '5-stage', 3));
    expect(images('web')).toEqual(at('web', '5-stage', 2));
    expect(containers().map((c) => c.name)).toEqual(before.map((c) => c.name));
  });

  it('an image that fails at start puts every replica back (and the other service), exactly as many containers as before', async () => {
    const before = containers();
    const run = await cli('run', '--date', '2026-11-04');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(
      `Container ${project}_api_2 on .*api:4-stage@sha256:[0-9a-f]+ exited with code 3 \\(last output: second replica refused\\); the 2 old containers \\(${project}_api_1, ${project}_api_2\\) were put back on .*api:5-stage`,
    ));
    expect(images('api')).toEqual(at('api', '5-stage', 3));
    expect(images('web')).toEqual(at('web', '5-stage', 2));
    expect(containers().map((c) => [c.name, c.number])).toEqual(before.map((c) => [c.name, c.number]));
  });

  it('a container in the network namespace of a replica (network_mode: service:api) is refused before any change, by name', async () => {
    const sidecar = `${id}-sidecar`;
    docker('run', '-d', '--name', sidecar, '--label', `rollback-test=${id}`, '--network', `container:${project}_api_2`, refs.web['5-stage']);
    try {
      const before = containers();
      const run = await cli('run', '--date', '2026-11-02');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `Preflight: Compose service api of project ${project} cannot be replaced: container ${sidecar} shares the network namespace of ${project}_api_2 (network_mode: service:api or container:) and would lose their network with it; roll them back together with docker-compose up, or give them a network of their own; nothing was changed.`,
      );
      expect(containers()).toEqual(before);
    } finally {
      docker('rm', '-f', sidecar);
    }
  });

  it('Compose v2 names (project-service-N) are found by the same labels; a one-off container is not a replica', async () => {
    const v2 = `${id}v2`;
    const make = async (name: string, number: string, oneoff = 'False') => {
      const created = await engine.json<{ Id: string }>('POST', '/containers/create', {
        query: { name },
        body: {
          Image: refs.web['5-stage'],
          Labels: {
            'rollback-test': id, 'com.docker.compose.project': v2, 'com.docker.compose.service': 'web',
            'com.docker.compose.container-number': number, 'com.docker.compose.oneoff': oneoff,
          },
          StopTimeout: 1,
          HostConfig: { NetworkMode: 'none' },
        },
      });
      expect((await engine.call('POST', `/containers/${created.Id}/start`)).status).toBe(204);
    };
    await make(`${v2}-web-2`, '2');
    await make(`${v2}-web-1`, '1');
    await make(`${v2}-web-run-0a1b2c`, '1', 'True');
    const web = { name: 'web', repository: `${id}/web` };
    const { ctx } = targetContext({ docker: { project: v2, monitor: 1 } }, [web], dir);
    const target = createDockerTarget(ctx, { pollMs: 200 });
    try {
      expect(target.describe()).toBe(`Docker host at unix:///var/run/docker.sock, Compose project ${v2}`);
      expect((await target.current(web)).id).toBe(`${v2}/web`);
      const [result] = await rollTo(target, [[web, refs.web['2-stage']]], 30_000);
      expect(result.status).toBe('fulfilled');
      const image = (n: string) => docker('inspect', n, '--format', '{{.Config.Image}} {{.State.Status}} {{index .Config.Labels "com.docker.compose.container-number"}}');
      expect([image(`${v2}-web-1`), image(`${v2}-web-2`)]).toEqual([`${refs.web['2-stage']} running 1`, `${refs.web['2-stage']} running 2`]);
      expect(image(`${v2}-web-run-0a1b2c`)).toBe(`${refs.web['5-stage']} running 1`);
      expect(docker('ps', '-a', '--filter', `label=com.docker.compose.project=${v2}`, '--format', '{{.Names}}').split('\n').sort()).toEqual(
        [`${v2}-web-1`, `${v2}-web-2`, `${v2}-web-run-0a1b2c`],
      );
    } finally {
      await target.close();
    }
  });
});
