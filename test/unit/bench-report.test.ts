/**
 * Smoke test of the bench harness's pure parts: the report, the goals, the request counter of the
 * delay proxy and the seeded fleet. No timing is asserted here; speed is `npm run bench`.
 */
import { countRequestLines } from '../../bench/delay-proxy';
import { BenchFigures, extrapolate, formatReport, judge, median, table } from '../../bench/report';
import { expectedNewest, fleetImages } from '../../bench/seed';

const machine = { nproc: 2, cpu: 'Test CPU', memoryGiB: 24, node: '20.0.0', platform: 'linux x64', loadAverage: 1.5 };

function figures(overrides: { coldSeconds?: number; warmSeconds?: number; startupMs?: number; rssMB?: number } = {}): Omit<BenchFigures, 'goals'> {
  const cold = overrides.coldSeconds ?? 10;
  return {
    generatedAt: '2026-11-21T00:00:00.000Z',
    machine,
    notes: [],
    get: {
      rttMs: 20, repositories: 30, tagsPerRepository: 200, environments: ['master', 'stage', 'develop'], environment: 'master',
      environmentTags: 2010, limit: 10, concurrency: 8, seedSeconds: 50,
      cold: { seconds: cold, requests: 4000, connections: 8, cpuSeconds: 3 },
      warm: { seconds: overrides.warmSeconds ?? 1, requests: 2000, connections: 8 },
      warmImmutable: { seconds: 0.5, requests: 31, connections: 8 },
      skopeo: extrapolate({ seconds: 40, requests: 800 }, 3, 30),
      sequential: extrapolate({ seconds: 27, requests: 1340 }, 10, 30),
      floor: { seconds: 10, requests: 4000 },
      coldWider: [{ concurrency: 32, measure: { seconds: 4, requests: 4000 }, floorSeconds: 2.5, correct: true }],
      coldDirect: { seconds: 2, requests: 4000, cpuSeconds: 1.5 },
      correct: { cold: true, warm: true, skopeo: true, sequential: true },
    },
    run: {
      services: 30, deployMs: 1000, allAtOnce: { parallel: 30, seconds: 1.2 }, defaultParallel: { parallel: 4, seconds: 8 },
      oneAtATime: { parallel: 1, seconds: 33, sample: { services: 10, seconds: 11 } }, slowestServiceSeconds: 1.1, correct: true,
    },
    scale: { repositories: 50, tags: 100000, environmentTags: 50000, maxRssMB: overrides.rssMB ?? 120, seconds: 30, cpuSeconds: 25, requests: 100050 },
    startup: { runs: 20, medianMs: overrides.startupMs ?? 120, minMs: 100, maxMs: 200, bareNodeMedianMs: 50, bundleBytes: 2_000_000 },
  };
}

