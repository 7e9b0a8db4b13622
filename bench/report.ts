/**
 * The bench's figures, the goals they are judged by, and the table printed from them.
 * Pure: figures in, text out, so the smoke test can check the formatting without a registry.
 */

export interface Machine {
  nproc: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average when the bench started and ended: other work on a shared machine. */
  loadAverage: number;
  loadAverageAtEnd?: number;
}

export interface Measure {
  /** Wall time, seconds (extrapolated when `sample` is set). */
  seconds: number;
  /** HTTP requests that reached the registry (through the delay), extrapolated likewise. */
  requests: number;
  /** New TCP connections opened. */
  connections?: number;
  /** CPU time (user + system) of the worker's process, seconds. */
  cpuSeconds?: number;
  /** CPU time (user + system) of the docker-registry process during the row, seconds (/proc/<pid>/stat). */
  registryCpuSeconds?: number;
  /** CPU time of the bench's own process during the row: the delay proxy forwarding every byte. */
  proxyCpuSeconds?: number;
  /** The protocol the worker said it used ("HTTP/2", "HTTP/1.1"), from its summary line. */
  protocol?: string;
  /** Measured on `sample.repositories` of `sample.of` repositories, then scaled linearly. */
  sample?: { repositories: number; of: number; seconds: number; requests: number };
}

/**
 * The same real registry data served over TLS (test CA), behind the same delay proxy (the TLS
 * handshake's round trips are paid). The proxy sees only ciphertext: the worker's requests come
 * from its own summary line, the skopeo loop's from its --debug log (NaN when unknown).
 */
export interface TlsFigures {
  rttMs: number;
  repositories: number;
  /** Tags of the environment, in all repositories. */
  environmentTags: number;
  /** Requests in flight on the default rows: registry.concurrency, widened when unset on HTTP/2 (streams). */
  concurrency: number;
  /** Whether this build knows registry.http2 (false forces HTTP/1.1); without it f. ran with the default protocol. */
  http2Setting: boolean;
  /** f. cold get, registry.http2: false, concurrency 8. */
  coldH1: Measure;
  /** g. cold get, default settings (HTTP/2 by ALPN). */
  coldH2: Measure;
  /** h. warm get, default settings, cache from g. */
  warmH2: Measure;
  /** g'. cold gets over HTTP/2 with other numbers of streams set (what chose the default; not in the goals). */
  coldStreams?: { streams: number; measure: Measure; correct: boolean }[];
  /** i. the skopeo loop against the TLS registry (scaled from a sample). */
  skopeo: Measure;
  correct: { coldH1: boolean; coldH2: boolean; warmH2: boolean; skopeo: boolean; streams?: boolean };
}

/** One "Build" through the Groovy harness, up to the question. */
export interface JenkinsRun {
  /** From starting the harness (the JVM) to the moment `input` was called. */
  seconds: number;
  /** From starting the harness to the moment it began running the Jenkinsfile (JVM start, harness compile). */
  harnessStartSeconds: number;
  /** From there to the worker's `sh` (pipeline steps, checkout, the bundle written into the workspace). */
  beforeWorkerSeconds?: number;
  /** The worker's `sh`: node's start, the get with its previews, its exit. */
  workerSeconds?: number;
  /** From the worker's exit to the question (stash, reading the previews and services, building the question). */
  afterWorkerSeconds?: number;
  /** The worker's get inside the build, as its summary line says (seconds, requests, protocol). */
  get?: { seconds: number; requests: number; protocol?: string };
}

export interface JenkinsFigures {
  /** Which registry the build read, in words (e.g. "TLS, HTTP/2, default settings"). */
  registry: string;
  services: number;
  /** The plans the question shows (Jenkinsfile.example's previewCount). */
  previews: number;
  /** No date cache, a fresh agent workspace (the worker bundle written into it). */
  cold: JenkinsRun;
  /** The cold build's agent workspace again: its date cache and worker bundle in place. */
  warm: JenkinsRun;
  /** The cold get alone on the same registry with the same settings. */
  coldGet: { seconds: number; from: string };
  /** Whether both questions offered exactly the dates of the seeded fleet. */
  correct: boolean;
}

