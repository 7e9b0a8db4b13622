/**
 * `npm run bench`: `get` and `run` at fleet scale, side by side with the skopeo loop a user would
 * write and with our own algorithm one request at a time. Prints a Markdown report on stdout,
 * progress on stderr, and writes the figures to bench/results/ (latest.json, latest.md).
 *
 * Everything runs on this machine: the real registry (docker-registry) behind a delaying proxy
 * (bench/delay-proxy.ts), the same registry data served over TLS by a second docker-registry, the
 * Groovy pipeline harness running Jenkinsfile.example, the Marathon double, the registry double for
 * the 100k-tag run, and the bundle under resources/ for start-up and memory. Sizes can be turned
 * down for a quick look:
 *   BENCH_REPOS=30 BENCH_TAGS=200 BENCH_SKOPEO_REPOS=3 BENCH_SEQUENTIAL_REPOS=10 BENCH_SCALE_TAGS=100000 (docs/bench.md)
 *   BENCH_ONLY=get,tls,jenkins,run,scale,startup (a comma list of parts to run)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Catalog } from '../src/catalog/types';
import { main } from '../src/cli/main';
import { loadConfig } from '../src/config/load';
import { startMarathon } from '../test/doubles/marathon-double';
import { HTTP2_STREAMS } from '../src/registry/client';
import { DoubleFleet, startRegistryDouble } from '../test/doubles/registry-double';
import { runScenarios, ScenarioResult, stepsNamed, workerCalls } from '../test/groovy/harness';
import { RunningRegistry, startRegistry } from '../test/support/registry';
import { makeTestPki } from '../test/support/tls';
import { DelayProxy, startDelayProxy } from './delay-proxy';
import { countSkopeoRequests, parseGetSummary, processCpuSeconds } from './parse';
import {
  BenchFigures, extrapolate, formatReport, GetFigures, JenkinsFigures, JenkinsRun, judge, Machine, Measure, median, RunFigures, ScaleFigures,
  StartupFigures, TlsFigures,
} from './report';
import { expectedNewest, fleetImages, repositoryName, SeededImage, seedFleet } from './seed';

const ROOT = resolve(__dirname, '..');
const BUNDLE = join(ROOT, 'resources', 'rollback.js');
const RESULTS = join(ROOT, 'bench', 'results');

const num = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not '${v}'`);
  return n;
};

const SIZES = {
  rttMs: num('BENCH_RTT_MS', 20),
  repos: num('BENCH_REPOS', 30),
  tags: num('BENCH_TAGS', 200),
  skopeoRepos: num('BENCH_SKOPEO_REPOS', 3),
  sequentialRepos: num('BENCH_SEQUENTIAL_REPOS', 10),
  runServices: num('BENCH_RUN_SERVICES', 30),
  runSequentialServices: num('BENCH_RUN_SEQUENTIAL_SERVICES', 10),
  deployMs: num('BENCH_DEPLOY_MS', 1000),
  scaleRepos: num('BENCH_SCALE_REPOS', 50),
  scaleTags: num('BENCH_SCALE_TAGS', 100_000),
  startupRuns: num('BENCH_STARTUP_RUNS', 20),
  /** TLS: cold gets over HTTP/2 with these numbers of streams set (a comma list), beside the default's. */
  http2Streams: (process.env.BENCH_HTTP2_STREAMS || '16,64').split(',').filter(Boolean).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`BENCH_HTTP2_STREAMS must list integers from 1 to 64, not '${v}'`);
    return n;
  }),
  /** Extra cold gets at these concurrency settings (a comma list), beside the default's. */
  widerConcurrency: (process.env.BENCH_WIDER_CONCURRENCY || '16,32').split(',').filter(Boolean).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`BENCH_WIDER_CONCURRENCY must list integers from 1 to 64, not '${v}'`);
    return n;
  }),
};
const ENVIRONMENTS = ['master', 'stage', 'develop'];
const ENV = 'master';
const ALL_PARTS = ['get', 'tls', 'jenkins', 'run', 'scale', 'startup'];
const PARTS = new Set((process.env.BENCH_ONLY || ALL_PARTS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
for (const p of PARTS) if (!ALL_PARTS.includes(p)) throw new Error(`BENCH_ONLY: '${p}' is not a part; the parts are ${ALL_PARTS.join(', ')}`);
/** The HTTP/1.1 row of the TLS part: the concurrency the issue compares HTTP/2 against. */
const H1_CONCURRENCY = 8;

const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const seconds = (startNs: bigint) => Number(process.hrtime.bigint() - startNs) / 1e9;

function machine(): Machine {
  return {
    loadAverage: loadavg()[0],
    nproc: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    node: process.versions.node,
    platform: `${process.platform} ${process.arch}`,
  };
}

interface ConfigOptions {
  registryUrl: string;
  services: number;
  concurrency?: number;
  marathonUrl?: string;
  parallel?: number;
  immutableTags?: boolean;
  /** registry.ca: the test CA of the TLS registry. */
  ca?: string;
  /** registry.http2 (false forces HTTP/1.1); left out when undefined. */
  http2?: boolean;
  /** 'default' leaves settle out, so the product's default applies; otherwise 0. */
  settle?: 'default';
}

/** A rollback.yml for the bench fleet; returns its path. */
function writeConfig(dir: string, name: string, o: ConfigOptions): string {
  const file = join(dir, name);
  const doc = {
    registry: {
      url: o.registryUrl,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.http2 === undefined ? {} : { http2: o.http2 }),
      ...(o.immutableTags ? { immutableTags: true } : {}),
    },
    services: Array.from({ length: o.services }, (_, i) => ({ name: repositoryName(i + 1).split('/')[1], repository: repositoryName(i + 1) })),
    environments: { [ENV]: { tags: `-${ENV}$`, target: { marathon: { url: o.marathonUrl ?? 'http://127.0.0.1:9/', appPrefix: '/bench/master' } } } },
    ...(o.parallel ? { parallel: o.parallel } : {}),
    deployTimeout: 120,
    // The bench times the rollout itself; the settle wait after it (30 s by default) only in the row that says so.
    ...(o.settle === 'default' ? {} : { settle: 0 }),
  };
  writeFileSync(file, stringify(doc));
  return file;
}

/** Does the catalog hold, per service, exactly the seeded newest `limit` images of the environment? */
function catalogMatches(catalog: Catalog, expected: Map<string, SeededImage[]>): boolean {
  for (const s of catalog.services) {
    const want = expected.get(s.repository) ?? [];
    const got = s.images.map((i) => `${i.tag} ${Date.parse(i.created)}`);
    const exp = want.map((i) => `${i.tag} ${Date.parse(i.created)}`);
    if (got.join(',') !== exp.join(',')) return false;
  }
  return catalog.services.length > 0;
}

/**
 * Runs bench/skopeo-loop.sh; returns its wall time and whether its answer matches the fleet. With
 * countRequests, skopeo logs its requests (--debug) and they are counted from its stderr.
 */
function skopeoLoop(
  host: string,
  repositories: string[],
  limit: number,
  expected: Map<string, SeededImage[]>,
  countRequests = false,
): Promise<{ seconds: number; correct: boolean; requests?: number }> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('bash', [join(ROOT, 'bench', 'skopeo-loop.sh'), host, ENV, String(limit), ...repositories], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(countRequests ? { SKOPEO_DEBUG: '1' } : {}) },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // Bounded: a stuck skopeo must not hold the bench past its budget.
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const took = seconds(start);
      if (code !== 0) return reject(new Error(`skopeo loop exited ${code}: ${err.trim().split('\n').pop()}`));
      const by = new Map<string, string[]>();
      for (const line of out.trim().split('\n')) {
        // "<created, which has spaces> repository:tag"
        const ref = line.trim().split(' ').pop() ?? '';
        const [repo, tag] = ref.split(':');
        by.set(repo, [...(by.get(repo) ?? []), tag]);
      }
      const correct = repositories.every((r) => (by.get(r) ?? []).join(',') === (expected.get(r) ?? []).map((i) => i.tag).join(','));
      resolvePromise({ seconds: took, correct, ...(countRequests ? { requests: countSkopeoRequests(err) || Number.NaN } : {}) });
    });
  });
}

