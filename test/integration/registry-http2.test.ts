/**
 * HTTP/2 to TLS registries: negotiated by ALPN, many streams on one connection, HTTP/1.1 when the
 * registry (or registry.http2: false) says so, and 429 Too Many Requests lowering the requests in
 * flight for the rest of the run. The registry double on node:http2 shows what each request
 * spoke and how many were in flight; the real docker-registry on TLS (it offers h2) shows the
 * whole `get` over one connection.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RegistryConfig } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { createRegistryClient, HTTP2_STREAMS, RegistryClient } from '../../src/registry/client';
import { DoubleFleet, RegistryDouble, startRegistryDouble } from '../doubles/registry-double';
import { runCli } from '../support/cli';
import { readyOrFail, registryMissing } from '../support/ready';
import { pushImage, RunningRegistry, startRegistry } from '../support/registry';
import { startTinyproxy } from '../support/tinyproxy';
import { makeTestPki } from '../support/tls';

const TAGS = 60;
const fleet = (): DoubleFleet => ({
  'shop/api': Object.fromEntries(Array.from({ length: TAGS }, (_, i) => [`b${i}-prod`, { created: `2026-11-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00Z` }])),
});

let dir: string;
let pem: (file: string) => string;
let double: RegistryDouble | undefined;
let client: RegistryClient | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rollback-h2-'));
  pem = makeTestPki(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await client?.close();
  await double?.stop();
  client = undefined;
  double = undefined;
});

/** A TLS registry double (HTTP/2 offered or not) whose manifests take a while, so requests overlap. */
async function tlsDouble(http2: boolean): Promise<RegistryDouble> {
  double = await startRegistryDouble({ fleet: fleet(), tls: { key: pem('server.key'), cert: pem('server.pem') }, http2 });
  double.fault({ match: /^GET \/v2\/shop\/api\/manifests\//, fault: { delayMs: 25 } });
  return double;
}

function open(d: RegistryDouble, r: Partial<RegistryConfig> = {}, onRequest?: (method: string, url: string) => void): { client: RegistryClient; log: ReturnType<typeof memoryLogger> } {
  const log = memoryLogger();
  client = createRegistryClient({ url: d.url, ca: join(dir, 'tls', 'ca.pem'), concurrency: 8, ...r }, { logger: log, onRequest, http: { random: () => 0.01, backoffMs: 20 } });
  return { client, log };
}

async function dateAll(c: RegistryClient): Promise<string[]> {
  const tags = await c.tags('shop/api');
  return (await Promise.all(tags.map((t) => c.imageDate('shop/api', t)))).map((d) => d.created);
}

describe('HTTP/2 by ALPN', () => {
  it('speaks HTTP/2 to a registry that offers it: one connection, the unset concurrency widened to its HTTP/2 default', async () => {
    const d = await tlsDouble(true);
    const { client: c, log } = open(d);
    expect(await dateAll(c)).toHaveLength(TAGS);
    expect(new Set(d.requests.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    expect(d.connections()).toBe(1);
    // More than HTTP/1.1's 8 in flight, never more than the HTTP/2 default.
    expect(d.peakConcurrency()).toBeGreaterThan(8);
    expect(d.peakConcurrency()).toBeLessThanOrEqual(HTTP2_STREAMS);
    expect(c.transport?.()).toBe('HTTP/2, 1 connection');
    expect(log.lines.join('\n')).toMatch(/speaks HTTP\/2: 32 requests in flight on one connection/);
  });

  it('get keeps the widened number in flight across the tags it dates', async () => {
    const d = await tlsDouble(true);
    const cfg = join(dir, 'double.yml');
    writeFileSync(cfg, stringify({
      registry: { url: d.url, ca: join(dir, 'tls', 'ca.pem') },
      services: [{ name: 'api', repository: 'shop/api' }],
      environments: { prod: { target: { marathon: { url: 'http://127.0.0.1:9', appPrefix: '/shop' } } } },
    }));
    const r = await runCli(['get', '--config', cfg, '--env', 'prod', '--catalog', join(dir, 'double-catalog.json')], { env: {}, cwd: dir });
    expect(r.stderr).toContain(`(${1 + 1 + 2 * TAGS} requests over HTTP/2, 1 connection)`);
    expect(r.code).toBe(0);
    expect(d.peakConcurrency()).toBeGreaterThan(16);
    expect(d.peakConcurrency()).toBeLessThanOrEqual(HTTP2_STREAMS);
  });

  it('keeps a concurrency the user set as the number of streams', async () => {
    const d = await tlsDouble(true);
    const { client: c } = open(d, { concurrency: 4, concurrencySet: true });
    await dateAll(c);
    expect(d.connections()).toBe(1);
    expect(d.peakConcurrency()).toBe(4);
  });

  it('falls back to HTTP/1.1 when the registry does not offer HTTP/2, with one connection per request in flight', async () => {
    const d = await tlsDouble(false);
    const { client: c } = open(d);
    expect(await dateAll(c)).toHaveLength(TAGS);
    expect(new Set(d.requests.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
    expect(d.peakConcurrency()).toBeLessThanOrEqual(8);
    expect(d.connections()).toBeGreaterThan(1);
    expect(d.connections()).toBeLessThanOrEqual(8);
    expect(c.transport?.()).toMatch(/^HTTP\/1\.1, \d connections$/);
  });

  it('speaks HTTP/1.1 only with registry.http2: false', async () => {
    const d = await tlsDouble(true);
    const { client: c } = open(d, { http2: false });
    await dateAll(c);
    expect(new Set(d.requests.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
    expect(d.peakConcurrency()).toBeLessThanOrEqual(8);
  });
});

describe('HTTP/2 faults', () => {
  it('gives up on a stream that does not answer within the timeout and asks again on a new one', async () => {
    const d = await tlsDouble(true);
    d.clearFaults();
    d.fault({ match: '/manifests/b3-prod', fault: { delayMs: 5000 }, times: 1 });
    const log = memoryLogger();
    client = createRegistryClient({ url: d.url, ca: join(dir, 'tls', 'ca.pem'), concurrency: 8 }, { logger: log, http: { timeoutMs: 300, sleep: async () => undefined } });
    const started = Date.now();
    expect((await client.imageDate('shop/api', 'b3-prod')).created).toBe('2026-11-04T10:00:00.000Z');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(d.count('/manifests/b3-prod')).toBe(2);
    expect(new Set(d.requests.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
  });

  it('asks again for a stream the registry reset, and says the way that works when it keeps doing so', async () => {
    const d = await tlsDouble(true);
    d.clearFaults();
    d.fault({ match: '/manifests/b1-prod', fault: { resetStream: 1 }, times: 2 });
    const { client: c } = open(d);
    expect((await c.imageDate('shop/api', 'b1-prod')).created).toBe('2026-11-02T10:00:00.000Z');
    expect(d.count('/manifests/b1-prod')).toBe(3);

    d.fault({ match: '/manifests/b2-prod', fault: { resetStream: 1 } });
    const err = (await c.imageDate('shop/api', 'b2-prod').catch((e: unknown) => e)) as { message: string; exitCode: number };
    expect(err.message).toMatch(/^GET https:\/\/127\.0\.0\.1:\d+\/v2\/shop\/api\/manifests\/b2-prod failed: ERR_HTTP2_STREAM_ERROR .*after 4 attempts; if the registry, or a proxy or load balancer in front of it, breaks HTTP\/2, set registry\.http2: false to speak HTTP\/1\.1\.$/);
    expect(err.exitCode).toBe(1);
  });
});

describe('429 Too Many Requests', () => {
  it('halves the requests in flight for the rest of the run and starts none before Retry-After', async () => {
    const d = await tlsDouble(true);
    let after429 = 0;
    let second = false;
    const started: { at: number; url: string }[] = [];
    const { client: c, log } = open(d, {}, (_method: string, url: string) => {
      started.push({ at: Date.now(), url });
      // In flight at the registry when the client starts another request (its own not yet counted there).
      if (second) after429 = Math.max(after429, d.inFlight());
    });
    d.clearFaults();
    d.fault({ match: /^GET \/v2\/shop\/api\/manifests\/b30-prod/, fault: { status: 429, retryAfter: '1' }, times: 1 });
    d.fault({ match: /^GET \/v2\/shop\/api\/manifests\//, fault: { delayMs: 25 } });
    expect(await dateAll(c)).toHaveLength(TAGS);
    const line = log.lines.find((l) => /answered 429 Too Many Requests/.test(l));
    expect(line).toMatch(/at most 16 requests in flight from now on \(was 32\), none started for 1 s\./);
    // Retry-After: nothing new was started while the registry asked for a pause.
    const throttled = started.find((s) => s.url.endsWith('/manifests/b30-prod'))!.at;
    expect(started.filter((s) => s.at > throttled + 100 && s.at < throttled + 900)).toEqual([]);
    // The rest of the run (the same client, every tag again): the lower bound stays.
    second = true;
    await dateAll(c);
    expect(after429).toBeGreaterThan(0);
    expect(after429).toBeLessThanOrEqual(15);
  });
});

describe('a burst of 429s', () => {
  it('halves the requests in flight once for answers to requests already in flight, not once per answer', async () => {
    const d = await tlsDouble(true);
    const { client: c, log } = open(d);
    d.clearFaults();
    // Every manifest request of the first wave is refused at once, as a registry over its limit does.
    d.fault({ match: /^GET \/v2\/shop\/api\/manifests\//, fault: { status: 429, retryAfter: '0' }, times: 20 });
    expect(await dateAll(c)).toHaveLength(TAGS);
    const lowered = log.lines.filter((l) => /answered 429 Too Many Requests/.test(l));
    expect(lowered).toHaveLength(1);
    expect(lowered[0]).toMatch(/at most 16 requests in flight from now on \(was 32\)/);
    expect(c.concurrency?.()).toBe(16);
  });
});

describe('config blobs', () => {
  it('reads a config shared by several tags once, whether they are dated together or one after another', async () => {
    const shared = { created: '2026-11-03T10:00:00Z', build: 'build-77' };
    double = await startRegistryDouble({
      fleet: {
        'shop/api': {
          '1.4.0-prod': { ...shared },
          'latest-prod': { ...shared },
          'oci-1.4.0-prod': { ...shared, format: 'oci' },
          '1.3.0-prod': { created: '2026-11-01T10:00:00Z' },
        },
      },
    });
    const log = memoryLogger();
    const c = createRegistryClient({ url: double.url, concurrency: 1 }, { logger: log });
    client = c;
    for (const t of ['1.4.0-prod', 'latest-prod', 'oci-1.4.0-prod', '1.3.0-prod']) await c.imageDate('shop/api', t);
    await Promise.all(['1.4.0-prod', 'latest-prod', 'oci-1.4.0-prod'].map((t) => c.imageDate('shop/api', t)));
    // Two configs in all (the build's and 1.3.0's), for seven dated tags over three manifests.
    expect(double.count(/^GET \/v2\/shop\/api\/blobs\//)).toBe(2);
    expect(double.count(/^GET \/v2\/shop\/api\/manifests\//)).toBe(7);
  });
});

const realRegistry = readyOrFail('registry-http2', registryMissing());

realRegistry('the real docker-registry on TLS', () => {
  let plain: RunningRegistry;
  let reg: RunningRegistry;
  let work: string;
  beforeAll(async () => {
    // Pushed through a plain-http registry on the same storage (the fixture speaks plain http).
    plain = await startRegistry();
    for (let i = 0; i < 24; i++) await pushImage(plain, { repository: 'shop/web', tag: `${i}-prod`, created: `2026-11-${String(1 + i).padStart(2, '0')}T10:00:00Z` });
    reg = await startRegistry({ dataDir: join(plain.dir, 'data'), tls: { cert: join(dir, 'tls', 'server.pem'), key: join(dir, 'tls', 'server.key') } });
    work = mkdtempSync(join(tmpdir(), 'rollback-h2-get-'));
  });
  afterAll(async () => {
    await reg?.stop();
    await plain?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const config = (registry: object) => {
    const file = join(work, `rollback-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(file, stringify({
      registry: { url: reg.url, ca: join(dir, 'tls', 'ca.pem'), ...registry },
      services: [{ name: 'web', repository: 'shop/web' }],
      environments: { prod: { target: { marathon: { url: 'http://127.0.0.1:9', appPrefix: '/shop' } } } },
    }));
    return file;
  };

  it.each([
    [{}, 'HTTP/2, 1 connection'],
    [{ http2: false }, 'HTTP/1.1, '],
  ])('get with %j reads every tag and says how it spoke (%s)', async (registry, said) => {
    const catalog = join(work, `catalog-${Math.random().toString(36).slice(2)}.json`);
    const r = await runCli(['get', '--config', config(registry), '--env', 'prod', '--catalog', catalog], { env: {}, cwd: work });
    expect(r.stderr).toMatch(/Read 24 prod tags of 1 services/);
    expect(r.stderr).toContain(`requests over ${said}`);
    expect(r.code).toBe(0);
  });

  it('speaks HTTP/2 inside the CONNECT tunnel of a proxy (tinyproxy from HTTPS_PROXY)', async () => {
    const proxy = await startTinyproxy(work);
    try {
      const catalog = join(work, 'catalog-proxy.json');
      const r = await runCli(['get', '--config', config({}), '--env', 'prod', '--catalog', catalog], { env: { HTTPS_PROXY: proxy.url }, cwd: work });
      expect(r.stderr).toContain('requests over HTTP/2, 1 connection');
      expect(r.code).toBe(0);
      // tinyproxy saw the tunnel, never a request line of the registry (the TLS is end to end).
      expect(proxy.log()).toMatch(new RegExp(`CONNECT ${reg.host.replace(/\./g, '\\.')} HTTP/1\\.1`));
      expect(proxy.log()).not.toContain('/v2/shop/web');
    } finally {
      await proxy.stop();
    }
  });
});
