/**
 * Hostile servers: a tiny in-process HTTP server answers every request of the registry client and
 * of the Marathon target with a random status, random headers (content type, digest, auth
 * challenge, Link, Location, Retry-After) and a random body (any JSON shape, near-valid shapes
 * with wrong types, broken JSON, large bodies). Every call either succeeds or fails with one
 * clear sentence (a RollbackError); and whatever Marathon answers, the target only ever PUTs the
 * image it was asked for, never forces over someone else's deployment, and never deletes one.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { Config, EnvironmentConfig, ServiceConfig } from '../../src/config/types';
import { describeError, RollbackError } from '../../src/errors';
import { createHttpClient } from '../../src/http/client';
import { createLogger } from '../../src/log';
import { createRegistryClient } from '../../src/registry/client';
import { createMarathonTarget } from '../../src/targets/marathon';
import { anyJson, expectOneClearSentence, fuzzParams, FUZZ_RUNS, nastyString, suiteFigures } from '../support/fuzz';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Serves the answers of the current case in turn (cycling), and records what it was asked. */
interface Scripted {
  url: string;
  answers: Answer[];
  seen: { method: string; url: string; body: string }[];
  server: Server;
}

async function scriptedServer(): Promise<Scripted> {
  const s = { answers: [] as Answer[], seen: [] as Scripted['seen'] } as Scripted;
  s.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      s.seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      const a = s.answers[(s.seen.length - 1) % Math.max(1, s.answers.length)] ?? { status: 500, headers: {}, body: '' };
      try {
        res.writeHead(a.status, a.headers);
        res.end(req.method === 'HEAD' ? undefined : (LARGE[a.body] ?? a.body));
      } catch {
        // A header value node refuses to send (e.g. a control character): drop the connection.
        res.destroy();
      }
    });
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
  return s;
}

/** Bodies too large to print in a counterexample: served by name. */
const LARGE: Record<string, string> = {
  '<100k tags>': JSON.stringify({ name: 'shop/api', tags: Array.from({ length: 100_000 }, (_, i) => `t${i}-prod`) }),
  '<100k nested arrays>': '['.repeat(100_000) + ']'.repeat(100_000),
  '<1 MiB string>': JSON.stringify({ message: 'x'.repeat(1 << 20) }),
};

const digestArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`),
  nastyString(20),
);
const dateArb = fc.oneof(fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'not a date' : d.toISOString())), nastyString(), anyJson(1));

/** JSON near what a registry or Marathon sends, with wrong types mixed in. */
const nearValidBody = fc.oneof(
  fc.record({ name: nastyString(), tags: fc.oneof(fc.array(fc.oneof(nastyString(10), anyJson(1)), { maxLength: 20 }), anyJson(1)) }, { requiredKeys: [] }),
  fc.record({
    schemaVersion: fc.oneof(fc.constantFrom(1, 2), anyJson(1)),
    mediaType: fc.oneof(fc.constantFrom('application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'), nastyString()),
    config: fc.oneof(fc.record({ digest: digestArb, mediaType: nastyString(), size: anyJson(0) }, { requiredKeys: [] }), anyJson(1)),
    manifests: fc.oneof(fc.array(fc.record({ digest: digestArb, platform: fc.oneof(fc.record({ architecture: fc.constantFrom('amd64', 'arm64'), os: fc.constantFrom('linux', 'windows') }), anyJson(1)) }, { requiredKeys: [] }), { maxLength: 3 }), anyJson(1)),
    history: fc.oneof(fc.array(fc.record({ v1Compatibility: fc.oneof(dateArb.map((d) => JSON.stringify({ created: d })), nastyString()) }, { requiredKeys: [] }), { maxLength: 3 }), anyJson(1)),
    annotations: fc.oneof(fc.record({ 'org.opencontainers.image.created': dateArb }), anyJson(1)),
  }, { requiredKeys: [] }),
  fc.record({ created: dateArb, architecture: nastyString(), os: nastyString() }, { requiredKeys: [] }),
  fc.record({ token: fc.oneof(nastyString(), anyJson(0)), access_token: fc.oneof(nastyString(), anyJson(0)), expires_in: anyJson(0) }, { requiredKeys: [] }),
  fc.record({ apps: fc.oneof(fc.array(fc.record({ id: fc.oneof(fc.constantFrom('/ds/prod/api', '/ds/prod/web', '/ds/prod/api/x', '/other/api'), anyJson(0)) }, { requiredKeys: [] }), { maxLength: 3 }), anyJson(1)) }, { requiredKeys: [] }),
  fc.record({
    app: fc.oneof(fc.record({
      id: fc.oneof(fc.constant('/ds/prod/api'), anyJson(0)),
      instances: anyJson(0),
      container: fc.oneof(fc.record({ docker: fc.oneof(fc.record({ image: fc.oneof(fc.constantFrom('r/shop/api:1', 'r/shop/api:2'), anyJson(0)) }), anyJson(1)) }), anyJson(1)),
      deployments: fc.oneof(fc.array(fc.record({ id: fc.oneof(fc.constantFrom('d1', 'd2'), anyJson(0)) }), { maxLength: 2 }), anyJson(1)),
      tasksRunning: anyJson(0), tasksHealthy: anyJson(0), tasksUnhealthy: anyJson(0), tasksStaged: anyJson(0),
      healthChecks: fc.oneof(fc.constant([{ protocol: 'HTTP' }]), anyJson(1)),
    }, { requiredKeys: [] }), anyJson(1)),
  }, { requiredKeys: [] }),
  fc.record({ deploymentId: fc.oneof(fc.constantFrom('d1', 'd2'), anyJson(0)), version: nastyString(), deployments: fc.oneof(fc.array(fc.record({ id: fc.oneof(fc.constantFrom('d1', 'd2'), anyJson(0)) }), { maxLength: 2 }), anyJson(1)), message: nastyString(), details: anyJson(2) }, { requiredKeys: [] }),
);

const answerArb = (origin: () => string): fc.Arbitrary<Answer> =>
  fc.record({
    status: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(200, 200, 200, 201) }, { weight: 3, arbitrary: fc.constantFrom(202, 204, 301, 302, 307, 400, 401, 403, 404, 405, 409, 422, 429, 500, 501, 502, 503) }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 599 }) }),
    contentType: fc.constantFrom('application/json', 'text/html', 'text/plain', 'application/octet-stream', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws', ''),
    digest: fc.option(digestArb),
    auth: fc.option(fc.constantFrom('Bearer realm="REALM/token",service="reg",scope="x"', 'Bearer realm="http://127.0.0.1:1/token"', 'Bearer', 'Basic realm="x"', 'Bearer realm=', 'garbage ,,, "')),
    link: fc.option(fc.constantFrom('<ORIGIN/v2/shop/api/tags/list?n=2&last=b>; rel="next"', '<http://127.0.0.1:1/v2/x/tags/list?last=a>; rel="next"', '</v2/shop/api/tags/list?last=z>; rel="next"', 'garbage', '<>; rel="next"')),
    location: fc.option(fc.constantFrom('ORIGIN/v2/shop/api/tags/list', '/v2/', 'http://127.0.0.1:1/x', '::::', '')),
    retryAfter: fc.option(fc.constantFrom('0', '1', 'Wed, 21 Oct 2015 07:28:00 GMT', 'soon', '-1')),
    body: fc.oneof(
      { weight: 4, arbitrary: nearValidBody.map((b) => JSON.stringify(b)) },
      { weight: 2, arbitrary: anyJson(4).map((b) => JSON.stringify(b)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.constantFrom('', '{', '{"tags": ["a", ', 'null', '[]', '"x"', '<html>502 Bad Gateway</html>') },
      // Large answers (100k tags, deep nesting): parsed or refused, never a hang or a crash.
      { weight: 1, arbitrary: fc.constantFrom(...Object.keys(LARGE)) },
    ),
  }).map((a) => {
    const headers: Record<string, string> = {};
    if (a.contentType) headers['content-type'] = a.contentType;
    if (a.digest) headers['docker-content-digest'] = a.digest;
    if (a.auth) headers['www-authenticate'] = a.auth.replace('REALM', origin());
    if (a.link) headers.link = a.link.replace('ORIGIN', origin());
    if (a.location !== null) headers.location = a.location.replace('ORIGIN', origin());
    if (a.retryAfter) headers['retry-after'] = a.retryAfter;
    return { status: a.status, headers, body: a.body };
  });

const quiet = createLogger({ write: () => {} });
/** The answers surface has two halves (registry, Marathon): together they make the surface's FUZZ_RUNS cases. */
const HALF = Math.ceil(FUZZ_RUNS / 2);
// Informational 1xx answers are left out: node's server cannot end a request with one.
const fastHttp = () => ({ attempts: 2, sleep: async () => {}, timeoutMs: 1_000, maxWaitMs: 1 });

function expectSentence(err: unknown, context: string): void {
  if (!(err instanceof RollbackError)) throw new Error(`unclassified exception (${describeError(err)}) for ${context}`);
  expectOneClearSentence(describeError(err), context);
}

describe('fuzzed server answers', () => {
  // Figures only from a run whose every test passed (suiteFigures), stamped with the commit.
  const { it, record } = suiteFigures('fuzz-answers');
  let srv: Scripted;
  const counts = { registry: 0, marathon: 0, registryOk: 0, marathonOk: 0, requests: 0 };
  beforeAll(async () => {
    srv = await scriptedServer();
  });
  afterAll(async () => {
    srv.server.closeAllConnections();
    await new Promise((r) => srv.server.close(r));
  });

  it('the registry client succeeds or says what is wrong in one sentence, whatever the registry answers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(answerArb(() => srv.url), { minLength: 1, maxLength: 6 }), fc.constantFrom('tags', 'digest', 'hasManifest', 'imageDate'), async (answers, op) => {
        counts.registry++;
        srv.answers = answers;
        srv.seen = [];
        const client = createRegistryClient({ url: srv.url, concurrency: 2, username: 'robot', password: 'answers-fuzz-password' }, { logger: quiet, http: fastHttp(), maxPages: 3 });
        const context = JSON.stringify({ op, answers: answers.map((a) => ({ ...a, body: a.body.slice(0, 200) })) });
        try {
          if (op === 'tags') await client.tags('shop/api');
          if (op === 'digest') await client.digest('shop/api', '1-prod');
          if (op === 'hasManifest') await client.hasManifest('shop/api', `sha256:${'a'.repeat(64)}`);
          if (op === 'imageDate') await client.imageDate('shop/api', '1-prod');
          counts.registryOk++;
        } catch (err) {
          expectSentence(err, context);
        } finally {
          await client.close();
          counts.requests += srv.seen.length;
        }
        // The password never travels to a server it was not meant for (only this one is reachable).
        expect(srv.seen.every((r) => !r.url.includes('answers-fuzz-password'))).toBe(true);
      }),
      fuzzParams(HALF),
    );
    expect(counts.registryOk).toBeGreaterThan(0);
  }, 300_000);

  it('the Marathon target succeeds or says what is wrong in one sentence, and only ever PUTs the asked image', async () => {
    const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { marathon: { url: '', appPrefix: '/ds/prod' } } };
    const service: ServiceConfig = { name: 'api', repository: 'shop/api' };
    const WANTED = 'r/shop/api:1@sha256:' + 'b'.repeat(64);
    // Good answers mixed in, so cases get past the app lookup and meet the hostile answer later.
    const ok = (body: unknown): Answer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const healthy = (image: string) => ok({ app: { id: '/ds/prod/api', instances: 1, container: { docker: { image } }, deployments: [], tasksRunning: 1, tasksHealthy: 1, tasksUnhealthy: 0, tasksStaged: 0, healthChecks: [{}] } });
    const good = fc.constantFrom(ok({ apps: [{ id: '/ds/prod/api' }] }), healthy('r/shop/api:2'), healthy(WANTED), ok({ deploymentId: 'd1', version: 'v' }));
    const answer = fc.oneof({ weight: 2, arbitrary: answerArb(() => srv.url) }, { weight: 3, arbitrary: good });
    const answers = fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constant(ok({ apps: [{ id: '/ds/prod/api' }] })) }, { weight: 1, arbitrary: answer }), fc.array(answer, { maxLength: 7 })).map(([first, rest]) => [first, ...rest]);
    await fc.assert(
      fc.asyncProperty(answers, fc.constantFrom('current', 'busy', 'deploy', 'waitHealthy'), async (answers, op) => {
        counts.marathon++;
        srv.answers = answers;
        srv.seen = [];
        environment.target = { marathon: { url: srv.url, appPrefix: '/ds/prod' } };
        const config = { services: [service], deployTimeout: 2 } as unknown as Config;
        // A clock that runs 400 ms per look: waits and lock waits reach their bound in a few requests.
        let t = Date.UTC(2026, 10, 21);
        const http = createHttpClient(fastHttp());
        const target = createMarathonTarget({ config, environment, env: {}, logger: quiet, http, stateDir: '/nonexistent', sleep: async () => {}, now: () => new Date((t += 400)) });
        const context = JSON.stringify({ op, answers: answers.map((a) => ({ ...a, body: a.body.slice(0, 200) })) });
        try {
          if (op === 'current') await target.current(service);
          if (op === 'busy') await target.busy(service);
          if (op === 'deploy') await target.deploy(service, WANTED);
          if (op === 'waitHealthy') await target.waitHealthy(service, WANTED, 2_000);
          counts.marathonOk++;
        } catch (err) {
          expectSentence(err, context);
        } finally {
          await target.close();
          await http.close();
          counts.requests += srv.seen.length;
        }
        for (const r of srv.seen) {
          expect({ context, method: r.method }).not.toEqual({ context, method: 'DELETE' });
          if (r.method === 'PUT') {
            // Whatever the answers were, the one change is the asked image, on an app under the prefix.
            expect(JSON.parse(r.body).container.docker.image).toBe(WANTED);
            expect(r.url.startsWith('/v2/apps/ds/prod/')).toBe(true);
          }
        }
        // force=true only to supersede a deployment this target itself started (an earlier PUT that took).
        const forced = srv.seen.findIndex((r) => r.method === 'PUT' && r.url.includes('force=true'));
        if (forced >= 0) expect(srv.seen.slice(0, forced).some((r) => r.method === 'PUT')).toBe(true);
        expect(op === 'deploy' || srv.seen.every((r) => r.method === 'GET')).toBe(true);
      }),
      fuzzParams(HALF),
    );
    expect(counts.marathonOk).toBeGreaterThan(0);
  }, 300_000);

  it('a JSON null where an object belongs is said plainly (found by this fuzzer in the tag list and the Marathon app list)', async () => {
    srv.answers = [{ status: 200, headers: { 'content-type': 'application/json' }, body: 'null' }];
    const client = createRegistryClient({ url: srv.url, concurrency: 1 }, { logger: quiet, http: fastHttp() });
    await expect(client.tags('shop/api')).rejects.toThrow(/sent a tag list that is not a JSON object \(HTTP 200\)\.$/);
    await client.close();
    const http = createHttpClient(fastHttp());
    const config = { services: [], deployTimeout: 2 } as unknown as Config;
    const target = createMarathonTarget({ config, environment: { name: 'prod', tags: '', target: { marathon: { url: srv.url, appPrefix: '/ds/prod' } } }, env: {}, logger: quiet, http, stateDir: '/nonexistent' });
    await expect(target.current({ name: 'api', repository: 'shop/api' })).rejects.toThrow(/sent a app list that is not a JSON object|sent an? app list that is not a JSON object/);
    await target.close();
    await http.close();
  });

  it('an endless body is cut off at the size limit with one sentence', async () => {
    const big = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 80 && res.write(chunk)) sent++;
        if (sent < 80) res.once('drain', pump);
        else res.end();
      };
      pump();
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    const http = createHttpClient(fastHttp());
    try {
      await expect(http.request(`http://127.0.0.1:${(big.address() as AddressInfo).port}/v2/shop/api/tags/list`)).rejects.toThrow(/answered with more than \d+ bytes/);
    } finally {
      await http.close();
      big.closeAllConnections();
      await new Promise((r) => big.close(r));
    }
  });

  afterAll(() => {
    if (counts.registry >= HALF && counts.marathon >= HALF) {
      record({
        figures: { 'registry answers (cases)': counts.registry, 'Marathon answers (cases)': counts.marathon, 'HTTP requests answered': counts.requests, 'registry calls that succeeded': counts.registryOk, 'Marathon calls that succeeded': counts.marathonOk },
        summary: 'random statuses, headers and bodies (any JSON, near-valid shapes with wrong types, broken JSON, 100k tags, deep nesting) for the registry client and the Marathon target',
      });
    }
  });
});
