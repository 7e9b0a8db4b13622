/**
 * The docker target's decisions with an in-memory engine (injected, no module mocking) and a
 * driven clock: the monitor period, timeouts, and what it says when the old container cannot
 * be put back. The real-engine behaviour is in test/integration/docker-target.test.ts.
 */
import type { ServiceConfig } from '../../src/config/types';
import type { ContainerInspect, EngineClient } from '../../src/targets/docker/engine';
import type { Clock } from '../../src/targets/docker/time';
import { memoryLogger } from '../../src/log';
import { createDockerTarget } from '../../src/targets/docker/container';
import type { TargetContext } from '../../src/targets/types';

const OLD = 'r.example.com/shop/api:2@sha256:' + 'a'.repeat(64);
const NEW = 'r.example.com/shop/api:1@sha256:' + 'b'.repeat(64);
const api: ServiceConfig = { name: 'api', repository: 'shop/api' };

type State = ContainerInspect['State'];

/** Containers by id, names as the engine keeps them, and every call made. */
function fakeEngine(options: { newState: (polls: number) => State; failRenameBack?: boolean }) {
  const containers = new Map<string, ContainerInspect & { name: string }>();
  const calls: string[] = [];
  let polls = 0;
  containers.set('old1', {
    Id: 'old1', Name: '/api', name: 'api', Image: 'sha256:oldimg', State: { Status: 'running', Running: true },
    Config: { Image: OLD, Env: ['A=1'] }, HostConfig: { NetworkMode: 'none' },
  });
  const byName = (n: string) => [...containers.values()].find((c) => c.name === n || c.Id === n);
  const res = (status: number, body: unknown = '') => ({ status, headers: {}, url: 'http://engine', body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
  const engine: EngineClient = {
    where: 'the Docker engine at unix:///fake.sock',
    apiVersion: async () => '1.41',
    async call(method, path, o = {}) {
      calls.push(`${method} ${path}${o.query ? ' ' + JSON.stringify(o.query) : ''}`);
      const m = /^\/containers\/([^/]+)\/(rename|stop|start)$/.exec(path);
      if (m && m[2] === 'rename') {
        if (options.failRenameBack && o.query?.name === 'api') return res(409, { message: 'Conflict. The container name "/api" is already in use' });
        containers.get(m[1])!.name = String(o.query!.name);
        return res(204);
      }
      if (m && m[2] === 'stop') { containers.get(m[1])!.State = { Status: 'exited', Running: false, ExitCode: 0 }; return res(204); }
      if (m && m[2] === 'start') { const c = containers.get(m[1])!; if (c.Id === 'old1') c.State = { Status: 'running', Running: true }; return res(204); }
      const del = /^\/containers\/([^/]+)$/.exec(path);
      if (method === 'DELETE' && del) { containers.delete(del[1]); return res(204); }
      return res(404, { message: 'no such route' });
    },
    async json<T>(method: string, path: string, o: { query?: Record<string, unknown>; body?: unknown } = {}) {
      calls.push(`${method} ${path}`);
      if (path === '/containers/create') {
        containers.set('new1', {
          Id: 'new1', Name: `/${String(o.query!.name)}`, name: String(o.query!.name), Image: 'sha256:newimg', State: { Status: 'created', Running: false },
          Config: (o.body as { Image: string }) as ContainerInspect['Config'], HostConfig: {},
        });
        return { Id: 'new1' } as T;
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
    findService: async () => undefined,
    inspectService: async () => undefined,
    updateService: async () => [],
    listTasks: async () => [],
    async inspectContainer(n) {
      const c = byName(n);
      if (c && c.Id === 'new1') c.State = options.newState(++polls);
      return c ? structuredClone(c) : undefined;
    },
    listContainers: async () => [],
    inspectImage: async () => ({ Id: 'sha256:oldimg', RepoDigests: [], Config: { Env: [] } }),
    pullImage: async () => { calls.push('pull'); },
    containerLogs: async () => 'booting\nready',
    close: async () => {},
  };
  return { engine, containers, calls };
}

function setup(newState: (polls: number) => State, extra: { failRenameBack?: boolean; monitor?: number } = {}) {
  const fake = fakeEngine({ newState, failRenameBack: extra.failRenameBack });
  let now = Date.parse('2026-11-21T10:00:00Z');
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
  const environment = { name: 'edge', tags: '-edge$', target: { docker: { monitor: extra.monitor ?? 5, history: '/dev/null/history.json' } } };
  const logger = memoryLogger();
  const ctx: TargetContext = {
    config: { source: 'rollback.yml', registry: { url: 'https://r.example.com', concurrency: 4 }, services: [api], environments: { edge: environment }, limit: 10, timezone: 'UTC', parallel: 4, deployTimeout: 60, notify: {} },
    environment, env: {}, logger, stateDir: '/nonexistent',
  };
  const target = createDockerTarget(ctx, { engine: fake.engine, clock, pollMs: 1000 });
  return { ...fake, target, logger, elapsed: () => now - Date.parse('2026-11-21T10:00:00Z') };
}

describe('docker target decisions (in-memory engine, driven clock)', () => {
  it('without a healthcheck, up means running for the monitor period without a restart', async () => {
    const s = setup(() => ({ Status: 'running', Running: true, StartedAt: '2026-11-21T10:00:01Z' }), { monitor: 5 });
    await s.target.deploy(api, NEW);
    expect(s.calls.slice(0, 4)).toEqual([
      'pull',
      'POST /containers/old1/rename {"name":"api-rollback-old-20261121T100000Z"}',
      'POST /containers/old1/stop',
      'POST /containers/create',
    ]);
    await s.target.waitHealthy(api, NEW, 60_000);
    expect(s.elapsed()).toBeGreaterThanOrEqual(5000);
    expect(s.elapsed()).toBeLessThan(7000);
    expect([...s.containers.keys()]).toEqual(['new1']);
    // The history could not be written (no such folder): a warning, not a failed change.
    expect(s.logger.lines.join('\n')).toMatch(/warning: .*history.json.*Container api replaced .*api:2@sha256/);
  });

  it('a new start (StartedAt changed) begins the monitor period again', async () => {
    const s = setup((p) => (p < 3 ? { Status: 'running', Running: true, StartedAt: 'a' } : { Status: 'running', Running: true, StartedAt: 'b' }), { monitor: 5 });
    await s.target.deploy(api, NEW);
    await s.target.waitHealthy(api, NEW, 60_000);
    // Restarted at poll 3: 5 s more from there.
    expect(s.elapsed()).toBeGreaterThanOrEqual(7000);
  });

  it('never running within the timeout: the new one is removed and the old one comes back', async () => {
    const s = setup(() => ({ Status: 'created', Running: false }));
    await s.target.deploy(api, NEW);
    await expect(s.target.waitHealthy(api, NEW, 30_000)).rejects.toThrow(
      `Container api on ${NEW} did not become steady within 30 s (created, started never); the old container api was put back on ${OLD}.`,
    );
    expect(s.calls.slice(-3)).toEqual(['DELETE /containers/new1 {"force":true,"v":false}', 'POST /containers/old1/rename {"name":"api"}', 'POST /containers/old1/start']);
    expect(s.containers.get('old1')).toMatchObject({ name: 'api', State: { Running: true } });
  });

  it('when the old container cannot be put back, it says so and where the old one is', async () => {
    const s = setup(() => ({ Status: 'exited', Running: false, ExitCode: 1 }), { failRenameBack: true });
    await s.target.deploy(api, NEW);
    await expect(s.target.waitHealthy(api, NEW, 30_000)).rejects.toThrow(
      /^Container api on .* exited with code 1 \(last output: booting \| ready\); and the old container could not be put back: the Docker engine at unix:\/\/\/fake\.sock could not rename api-rollback-old-20261121T100000Z back to api \(HTTP 409\): Conflict\. The container name "\/api" is already in use\. It is kept as api-rollback-old-20261121T100000Z\.$/,
    );
  });

  it('a container already on the image and running is left alone (its past restarts do not count)', async () => {
    const s = setup(() => ({ Status: 'running', Running: true }));
    s.containers.get('old1')!.RestartCount = 2;
    await s.target.deploy(api, OLD);
    expect(s.calls).toEqual([]);
    await s.target.waitHealthy(api, OLD, 10_000);
    expect(s.elapsed()).toBeGreaterThanOrEqual(5000);
  });
});
