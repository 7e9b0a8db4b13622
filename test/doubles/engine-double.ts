/**
 * A double of the Docker Engine API (services, tasks, version, image pull), on a unix socket like
 * the real one, for the faults the real engine will not give on demand: 500s, "update out of
 * sequence", slow answers, paused and rolled-back updates, pull errors inside a 200 stream.
 * Written from https://docs.docker.com/reference/api/engine/version/v1.41/ and what the real engine
 * showed in test/integration/swarm-target.test.ts. Time does not drive it: each look at a service
 * moves its update one step, so tests are deterministic.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How an update goes, one step per GET of the service. */
export type UpdateScript = 'completes' | 'pauses' | 'rolls-back' | 'never-starts';

export interface DoubleService {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: { Name: string; TaskTemplate: { ContainerSpec: { Image: string; Env?: string[] } }; Mode: { Replicated: { Replicas: number } }; Labels?: Record<string, string> };
  UpdateStatus?: { State: string; Message?: string; StartedAt?: string };
  PreviousSpec?: DoubleService['Spec'];
  /** Not part of the API: how the next update goes, and how far it is. */
  script: UpdateScript;
  step: number;
}

export interface Fault {
  method: string;
  /** Matched against the path without the version prefix, e.g. /services/abc/update. */
  path: RegExp;
  status: number;
  message: string;
  /** How many times it fires (default 1). */
  times?: number;
}

export interface EngineDouble {
  host: string;
  services: Map<string, DoubleService>;
  tasks: Record<string, unknown>[];
  requests: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[];
  faults: Fault[];
  /** Milliseconds every answer waits (slow engine). */
  delayMs: number;
  /** Lines streamed by POST /images/create. */
  pullStream: string[];
  apiVersion: string;
  /** Bumps a service's version, as another client's update would (for out-of-sequence races). */
  touch(name: string): void;
  addService(name: string, image: string, script?: UpdateScript): DoubleService;
  stop(): Promise<void>;
}

let clock = Date.parse('2026-11-21T10:00:00Z');
/** Engine times are RFC 3339 with nanoseconds, as the real engine writes them. */
const tick = () => new Date((clock += 1000)).toISOString().replace('Z', '123456Z');

