/**
 * End to end through the CLI on the REAL engine and the REAL registry (with basic auth, so every
 * pull goes through X-Registry-Auth): `get`, `run --date D`, `undo`, and a run whose image fails
 * at start, for a 3-service swarm stack and for 3 containers on the host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import type { EngineClient } from '../../src/targets/docker/engine';
import { registryAvailable, RunningRegistry } from '../support/registry';
import {
  createSwarmService, docker, engineAvailable, FAILS, runContainer, runId, runImages, setUp, swarmActive, tearDown,
} from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('docker-e2e', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)'], [swarmActive(), 'a one-node swarm (docker swarm init)'], [registryAvailable(), 'the docker-registry binary']]));

jest.setTimeout(180_000);

const PASSWORD = 'Regi5try-e2e-secret';
const SERVICES = ['api', 'web', 'worker'];

maybe('rollback get/run/undo on the real engine (swarm stack and host containers)', () => {
  const id = runId();
  const stack = `${id}s`;
  let reg: RunningRegistry;
  let engine: EngineClient;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const { refs, push } = runImages(id, () => reg);
  const out: string[] = [];
  const err: string[] = [];
  const timings: string[] = [];

  async function cli(...args: string[]): Promise<number> {
    out.length = 0;
    err.length = 0;
    const t = Date.now();
    const code = await main(args, env, { stdout: (x) => out.push(x), stderr: (x) => err.push(x), cwd: dir, stderrIsTTY: false });
    const shown = args.filter((a, i) => a !== '--config' && args[i - 1] !== '--config' && a !== '--catalog' && args[i - 1] !== '--catalog');
    timings.push(`${shown.join(' ')}: exit ${code} in ${Date.now() - t} ms`);
    if (code !== 0) timings.push(`  ${err.join('').trim().split('\n').slice(-6).join('\n    ')}`);
    return code;
  }

  const swarmImages = () => SERVICES.map((s) => docker('service', 'inspect', `${stack}_${s}`, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}'));
  const runningTaskImages = () =>
    SERVICES.map((s) => docker('service', 'ps', `${stack}_${s}`, '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.Image}}'));
  const containerImages = () => SERVICES.map((s) => docker('inspect', `${id}-${s}`, '--format', '{{.Config.Image}} {{.State.Status}}'));

  beforeAll(async () => {
    ({ reg, engine, dir } = await setUp('rollback-docker-e2e-', { username: 'ci', password: PASSWORD }));
    // D = 2026-11-02: api -> 1 (no image that day: its nearest older), web -> 2, worker -> 1.
    // 2026-11-04: api -> 4, web -> 2, worker -> 4, which exits at start.
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    await push('api', '4-stage', '2026-11-04T10:00:00Z');
    await push('api', '5-stage', '2026-11-05T10:00:00Z');
    await push('web', '2-stage', '2026-11-02T10:00:00Z');
    await push('web', '5-stage', '2026-11-05T11:00:00Z');
    await push('worker', '1-stage', '2026-11-01T09:00:00Z');
    await push('worker', '4-stage', '2026-11-04T09:00:00Z', FAILS);
    await push('worker', '5-stage', '2026-11-05T09:00:00Z');
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, '  username: ci', '  password: ${REGISTRY_PASSWORD}',
      'services:', ...SERVICES.flatMap((s) => [`  - name: ${s}`, `    repository: ${id}/${s}`]),
      'environments:',
      '  swarm:', "    tags: '-stage$'", '    target:', '      swarm:', `        stack: ${stack}`,
      '  host:', "    tags: '-stage$'", '    target:', '      docker:', `        container: '${id}-{service}'`, '        monitor: 1',
      'parallel: 3', 'deployTimeout: 40', 'settle: 0', '',
    ].join('\n'));
    env = { REGISTRY_PASSWORD: PASSWORD, PATH: process.env.PATH, USER: 'someone' };
  }, 180_000);

  afterAll(async () => {
    await tearDown({ engine, id, reg, containers: SERVICES.map((s) => `${id}-${s}`), dir });
    if (timings.length) console.log(`docker e2e timings:\n  ${timings.join('\n  ')}`);
  });

  it('the engine needs X-Registry-Auth padded: unpadded base64url credentials are silently ignored', async () => {
    const ref = refs.api['1-stage'];
    const base = JSON.stringify({ username: 'ci', password: PASSWORD, serveraddress: reg.host });
    // A leading blank is still valid JSON, and makes a length that needs '=' padding; unpadded, the
    // engine's decoder then loses the last bytes (the closing brace) and drops the credentials.
    const json = (base.length % 3 === 0 ? ' ' : '') + base;
    const pull = (header: string) => engine.call('POST', '/images/create', { query: { fromImage: ref }, headers: { 'x-registry-auth': header } });
    const unpadded = await pull(Buffer.from(json).toString('base64url'));
    expect(`${unpadded.status} ${unpadded.body.toString()}`).toMatch(/no basic auth credentials/);
    const padded = await pull(Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'));
    expect(padded.status).toBe(200);
    expect(padded.body.toString()).not.toContain('error');
    await engine.call('DELETE', `/images/${encodeURIComponent(ref)}`, { query: { force: true } });
    // And the client's own header (src/targets/docker/engine.ts registryAuthHeader) is accepted.
    await engine.pullImage(ref, { username: 'ci', password: PASSWORD, serverAddress: reg.host });
    expect(docker('image', 'inspect', ref, '--format', '{{len .RepoDigests}}')).toBe('1');
  });

  for (const kind of ['swarm', 'host'] as const) {
    it(`${kind}: get, run --date D (every service at D's digest), undo, then a failing image leaves everything as it was`, async () => {
      // Whoever started the fleet pulled with credentials; the worker brings its own from the config.
      const auth = { username: 'ci', password: PASSWORD, serverAddress: reg.host };
      const common = ['--config', 'rollback.yml', '--env', kind, '--catalog', `.rollback/${kind}.json`];
      for (const s of SERVICES) {
        if (kind === 'swarm') await createSwarmService(engine, { name: s, image: refs[s]['5-stage'], id, stack, auth });
        else await runContainer(engine, { name: `${id}-${s}`, image: refs[s]['5-stage'], id, service: s, auth });
      }
      const newest = SERVICES.map((s) => refs[s]['5-stage']);
      const current = kind === 'swarm' ? swarmImages : () => containerImages().map((l) => l.replace(/ running$/, ''));

      expect(await cli('get', ...common)).toBe(0);
      expect(out.join('')).toBe('2026-11-05\n2026-11-04\n2026-11-02\n2026-11-01\n');

      expect(await cli('run', ...common, '--date', '2026-11-02', '--approver', 'alice')).toBe(0);
      const atD = [refs.api['1-stage'], refs.web['2-stage'], refs.worker['1-stage']];
      expect(current()).toEqual(atD);
      if (kind === 'swarm') expect(runningTaskImages()).toEqual(atD);
      else expect(containerImages()).toEqual(atD.map((r) => `${r} running`));
      expect(err.join('')).toContain('3 services changed (api, web, worker), approved by alice');

      expect(await cli('undo', ...common)).toBe(0);
      expect(current()).toEqual(newest);
      if (kind === 'swarm') expect(runningTaskImages()).toEqual(newest);
      else expect(containerImages()).toEqual(newest.map((r) => `${r} running`));

      expect(await cli('run', ...common, '--date', '2026-11-04')).toBe(1);
      const log = err.join('');
      expect(log).toMatch(kind === 'swarm' ? /worker.*non-zero exit \(3\)/ : /worker.*exited (with code 3|and was restarted).*config missing/);
      expect(log).toMatch(/put back/);
      expect(current()).toEqual(newest);
      if (kind === 'swarm') expect(runningTaskImages()).toEqual(newest);
      else expect(containerImages()).toEqual(newest.map((r) => `${r} running`));
      // The registry password never reaches the output, in any form.
      expect(log).not.toContain(PASSWORD);
      expect(log).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    });
  }
});
