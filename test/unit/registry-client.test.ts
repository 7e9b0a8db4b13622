import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryConfig } from '../../src/config/types';
import { RollbackError } from '../../src/errors';
import { rejection } from '../support/rejection';
import { mask, memoryLogger } from '../../src/log';
import { createRegistryClient, nextLink, RegistryClient, SkippedImage } from '../../src/registry/client';
import { DoubleFleet, RegistryDouble, RegistryDoubleOptions, startRegistryDouble } from '../doubles/registry-double';

const fleet = (): DoubleFleet => ({
  'shop/api': {
    'v1-prod': { created: '2026-11-01T10:00:00Z' },
    'v2-prod': { created: '2026-11-02T10:00:00Z', format: 'oci' },
    'v3-prod': { created: '2026-11-03T10:00:00Z', format: 'oci-index', otherArchCreated: '2026-12-25T00:00:00Z' },
    'v4-prod': { created: '2026-11-04T10:00:00Z', format: 'docker-list', otherArchCreated: '2026-12-25T00:00:00Z' },
    'old-prod': { created: '2026-10-01T08:00:00Z', otherArchCreated: '2026-10-05T09:30:00Z', format: 'schema1' },
    'annotated-prod': { annotation: '2026-11-05T12:00:00Z', format: 'oci' },
    'epoch-prod': { created: '1970-01-01T00:00:00Z', annotation: '2026-11-06T12:00:00Z', format: 'oci' },
    'undated-prod': { format: 'oci' },
  },
  'shop/web': { 'w1-prod': { created: '2026-11-01T11:00:00Z' } },
});

let double: RegistryDouble | undefined;
let client: RegistryClient | undefined;
const waits: number[] = [];

async function setup(o: Partial<RegistryDoubleOptions> = {}, r: Partial<RegistryConfig> = {}, extra: Parameters<typeof createRegistryClient>[1] extends infer T ? Partial<T> : never = {}) {
  double = await startRegistryDouble({ fleet: fleet(), ...o });
  waits.length = 0;
  client = createRegistryClient(
    { url: double.url, concurrency: 4, ...r },
    { logger: memoryLogger(), http: { sleep: async (ms) => void waits.push(ms), random: () => 0.5, timeoutMs: 2000 }, ...extra },
  );
  return { double, client };
}

afterEach(async () => {
  await client?.close();
  await double?.stop();
  client = undefined;
  double = undefined;
});


describe('image dates, anonymous registry', () => {
  it.each([
    ['v1-prod', '2026-11-01T10:00:00.000Z', 'Docker v2 manifest: config created'],
    ['v2-prod', '2026-11-02T10:00:00.000Z', 'OCI manifest'],
    ['v3-prod', '2026-11-03T10:00:00.000Z', 'OCI index: the linux/amd64 entry, not the first'],
    ['v4-prod', '2026-11-04T10:00:00.000Z', 'Docker manifest list: the linux/amd64 entry'],
    ['old-prod', '2026-10-05T09:30:00.000Z', 'schema1: the newest history entry'],
    ['annotated-prod', '2026-11-05T12:00:00.000Z', 'no config date: the OCI annotation'],
    ['epoch-prod', '2026-11-06T12:00:00.000Z', 'a reproducible-build epoch counts as no date'],
  ])('%s is dated %s (%s)', async (tag, created) => {
    const { client, double } = await setup();
    const dated = await client.imageDate('shop/api', tag);
    expect(dated.created).toBe(created);
    // The digest is the one the tag points at, which HEAD reports too.
    expect(await client.digest('shop/api', tag)).toBe(dated.digest);
    expect(double.count(/^HEAD /)).toBe(1);
  });

  it('skips an image with no date at all, naming it', async () => {
    const { client } = await setup();
    const err = await rejection(client.imageDate('shop/api', 'undated-prod'));
    expect(err).toBeInstanceOf(SkippedImage);
    expect(err.message).toMatch(/shop\/api:undated-prod has no usable date/);
  });

  it('sends every manifest media type in Accept, on GET and HEAD', async () => {
    const { client, double } = await setup();
    await client.imageDate('shop/api', 'v1-prod');
    await client.digest('shop/api', 'v1-prod');
    const sent = double.requests.filter((r) => r.path.includes('/manifests/'));
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      for (const type of [
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
        'application/vnd.docker.distribution.manifest.v1+json',
      ]) expect(r.accept).toContain(type);
    }
  });

  it('reads a digest by GET when HEAD leaves Docker-Content-Digest off', async () => {
    const { client } = await setup({ omitHeadDigest: true });
    const { digest } = await client.imageDate('shop/api', 'v2-prod');
    expect(await client.digest('shop/api', 'v2-prod')).toBe(digest);
  });

  it('tells whether a manifest still exists, by HEAD on its digest', async () => {
    const { client, double } = await setup();
    const { digest } = await client.imageDate('shop/api', 'v1-prod');
    expect(await client.hasManifest('shop/api', digest)).toBe(true);
    expect(await client.hasManifest('shop/api', `sha256:${'0'.repeat(64)}`)).toBe(false);
    expect(double.count(/^HEAD \/v2\/shop\/api\/manifests\/sha256:/)).toBe(2);
  });

  it('says plainly when a repository does not exist (input error, exit 2)', async () => {
    const { client } = await setup();
    const err = await rejection(client.tags('shop/nope'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^Repository shop\/nope does not exist on http:\/\/127\.0\.0\.1:\d+ \(GET http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/nope\/tags\/list answered 404 Not Found\)\.$/);
  });
});