export interface GetFigures {
  rttMs: number;
  repositories: number;
  tagsPerRepository: number;
  environments: string[];
  environment: string;
  /** Tags of the environment, in all repositories. */
  environmentTags: number;
  limit: number;
  concurrency: number;
  seedSeconds: number;
  cold: Measure;
  warm: Measure;
  /**
   * b'. The warm get with registry.immutableTags: true (its cache from a cold get with the option,
   * which costs what a. costs): only the tag lists are read.
   */
  warmImmutable?: Measure;
  skopeo: Measure;
  sequential: Measure;
  /** requests of the cold run / concurrency x RTT */
  floor: Measure;
  /** The cold get again with other concurrency settings (not part of the ratios). */
  coldWider?: { concurrency: number; measure: Measure; floorSeconds: number; correct: boolean }[];
  /** The cold get straight on the registry, no delay: the registry's and the worker's own cost. */
  coldDirect?: Measure;
  /** Whether each run's catalog (or the skopeo loop's answer) matched the seeded fleet. */
  correct: { cold: boolean; warm: boolean; skopeo: boolean; sequential: boolean; direct?: boolean; warmImmutable?: boolean };
}

export interface RunFigures {
  services: number;
  deployMs: number;
  /** Wall time of `run` with parallel = services (all at once). */
  allAtOnce: {
    parallel: number;
    seconds: number;
    /** From the start to the first service changed: plan, preflight (registry HEADs, target checks), lock, snapshot. */
    beforeFirstChange?: number;
    /** The longest deploy-to-healthy of one service inside this run, as the run logged it. */
    slowestService?: number;
  };
  /** Wall time with the configuration's default parallelism. */
  defaultParallel: { parallel: number; seconds: number };
  /** Wall time with parallel = 1: the sum of the services one at a time (scaled from `sample`). */
  oneAtATime: { parallel: number; seconds: number; sample?: { services: number; seconds: number } };
  /** The slowest single service: the longest of the one-at-a-time deployments (mean when unknown). */
  slowestServiceSeconds: number;
  /** All at once again with the settle the product uses by default (the other runs use settle: 0). */
  withSettle?: {
    parallel: number;
    settleSeconds: number;
    /** From the start to the last "<service>: healthy after" line of the run's log. */
    allHealthy: number;
    /** From the start to the run's return (settle and its check included). */
    done: number;
  };
  correct: boolean;
}

export interface ScaleFigures {
  repositories: number;
  tags: number;
  environmentTags: number;
  maxRssMB: number;
  seconds: number;
  cpuSeconds: number;
  requests: number;
}

export interface StartupFigures {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Median of `node -e 0` measured alongside: what any Node program pays on this machine now. */
  bareNodeMedianMs: number;
  bundleBytes: number;
}

export interface Goal {
  goal: string;
  met: boolean;
  value: string;
}

export interface BenchFigures {
  generatedAt: string;
  machine: Machine;
  get?: GetFigures;
  tls?: TlsFigures;
  jenkins?: JenkinsFigures;
  run?: RunFigures;
  scale?: ScaleFigures;
  startup?: StartupFigures;
  goals: Goal[];
  notes: string[];
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
const count = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : 'n/a');

/** Requests per tag of the environment, as the report prints it ('' when unknown). */
export function perTag(requests: number, environmentTags: number): string {
  return Number.isFinite(requests) && environmentTags > 0 ? fixed(requests / environmentTags, 2) : 'n/a';
}

/**
 * Why a row was not faster, when CPU explains it: the registry's own CPU seconds at 70 % or more of
 * wall time x cores, or the registry's, the worker's and the delay proxy's together at 85 % or more
 * (the machine was full). '' when neither (the network, or something else, was the bound).
 */
export function cpuBound(m: Measure, nproc: number): string {
  if (m.registryCpuSeconds === undefined || !Number.isFinite(m.registryCpuSeconds) || !(m.seconds > 0) || !(nproc > 0)) return '';
  const capacity = m.seconds * nproc;
  const of = `in ${fixed(m.seconds, 2)} s on ${nproc} cores`;
  if (m.registryCpuSeconds >= 0.7 * capacity) {
    return `the registry's CPU was the bound: ${fixed(m.registryCpuSeconds, 2)} s of CPU ${of} (${fixed((100 * m.registryCpuSeconds) / capacity, 0)} %)`;
  }
  const proxy = m.proxyCpuSeconds ?? 0;
  const both = m.registryCpuSeconds + (m.cpuSeconds ?? 0) + proxy;
  if (m.cpuSeconds !== undefined && both >= 0.85 * capacity) {
    const withProxy = proxy > 0 ? ` + delay proxy ${fixed(proxy, 2)} s` : '';
    return `the machine's CPU was the bound: registry ${fixed(m.registryCpuSeconds, 2)} s + worker ${fixed(m.cpuSeconds, 2)} s${withProxy} of CPU ${of} (${fixed((100 * both) / capacity, 0)} %)`;
  }
  return '';
}