/** A registry the bench reads through the delay proxy. */
interface Served {
  registry: RunningRegistry;
  proxy: DelayProxy;
  /** The URL the worker is given: the proxy's, http or https. */
  url: string;
  /** The test CA's PEM file, for a TLS registry. */
  ca?: string;
  stop(): Promise<void>;
}

/** The real registry seeded with the fleet, behind the delay proxy. */
interface Seeded extends Served {
  images: SeededImage[];
  seedSeconds: number;
}

/** Puts a running registry behind its own delay proxy; stopping the result stops both. */
async function behindDelay(registry: RunningRegistry, what: string, ca?: string): Promise<Served> {
  try {
    const [host, port] = registry.host.split(':');
    const proxy = await startDelayProxy({ host, port: Number(port) }, SIZES.rttMs);
    const stop = async () => {
      progress(`stopping ${what} ...`);
      await proxy.close();
      await registry.stop();
    };
    return { registry, proxy, url: ca ? `https://${proxy.host}` : proxy.url, ...(ca ? { ca } : {}), stop };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

async function seedRegistry(): Promise<Seeded> {
  progress(`starting the real registry and seeding ${SIZES.repos} x ${SIZES.tags} tags ...`);
  const registry = await startRegistry();
  let images: SeededImage[];
  const t = process.hrtime.bigint();
  try {
    images = await seedFleet(registry, { repos: SIZES.repos, tagsPerRepo: SIZES.tags, environments: ENVIRONMENTS, newest: new Date('2026-11-20T18:00:00Z') });
  } catch (err) {
    await registry.stop();
    throw err;
  }
  const seedSeconds = seconds(t);
  return { ...(await behindDelay(registry, 'the registry')), images, seedSeconds };
}

/**
 * A second docker-registry serving the SAME storage as the seeded one, over TLS with a throwaway
 * test CA, behind its own delay proxy (a TCP proxy: TLS passes through it, and the handshake's
 * round trips are paid like any other). Both registries only read the storage from here on.
 */
async function serveOverTls(work: string, seeded: Seeded): Promise<Served> {
  progress('serving the same registry data over TLS (test CA) ...');
  makeTestPki(join(work, 'pki'));
  const pem = (f: string) => join(work, 'pki', 'tls', f);
  const registry = await startRegistry({ tls: { cert: pem('server.pem'), key: pem('server.key') }, dataDir: join(seeded.registry.dir, 'data') });
  return behindDelay(registry, 'the TLS registry', pem('ca.pem'));
}

/**
 * One `rollback get` of the bundle in its own process, as a user runs it (its event loop is not
 * the proxy's; the date cache lives beside the catalog as in real use). Requests: the proxy's count
 * on plain http, the worker's own summary line over TLS (the proxy sees only ciphertext there).
 * The registry's CPU seconds are read from /proc before and after.
 */
async function measureGet(served: Served, work: string, cfgFile: string, stateDir: string, logs: string[]): Promise<{ m: Measure; catalog: Catalog }> {
  mkdirSync(stateDir, { recursive: true });
  const catalogFile = join(stateDir, 'catalog.json');
  served.proxy.reset();
  const cpuBefore = processCpuSeconds(served.registry.pid);
  const ownBefore = process.cpuUsage();
  const r = await runBundle(['get', '--config', cfgFile, '--env', ENV, '--catalog', catalogFile], work);
  const registryCpuSeconds = processCpuSeconds(served.registry.pid) - cpuBefore;
  // The bench's own process meanwhile: the delay proxy, which forwards every byte.
  const own = process.cpuUsage(ownBefore);
  const proxyCpuSeconds = (own.user + own.system) / 1e6;
  if (r.code !== 0) throw new Error(`get exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  for (const line of r.stderr.split('\n')) if (line.startsWith('warning')) logs.push(line);
  const c = served.proxy.counts();
  const summary = parseGetSummary(r.stderr);
  const requests = served.ca ? (summary?.requests ?? Number.NaN) : c.requests;
  return {
    m: {
      seconds: r.seconds,
      requests,
      connections: c.connections,
      cpuSeconds: r.cpuSeconds,
      ...(Number.isFinite(registryCpuSeconds) ? { registryCpuSeconds } : {}),
      proxyCpuSeconds,
      ...(summary?.protocol ? { protocol: summary.protocol } : {}),
    },
    catalog: JSON.parse(readFileSync(catalogFile, 'utf8')) as Catalog,
  };
}

async function benchGet(work: string, notes: string[], seeded: Seeded, onlyCatalog: boolean): Promise<{ figures?: GetFigures; catalogFile: string; catalog: Catalog }> {
  const proxy = seeded.proxy;
  const registry = seeded.registry;
  const images = seeded.images;
  const configFile = writeConfig(work, 'get.yml', { registryUrl: proxy.url, services: SIZES.repos });
  const config = loadConfig(configFile, {});
  const expected = expectedNewest(images, ENV, config.limit);
  const logs: string[] = [];
  const measure = (cfgFile: string, stateDir: string) => measureGet(seeded, work, cfgFile, stateDir, logs);

  progress('a. cold get ...');
  const stateDir = join(work, 'state');
  const cold = await measure(configFile, stateDir);
  const catalogFile = join(stateDir, 'catalog.json');
  progress(`   ${cold.m.seconds.toFixed(2)} s, ${cold.m.requests} requests`);
  if (onlyCatalog) return { catalogFile, catalog: cold.catalog };

  progress('b. warm get ...');
  const warm = await measure(configFile, stateDir);
  progress(`   ${warm.m.seconds.toFixed(2)} s, ${warm.m.requests} requests`);

  // b'. The warm get trusting tags (registry.immutableTags): its cache needs the tag entries that
  // only a get with the option writes, so a cold get with the option runs first (untimed here;
  // it sends what a. sends).
  progress("b'. warm get with registry.immutableTags (after a cold get with it) ...");
  const immConfig = writeConfig(work, 'immutable.yml', { registryUrl: proxy.url, services: SIZES.repos, immutableTags: true });
  const immCold = await measure(immConfig, join(work, 'immutable'));
  const immWarm = await measure(immConfig, join(work, 'immutable'));
  progress(`   ${immWarm.m.seconds.toFixed(2)} s, ${immWarm.m.requests} requests (its cold get: ${immCold.m.seconds.toFixed(2)} s, ${immCold.m.requests} requests)`);

  const seqRepos = Math.min(SIZES.sequentialRepos, SIZES.repos);
  progress(`d. our algorithm one request at a time, on ${seqRepos} repositories ...`);
  const seqConfig = writeConfig(work, 'sequential.yml', { registryUrl: proxy.url, services: seqRepos, concurrency: 1 });
  const seq = await measure(seqConfig, join(work, 'sequential'));
  const seqExpected = new Map([...expected].filter(([r]) => seq.catalog.services.some((s) => s.repository === r)));
  progress(`   ${seq.m.seconds.toFixed(2)} s, ${seq.m.requests} requests`);

  // The same cold get with more requests in flight: how far the concurrency setting moves it.
  const coldWider: NonNullable<GetFigures['coldWider']> = [];
  for (const concurrency of SIZES.widerConcurrency.filter((n) => n !== config.registry.concurrency)) {
    progress(`a'. cold get at concurrency ${concurrency} ...`);
    const wideConfig = writeConfig(work, `wide-${concurrency}.yml`, { registryUrl: proxy.url, services: SIZES.repos, concurrency });
    const wide = await measure(wideConfig, join(work, `wide-${concurrency}`));
    progress(`   ${wide.m.seconds.toFixed(2)} s, ${wide.m.requests} requests`);
    coldWider.push({ concurrency, measure: wide.m, floorSeconds: (wide.m.requests / concurrency) * (SIZES.rttMs / 1000), correct: catalogMatches(wide.catalog, expected) });
  }

  // The same cold get straight on the registry's port: what the registry and the worker cost
  // without any network delay (on a busy machine this is not zero, and it adds to every row).
  progress('a0. cold get without the delay ...');
  const directConfig = writeConfig(work, 'direct.yml', { registryUrl: registry.url, services: SIZES.repos });
  const direct = await measure(directConfig, join(work, 'direct'));
  direct.m.requests = cold.m.requests; // the proxy saw none of them; the worker sent the same ones
  direct.m.connections = undefined;
  progress(`   ${direct.m.seconds.toFixed(2)} s`);

  const skRepos = Math.min(SIZES.skopeoRepos, SIZES.repos);
  progress(`c. skopeo loop on ${skRepos} repositories ...`);
  proxy.reset();
  const sk = await skopeoLoop(proxy.host, config.services.slice(0, skRepos).map((s) => s.repository), config.limit, expected);
  const skCounts = proxy.counts();
  progress(`   ${sk.seconds.toFixed(2)} s, ${skCounts.requests} requests`);

  if (logs.length) notes.push(`get warned: ${logs.slice(0, 3).join(' / ').trim()}`);
  const floorSeconds = (cold.m.requests / config.registry.concurrency) * (SIZES.rttMs / 1000);
  return {
    catalogFile,
    catalog: cold.catalog,
    figures: {
      rttMs: SIZES.rttMs,
      repositories: SIZES.repos,
      tagsPerRepository: SIZES.tags,
      environments: ENVIRONMENTS,
      environment: ENV,
      environmentTags: images.filter((i) => i.environment === ENV).length,
      limit: config.limit,
      concurrency: config.registry.concurrency,
      seedSeconds: seeded.seedSeconds,
      cold: cold.m,
      warm: warm.m,
      warmImmutable: immWarm.m,
      skopeo: extrapolate({ seconds: sk.seconds, requests: skCounts.requests, connections: skCounts.connections }, skRepos, SIZES.repos),
      sequential: extrapolate(seq.m, seqRepos, SIZES.repos),
      floor: { seconds: floorSeconds, requests: cold.m.requests },
      coldWider,
      coldDirect: direct.m,
      correct: {
        cold: catalogMatches(cold.catalog, expected),
        warm: catalogMatches(warm.catalog, expected),
        warmImmutable: catalogMatches(immCold.catalog, expected) && catalogMatches(immWarm.catalog, expected),
        skopeo: sk.correct,
        sequential: catalogMatches(seq.catalog, seqExpected),
        direct: catalogMatches(direct.catalog, expected),
      },
    },
  };
}

/** Whether this build's schema knows registry.http2 (the setting that forces HTTP/1.1). */
function knowsHttp2Setting(): boolean {
  try {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'rollback.schema.json'), 'utf8')) as { properties?: { registry?: { properties?: Record<string, unknown> } } };
    return Boolean(schema.properties?.registry?.properties?.http2);
  } catch {
    return false;
  }
}