describe('tag list pagination', () => {
  it('follows Link rel="next" page by page', async () => {
    const { client, double } = await setup({ maxPageSize: 3 });
    const tags = await client.tags('shop/api');
    expect(tags.sort()).toEqual(Object.keys(fleet()['shop/api']).sort());
    expect(double.count('/tags/list')).toBe(3);
  });

  it('refuses a next link to another origin', async () => {
    const { client } = await setup({ maxPageSize: 3, linkOrigin: 'http://elsewhere.invalid' });
    const err = await rejection(client.tags('shop/api'));
    expect(err.message).toMatch(/points the next page of tags at another host \(http:\/\/elsewhere\.invalid\)/);
  });

  it('stops at the page cap with a sentence', async () => {
    const { client } = await setup({ maxPageSize: 2 }, {}, { maxPages: 2 });
    const err = await rejection(client.tags('shop/api'));
    expect(err.message).toMatch(/shop\/api .* has more than 2 pages of tags/);
  });

  it('refuses pages that loop back to an earlier page', async () => {
    // A broken registry whose next link always points at the first page.
    const server = createServer((req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      res.writeHead(200, { 'content-type': 'application/json', link: '</v2/shop/api/tags/list?n=1000>; rel="next"' }).end('{"tags":["a-prod"]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = createRegistryClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, concurrency: 1 }, { logger: memoryLogger() });
    try {
      const err = await rejection(c.tags('shop/api'));
      expect(err.message).toMatch(/shop\/api .*: the tag list pages loop back to http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/api\/tags\/list; the registry's pagination is broken\.$/);
    } finally {
      await c.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('parses Link headers with several links and relative URLs', () => {
    expect(nextLink('<https://r/v2/x/tags/list?n=2&last=b>; rel="next"', 'https://r/v2/x/tags/list')).toBe('https://r/v2/x/tags/list?n=2&last=b');
    expect(nextLink('</a?x=1>; rel="prev", </b?last=c>; rel=next', 'https://r/v2/')).toBe('https://r/b?last=c');
    expect(nextLink('</a>; rel="prev"', 'https://r/')).toBeUndefined();
    expect(nextLink(undefined, 'https://r/')).toBeUndefined();
  });
});

describe('bearer tokens', () => {
  const auth = { kind: 'bearer' as const, username: 'ci', password: 's3cret-pass' };
  const creds = { username: 'ci', password: 's3cret-pass' };

  it('asks the realm for repository:<name>:pull and reuses one token per scope', async () => {
    const { client, double } = await setup({ auth }, creds);
    await client.imageDate('shop/api', 'v1-prod');
    await client.imageDate('shop/api', 'v2-prod');
    await client.imageDate('shop/web', 'w1-prod');
    expect(double.tokensIssued()).toBe(2);
    const scopes = double.requests.filter((r) => r.path.startsWith('/token')).map((r) => new URL(r.path, double!.url).searchParams.get('scope'));
    expect(scopes.sort()).toEqual(['repository:shop/api:pull', 'repository:shop/web:pull']);
    // The token request carries the basic credentials; registry requests carry the token only.
    expect(double.requests.filter((r) => r.path.startsWith('/token')).every((r) => r.authorization?.startsWith('Basic '))).toBe(true);
    expect(double.requests.filter((r) => r.path.includes('/manifests/')).every((r) => r.authorization?.startsWith('Bearer tok-'))).toBe(true);
  });

  it('accepts access_token as well as token', async () => {
    const { client, double } = await setup({ auth: { ...auth, tokenField: 'access_token' } }, creds);
    expect((await client.imageDate('shop/api', 'v1-prod')).created).toBe('2026-11-01T10:00:00.000Z');
    expect(double.tokensIssued()).toBe(1);
  });

  it('asks again once expires_in has passed', async () => {
    let now = 1_000_000;
    const { client, double } = await setup({ auth: { ...auth, expiresIn: 60 } }, creds, { now: () => now });
    await client.tags('shop/api');
    now += 30_000;
    await client.tags('shop/api');
    expect(double.tokensIssued()).toBe(1);
    now += 31_000;
    await client.tags('shop/api');
    expect(double.tokensIssued()).toBe(2);
  });

  it('gets a fresh token once when the registry stops accepting the old one', async () => {
    const { client, double } = await setup({ auth }, creds);
    await client.tags('shop/api');
    double.revokeTokens();
    expect(await client.tags('shop/api')).toHaveLength(8);
    expect(double.tokensIssued()).toBe(2);
  });

  it('says a wrong password at the token server plainly, exit 2, and never shows it', async () => {
    const { client } = await setup({ auth }, { username: 'ci', password: 'wrong-password' });
    const err = await rejection(client.tags('shop/api'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^Registry http:\/\/127\.0\.0\.1:\d+ refused the credentials of user 'ci' \(401 at http:\/\/127\.0\.0\.1:\d+\/token, the token server\)/);
    expect(mask(err.message)).toBe(err.message);
    expect(mask('x wrong-password y')).toBe('x *** y');
  });

  it('asks for a login when the token server wants credentials and none are set', async () => {
    const { client } = await setup({ auth });
    const err = await rejection(client.tags('shop/api'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/asks for a login \(401 at .*\/token\); set registry\.username and registry\.password, or run docker login 127\.0\.0\.1:\d+ on this agent\.$/);
  });
});

describe('basic auth', () => {
  it('sends the credentials and says a wrong password plainly', async () => {
    const { client } = await setup({ auth: { kind: 'basic', username: 'ci', password: 'right-one' } }, { username: 'ci', password: 'wrong-one' });
    const err = await rejection(client.tags('shop/api'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/refused the credentials of user 'ci' \(401 at http:\/\/127\.0\.0\.1:\d+\/v2\/\)/);
  });
});

describe('faults', () => {
  it('waits out 429 with the Retry-After the registry asked for', async () => {
    const { client, double } = await setup();
    double.fault({ match: '/tags/list', fault: { status: 429, retryAfter: '3' }, times: 1 });
    expect(await client.tags('shop/web')).toEqual(['w1-prod']);
    expect(waits).toEqual([3000]);
  });

  it.each([500, 502, 503])('retries %i with backoff and then succeeds', async (status) => {
    const { client, double } = await setup();
    double.fault({ match: '/manifests/', fault: { status }, times: 2 });
    expect((await client.imageDate('shop/web', 'w1-prod')).created).toBe('2026-11-01T11:00:00.000Z');
    expect(waits).toHaveLength(2);
    expect(waits[1]).toBeGreaterThan(waits[0]);
  });

  it('gives up on a 503 that lasts, naming the URL and status', async () => {
    const { client, double } = await setup();
    double.fault({ match: '/manifests/', fault: { status: 503 } });
    const err = await rejection(client.imageDate('shop/web', 'w1-prod'));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/web\/manifests\/w1-prod answered 503 Service Unavailable\.$/);
    expect(double.count('/manifests/')).toBe(4);
  });

  it('retries a connection reset', async () => {
    const { client, double } = await setup();
    double.fault({ match: '/tags/list', fault: { reset: true }, times: 2 });
    expect(await client.tags('shop/web')).toEqual(['w1-prod']);
    expect(double.count('/tags/list')).toBe(3);
  });

  it('retries an answer slower than the timeout', async () => {
    const { client, double } = await setup({}, {}, { http: { sleep: async () => undefined, timeoutMs: 150 } });
    double.fault({ match: '/tags/list', fault: { delayMs: 5000 }, times: 1 });
    expect(await client.tags('shop/web')).toEqual(['w1-prod']);
    expect(double.count('/tags/list')).toBe(2);
  });

  it('says which URL sent malformed JSON', async () => {
    const { client, double } = await setup();
    double.fault({ match: '/tags/list', fault: { malformed: true } });
    const err = await rejection(client.tags('shop/web'));
    expect(err.message).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/web\/tags\/list sent a tag list that is not valid JSON \(HTTP 200\)\.$/);
  });

  it('keeps at most registry.concurrency requests in flight', async () => {
    const many: DoubleFleet = { 'shop/api': Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`t${i}-prod`, { created: `2026-11-0${1 + (i % 9)}T00:00:00Z` }])) };
    double = await startRegistryDouble({ fleet: many });
    client = createRegistryClient({ url: double.url, concurrency: 3 }, { logger: memoryLogger() });
    double.fault({ match: '/manifests/', fault: { delayMs: 10 } });
    const c = client;
    await Promise.all(Object.keys(many['shop/api']).map((t) => c.imageDate('shop/api', t)));
    expect(double.peakConcurrency()).toBeLessThanOrEqual(3);
    expect(double.count('/manifests/')).toBe(40);
  });
});

describe('connection reuse', () => {
  it('keeps connections open across GETs and HEADs (at most one per concurrent request)', async () => {
    const many: DoubleFleet = { 'shop/api': Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`t${i}-prod`, { created: '2026-11-01T00:00:00Z' }])) };
    double = await startRegistryDouble({ fleet: many });
    const c = createRegistryClient({ url: double.url, concurrency: 3 }, { logger: memoryLogger() });
    client = c;
    const tags = await c.tags('shop/api');
    await Promise.all(tags.map((t) => c.imageDate('shop/api', t)));
    await Promise.all(tags.map((t) => c.digest('shop/api', t)));
    expect(double.count(/^HEAD /)).toBe(30);
    expect(double.connections()).toBeLessThanOrEqual(3);
  });
});

describe('unreachable registry', () => {
  it('says it cannot be reached, exit 1', async () => {
    const c = createRegistryClient({ url: 'http://127.0.0.1:9', concurrency: 2 }, { logger: memoryLogger(), http: { sleep: async () => undefined } });
    client = c;
    const err = await rejection(c.tags('shop/api'));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^Registry http:\/\/127\.0\.0\.1:9 cannot be reached: GET http:\/\/127\.0\.0\.1:9\/v2\/ failed: ECONNREFUSED/);
  });
});

describe('TLS', () => {
  let dir: string;
  let tls: { key: string; cert: string };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rollback-tls-'));
    // A self-signed certificate for 127.0.0.1, as a registry on a private network would have.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a self-signed certificate by default and says what to set (exit 1)', async () => {
    const { client } = await setup({ tls });
    const err = await rejection(client.tags('shop/web'));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^Registry https:\/\/127\.0\.0\.1:\d+ cannot be reached: GET .* failed: .*(SELF_SIGNED|UNABLE_TO_VERIFY).*set registry\.ca to its CA file \(or registry\.insecure: true\); it is added to the system roots\.$/);
  });

  it('trusts it with registry.ca', async () => {
    const { client } = await setup({ tls }, { ca: join(dir, 'cert.pem') });
    expect(await client.tags('shop/web')).toEqual(['w1-prod']);
  });

  it('accepts it with registry.insecure', async () => {
    const { client } = await setup({ tls }, { insecure: true });
    expect(await client.tags('shop/web')).toEqual(['w1-prod']);
  });

  it('says an unreadable CA file is bad input (exit 2)', () => {
    let err: unknown;
    try {
      createRegistryClient({ url: 'https://127.0.0.1:1', concurrency: 1, ca: join(dir, 'missing.pem') }, { logger: memoryLogger() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RollbackError);
    expect((err as RollbackError).exitCode).toBe(2);
    expect((err as RollbackError).message).toBe(`registry.ca file ${join(dir, 'missing.pem')} cannot be read (ENOENT).`);
  });

  it('says a client key that is not PEM is bad input (exit 2), before any request', () => {
    const notPem = join(dir, 'not-a-key.pem');
    writeFileSync(notPem, 'this is not a key\n');
    let err: unknown;
    try {
      createRegistryClient({ url: 'https://127.0.0.1:1', concurrency: 1, cert: notPem, key: notPem }, { logger: memoryLogger() });
    } catch (e) {
      err = e;
    }
    expect((err as RollbackError).exitCode).toBe(2);
    expect((err as RollbackError).message).toMatch(/^registry\.cert and registry\.key cannot be used \(a CA, certificate or key that is not PEM, or a key that does not match its certificate\): .+\.$/);
  });
});