/** A goal's figure, with the CPU bound said when the goal is missed and CPU explains it. */
function withBound(value: string, met: boolean, m: Measure, nproc: number): string {
  const bound = met ? '' : cpuBound(m, nproc);
  return bound ? `${value}; ${bound}` : value;
}

/** The goals of issue 8, judged from the figures present. */
export function judge(f: Omit<BenchFigures, 'goals'>): Goal[] {
  const goals: Goal[] = [];
  if (f.get) {
    const { cold, warm, skopeo, floor } = f.get;
    const vsSkopeo = ratio(skopeo.seconds, cold.seconds);
    goals.push({ goal: 'cold get at least 30x faster than the skopeo loop', met: vsSkopeo >= 30, value: `${fixed(vsSkopeo)}x` });
    const vsFloor = ratio(cold.seconds, floor.seconds);
    goals.push({ goal: 'cold get within 1.5x of the round-trip floor', met: vsFloor <= 1.5, value: `${fixed(vsFloor, 2)}x the floor` });
    const warmGain = ratio(cold.seconds, warm.seconds);
    goals.push({ goal: 'warm get at least 5x faster than cold', met: warmGain >= 5, value: `${fixed(warmGain)}x` });
    if (f.get.warmImmutable) {
      const gain = ratio(cold.seconds, f.get.warmImmutable.seconds);
      goals.push({ goal: 'warm get at least 5x faster than cold, with registry.immutableTags', met: gain >= 5, value: `${fixed(gain)}x` });
    }
    const allCorrect = Object.values(f.get.correct).every(Boolean) && (f.get.coldWider ?? []).every((w) => w.correct);
    goals.push({ goal: 'every get variant found the seeded newest images', met: allCorrect, value: allCorrect ? 'yes' : JSON.stringify(f.get.correct) });
  }
  if (f.tls) {
    const t = f.tls;
    const n = f.machine.nproc;
    const h1 = ratio(t.coldH1.seconds, t.coldH2.seconds);
    goals.push({ goal: 'cold get over TLS: HTTP/2 at least 3x faster than HTTP/1.1 at 8 connections', met: h1 >= 3, value: withBound(`${fixed(h1, 2)}x`, h1 >= 3, t.coldH2, n) });
    const sk = ratio(t.skopeo.seconds, t.coldH2.seconds);
    goals.push({ goal: 'cold get over TLS/HTTP/2 at least 60x faster than the skopeo loop', met: sk >= 60, value: withBound(`${fixed(sk)}x`, sk >= 60, t.coldH2, n) });
    const warm = ratio(t.coldH2.seconds, t.warmH2.seconds);
    goals.push({ goal: 'warm get over TLS/HTTP/2 (default settings) at least 3x faster than cold', met: warm >= 3, value: withBound(`${fixed(warm)}x`, warm >= 3, t.warmH2, n) });
    const allCorrect = Object.values(t.correct).every(Boolean);
    goals.push({ goal: 'every TLS get variant found the seeded newest images', met: allCorrect, value: allCorrect ? 'yes' : JSON.stringify(t.correct) });
  }
  if (f.jenkins) {
    const j = f.jenkins;
    const r = ratio(j.cold.seconds, j.coldGet.seconds);
    goals.push({
      goal: '"Build" -> dropdown (cold) within 1.5x of the cold get alone',
      met: r <= 1.5 && j.correct,
      value:
        `${fixed(r, 2)}x (${fixed(j.cold.seconds, 2)} s vs ${fixed(j.coldGet.seconds, 2)} s` +
        `${Number.isFinite(j.cold.harnessStartSeconds) ? `; without the harness's own JVM start, which a running Jenkins does not pay, ${fixed(ratio(j.cold.seconds - j.cold.harnessStartSeconds, j.coldGet.seconds), 2)}x` : ''}` +
        `${j.cold.workerSeconds === undefined ? '' : `; the worker's sh alone ${fixed(ratio(j.cold.workerSeconds, j.coldGet.seconds), 2)}x`})` +
        `${j.correct ? '' : '; the question did not offer the seeded dates'}`,
    });
  }
  if (f.run) {
    const close = ratio(f.run.allAtOnce.seconds, f.run.slowestServiceSeconds);
    goals.push({ goal: 'run (all services at once) close to its slowest service (within 1.5x)', met: close <= 1.5 && f.run.correct, value: `${fixed(close, 2)}x the slowest service` });
  }
  if (f.startup) {
    goals.push({ goal: 'bundle start-up (--help) under 300 ms', met: f.startup.medianMs < 300, value: `${fixed(f.startup.medianMs, 0)} ms median` });
  }
  if (f.scale) {
    goals.push({ goal: `peak RSS of get under 150 MB at ${f.scale.tags} tags`, met: f.scale.maxRssMB < 150, value: `${fixed(f.scale.maxRssMB, 0)} MB` });
  }
  return goals;
}

