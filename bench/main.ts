/**
 * `npm run bench`: `get` and `run` at fleet scale, side by side with the skopeo loop a user would
 * write and with our own algorithm one request at a time. Prints a Markdown report on stdout,
 * progress on stderr, and writes the figures to bench/results/ (latest.json, latest.md).
 *
 * Everything runs on this machine: the real registry (docker-registry) behind a delaying proxy
 * (bench/delay-proxy.ts), the Marathon double, the registry double for the 100k-tag run, and the
 * bundle under resources/ for start-up and memory. Sizes can be turned down for a quick look:
 *   BENCH_REPOS=30 BENCH_TAGS=200 BENCH_SKOPEO_REPOS=3 BENCH_SEQUENTIAL_REPOS=10 BENCH_SCALE_TAGS=100000 (docs/bench.md)
 *   BENCH_ONLY=get,run,scale,startup (a comma list of parts to run)
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
import { DoubleFleet, startRegistryDouble } from '../test/doubles/registry-double';
import { startRegistry } from '../test/support/registry';
import { startDelayProxy } from './delay-proxy';
import { BenchFigures, extrapolate, formatReport, GetFigures, judge, Machine, Measure, median, RunFigures, ScaleFigures, StartupFigures } from './report';
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
  /** Extra cold gets at these concurrency settings (a comma list), beside the default's. */
  widerConcurrency: (process.env.BENCH_WIDER_CONCURRENCY || '16,32').split(',').filter(Boolean).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`BENCH_WIDER_CONCURRENCY must list integers from 1 to 64, not '${v}'`);
    return n;
  }),
};
const ENVIRONMENTS = ['master', 'stage', 'develop'];
const ENV = 'master';
const PARTS = new Set((process.env.BENCH_ONLY || 'get,run,scale,startup').split(',').map((s) => s.trim()));

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

/** A rollback.yml for the bench fleet; returns its path. */
function writeConfig(dir: string, name: string, o: { registryUrl: string; services: number; concurrency?: number; marathonUrl?: string; parallel?: number; immutableTags?: boolean }): string {
  const file = join(dir, name);
  const doc = {
    registry: { url: o.registryUrl, ...(o.concurrency ? { concurrency: o.concurrency } : {}), ...(o.immutableTags ? { immutableTags: true } : {}) },
    services: Array.from({ length: o.services }, (_, i) => ({ name: repositoryName(i + 1).split('/')[1], repository: repositoryName(i + 1) })),
    environments: { [ENV]: { tags: `-${ENV}$`, target: { marathon: { url: o.marathonUrl ?? 'http://127.0.0.1:9/', appPrefix: '/bench/master' } } } },
    ...(o.parallel ? { parallel: o.parallel } : {}),
    deployTimeout: 120,
    // The bench times the rollout itself; the settle wait after it is a fixed 30 s by default.
    settle: 0,
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

/** Runs bench/skopeo-loop.sh; returns its wall time and whether its answer matches the fleet. */
function skopeoLoop(host: string, repositories: string[], limit: number, expected: Map<string, SeededImage[]>): Promise<{ seconds: number; correct: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('bash', [join(ROOT, 'bench', 'skopeo-loop.sh'), host, ENV, String(limit), ...repositories], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      resolvePromise({ seconds: took, correct });
    });
  });
}

