/**
 * The swarm target against the Engine API double: the faults the real engine will not give on
 * demand (out of sequence, 500s, slow answers, paused and rolled-back updates, never-ending updates).
 */
import type { ServiceConfig } from '../../src/config/types';
import { createEngineClient } from '../../src/targets/docker/engine';
import { resolveEngineAddress } from '../../src/targets/docker/host';
import type { Clock } from '../../src/targets/docker/time';
import { memoryLogger } from '../../src/log';
import { createSwarmTarget } from '../../src/targets/docker/swarm';
import type { TargetContext } from '../../src/targets/types';
import { EngineDouble, startEngineDouble, UpdateScript } from '../doubles/engine-double';

const OLD = '127.0.0.1:5000/shop/api:2-stage@sha256:' + 'a'.repeat(64);
const NEW = '127.0.0.1:5000/shop/api:1-stage@sha256:' + 'b'.repeat(64);
const api: ServiceConfig = { name: 'api', repository: 'shop/api' };

describe('swarm target against the Engine API double', () => {
  let d: EngineDouble;
  let now: number;
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };

  beforeEach(async () => {
    d = await startEngineDouble();
    now = 0;
  });
  afterEach(async () => d.stop());

  function target(extra: Partial<TargetContext> = {}, stack: string | undefined = 'shop') {
    const logger = memoryLogger();
    const environment = { name: 'stage', tags: '-stage$', target: { swarm: { host: d.host, stack } } };
    const ctx: TargetContext = {
      config: { source: 'rollback.yml', registry: { url: 'http://127.0.0.1:5000', concurrency: 4 }, services: [api], environments: { stage: environment }, limit: 10, timezone: 'UTC', parallel: 4, deployTimeout: 60, notify: {} },
      environment,
      env: {},
      logger,
      stateDir: '/nonexistent',
      ...extra,
    };
    const engine = createEngineClient({ address: resolveEngineAddress(d.host, undefined, {}, 'test'), http: { sleep: async () => {}, attempts: 3 } });
    return { t: createSwarmTarget(ctx, { engine, clock, pollMs: 1000 }), logger };
  }

  async function roll(script: UpdateScript, timeoutMs = 60_000) {
    d.addService('shop_api', OLD, script);
    const { t } = target();
    try {
      await t.deploy(api, NEW);
      await t.waitHealthy(api, NEW, timeoutMs);
    } finally {
      await t.close();
    }
  }

  it('finds <stack>_<service> exactly, though the engine name filter matches prefixes', async () => {
    d.addService('shop_api-worker', NEW);
    d.addService('shop_api', OLD);
    const { t } = target();
    expect(await t.current(api)).toEqual({ image: OLD, id: 'shop_api' });
    expect(d.requests.some((r) => decodeURIComponent(r.path).includes('{"name":["shop_api"]}'))).toBe(true);
    await t.close();
  });

  it('sends the whole spec back with only the image changed, at the version read', async () => {
    await roll('completes');
    const update = d.requests.find((r) => r.path.includes('/update'))!;
    expect(update.path).toMatch(/^\/v1\.41\/services\/svc\d+\/update\?version=10$/);
    expect(JSON.parse(update.body)).toEqual({
      Name: 'shop_api',
      TaskTemplate: { ContainerSpec: { Image: NEW, Env: ['A=1'] } },
      Mode: { Replicated: { Replicas: 1 } },
      Labels: { keep: 'me' },
    });
    expect(update.headers['x-registry-auth']).toBeUndefined();
  });

  it('re-reads and retries when the engine answers "update out of sequence"', async () => {
    d.addService('shop_api', OLD);
    const { t, logger } = target();
    d.faults.push({ method: 'POST', path: /\/update$/, status: 500, message: 'rpc error: code = Unknown desc = update out of sequence', times: 2 });
    await t.deploy(api, NEW);
    await t.waitHealthy(api, NEW, 60_000);
    expect(d.requests.filter((r) => r.path.includes('/update'))).toHaveLength(3);
    expect(logger.lines.join('\n')).toContain('changed while we updated it (attempt 2)');
    await t.close();
  });

  it('gives up on out-of-sequence after a bounded number of attempts, saying so', async () => {
    d.addService('shop_api', OLD);
    const { t } = target();
    d.faults.push({ method: 'POST', path: /\/update$/, status: 500, message: 'rpc error: code = Unknown desc = update out of sequence', times: 10 });
    await expect(t.deploy(api, NEW)).rejects.toThrow(/refused POST \/services\/svc\d+\/update \(HTTP 500\): rpc error: code = Unknown desc = update out of sequence\./);
    expect(d.requests.filter((r) => r.path.includes('/update'))).toHaveLength(5);
    await t.close();
  });

  it('rides out 500s on reads (retried by the shared HTTP client) and slow answers', async () => {
    d.addService('shop_api', OLD);
    const { t } = target();
    d.faults.push({ method: 'GET', path: /^\/tasks$/, status: 500, message: 'context deadline exceeded', times: 2 });
    d.delayMs = 30;
    await t.deploy(api, NEW);
    await t.waitHealthy(api, NEW, 60_000);
    expect(d.requests.filter((r) => r.path.startsWith('/v1.41/tasks')).length).toBeGreaterThanOrEqual(3);
    await t.close();
  });

  it('a paused update is a failure naming the task error', async () => {
    await expect(roll('pauses')).rejects.toThrow(
      /^Swarm service 'shop_api' did not take .*1-stage.*: the update is paused \(update paused due to failure or early termination of task task\d+\); task shop_api\.1 failed: task: non-zero exit \(3\) \(exit code 3\)\.$/,
    );
  });

  it('an update Swarm rolled back itself is a failure', async () => {
    await expect(roll('rolls-back')).rejects.toThrow(/the update is rollback completed \(rollback completed\)/);
  });

  it('an update that never starts times out after deployTimeout, saying how far it got', async () => {
    await expect(roll('never-starts', 30_000)).rejects.toThrow(
      /^Swarm service 'shop_api' did not finish its update to .* within 30 s: 0 of 1 task\(s\) running .*, update not started\.$/,
    );
    expect(now).toBeGreaterThanOrEqual(30_000);
    expect(now).toBeLessThan(32_000);
  });

  it('waiting without a deploy of ours (a resumed run) ignores failed tasks of an earlier attempt at the image', async () => {
    const s = d.addService('shop_api', NEW);
    const running = d.tasks.find((t) => t.ServiceID === s.ID)!;
    d.tasks.unshift({
      ...structuredClone(running), ID: 'earlier', CreatedAt: '2026-11-20T09:00:00.000000001Z', DesiredState: 'shutdown',
      Status: { State: 'failed', Err: 'task: non-zero exit (1)' },
    });
    running.CreatedAt = '2026-11-21T12:00:01.5Z';
    s.UpdateStatus = { State: 'completed', StartedAt: '2026-11-21T12:00:00.999999999Z' };
    const { t } = target();
    await t.waitHealthy(api, NEW, 10_000);
    // ...but a failure inside the update in progress still counts.
    s.UpdateStatus.StartedAt = '2026-11-20T08:00:00Z';
    await expect(t.waitHealthy(api, NEW, 10_000)).rejects.toThrow(/task shop_api\.1 failed: task: non-zero exit \(1\)/);
    await t.close();
  });

  it('busy: an update in progress is refused by preflight, a finished one is not', async () => {
    const s = d.addService('shop_api', OLD);
    const { t } = target();
    expect(await t.busy(api)).toBeUndefined();
    s.UpdateStatus = { State: 'updating', StartedAt: '2026-11-21T10:00:00Z' };
    expect(await t.busy(api)).toBe("Swarm service 'shop_api' is in the middle of an update (updating since 2026-11-21T10:00:00Z); let it finish or pause it first.");
    s.UpdateStatus = { State: 'paused' };
    expect(await t.busy(api)).toBeUndefined();
    await t.close();
  });

  it('passes X-Registry-Auth (padded base64url JSON) for images on the configured registry', async () => {
    d.addService('shop_api', OLD);
    const logger = memoryLogger();
    const environment = { name: 'stage', tags: '-stage$', target: { swarm: { host: d.host, stack: 'shop' } } };
    const ctx: TargetContext = {
      config: { source: 'rollback.yml', registry: { url: 'http://127.0.0.1:5000', username: 'ci', password: 'pw!', concurrency: 4 }, services: [api], environments: { stage: environment }, limit: 10, timezone: 'UTC', parallel: 4, deployTimeout: 60, notify: {} },
      environment, env: {}, logger, stateDir: '/nonexistent',
    };
    const t2 = createSwarmTarget(ctx, { clock, pollMs: 1000 });
    await t2.deploy(api, NEW);
    await t2.close();
    const header = String(d.requests.find((r) => r.path.includes('/update'))!.headers['x-registry-auth']);
    expect(header).not.toMatch(/[+/]/);
    // Meaningful only if padding is needed: unpadded base64url of this JSON would not be a multiple of 4.
    expect(Buffer.from(header, 'base64url').length % 3).not.toBe(0);
    expect(header.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ username: 'ci', password: 'pw!', serveraddress: '127.0.0.1:5000' });
  });

  it('an engine that is not a Swarm manager is bad input (exit 2), said once', async () => {
    const { t } = target();
    const message = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
    d.faults.push({ method: 'GET', path: /^\/services$/, status: 503, message, times: 10 });
    await expect(t.current(api)).rejects.toMatchObject({
      kind: 'input',
      message: `The Docker engine at ${d.host} is not a Swarm manager (${message.replace(/\.$/, '')}); point the swarm target's host at a manager node.`,
    });
    await t.close();
  });

  it('names a missing service with its stack and the per-service override', async () => {
    const { t } = target();
    await expect(t.current(api)).rejects.toMatchObject({
      kind: 'input',
      message: `Swarm service 'shop_api' (for service api) does not exist on the Docker engine at ${d.host}; check the stack in rollback.yml environments.stage.target.swarm or set swarm.service for api.`,
    });
    await t.close();
  });
});
