/**
 * Shared by the swarm and docker target suites: the real engine, unique names per run, a target
 * context, and cleanup of everything a run created (services, containers, images), even on failure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, EnvironmentConfig, ServiceConfig, TargetConfig } from '../../src/config/types';
import { createEngineClient, EngineClient, RegistryAuth, registryAuthHeader } from '../../src/targets/docker/engine';
import { resolveEngineAddress } from '../../src/targets/docker/host';
import { memoryLogger } from '../../src/log';
import type { Target, TargetContext } from '../../src/targets/types';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';

/**
 * busybox `sh` as PID 1 ignores SIGTERM (PID 1 has no default signal actions), so a plain
 * `sleep 3600` makes every stop wait the full grace period; this one exits on TERM within a second.
 */
export const RUNS = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
/** Exits at once with code 3: the image that "fails at start". */
export const FAILS = ['sh', '-c', 'echo "config missing" >&2; exit 3'];

/**
 * The run's images: `push` puts a runnable image under `<id>/<service>:<tag>` in the real registry
 * (the registry is asked for when pushing: suites start it in beforeAll), and `refs[service][tag]`
 * is its digest-pinned reference, what a plan deploys.
 */
export function runImages(id: string, registry: () => RunningRegistry) {
  const refs: Record<string, Record<string, string>> = {};
  async function push(service: string, tag: string, created: string, cmd = RUNS, config?: Record<string, unknown>): Promise<string> {
    const reg = registry();
    const digest = await pushImage(reg, { repository: `${id}/${service}`, tag, created, cmd, config });
    return ((refs[service] ??= {})[tag] = `${reg.host}/${id}/${service}:${tag}@${digest}`);
  }
  return { refs, push };
}

/** Each service to its image of the given tag: [service, digest-pinned reference] pairs for rollTo. */
export function changesTo(services: ServiceConfig[], refs: Record<string, Record<string, string>>, tags: Record<string, string> | string): [ServiceConfig, string][] {
  return services.map((s) => [s, refs[s.name][typeof tags === 'string' ? tags : tags[s.name]]]);
}

/** Runs `work` and adds "<label> <ms> ms" to the suite's timings (printed, never asserted). */
export async function timed<T>(timings: string[], label: string, work: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await work();
  } finally {
    timings.push(`${label} ${Date.now() - t} ms`);
  }
}

/** A docker suite's beforeAll: the real registry, a client of the local engine (after sweeping what killed runs left), a temp folder. */
export async function setUp(dirPrefix: string, auth?: { username: string; password: string }): Promise<{ reg: RunningRegistry; engine: EngineClient; dir: string }> {
  const reg = await startRegistry({ auth });
  const engine = localEngine();
  await sweepStale(engine);
  return { reg, engine, dir: mkdtempSync(join(tmpdir(), dirPrefix)) };
}

/** A docker suite's afterAll: what the run created on the engine (and the data volumes of `containers`), the client, the registry, the temp folder. */
export async function tearDown(o: { engine?: EngineClient; id: string; reg?: RunningRegistry; containers?: string[]; dir?: string }): Promise<void> {
  if (o.engine) {
    await cleanup(o.engine, o.id, o.reg?.host);
    if (o.containers) await removeDataVolumes(o.engine, o.containers);
    await o.engine.close();
  }
  await o.reg?.stop();
  if (o.dir) rmSync(o.dir, { recursive: true, force: true });
}

export function engineAvailable(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function swarmActive(): boolean {
  try {
    return execFileSync('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'], { encoding: 'utf8' }).trim() === 'active';
  } catch {
    return false;
  }
}

export function runId(): string {
  return `rt${randomBytes(3).toString('hex')}`;
}

export function localEngine(): EngineClient {
  return createEngineClient({ address: resolveEngineAddress(undefined, undefined, {}, 'test') });
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: 60_000 }).trim();
}

export function targetContext(target: TargetConfig, services: ServiceConfig[], stateDir: string, extra: Partial<TargetContext> = {}) {
  const environment: EnvironmentConfig = { name: 'stage', tags: '-stage$', target };
  const config: Config = {
    source: 'rollback.yml',
    registry: { url: 'http://127.0.0.1:1', concurrency: 4 },
    services,
    environments: { stage: environment },
    limit: 10,
    timezone: 'UTC',
    parallel: 4,
    deployTimeout: 60,
    notify: {},
  };
  const logger = memoryLogger();
  const ctx: TargetContext = { config, environment, env: {}, logger, stateDir, ...extra };
  return { ctx, logger };
}