export async function startEngineDouble(): Promise<EngineDouble> {
  const dir = mkdtempSync(join(tmpdir(), 'engine-double-'));
  const socket = join(dir, 'docker.sock');
  let nextId = 1;
  const d: EngineDouble = {
    host: `unix://${socket}`,
    services: new Map(),
    tasks: [],
    requests: [],
    faults: [],
    delayMs: 0,
    pullStream: ['{"status":"Pulling from shop/api"}', '{"status":"Digest: sha256:abc"}'],
    apiVersion: '1.41',
    touch(name) {
      const s = d.services.get(name)!;
      s.Version.Index += 3;
    },
    addService(name, image, script = 'completes') {
      const s: DoubleService = {
        ID: `svc${nextId++}`,
        Version: { Index: 10 },
        CreatedAt: tick(),
        UpdatedAt: tick(),
        Spec: { Name: name, TaskTemplate: { ContainerSpec: { Image: image, Env: ['A=1'] } }, Mode: { Replicated: { Replicas: 1 } }, Labels: { keep: 'me' } },
        script,
        step: 99,
      };
      d.services.set(name, s);
      d.tasks.push(task(s, image, 'running', 'running'));
      return s;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };

  function task(s: DoubleService, image: string, desired: string, state: string, err?: string): Record<string, unknown> {
    return {
      ID: `task${nextId++}`,
      ServiceID: s.ID,
      Slot: 1,
      CreatedAt: tick(),
      UpdatedAt: tick(),
      DesiredState: desired,
      Spec: { ContainerSpec: { Image: image } },
      Status: { State: state, Err: err, ContainerStatus: err ? { ExitCode: 3 } : undefined },
    };
  }

  /** One step of the scripted update, taken each time a client looks at the service. */
  function advance(s: DoubleService) {
    const image = s.Spec.TaskTemplate.ContainerSpec.Image;
    const mine = d.tasks.filter((t) => t.ServiceID === s.ID);
    s.step++;
    if (s.script === 'never-starts') return;
    if (s.step === 1) {
      s.UpdateStatus = { State: 'updating', Message: 'update in progress', StartedAt: tick() };
      for (const t of mine) if (t.DesiredState === 'running') t.DesiredState = 'shutdown';
      d.tasks.push(task(s, image, 'running', s.script === 'completes' ? 'running' : 'starting'));
    } else if (s.step === 2) {
      for (const t of mine) if (t.DesiredState === 'shutdown') (t.Status as { State: string }).State = 'shutdown';
      if (s.script === 'completes') s.UpdateStatus = { State: 'completed', Message: 'update completed' };
      else {
        const t = d.tasks.find((x) => x.ServiceID === s.ID && x.DesiredState === 'running' && (x.Spec as { ContainerSpec: { Image: string } }).ContainerSpec.Image === image)!;
        t.DesiredState = 'shutdown';
        t.Status = { State: 'failed', Err: 'task: non-zero exit (3)', ContainerStatus: { ExitCode: 3 } };
        s.UpdateStatus =
          s.script === 'pauses'
            ? { State: 'paused', Message: `update paused due to failure or early termination of task ${String(t.ID)}` }
            : { State: 'rollback_completed', Message: 'rollback completed' };
        // Swarm's own rollback puts the previous spec back (and with it the previous image).
        if (s.script === 'rolls-back' && s.PreviousSpec) s.Spec = s.PreviousSpec;
      }
    }
  }

  function send(res: ServerResponse, status: number, body: unknown) {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'api-version': d.apiVersion });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', 'http://engine');
    const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
    d.requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body });
    if (d.delayMs) await new Promise((r) => setTimeout(r, d.delayMs));
    const fault = d.faults.find((f) => f.method === req.method && f.path.test(path));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) d.faults.splice(d.faults.indexOf(fault), 1);
      return send(res, fault.status, { message: fault.message });
    }
    if (path === '/version') return send(res, 200, { ApiVersion: d.apiVersion, MinAPIVersion: '1.12', Version: 'double' });
    const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as Record<string, string[]>;
    if (req.method === 'GET' && path === '/services') {
      // The real name filter matches prefixes: "api" also returns "api-worker".
      const list = [...d.services.values()].filter((s) => !filters.name || filters.name.some((n) => s.Spec.Name.startsWith(n)));
      return send(res, 200, list.map(view));
    }
    let m = /^\/services\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const s = find(m[1]);
      if (!s) return send(res, 404, { message: `service ${m[1]} not found` });
      advance(s);
      return send(res, 200, view(s));
    }
    m = /^\/services\/([^/]+)\/update$/.exec(path);
    if (req.method === 'POST' && m) {
      const s = find(m[1]);
      if (!s) return send(res, 404, { message: `service ${m[1]} not found` });
      if (Number(url.searchParams.get('version')) !== s.Version.Index) {
        // What the real engine answered (HTTP 500), seen in the swarm integration tests.
        return send(res, 500, { message: 'rpc error: code = Unknown desc = update out of sequence' });
      }
      const spec = JSON.parse(body);
      s.PreviousSpec = s.Spec;
      s.Spec = spec;
      s.Version.Index += 7;
      s.UpdatedAt = tick();
      delete s.UpdateStatus; // reset until the updater starts, as the real engine does
      s.step = 0;
      return send(res, 200, { Warnings: null });
    }
    if (req.method === 'GET' && path === '/tasks') {
      return send(res, 200, d.tasks.filter((t) => !filters.service || filters.service.includes(String(t.ServiceID))));
    }
    if (req.method === 'POST' && path === '/images/create') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(d.pullStream.join('\r\n') + '\r\n');
      return;
    }
    send(res, 404, { message: `page not found: ${req.method} ${path}` });
  }

  const find = (idOrName: string) => [...d.services.values()].find((s) => s.ID === idOrName || s.Spec.Name === idOrName);
  const view = (s: DoubleService) => {
    const { script: _s, step: _t, ...rest } = s;
    return structuredClone(rest);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e) => send(res, 500, { message: String(e) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return d;
}