/**
 * The TLS rows: f. cold get over HTTP/1.1 at 8 connections, g. cold get with default settings
 * (HTTP/2 by ALPN), h. warm get with default settings, i. the skopeo loop on the same registry.
 */
async function benchTls(work: string, notes: string[], tls: Served, images: SeededImage[]): Promise<{ figures: TlsFigures; catalog: Catalog }> {
  const logs: string[] = [];
  const measure = (cfgFile: string, stateDir: string) => measureGet(tls, work, cfgFile, stateDir, logs);
  const http2Setting = knowsHttp2Setting();
  if (!http2Setting) notes.push('registry.http2 is not in this build\'s schema: row f ran with the default protocol (see its protocol column).');

  progress(`f. cold get over TLS, HTTP/1.1, concurrency ${H1_CONCURRENCY} ...`);
  const h1Config = writeConfig(work, 'tls-h1.yml', { registryUrl: tls.url, ca: tls.ca, services: SIZES.repos, concurrency: H1_CONCURRENCY, ...(http2Setting ? { http2: false } : {}) });
  const h1 = await measure(h1Config, join(work, 'tls-h1'));
  progress(`   ${h1.m.seconds.toFixed(2)} s, ${h1.m.requests} requests over ${h1.m.protocol ?? '?'}, registry CPU ${h1.m.registryCpuSeconds?.toFixed(2)} s`);

  progress('g. cold get over TLS, default settings ...');
  const defConfig = writeConfig(work, 'tls-default.yml', { registryUrl: tls.url, ca: tls.ca, services: SIZES.repos });
  const config = loadConfig(defConfig, {});
  const expected = expectedNewest(images, ENV, config.limit);
  const h2Dir = join(work, 'tls-default');
  const h2 = await measure(defConfig, h2Dir);
  progress(`   ${h2.m.seconds.toFixed(2)} s, ${h2.m.requests} requests over ${h2.m.protocol ?? '?'}, registry CPU ${h2.m.registryCpuSeconds?.toFixed(2)} s`);

  progress('h. warm get over TLS, default settings ...');
  const warm = await measure(defConfig, h2Dir);
  progress(`   ${warm.m.seconds.toFixed(2)} s, ${warm.m.requests} requests`);

  // g'. The same cold get with other numbers of HTTP/2 streams set: what chose the default.
  const streams: NonNullable<TlsFigures['coldStreams']> = [];
  for (const n of SIZES.http2Streams.filter((k) => k !== HTTP2_STREAMS)) {
    progress(`g'. cold get over TLS, HTTP/2, ${n} streams ...`);
    const cfg = writeConfig(work, `tls-streams-${n}.yml`, { registryUrl: tls.url, ca: tls.ca, services: SIZES.repos, concurrency: n });
    const r = await measure(cfg, join(work, `tls-streams-${n}`));
    progress(`   ${r.m.seconds.toFixed(2)} s, ${r.m.requests} requests over ${r.m.protocol ?? '?'}, registry CPU ${r.m.registryCpuSeconds?.toFixed(2)} s`);
    streams.push({ streams: n, measure: r.m, correct: catalogMatches(r.catalog, expected) });
  }

  const skRepos = Math.min(SIZES.skopeoRepos, SIZES.repos);
  progress(`i. skopeo loop over TLS on ${skRepos} repositories ...`);
  tls.proxy.reset();
  const cpuBefore = processCpuSeconds(tls.registry.pid);
  const sk = await skopeoLoop(tls.proxy.host, config.services.slice(0, skRepos).map((s) => s.repository), config.limit, expected, true);
  const skCpu = processCpuSeconds(tls.registry.pid) - cpuBefore;
  const skCounts = tls.proxy.counts();
  progress(`   ${sk.seconds.toFixed(2)} s, ${sk.requests} requests (skopeo's log), ${skCounts.connections} connections`);
  if (logs.length) notes.push(`get over TLS warned: ${logs.slice(0, 3).join(' / ').trim()}`);

  return {
    catalog: h2.catalog,
    figures: {
      rttMs: SIZES.rttMs,
      repositories: SIZES.repos,
      environmentTags: images.filter((i) => i.environment === ENV).length,
      // In flight on g: an unset registry.concurrency is widened to HTTP2_STREAMS on HTTP/2 (src/registry/source.ts).
      concurrency: h2.m.protocol === 'HTTP/2' && !config.registry.concurrencySet ? Math.max(config.registry.concurrency, HTTP2_STREAMS) : config.registry.concurrency,
      http2Setting,
      coldH1: h1.m,
      coldH2: h2.m,
      warmH2: warm.m,
      coldStreams: streams,
      skopeo: extrapolate(
        { seconds: sk.seconds, requests: sk.requests ?? Number.NaN, connections: skCounts.connections, ...(Number.isFinite(skCpu) ? { registryCpuSeconds: skCpu } : {}) },
        skRepos,
        SIZES.repos,
      ),
      correct: {
        coldH1: catalogMatches(h1.catalog, expected),
        coldH2: catalogMatches(h2.catalog, expected),
        warmH2: catalogMatches(warm.catalog, expected),
        streams: streams.every((x) => x.correct),
        skopeo: sk.correct,
      },
    },
  };
}