/** Removes every service and container labelled with the run id, and the run's images. */
export async function cleanup(engine: EngineClient, id: string, registryHost?: string): Promise<void> {
  const label = { label: [`rollback-test=${id}`] };
  try {
    const services = await engine.json<{ ID: string }[]>('GET', '/services', { query: { filters: JSON.stringify(label) } });
    for (const s of services ?? []) await engine.call('DELETE', `/services/${s.ID}`);
  } catch {
    /* no swarm */
  }
  const volumes = new Set<string>();
  for (const c of await engine.listContainers(label)) {
    // Volumes the docker target carried over are named mounts now, which `rm -v` keeps: collect them.
    for (const m of (await engine.inspectContainer(c.Id))?.Mounts ?? []) if (m.Type === 'volume' && m.Name) volumes.add(m.Name);
    await engine.call('DELETE', `/containers/${c.Id}`, { query: { force: true, v: true } });
  }
  for (const v of volumes) await engine.call('DELETE', `/volumes/${v}`, { query: { force: true } });
  for (const n of (await engine.json<{ Id: string }[]>('GET', '/networks', { query: { filters: JSON.stringify(label) } })) ?? []) {
    await engine.call('DELETE', `/networks/${n.Id}`);
  }
  if (registryHost) {
    // Swarm tasks' containers go away a moment after their service; retry image removal briefly.
    for (let attempt = 0; attempt < 20; attempt++) {
      const images = await engine.json<{ Id: string; RepoDigests?: string[]; RepoTags?: string[] }[]>('GET', '/images/json');
      const ours = (images ?? []).filter((i) => [...(i.RepoDigests ?? []), ...(i.RepoTags ?? [])].some((r) => r.startsWith(`${registryHost}/`)));
      if (ours.length === 0) return;
      let left = 0;
      for (const i of ours) {
        const res = await engine.call('DELETE', `/images/${i.Id}`, { query: { force: true } });
        if (res.status >= 300 && res.status !== 404) left++;
      }
      if (left === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** A swarm service as `docker stack deploy` would name it, tuned so tests are quick: 1 s monitor, 1 s grace. */
export async function createSwarmService(engine: EngineClient, o: { name: string; image: string; id: string; stack: string; env?: string[]; auth?: RegistryAuth }) {
  await engine.json('POST', '/services/create', {
    headers: registryAuthHeader(o.auth),
    body: {
      Name: `${o.stack}_${o.name}`,
      Labels: { 'rollback-test': o.id, 'com.docker.stack.namespace': o.stack },
      TaskTemplate: {
        ContainerSpec: { Image: o.image, StopGracePeriod: 1e9, Env: o.env },
        RestartPolicy: { Condition: 'on-failure', Delay: 1e9 },
      },
      Mode: { Replicated: { Replicas: 1 } },
      UpdateConfig: { Parallelism: 1, Monitor: 1e9, FailureAction: 'pause', Order: 'stop-first' },
    },
  });
}

/** `docker run -d` as an operator would: env, labels, a restart policy, a named and an anonymous volume. */
export async function runContainer(engine: EngineClient, o: { name: string; image: string; id: string; service: string; auth?: RegistryAuth }) {
  await engine.pullImage(o.image, o.auth);
  const created = await engine.json<{ Id: string }>('POST', '/containers/create', {
    query: { name: o.name },
    body: {
      Image: o.image,
      Env: [`SERVICE=${o.service}`, 'LOG_LEVEL=debug'],
      Labels: { 'rollback-test': o.id, team: 'shop' },
      Volumes: { '/cache': {} },
      StopTimeout: 2,
      HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'unless-stopped' }, Binds: [`${o.name}-data:/data`] },
    },
  });
  const res = await engine.call('POST', `/containers/${created.Id}/start`);
  if (res.status !== 204) throw new Error(`start ${o.name}: ${res.status} ${res.body.toString()}`);
}

/** Removes the named volumes runContainer created. */
export async function removeDataVolumes(engine: EngineClient, names: string[]) {
  for (const n of names) await engine.call('DELETE', `/volumes/${n}-data`, { query: { force: true } });
}

/**
 * What the run engine does for a plan, without it: deploy each change, then wait for each; a
 * deploy that throws counts as that service's failure.
 */
export async function rollTo(target: Target, changes: [ServiceConfig, string][], timeoutMs: number) {
  const deployed = await Promise.allSettled(changes.map(([s, image]) => target.deploy(s, image)));
  return Promise.allSettled(
    changes.map(([s, image], i) => {
      const d = deployed[i];
      return d.status === 'rejected' ? Promise.reject(d.reason) : target.waitHealthy(s, image, timeoutMs);
    }),
  );
}

/**
 * Removes what test runs killed before their cleanup (SIGKILL, a closed terminal) left behind:
 * labelled services and containers older than 15 minutes, so runs in progress elsewhere are spared.
 */
export async function sweepStale(engine: EngineClient, now = Date.now()): Promise<void> {
  const old = (created: string | number | undefined) =>
    created !== undefined && now - (typeof created === 'number' ? created * 1000 : Date.parse(created)) > 15 * 60_000;
  try {
    const services = await engine.json<{ ID: string; CreatedAt?: string }[]>('GET', '/services', { query: { filters: JSON.stringify({ label: ['rollback-test'] }) } });
    for (const s of services ?? []) if (old(s.CreatedAt)) await engine.call('DELETE', `/services/${s.ID}`);
  } catch {
    /* no swarm */
  }
  const containers = await engine.json<{ Id: string; Created: number }[]>('GET', '/containers/json', {
    query: { all: true, filters: JSON.stringify({ label: ['rollback-test'] }) },
  });
  for (const c of containers ?? []) if (old(c.Created)) await engine.call('DELETE', `/containers/${c.Id}`, { query: { force: true, v: true } });
}
