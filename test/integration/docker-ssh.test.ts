/**
 * ssh:// Docker hosts end to end: a REAL OpenSSH server (test/support/sshd.ts) on a loopback port
 * in front of the REAL dockerd, reached by the OpenSSH client running `docker system dial-stdio`.
 * Through the CLI, for a swarm stack and for containers on the host: `get`, `run --date`, `undo`
 * (pulling from the real registry with a password), then a wrong or unknown host key and a key
 * that is not authorized are each refused in one sentence with nothing changed.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineClient } from '../../src/targets/docker/engine';
import { runCli } from '../support/cli';
import { registryAvailable, RunningRegistry } from '../support/registry';
import { RunningSshd, sshdAvailable, startSshd } from '../support/sshd';
import { createSwarmService, docker, engineAvailable, runContainer, runId, runImages, setUp, swarmActive, tearDown } from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('docker-ssh', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)'], [swarmActive(), 'a one-node swarm (docker swarm init)'], [registryAvailable(), 'the docker-registry binary'], [sshdAvailable(), 'OpenSSH (sshd and ssh)']]));

jest.setTimeout(180_000);

const PASSWORD = 'Regi5try-ssh-secret';
const SERVICES = ['api', 'worker'];

maybe('ssh:// Docker hosts through a real sshd (swarm and docker targets)', () => {
  const id = runId();
  const stack = `${id}s`;
  let reg: RunningRegistry;
  let engine: EngineClient;
  let sshd: RunningSshd;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const { refs, push } = runImages(id, () => reg);
  const timings: string[] = [];

  const swarmImages = () => SERVICES.map((s) => docker('service', 'inspect', `${stack}_${s}`, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}'));
  const containerImages = () => SERVICES.map((s) => docker('inspect', `${id}-${s}`, '--format', '{{.Config.Image}}'));

  async function cli(...args: string[]) {
    const t = Date.now();
    const r = await runCli(args, { env, cwd: dir });
    timings.push(`${args.slice(0, 1).concat(args.filter((a) => a.startsWith('20') || a === 'swarm' || a === 'host' || a.startsWith('bad'))).join(' ')}: exit ${r.code} in ${Date.now() - t} ms`);
    return r;
  }

  beforeAll(async () => {
    ({ reg, engine, dir } = await setUp('rollback-docker-ssh-', { username: 'ci', password: PASSWORD }));
    sshd = await startSshd();
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    await push('api', '5-stage', '2026-11-05T10:00:00Z');
    await push('worker', '2-stage', '2026-11-02T09:00:00Z');
    await push('worker', '5-stage', '2026-11-05T09:00:00Z');
    const ssh = (known: string) => [`        host: ${sshd.host}`, '        identityFile: ${SSH_KEY_FILE}', `        knownHosts: ${known}`];
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, '  username: ci', '  password: ${REGISTRY_PASSWORD}',
      'services:', ...SERVICES.flatMap((s) => [`  - name: ${s}`, `    repository: ${id}/${s}`]),
      'environments:',
      '  swarm:', "    tags: '-stage$'", '    target:', '      swarm:', ...ssh(sshd.knownHosts), `        stack: ${stack}`,
      '  host:', "    tags: '-stage$'", '    target:', '      docker:', ...ssh(sshd.knownHosts), `        container: '${id}-{service}'`, '        monitor: 1',
      '  badkey:', "    tags: '-stage$'", '    target:', '      docker:', ...ssh(sshd.wrongKnownHosts), `        container: '${id}-{service}'`,
      '  badunknown:', "    tags: '-stage$'", '    target:', '      docker:', ...ssh(sshd.emptyKnownHosts), `        container: '${id}-{service}'`,
      'parallel: 2', 'deployTimeout: 40', 'settle: 0', '',
    ].join('\n'));
    env = { REGISTRY_PASSWORD: PASSWORD, SSH_KEY_FILE: sshd.identityFile, PATH: process.env.PATH, HOME: process.env.HOME, USER: 'someone' };
    const auth = { username: 'ci', password: PASSWORD, serverAddress: reg.host };
    for (const s of SERVICES) {
      await createSwarmService(engine, { name: s, image: refs[s]['5-stage'], id, stack, auth });
      await runContainer(engine, { name: `${id}-${s}`, image: refs[s]['5-stage'], id, service: s, auth });
    }
  }, 180_000);

  afterAll(async () => {
    await tearDown({ engine, id, reg, containers: SERVICES.map((s) => `${id}-${s}`), dir });
    await sshd?.stop();
    if (timings.length) console.log(`docker ssh timings:\n  ${timings.join('\n  ')}`);
  });

  for (const kind of ['swarm', 'host'] as const) {
    it(`${kind} over ssh: get, run --date (every service at its digest, pulled with credentials), undo`, async () => {
      const common = ['--config', 'rollback.yml', '--env', kind, '--catalog', `.rollback/${kind}.json`];
      const current = kind === 'swarm' ? swarmImages : containerImages;
      const newest = SERVICES.map((s) => refs[s]['5-stage']);

      const got = await cli('get', ...common);
      expect(got.code).toBe(0);
      expect(got.stdout).toBe('2026-11-05\n2026-11-02\n2026-11-01\n');

      const run = await cli('run', ...common, '--date', '2026-11-02', '--approver', 'alice');
      expect(run.stderr).toContain('2 services changed (api, worker), approved by alice');
      expect(run.code).toBe(0);
      expect(current()).toEqual([refs.api['1-stage'], refs.worker['2-stage']]);
      if (kind === 'host') {
        // The history of that host is kept under its ssh:// name, as for any other host.
        const history = JSON.parse(readFileSync(join(dir, '.rollback', `docker-history-ssh-${sshd.user}-127.0.0.1-${sshd.port}.json`), 'utf8'));
        expect(history.host).toBe(sshd.host);
        expect(history.entries.map((e: { service: string }) => e.service).sort()).toEqual(['api', 'worker']);
      }

      const undo = await cli('undo', ...common);
      expect(undo.code).toBe(0);
      expect(current()).toEqual(newest);
      for (const text of [run.stderr, undo.stderr, got.stderr]) {
        expect(text).not.toContain(PASSWORD);
        expect(text).not.toContain(readFileSync(sshd.identityFile, 'utf8').split('\n')[1]);
      }
    });
  }

  it('a changed or unknown host key, and a key the host does not authorize, are refused in one sentence; nothing changes', async () => {
    const before = containerImages();
    const plan = async (envName: string) => {
      expect((await cli('get', '--config', 'rollback.yml', '--env', envName, '--catalog', `.rollback/${envName}.json`)).code).toBe(0);
      return cli('run', '--config', 'rollback.yml', '--env', envName, '--catalog', `.rollback/${envName}.json`, '--date', '2026-11-01');
    };
    const changed = await plan('badkey');
    expect(changed.code).toBe(2);
    expect(changed.stderr.trim()).toBe(
      `rollback: The Docker engine at ${sshd.host} was not reached: the host key of 127.0.0.1:${sshd.port} is not the one recorded in ${sshd.wrongKnownHosts}, and ssh never accepts such a key (ssh said: Host key verification failed); check the host's key fingerprint, then add it to that file (ssh-keyscan -p ${sshd.port} 127.0.0.1) or set knownHosts.`,
    );
    const unknown = await plan('badunknown');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`the host key of 127.0.0.1:${sshd.port} is not recorded in ${sshd.emptyKnownHosts}, and ssh never accepts such a key`);
    // The known_hosts files were not touched (no key was added behind the operator's back).
    expect(readFileSync(sshd.emptyKnownHosts, 'utf8')).toBe('');

    // A key that is not in authorized_keys: ssh's own "Permission denied" in the sentence.
    const stranger = join(dir, 'stranger');
    writeFileSync(stranger, readFileSync(join(sshd.dir, 'other_host_ed25519')), { mode: 0o600 });
    chmodSync(stranger, 0o600);
    expect((await cli('get', '--config', 'rollback.yml', '--env', 'host', '--catalog', '.rollback/denied.json')).code).toBe(0);
    const denied = await runCli(['run', '--config', 'rollback.yml', '--env', 'host', '--catalog', '.rollback/denied.json', '--date', '2026-11-01'], {
      env: { ...env, SSH_KEY_FILE: stranger },
      cwd: dir,
    });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(new RegExp(`ssh could not log in as ${sshd.user} on 127\\.0\\.0\\.1:${sshd.port} \\(ssh said: .*Permission denied \\(publickey\\)\\)`));
    expect(containerImages()).toEqual(before);
  });
});