/**
 * "Build" -> dropdown: Jenkinsfile.example on the Groovy harness (real Groovy 2.4, the real worker
 * bundle through vars/rollback.groovy) against `served`, with the Marathon double as the target
 * (the previews ask it what runs). Each build is its own harness run, JVM start included; the
 * build is stopped at its question (answered 'abort'). Cold: a fresh agent workspace. Warm: the
 * cold build's workspace again (the `agent any` stage on one fixed agent), its date cache in place.
 */
async function benchJenkins(work: string, served: Served, images: SeededImage[], choices: string[], coldGet: JenkinsFigures['coldGet']): Promise<JenkinsFigures> {
  const dir = join(work, 'jenkins');
  const repo = join(dir, 'repo');
  mkdirSync(repo, { recursive: true });
  const services = Array.from({ length: SIZES.repos }, (_, i) => repositoryName(i + 1));
  // What each app runs before the question: its newest image (the previews compare the plans with it).
  const newest = expectedNewest(images, ENV, 1);
  const newestTag = (repository: string) => newest.get(repository)?.[0]?.tag ?? 'latest';
  const marathon = await startMarathon({
    apps: services.map((r) => ({ id: `/bench/master/${r.split('/')[1]}`, image: `${served.proxy.host}/${r}:${newestTag(r)}` })),
    deployMs: SIZES.deployMs,
  });
  try {
    writeConfig(repo, 'rollback.yml', { registryUrl: served.url, ca: served.ca, services: SIZES.repos, marathonUrl: marathon.url });
    const jenkinsfile = readFileSync(join(ROOT, 'Jenkinsfile.example'), 'utf8');
    const build = async (name: string): Promise<{ run: JenkinsRun; correct: boolean; previews: number }> => {
      progress(`jenkins: ${name} build up to the question ...`);
      const started = Date.now();
      const results = await runScenarios([
        {
          name,
          jenkinsfile,
          repo,
          params: { environment: ENV },
          // Jenkinsfile.example binds these ids; the bench registry and target need no secret.
          credentials: {
            'rollback-registry': { username: 'bench', password: 'unused' },
            'rollback-target': { username: 'bench', password: 'unused' },
            'rollback-slack': { secret: 'http://127.0.0.1:9/unused' },
          },
          agents: { '': 'bench-agent' },
          agentsDir: join(dir, 'agents'),
          inputs: ['abort'],
        },
      ]);
      const r = results.get(name) as ScenarioResult;
      const [input] = stepsNamed(r, 'input');
      if (!input || typeof input.at !== 'number') throw new Error(`jenkins ${name}: no question was asked (${r.result}: ${r.error ?? r.log.trim().split('\n').pop()})`);
      const seconds = (input.at - started) / 1000;
      const [param] = input.parameters as Array<{ choices?: string[] }>;
      const summary = parseGetSummary(r.log);
      const getCall = workerCalls(r).find((c) => c.env.ROLLBACK_COMMAND === 'get');
      const span = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? undefined : (to - from) / 1000);
      const previews = Number((JSON.parse(getCall?.env.ROLLBACK_PARAMS ?? '{}') as { previews?: number }).previews ?? 0);
      progress(`   ${seconds.toFixed(2)} s to the question${summary ? ` (its get: ${summary.seconds} s, ${summary.requests} requests)` : ''}`);
      return {
        run: {
          seconds,
          harnessStartSeconds: span(started, r.startedAt) ?? Number.NaN,
          beforeWorkerSeconds: span(r.startedAt, getCall?.startedAt),
          workerSeconds: span(getCall?.startedAt, getCall?.endedAt),
          afterWorkerSeconds: span(getCall?.endedAt, input.at),
          ...(summary ? { get: { seconds: summary.seconds, requests: summary.requests, ...(summary.protocol ? { protocol: summary.protocol } : {}) } } : {}),
        },
        correct: JSON.stringify(param?.choices ?? []) === JSON.stringify(choices) && choices.length > 0,
        previews,
      };
    };
    const cold = await build('cold');
    const warm = await build('warm');
    return {
      registry: served.ca ? 'TLS (test CA), default settings' : 'plain http, default settings',
      services: SIZES.repos,
      previews: cold.previews,
      cold: cold.run,
      warm: warm.run,
      coldGet,
      correct: cold.correct && warm.correct,
    };
  } finally {
    await marathon.stop();
  }
}