describe('bench report', () => {
  it('judges each goal from the figures', () => {
    const good = judge(figures());
    expect(good.map((g) => g.met)).toEqual([true, true, true, true, true, true, true, true]);
    const bad = judge(figures({ coldSeconds: 20, warmSeconds: 5, startupMs: 400, rssMB: 200 }));
    const byGoal = Object.fromEntries(bad.map((g) => [g.goal, g]));
    expect(byGoal['cold get at least 30x faster than the skopeo loop'].met).toBe(false);
    expect(byGoal['cold get at least 30x faster than the skopeo loop'].value).toBe('20.0x');
    expect(byGoal['cold get within 1.5x of the round-trip floor'].value).toBe('2.00x the floor');
    expect(byGoal['warm get at least 5x faster than cold'].met).toBe(false);
    expect(byGoal['warm get at least 5x faster than cold, with registry.immutableTags']).toEqual({ goal: 'warm get at least 5x faster than cold, with registry.immutableTags', met: true, value: '40.0x' });
    expect(byGoal['bundle start-up (--help) under 300 ms'].met).toBe(false);
    expect(byGoal['peak RSS of get under 150 MB at 100000 tags'].met).toBe(false);
  });

  it('prints every row, the ratios and the sample notes', () => {
    const f = figures();
    const text = formatReport({ ...f, goals: judge(f) });
    expect(text).toContain('Machine: 2 cores (Test CPU), 24 GiB memory');
    expect(text).toContain('load average 1.5 at the start.');
    expect(text).toMatch(/\| a\. cold get \(empty cache\) +\| +10\.00 \| +4000 \| +8 \| +3\.00 \|/);
    expect(text).toContain('30.0 s / 25.0 s / 100050');
    expect(text).toContain('b/a = 0.100');
    expect(text).toMatch(/\| b'\. warm get, registry\.immutableTags: true +\| +0\.50 \| +31 \| +8 \| +\| +b'\/a = 0\.050 \|/);
    expect(text).toContain('a/c = 0.0250');
    expect(text).toContain('a/e = 1.00');
    expect(text).toContain('c (measured on 3 of 30 repositories: 40.0 s, 800 requests; scaled)');
    expect(text).toContain('| all at once (parallel 30)');
    expect(text).toContain('one at a time (parallel 1), scaled from 10 services: 11.00 s');
    expect(text).toMatch(/a0\. cold get, no delay \(registry \+ worker alone\) +\| +2\.00 \| +4000 \| +\| +1\.50 \|/);
    expect(text).toMatch(/a'\. cold get, concurrency 32 \(not in the goals\) +\| +4\.00 \| +4000 \|.*1\.60x its floor/);
    expect(text).toMatch(/start-up, --help, median of 20 runs \(min-max\) +\| +120 ms \(100-200\) \|/);
    expect(text).toContain('50 ms (+70 ms)');
  });

  it('lays out a Markdown table with aligned columns', () => {
    const t = table(['name', 'n'], [['a', '1'], ['longer', '22']]).split('\n');
    expect(t).toEqual(['| name   |  n |', '|:-------|---:|', '| a      |  1 |', '| longer | 22 |']);
  });

  it('scales a sample linearly and keeps what was measured', () => {
    expect(extrapolate({ seconds: 2, requests: 10, connections: 3 }, 2, 10)).toEqual({
      seconds: 10, requests: 50, connections: 15, sample: { repositories: 2, of: 10, seconds: 2, requests: 10 },
    });
    expect(extrapolate({ seconds: 2, requests: 10 }, 5, 5).sample).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('delay proxy request counter', () => {
  it('counts request lines, also several in one chunk, and not bodies', () => {
    expect(countRequestLines('GET /v2/ HTTP/1.1\r\nhost: x\r\n\r\n')).toEqual({ GET: 1 });
    expect(countRequestLines('HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n')).toEqual({ HEAD: 1, GET: 1 });
    expect(countRequestLines('{"text":"GET /v2/ HTTP/1.1"}')).toEqual({});
    expect(countRequestLines('\u0016\u0003\u0001 tls bytes')).toEqual({});
  });
});

describe('bench fleet', () => {
  const spec = { repos: 3, tagsPerRepo: 36, environments: ['master', 'stage', 'develop'], newest: new Date('2026-11-20T18:00:00Z') };
  it('gives every image its own date and spreads tags over the environments', () => {
    const images = fleetImages(spec);
    expect(images).toHaveLength(108);
    expect(new Set(images.map((i) => i.created)).size).toBe(108);
    expect(new Set(images.map((i) => `${i.repository}:${i.tag}`)).size).toBe(108);
    expect(images.filter((i) => i.environment === 'master')).toHaveLength(36);
    expect(images.every((i) => i.tag.endsWith(`-${i.environment}`))).toBe(true);
  });
  it('expects the newest `limit` per repository, where tag text order is not date order', () => {
    const newest = expectedNewest(fleetImages(spec), 'master', 4).get('fleet/svc-01')!;
    expect(newest.map((i) => i.tag)).toEqual(['1.11.1-master', '1.10.1-master', '1.9.1-master', '1.8.1-master']);
    const all = expectedNewest(fleetImages(spec), 'master', 100).get('fleet/svc-01')!.map((i) => i.tag);
    expect(all).toHaveLength(12);
    expect([...all].sort().reverse()).not.toEqual(all);
  });
});
