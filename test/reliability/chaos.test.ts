/**
 * Network chaos across the whole flow. Each round is a full `rollback get` then `rollback run`
 * of a 3-service fleet (registry double -> catalog -> Marathon double) while both doubles drop
 * connections, answer 5xx or 429, stall, or serve a bad image, at points drawn from a seeded
 * random generator. Whatever happens, the round must end with the fleet fully at the plan
 * (exit 0) or fully as it was (exit 1, and the sentence says so), or exit 3 naming every
 * service's state; never a fleet nobody can name. Among the Marathon faults: an image whose new
 * tasks fail their health checks (its deployment stays in flight, as Marathon keeps it) and a PUT
 * whose answer is lost after it took; a round where a deployment got stuck must end with
 * everything put back (exit 1) and nothing left in flight: the run supersedes its own deployment.
 *
 * The figures count faults that fired (a drawn fault the round never reached is not counted) and
 * leave rounds that stopped at `get` (no run) out of the run outcomes.
 *
 * ROLLBACK_CHAOS_ROUNDS (default 30) and ROLLBACK_CHAOS_SEED replay or widen it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startMarathon, type AppFaults, type MarathonDouble } from '../doubles/marathon-double';
import { startRegistryDouble, type FaultRule, type RegistryDouble } from '../doubles/registry-double';
import { expectOneClearSentence, suiteFigures } from '../support/fuzz';

const ROUNDS = Number(process.env.ROLLBACK_CHAOS_ROUNDS) > 0 ? Number(process.env.ROLLBACK_CHAOS_ROUNDS) : 30;
const SEED = Number(process.env.ROLLBACK_CHAOS_SEED) > 0 ? Number(process.env.ROLLBACK_CHAOS_SEED) : 9;
const NAMES = ['api', 'web', 'db'];
const D = '2026-11-18';

/** mulberry32: a tiny seeded generator, so a failing round replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Chaos {
  registry: FaultRule[];
  marathon: Record<string, AppFaults>;
  drop: number;
  /** Said in a failure message, to replay the round by reading it. */
  text: string;
}

/** Draws the faults of one round: mostly transient (the client's retries should absorb them), sometimes fatal. */
function drawChaos(rand: () => number): Chaos {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const service = () => pick(NAMES);
  const registry: FaultRule[] = [];
  const marathon: Record<string, AppFaults> = {};
  let drop = 0;
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const where = pick([`/v2/shop/${service()}/tags/list`, `/v2/shop/${service()}/manifests/`, `/v2/shop/${service()}/blobs/`, 'HEAD /v2/shop/', '/v2/']);
    // Mostly fewer failures than the client's 4 attempts; one draw in eight outlasts them.
    const times = rand() < 0.125 ? 10 : 1 + Math.floor(rand() * 2);
    const fault = pick<FaultRule['fault']>([{ status: 500 }, { status: 503 }, { status: 502 }, { status: 429, retryAfter: '0' }, { reset: true }, { delayMs: 50 + Math.floor(rand() * 400) }]);
    registry.push({ match: where, fault, times });
  }
  const m = Math.floor(rand() * 3);
  for (let i = 0; i < m; i++) {
    const id = `/ds/prod/${service()}`;
    const f: AppFaults = (marathon[id] ??= {});
    const kind = pick(['get', 'put', 'reset', 'slow', 'unhealthy', 'putFatal', 'lostStuck']);
    if (kind === 'get') f.get = { status: pick([500, 503] as const), times: 1 + Math.floor(rand() * 2) };
    if (kind === 'put') f.put = { status: pick([500, 503, 409] as const), times: 1 + Math.floor(rand() * 2) };
    if (kind === 'putFatal') f.put = { status: 422, times: 1 };
    if (kind === 'reset') f.reset = { times: 1, afterApply: rand() < 0.5 };
    if (kind === 'slow') f.slowMs = 20 + Math.floor(rand() * 200);
    // A bad image: the new one never becomes healthy, the old one is fine (a real outage's shape).
    if (kind === 'unhealthy') f.unhealthy = 'PLANNED';
    // The worst pair: the PUT takes, its answer is lost, and the deployment it started never ends.
    if (kind === 'lostStuck') {
      f.unhealthy = 'PLANNED';
      f.reset = { times: 1, afterApply: true };
    }
  }
  if (rand() < 0.4) drop = 1 + Math.floor(rand() * 2);
  return { registry, marathon, drop, text: JSON.stringify({ registry: registry.map((r) => ({ ...r, match: String(r.match) })), marathon, drop }) };
}