/** The image each service must run after a rollback to `date`: its newest kept image of that day or older. */
function plannedImages(catalog: Catalog, date: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of catalog.services) {
    const img = s.images.find((i) => i.day <= date);
    if (img) out.set(s.name, img.reference);
  }
  return out;
}

async function benchRun(work: string, catalogFile: string, registryUrl: string): Promise<RunFigures> {
  const catalog = JSON.parse(readFileSync(catalogFile, 'utf8')) as Catalog;
  const services = catalog.services.slice(0, SIZES.runServices);
  // A date a few days back, so that every service changes.
  const date = catalog.choices[Math.min(3, catalog.choices.length - 1)];
  const planned = plannedImages(catalog, date);
  let correct = true;
  const once = async (
    parallel: number | undefined,
    label: string,
    count = services.length,
    settle?: 'default',
  ): Promise<{ seconds: number; preflight: number; slowest: number; allHealthy: number }> => {
    const fleet = services.slice(0, count);
    const marathon = await startMarathon({
      apps: fleet.map((s) => ({ id: `/bench/master/${s.name}`, image: s.images[0].reference })),
      deployMs: SIZES.deployMs,
    });
    try {
      const configFile = writeConfig(work, `run-${label}.yml`, { registryUrl, services: count, marathonUrl: marathon.url, parallel, settle });
      // A sample runs on a catalog of its services only (run refuses services it was not configured for).
      const runCatalog = join(work, `catalog-${label}.json`);
      writeFileSync(runCatalog, JSON.stringify({ ...catalog, services: catalog.services.filter((s) => fleet.some((f) => f.name === s.name)) }));
      const logs: string[] = [];
      let firstChange = Number.NaN;
      let slowest = 0;
      let allHealthy = Number.NaN;
      const start = process.hrtime.bigint();
      const code = await main(['run', '--config', configFile, '--env', ENV, '--date', date, '--catalog', runCatalog, '--approver', 'bench'], {}, {
        cwd: work,
        stdout: () => undefined,
        stderr: (t) => {
          logs.push(`${seconds(start).toFixed(3)} ${t}`);
          // "svc-01: <before> -> <after>" starts a service ("plan: svc-01: ..." only announces it);
          // "svc-01: healthy after 1.6s" ends it.
          if (Number.isNaN(firstChange) && /^\S+: \S+ -> /.test(t)) firstChange = seconds(start);
          const healthy = /: healthy after ([\d.]+)s/.exec(t);
          if (healthy) {
            slowest = Math.max(slowest, Number(healthy[1]));
            allHealthy = seconds(start);
          }
        },
        stderrIsTTY: false,
      });
      const took = seconds(start);
      // BENCH_RUN_LOG=DIR keeps each run's log with the second each line was written (diagnosis).
      if (process.env.BENCH_RUN_LOG) writeFileSync(join(process.env.BENCH_RUN_LOG, `run-${label}.log`), `${logs.join('')}${took.toFixed(3)} (returned)\n`);
      if (code !== 0) throw new Error(`run (${label}) exited ${code}: ${logs.join('').trim().split('\n').pop()}`);
      for (const s of fleet) {
        if (marathon.running.get(`/bench/master/${s.name}`) !== planned.get(s.name)) correct = false;
      }
      return { seconds: took, preflight: firstChange, slowest, allHealthy };
    } finally {
      await marathon.stop();
    }
  };
  const defaultParallel = loadConfig(writeConfig(work, 'defaults.yml', { registryUrl, services: 1 }), {}).parallel;
  progress(`run: ${services.length} services, ${SIZES.deployMs} ms each, all at once ...`);
  const all = await once(services.length, 'all');
  progress(`   ${all.seconds.toFixed(2)} s; default parallel ${defaultParallel} ...`);
  const def = await once(undefined, 'default');
  // One at a time is the sum of the services: measured on a sample, scaled (linear by design).
  const sample = Math.min(SIZES.runSequentialServices, services.length);
  progress(`   ${def.seconds.toFixed(2)} s; one at a time, on ${sample} services ...`);
  const one = await once(1, 'one', sample);
  progress(`   ${one.seconds.toFixed(2)} s`);
  // The same all-at-once run with the settle the product uses when rollback.yml says nothing.
  const settleSeconds = loadConfig(writeConfig(work, 'settle-default.yml', { registryUrl, services: 1, settle: 'default' }), {}).settle ?? 0;
  progress(`run: all at once again, with the default settle (${settleSeconds} s) ...`);
  const settled = await once(services.length, 'settle', services.length, 'default');
  progress(`   every service healthy after ${settled.allHealthy.toFixed(2)} s, done after ${settled.seconds.toFixed(2)} s`);
  return {
    services: services.length,
    deployMs: SIZES.deployMs,
    allAtOnce: { parallel: services.length, seconds: all.seconds, beforeFirstChange: all.preflight, slowestService: all.slowest },
    defaultParallel: { parallel: defaultParallel, seconds: def.seconds },
    oneAtATime: {
      parallel: 1,
      seconds: (one.seconds * services.length) / sample,
      ...(sample < services.length ? { sample: { services: sample, seconds: one.seconds } } : {}),
    },
    // The slowest service alone: what the one-at-a-time run took per service (plan and preflight
    // shared out); every deployment takes the same time here.
    slowestServiceSeconds: one.seconds / sample,
    withSettle: { parallel: services.length, settleSeconds, allHealthy: settled.allHealthy, done: settled.seconds },
    correct,
  };
}