/** Lays out rows as a plain-text table (also valid Markdown). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function sampleNote(m: Measure): string {
  return m.sample ? ` (measured on ${m.sample.repositories} of ${m.sample.of} repositories: ${fixed(m.sample.seconds)} s, ${count(m.sample.requests)} requests; scaled)` : '';
}

/** The whole report as Markdown: the tables docs/bench.md shows, and the goals. */
export function formatReport(f: BenchFigures): string {
  const out: string[] = [];
  const m = f.machine;
  out.push(
    `Machine: ${m.nproc} cores (${m.cpu}), ${fixed(m.memoryGiB, 0)} GiB memory, Node ${m.node}, ${m.platform}; ` +
      `load average ${fixed(m.loadAverage)} at the start${m.loadAverageAtEnd === undefined ? '' : `, ${fixed(m.loadAverageAtEnd)} at the end`}.`,
  );
  if (f.get) {
    const g = f.get;
    out.push('');
    out.push(
      `### get: ${g.repositories} repositories x ${g.tagsPerRepository} tags (${g.environments.join(', ')}), environment ${g.environment} ` +
        `(${g.environmentTags} tags), limit ${g.limit}, concurrency ${g.concurrency}, ${g.rttMs} ms per round trip`,
    );
    out.push('');
    const row = (name: string, x: Measure, vsCold: string) => [
      name,
      fixed(x.seconds, 2),
      count(x.requests),
      perTag(x.requests, g.environmentTags),
      x.connections === undefined ? '' : String(x.connections),
      x.cpuSeconds === undefined ? '' : fixed(x.cpuSeconds, 2),
      vsCold,
    ];
    out.push(
      table(
        ['', 'wall time (s)', 'requests', 'requests / tag', 'connections', 'worker CPU (s)', 'ratio'],
        [
          row('a. cold get (empty cache)', g.cold, ''),
          row('b. warm get (cache from a)', g.warm, `b/a = ${fixed(ratio(g.warm.seconds, g.cold.seconds), 3)}`),
          ...(g.warmImmutable
            ? [row("b'. warm get, registry.immutableTags: true", g.warmImmutable, `b'/a = ${fixed(ratio(g.warmImmutable.seconds, g.cold.seconds), 3)}`)]
            : []),
          row(`c. skopeo loop${g.skopeo.sample ? ' (scaled from a sample)' : ''}`, g.skopeo, `a/c = ${fixed(ratio(g.cold.seconds, g.skopeo.seconds), 4)}`),
          row(`d. our algorithm, one request at a time${g.sequential.sample ? ' (scaled)' : ''}`, g.sequential, `a/d = ${fixed(ratio(g.cold.seconds, g.sequential.seconds), 3)}`),
          row(`e. round-trip floor (a's requests / ${g.concurrency} x ${g.rttMs} ms)`, g.floor, `a/e = ${fixed(ratio(g.cold.seconds, g.floor.seconds), 2)}`),
          ...(g.coldWider ?? []).map((w) =>
            row(`a'. cold get, concurrency ${w.concurrency} (not in the goals)`, w.measure, `${fixed(ratio(w.measure.seconds, w.floorSeconds), 2)}x its floor`),
          ),
          ...(g.coldDirect ? [row('a0. cold get, no delay (registry + worker alone)', g.coldDirect, '')] : []),
        ],
      ),
    );
    const notes = [sampleNote(g.skopeo) && `c${sampleNote(g.skopeo)}`, sampleNote(g.sequential) && `d${sampleNote(g.sequential)}`].filter(Boolean);
    if (notes.length) out.push('', ...notes.map((n) => `- ${n}`));
    out.push('', `Seeding the registry (not timed above, no delay): ${fixed(g.seedSeconds)} s.`);
  }
  if (f.tls) out.push('', ...formatTls(f.tls, f.machine.nproc));
  if (f.jenkins) out.push('', ...formatJenkins(f.jenkins));
  if (f.run) {
    const r = f.run;
    out.push('', `### run: ${r.services} services on the Marathon double, each deployment ${r.deployMs} ms`, '');
    out.push(
      table(
        ['', 'wall time (s)'],
        [
          [`all at once (parallel ${r.allAtOnce.parallel})`, fixed(r.allAtOnce.seconds, 2)],
          ...(r.allAtOnce.beforeFirstChange === undefined ? [] : [['  of which before the first change (plan, preflight, lock)', fixed(r.allAtOnce.beforeFirstChange, 2)]]),
          ...(r.allAtOnce.slowestService === undefined ? [] : [['  its slowest service, deploy to healthy', fixed(r.allAtOnce.slowestService, 2)]]),
          [`default (parallel ${r.defaultParallel.parallel})`, fixed(r.defaultParallel.seconds, 2)],
          [
            `one at a time (parallel ${r.oneAtATime.parallel})` +
              (r.oneAtATime.sample ? `, scaled from ${r.oneAtATime.sample.services} services: ${fixed(r.oneAtATime.sample.seconds, 2)} s` : ''),
            fixed(r.oneAtATime.seconds, 2),
          ],
          ['one service alone (one-at-a-time time / services)', fixed(r.slowestServiceSeconds, 2)],
          ...(r.withSettle
            ? [
                [`all at once (parallel ${r.withSettle.parallel}), settle ${r.withSettle.settleSeconds} s (the default): approval to every service healthy`, fixed(r.withSettle.allHealthy, 2)],
                ['  approval to done (settle and its check included)', fixed(r.withSettle.done, 2)],
              ]
            : []),
        ],
      ),
    );
  }
  if (f.scale || f.startup) {
    out.push('', '### scale and start-up (the bundle, `node resources/rollback.js`)', '');
    const rows: string[][] = [];
    if (f.scale) {
      const s = f.scale;
      rows.push([`peak RSS of get, ${s.repositories} repositories, ${s.tags} tags (${s.environmentTags} of the environment), registry double`, `${fixed(s.maxRssMB, 0)} MB`]);
      rows.push(['  its wall time / CPU time / requests', `${fixed(s.seconds, 1)} s / ${fixed(s.cpuSeconds, 1)} s / ${s.requests}`]);
    }
    if (f.startup) {
      const s = f.startup;
      rows.push([`start-up, --help, median of ${s.runs} runs (min-max)`, `${fixed(s.medianMs, 0)} ms (${fixed(s.minMs, 0)}-${fixed(s.maxMs, 0)})`]);
      rows.push(['  bare `node -e 0` alongside, median (what the bundle adds)', `${fixed(s.bareNodeMedianMs, 0)} ms (+${fixed(s.medianMs - s.bareNodeMedianMs, 0)} ms)`]);
      rows.push(['bundle size', `${fixed(s.bundleBytes / 1024, 0)} KiB`]);
    }
    out.push(table(['', 'figure'], rows));
  }
  out.push('', '### goals', '');
  out.push(table(['goal', 'met', 'figure'], f.goals.map((g) => [g.goal, g.met ? 'yes' : 'NO', g.value])));
  if (f.notes.length) out.push('', ...f.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

function formatTls(t: TlsFigures, nproc: number): string[] {
  const row = (name: string, x: Measure, r: string) => [
    name,
    fixed(x.seconds, 2),
    x.protocol ?? '',
    count(x.requests),
    perTag(x.requests, t.environmentTags),
    x.connections === undefined ? '' : String(x.connections),
    x.cpuSeconds === undefined ? '' : fixed(x.cpuSeconds, 2),
    x.registryCpuSeconds === undefined ? '' : fixed(x.registryCpuSeconds, 2),
    x.proxyCpuSeconds === undefined ? '' : fixed(x.proxyCpuSeconds, 2),
    r,
  ];
  const h1 = t.http2Setting ? 'HTTP/1.1 (registry.http2: false)' : 'registry.http2 unknown to this build, default protocol';
  const out = [
    `### get over TLS: the same registry data on HTTPS (test CA), same ${t.rttMs} ms round trip, environment tags ${t.environmentTags}`,
    '',
    table(
      ['', 'wall time (s)', 'protocol', 'requests', 'requests / tag', 'connections', 'worker CPU (s)', 'registry CPU (s)', 'delay proxy CPU (s)', 'ratio'],
      [
        row(`f. cold get, ${h1}, concurrency 8`, t.coldH1, ''),
        row(`g. cold get, default settings (${t.concurrency} in flight)`, t.coldH2, `f/g = ${fixed(ratio(t.coldH1.seconds, t.coldH2.seconds), 2)}x`),
        row('h. warm get, default settings (cache from g)', t.warmH2, `g/h = ${fixed(ratio(t.coldH2.seconds, t.warmH2.seconds), 2)}x`),
        ...(t.coldStreams ?? []).map((x) => row(`g'. cold get, HTTP/2, ${x.streams} streams set (not in the goals)`, x.measure, `${fixed(ratio(x.measure.seconds, t.coldH2.seconds), 2)}x g`)),
        row(`i. skopeo loop on TLS${t.skopeo.sample ? ' (scaled from a sample)' : ''}`, t.skopeo, `i/g = ${fixed(ratio(t.skopeo.seconds, t.coldH2.seconds), 1)}x`),
      ],
    ),
  ];
  const notes = [
    sampleNote(t.skopeo) && `i${sampleNote(t.skopeo)}`,
    `The registry's CPU is the docker-registry process's (utime + stime, /proc/<pid>/stat); the delay proxy's is the bench process's own (it forwards every byte); the three together beside wall time x ${nproc} cores = the machine.`,
    'Requests over TLS are what each client says it sent (the worker\'s summary line, skopeo\'s --debug log); the proxy sees only ciphertext.',
  ].filter(Boolean);
  out.push('', ...notes.map((n) => `- ${n}`));
  return out;
}

function formatJenkins(j: JenkinsFigures): string[] {
  const opt = (n: number | undefined) => (n === undefined ? '' : fixed(n, 2));
  const row = (name: string, x: JenkinsRun) => [
    name,
    fixed(x.seconds, 2),
    fixed(x.harnessStartSeconds, 2),
    opt(x.beforeWorkerSeconds),
    opt(x.workerSeconds),
    x.get ? `${fixed(x.get.seconds, 1)} s, ${count(x.get.requests)}` : '',
    opt(x.afterWorkerSeconds),
    `${fixed(ratio(x.seconds, j.coldGet.seconds), 2)}x`,
  ];
  return [
    `### "Build" -> dropdown: Jenkinsfile.example on the Groovy harness, real worker, ${j.services} services, registry ${j.registry}`,
    '',
    table(
      ['', 'to the question (s)', 'harness start (s)', 'before the worker (s)', 'worker sh (s)', 'its get: time, requests', 'worker to question (s)', 'x the cold get alone'],
      [
        row(`cold (no date cache, fresh workspace; get --previews ${j.previews})`, j.cold),
        row("warm (the cold build's workspace: date cache, worker bundle)", j.warm),
        [`the cold get alone (${j.coldGet.from})`, fixed(j.coldGet.seconds, 2), '', '', '', '', '', '1.00x'],
      ],
    ),
    '',
    '- harness start: the JVM and the harness compiled, up to the first line of the Jenkinsfile; before the worker: the pipeline ' +
      'up to the worker\'s `sh` (checkout, the bundle written into the workspace on a fresh agent); worker sh: node\'s start, ' +
      '`get --previews` and its exit; its get: what the worker\'s summary line says; worker to question: stash, previews and ' +
      'services read back, the question built.',
  ];
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Scales a measure taken on `repositories` of `of` repositories to all of them (linear in repositories). */
export function extrapolate(measured: { seconds: number; requests: number; connections?: number; registryCpuSeconds?: number }, repositories: number, of: number): Measure {
  const k = of / repositories;
  return {
    seconds: measured.seconds * k,
    requests: Math.round(measured.requests * k),
    connections: measured.connections === undefined ? undefined : Math.round(measured.connections * k),
    ...(measured.registryCpuSeconds === undefined ? {} : { registryCpuSeconds: measured.registryCpuSeconds * k }),
    sample: repositories < of ? { repositories, of, seconds: measured.seconds, requests: measured.requests } : undefined,
  };
}
