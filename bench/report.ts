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
  /** Measured on `sample.repositories` of `sample.of` repositories, then scaled linearly. */
  sample?: { repositories: number; of: number; seconds: number; requests: number };
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
  run?: RunFigures;
  scale?: ScaleFigures;
  startup?: StartupFigures;
  goals: Goal[];
  notes: string[];
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);

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
  return m.sample ? ` (measured on ${m.sample.repositories} of ${m.sample.of} repositories: ${fixed(m.sample.seconds)} s, ${m.sample.requests} requests; scaled)` : '';
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
      String(Math.round(x.requests)),
      x.connections === undefined ? '' : String(x.connections),
      x.cpuSeconds === undefined ? '' : fixed(x.cpuSeconds, 2),
      vsCold,
    ];
    out.push(
      table(
        ['', 'wall time (s)', 'requests', 'connections', 'worker CPU (s)', 'ratio'],
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

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Scales a measure taken on `repositories` of `of` repositories to all of them (linear in repositories). */
export function extrapolate(measured: { seconds: number; requests: number; connections?: number }, repositories: number, of: number): Measure {
  const k = of / repositories;
  return {
    seconds: measured.seconds * k,
    requests: Math.round(measured.requests * k),
    connections: measured.connections === undefined ? undefined : Math.round(measured.connections * k),
    sample: repositories < of ? { repositories, of, seconds: measured.seconds, requests: measured.requests } : undefined,
  };
}