/** A fleet of `tags` tags for the registry double, half of them in the measured environment. */
function scaleFleet(repos: number, tags: number): { fleet: DoubleFleet; environmentTags: number } {
  const perRepo = Math.ceil(tags / repos);
  const images = fleetImages({ repos, tagsPerRepo: perRepo, environments: [ENV, 'develop'], newest: new Date('2026-11-20T18:00:00Z') });
  const fleet: DoubleFleet = {};
  for (const img of images) (fleet[img.repository] ??= {})[img.tag] = { created: img.created };
  return { fleet, environmentTags: images.filter((i) => i.environment === ENV).length };
}

/** Runs the bundle with a preload that records its peak RSS and CPU time (process.resourceUsage). */
function runBundle(args: string[], cwd: string): Promise<{ code: number; seconds: number; maxRssKb: number; cpuSeconds: number; stderr: string }> {
  const rssFile = join(cwd, `maxrss-${process.hrtime.bigint()}`);
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--require', join(ROOT, 'bench', 'maxrss.cjs'), BUNDLE, ...args], {
      cwd,
      env: { PATH: process.env.PATH, BENCH_MAXRSS_FILE: rssFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const took = seconds(start);
      let usage = { maxRssKb: Number.NaN, cpuMicros: Number.NaN };
      try {
        usage = JSON.parse(readFileSync(rssFile, 'utf8')) as typeof usage;
      } catch {
        /* reported as NaN */
      }
      resolvePromise({ code: code ?? -1, seconds: took, maxRssKb: usage.maxRssKb, cpuSeconds: usage.cpuMicros / 1e6, stderr });
    });
  });
}