async function benchGet(work: string, notes: string[], onlyCatalog: boolean): Promise<{ figures?: GetFigures; catalogFile: string; registryUrl: string; stop: () => Promise<void> }> {
  progress(`starting the real registry and seeding ${SIZES.repos} x ${SIZES.tags} tags ...`);
  const registry = await startRegistry();
  const spec = { repos: SIZES.repos, tagsPerRepo: SIZES.tags, environments: ENVIRONMENTS, newest: new Date('2026-11-20T18:00:00Z') };
  let t = process.hrtime.bigint();
  const images = await seedFleet(registry, spec);
  const seedSeconds = seconds(t);
  const [host, port] = registry.host.split(':');
  const proxy = await startDelayProxy({ host, port: Number(port) }, SIZES.rttMs);
  const stop = async () => {
    progress('stopping the registry ...');
    await proxy.close();
    await registry.stop();
  };
  try {
    const configFile = writeConfig(work, 'get.yml', { registryUrl: proxy.url, services: SIZES.repos });
    const config = loadConfig(configFile, {});
    const expected = expectedNewest(images, ENV, config.limit);
    const logs: string[] = [];

    // Each get runs the bundle in its own process, as a user runs it: its event loop is not the
    // proxy's, and the date cache lives beside the catalog as in real use.
    const measureGet = async (cfgFile: string, stateDir: string): Promise<{ m: Measure; catalog: Catalog }> => {
      mkdirSync(stateDir, { recursive: true });
      const catalogFile = join(stateDir, 'catalog.json');
      proxy.reset();
      const r = await runBundle(['get', '--config', cfgFile, '--env', ENV, '--catalog', catalogFile], work);
      if (r.code !== 0) throw new Error(`get exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
      for (const line of r.stderr.split('\n')) if (line.startsWith('warning')) logs.push(line);
      const c = proxy.counts();
      return { m: { seconds: r.seconds, requests: c.requests, connections: c.connections, cpuSeconds: r.cpuSeconds }, catalog: JSON.parse(readFileSync(catalogFile, 'utf8')) as Catalog };
    };

    progress('a. cold get ...');
    const stateDir = join(work, 'state');
    const cold = await measureGet(configFile, stateDir);
    const catalogFile = join(stateDir, 'catalog.json');
    progress(`   ${cold.m.seconds.toFixed(2)} s, ${cold.m.requests} requests`);
    if (onlyCatalog) return { catalogFile, registryUrl: proxy.url, stop };

    progress('b. warm get ...');
    const warm = await measureGet(configFile, stateDir);
    progress(`   ${warm.m.seconds.toFixed(2)} s, ${warm.m.requests} requests`);

    // b'. The warm get trusting tags (registry.immutableTags): its cache needs the tag entries that
    // only a get with the option writes, so a cold get with the option runs first (untimed here;
    // it sends what a. sends).
    progress("b'. warm get with registry.immutableTags (after a cold get with it) ...");
    const immConfig = writeConfig(work, 'immutable.yml', { registryUrl: proxy.url, services: SIZES.repos, immutableTags: true });
    const immCold = await measureGet(immConfig, join(work, 'immutable'));
    const immWarm = await measureGet(immConfig, join(work, 'immutable'));
    progress(`   ${immWarm.m.seconds.toFixed(2)} s, ${immWarm.m.requests} requests (its cold get: ${immCold.m.seconds.toFixed(2)} s, ${immCold.m.requests} requests)`);

    const seqRepos = Math.min(SIZES.sequentialRepos, SIZES.repos);
    progress(`d. our algorithm one request at a time, on ${seqRepos} repositories ...`);
    const seqConfig = writeConfig(work, 'sequential.yml', { registryUrl: proxy.url, services: seqRepos, concurrency: 1 });
    const seq = await measureGet(seqConfig, join(work, 'sequential'));
    const seqExpected = new Map([...expected].filter(([r]) => seq.catalog.services.some((s) => s.repository === r)));
    progress(`   ${seq.m.seconds.toFixed(2)} s, ${seq.m.requests} requests`);

    // The same cold get with more requests in flight: how far the concurrency setting moves it.
    const coldWider: NonNullable<GetFigures['coldWider']> = [];
    for (const concurrency of SIZES.widerConcurrency.filter((n) => n !== config.registry.concurrency)) {
      progress(`a'. cold get at concurrency ${concurrency} ...`);
      const wideConfig = writeConfig(work, `wide-${concurrency}.yml`, { registryUrl: proxy.url, services: SIZES.repos, concurrency });
      const wide = await measureGet(wideConfig, join(work, `wide-${concurrency}`));
      progress(`   ${wide.m.seconds.toFixed(2)} s, ${wide.m.requests} requests`);
      coldWider.push({ concurrency, measure: wide.m, floorSeconds: (wide.m.requests / concurrency) * (SIZES.rttMs / 1000), correct: catalogMatches(wide.catalog, expected) });
    }

    // The same cold get straight on the registry's port: what the registry and the worker cost
    // without any network delay (on a busy machine this is not zero, and it adds to every row).
    progress('a0. cold get without the delay ...');
    const directConfig = writeConfig(work, 'direct.yml', { registryUrl: registry.url, services: SIZES.repos });
    const direct = await measureGet(directConfig, join(work, 'direct'));
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
      registryUrl: proxy.url,
      stop,
      figures: {
        rttMs: SIZES.rttMs,
        repositories: SIZES.repos,
        tagsPerRepository: SIZES.tags,
        environments: ENVIRONMENTS,
        environment: ENV,
        environmentTags: images.filter((i) => i.environment === ENV).length,
        limit: config.limit,
        concurrency: config.registry.concurrency,
        seedSeconds,
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
  } catch (err) {
    await stop();
    throw err;
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
  const once = async (parallel: number | undefined, label: string, count = services.length): Promise<{ seconds: number; preflight: number; slowest: number }> => {
    const fleet = services.slice(0, count);
    const marathon = await startMarathon({
      apps: fleet.map((s) => ({ id: `/bench/master/${s.name}`, image: s.images[0].reference })),
      deployMs: SIZES.deployMs,
    });
    try {
      const configFile = writeConfig(work, `run-${label}.yml`, { registryUrl, services: count, marathonUrl: marathon.url, parallel });
      // A sample runs on a catalog of its services only (run refuses services it was not configured for).
      const runCatalog = join(work, `catalog-${label}.json`);
      writeFileSync(runCatalog, JSON.stringify({ ...catalog, services: catalog.services.filter((s) => fleet.some((f) => f.name === s.name)) }));
      const logs: string[] = [];
      let firstChange = Number.NaN;
      let slowest = 0;
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
          if (healthy) slowest = Math.max(slowest, Number(healthy[1]));
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
      return { seconds: took, preflight: firstChange, slowest };
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
    if (PARTS.has('get') || PARTS.has('run')) {
      const g = await benchGet(work, notes, !PARTS.has('get'));
      try {
        if (PARTS.has('get')) partial.get = g.figures;
        if (PARTS.has('run')) partial.run = await benchRun(work, g.catalogFile, g.registryUrl);
      } finally {
        await g.stop();
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