describe('network chaos across get -> run', () => {
  let reg: RegistryDouble;
  let dir: string;
  const outcomes = { rounds: 0, getFailed: 0, atPlan: 0, asBefore: 0, partial: 0, drawn: 0, fired: 0, stuck: 0, lost: 0, stuckRounds: 0 };
  const { it, record } = suiteFigures('chaos');

  beforeAll(async () => {
    reg = await startRegistryDouble({
      fleet: Object.fromEntries(NAMES.map((n) => [`shop/${n}`, { '1-prod': { created: `${D}T10:00:00Z` }, '2-prod': { created: '2026-11-20T10:00:00Z' }, '3-dev': { created: '2026-11-21T10:00:00Z' } }])),
    });
    dir = mkdtempSync(join(tmpdir(), 'rollback-chaos-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, 'services:', ...NAMES.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', '      marathon: { url: "${MARATHON_URL}", appPrefix: /ds/prod }', 'parallel: 2', 'deployTimeout: 2', 'settle: 0', '',
    ].join('\n'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${ROUNDS} rounds of get -> run under seeded faults end at the plan, as before, or with every state named`, async () => {
    const rand = prng(SEED);
    for (let round = 1; round <= ROUNDS; round++) {
      const chaos = drawChaos(rand);
      outcomes.drawn += chaos.registry.length + Object.values(chaos.marathon).reduce((n, f) => n + Object.keys(f).length, 0) + (chaos.drop ? 1 : 0);
      rmSync(join(dir, '.rollback'), { recursive: true, force: true });
      const start = NAMES.map((n) => `${reg.host}/shop/${n}:2-prod`);
      const m: MarathonDouble = await startMarathon({ deployMs: 10, apps: NAMES.map((n, i) => ({ id: `/ds/prod/${n}`, image: start[i] })) });
      try {
        const env = { PATH: process.env.PATH, MARATHON_URL: m.url, USER: 'ci' };
        const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), ...rest];
        const cli = async (...a: string[]) => {
          const out: string[] = [];
          const err: string[] = [];
          const code = await main(a, env, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), cwd: dir, stderrIsTTY: false });
          return { code, out: out.join(''), err: err.join(''), last: err.join('').trim().split('\n').pop() ?? '' };
        };
        const images = () => NAMES.map((n) => m.apps.get(`/ds/prod/${n}`)!.container.docker.image);
        const at = `round ${round} (seed ${SEED}) with ${chaos.text}`;

        reg.clearFaults();
        for (const rule of chaos.registry) reg.fault({ ...rule });
        outcomes.rounds++;
        const got = await cli(...args('get'));
        if (got.code !== 0) {
          outcomes.fired += reg.faultsFired();
          // The registry outlasted the retries: get says so in one sentence, and nothing changed.
          expect({ at, code: got.code }).toEqual({ at, code: 1 });
          expectOneClearSentence(got.last.replace(/^rollback: /, ''), at);
          expect(got.out).toBe('');
          expect(images()).toEqual(start);
          outcomes.getFailed++;
          continue;
        }
        expect({ at, dates: got.out }).toEqual({ at, dates: `2026-11-20\n${D}\n` });
        const catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8'));
        const planned: string[] = NAMES.map((n) => catalog.services.find((s: { name: string }) => s.name === n).images.find((i: { tag: string }) => i.tag === '1-prod').reference);

        // The Marathon side joins in now (and the registry keeps its leftover faults for preflight).
        for (const [id, f] of Object.entries(chaos.marathon)) {
          if (f.unhealthy === 'PLANNED') f.unhealthy = planned[NAMES.indexOf(id.split('/').pop()!)];
          m.faults[id] = f;
        }
        m.drop = chaos.drop;
        const run = await cli(...args('run', '--date', D));
        const sentence = run.last.replace(/^rollback: /, '');
        expectOneClearSentence(sentence, at);
        // What fired: registry rules met at least once, and drawn Marathon faults that changed at
        // least one answer (a fault that fired twice, or a drop that cut two connections, counts once).
        const firedMarathon = new Set(m.fired.map((f) => f.replace(/^(get|put) \d+ /, '$1 ').replace(/^lost-answer /, 'reset ')));
        outcomes.fired += reg.faultsFired() + firedMarathon.size;
        const stuck = m.fired.filter((f) => f.startsWith('stuck ')).length;
        outcomes.stuck += stuck;
        outcomes.lost += m.fired.filter((f) => f.startsWith('lost-answer ')).length;
        if (stuck > 0) {
          // A run whose own deployment got stuck supersedes it on the way back: all put back, nothing in flight.
          outcomes.stuckRounds++;
          expect({ at, code: run.code, sentence }).toEqual({ at, code: 1, sentence: expect.stringMatching(/every changed service was put back|nothing was changed/) });
          expect({ at, inFlight: [...m.deployments.values()].filter((d) => d.image !== m.running.get(d.affectedApps[0])).length }).toEqual({ at, inFlight: 0 });
        }
        if (run.code === 0) {
          expect({ at, images: images() }).toEqual({ at, images: planned });
          outcomes.atPlan++;
        } else if (run.code === 1) {
          expect({ at, images: images() }).toEqual({ at, images: start });
          expect({ at, sentence }).toEqual({ at, sentence: expect.stringMatching(/nothing was changed|every changed service was put back/) });
          outcomes.asBefore++;
        } else {
          expect({ at, code: run.code }).toEqual({ at, code: 3 });
          // Partly done: the sentence names every service with its state.
          for (const n of NAMES) expect({ at, sentence }).toEqual({ at, sentence: expect.stringContaining(`${n} `) });
          outcomes.partial++;
        }
      } finally {
        await m.stop();
      }
    }
    // The faults must bite: some rounds fail and are put back, some get through their retries.
    expect(outcomes.atPlan).toBeGreaterThan(0);
    expect(outcomes.asBefore + outcomes.getFailed).toBeGreaterThan(0);
    // The seeded draw must reach the hard cases, or the figures would claim what was not tried.
    expect(outcomes.stuckRounds).toBeGreaterThan(0);
    expect(outcomes.lost).toBeGreaterThan(0);
  }, 600_000);

  afterAll(() => {
    record({
      figures: {
        'chaos rounds (get -> run)': outcomes.rounds,
        'rounds that reached a run': outcomes.atPlan + outcomes.asBefore + outcomes.partial,
        'rounds where get failed (no run)': outcomes.getFailed,
        'faults drawn': outcomes.drawn,
        'faults that fired': outcomes.fired,
        'stuck deployments (fired)': outcomes.stuck,
        'PUT answers lost (fired)': outcomes.lost,
        'ended at the plan (exit 0)': outcomes.atPlan,
        'ended as before (exit 1)': outcomes.asBefore,
        'ended partly done, every state named (exit 3)': outcomes.partial,
      },
      summary: 'full get -> run rounds while the registry and Marathon doubles drop connections, answer 5xx/429, stall, lose PUT answers or serve an image whose deployment stays stuck on failing health checks (seeded); only faults that fired are counted, and rounds stopped at get are not run outcomes',
    });
  });
});