async function benchScale(work: string): Promise<ScaleFigures> {
  const { fleet, environmentTags } = scaleFleet(SIZES.scaleRepos, SIZES.scaleTags);
  const tags = Object.values(fleet).reduce((n, r) => n + Object.keys(r).length, 0);
  progress(`scale: get over ${tags} tags (${environmentTags} of ${ENV}) from the registry double, peak RSS ...`);
  const double = await startRegistryDouble({ fleet });
  try {
    const dir = join(work, 'scale');
    mkdirSync(dir, { recursive: true });
    const configFile = writeConfig(dir, 'scale.yml', { registryUrl: double.url, services: SIZES.scaleRepos });
    const r = await runBundle(['get', '--config', configFile, '--env', ENV, '--catalog', join(dir, 'catalog.json')], dir);
    if (r.code !== 0) throw new Error(`get over ${tags} tags exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
    progress(`   ${(r.maxRssKb / 1024).toFixed(0)} MB, ${r.seconds.toFixed(1)} s, ${double.requests.length} requests`);
    return { repositories: SIZES.scaleRepos, tags, environmentTags, maxRssMB: r.maxRssKb / 1024, seconds: r.seconds, cpuSeconds: r.cpuSeconds, requests: double.requests.length };
  } finally {
    await double.stop();
  }
}

function benchStartup(): StartupFigures {
  progress(`start-up: node ${BUNDLE.slice(ROOT.length + 1)} --help, ${SIZES.startupRuns} runs ...`);
  const time = (args: string[]) => {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
    return seconds(start) * 1000;
  };
  // Interleaved with bare node, so both see the same load on a shared machine.
  const times: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < SIZES.startupRuns; i++) {
    times.push(time([BUNDLE, '--help']));
    bare.push(time(['-e', '0']));
  }
  return {
    runs: times.length,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    bareNodeMedianMs: median(bare),
    bundleBytes: statSync(BUNDLE).size,
  };
}

async function benchMain(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'rollback-bench-'));
  const notes: string[] = [];
  const partial: Omit<BenchFigures, 'goals'> = { generatedAt: new Date().toISOString(), machine: machine(), notes };
  try {
    if (['get', 'tls', 'jenkins', 'run'].some((p) => PARTS.has(p))) {
      const seeded = await seedRegistry();
      try {
        // run needs a catalog: a cold get alone when the get rows are not asked for.
        const g = PARTS.has('get') || PARTS.has('run') ? await benchGet(work, notes, seeded, !PARTS.has('get')) : undefined;
        if (PARTS.has('get')) partial.get = g?.figures;
        if (PARTS.has('tls') || PARTS.has('jenkins')) {
          const tls = await serveOverTls(work, seeded);
          try {
            let reference: { seconds: number; from: string; choices: string[] } | undefined;
            if (PARTS.has('tls')) {
              const t = await benchTls(work, notes, tls, seeded.images);
              partial.tls = t.figures;
              reference = { seconds: t.figures.coldH2.seconds, from: 'row g', choices: t.catalog.choices };
            }
            if (PARTS.has('jenkins')) {
              if (!reference) {
                progress('jenkins: the cold get alone over TLS, default settings (the reference) ...');
                const cfg = writeConfig(work, 'jenkins-reference.yml', { registryUrl: tls.url, ca: tls.ca, services: SIZES.repos });
                const m = await measureGet(tls, work, cfg, join(work, 'jenkins-reference'), []);
                reference = { seconds: m.m.seconds, from: 'measured just before, default settings', choices: m.catalog.choices };
              }
              partial.jenkins = await benchJenkins(work, tls, seeded.images, reference.choices, { seconds: reference.seconds, from: reference.from });
            }
          } finally {
            await tls.stop();
          }
        }
        if (PARTS.has('run') && g) partial.run = await benchRun(work, g.catalogFile, seeded.url);
      } finally {
        await seeded.stop();
      }
    }
    if (PARTS.has('scale')) partial.scale = await benchScale(work);
    if (PARTS.has('startup')) partial.startup = benchStartup();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  partial.machine.loadAverageAtEnd = loadavg()[0];
  const figures: BenchFigures = { ...partial, goals: judge(partial) };
  const report = formatReport(figures);
  mkdirSync(RESULTS, { recursive: true });
  const json = JSON.stringify(figures, null, 2) + '\n';
  writeFileSync(join(RESULTS, 'latest.json'), json);
  writeFileSync(join(RESULTS, `bench-${figures.generatedAt.replace(/[:.]/g, '-')}.json`), json);
  writeFileSync(join(RESULTS, 'latest.md'), report);
  process.stdout.write(report);
  progress(`figures written to bench/results/latest.json and latest.md`);
  // A missed speed goal is a finding; a wrong answer makes the figures meaningless.
  const wrong = [
    ...(figures.get ? Object.entries(figures.get.correct).filter(([, ok]) => !ok).map(([k]) => `get (${k})`) : []),
    ...(figures.get?.coldWider ?? []).filter((w) => !w.correct).map((w) => `get (concurrency ${w.concurrency})`),
    ...(figures.tls ? Object.entries(figures.tls.correct).filter(([, ok]) => !ok).map(([k]) => `get over TLS (${k})`) : []),
    ...(figures.jenkins && !figures.jenkins.correct ? ['the Jenkins question'] : []),
    ...(figures.run && !figures.run.correct ? ['run'] : []),
  ];
  if (wrong.length) {
    progress(`WRONG ANSWER from ${wrong.join(', ')}: the catalog or the fleet does not match the seeded images.`);
    return 1;
  }
  return 0;
}

benchMain().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
