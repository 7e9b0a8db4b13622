/**
 * What real registries do that the real docker-registry cannot show, on the registry double:
 * Gitea's two challenges, a public /v2/ over private repositories, Artifactory's repository
 * path, Docker Hub (library/, rate limits), ACR's refresh-token exchange, a token realm on plain
 * http, and images dated by labels, annotations and nested indexes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagePrefix } from '../../src/catalog/build';
import type { RegistryConfig } from '../../src/config/types';
import { rejection } from '../support/rejection';
import { memoryLogger } from '../../src/log';
import { createRegistryClient, hubRateLimit, keepPrefix, RegistryClient, RegistryClientOptions, SkippedImage } from '../../src/registry/client';
import type { RegistryCredentials } from '../../src/registry/credentials';
import { DoubleFleet, RegistryDouble, RegistryDoubleOptions, startRegistryDouble } from '../doubles/registry-double';

const fleet = (): DoubleFleet => ({
  'shop/api': {
    'v1-prod': { created: '2026-11-01T10:00:00Z' },
    'jib-prod': { created: '1970-01-01T00:00:00Z', labels: { 'org.opencontainers.image.created': '2026-11-07T07:00:00Z' }, format: 'oci' },
    'schema-prod': { labels: { 'org.label-schema.build-date': '2026-11-08T08:00:00Z' } },
    'both-prod': { created: '1970-01-01T00:00:00Z', labels: { 'org.opencontainers.image.created': '2026-11-09T09:00:00Z', 'org.label-schema.build-date': '2020-01-01T00:00:00Z' } },
    'nested-prod': { created: '2026-11-10T10:00:00Z', format: 'oci-index', nest: 2, otherArchCreated: '2026-12-01T00:00:00Z' },
    'deep-prod': { created: '2026-11-11T10:00:00Z', format: 'oci-index', nest: 4 },
    'ko-prod': { created: '0001-01-01T00:00:00Z', format: 'oci' },
  },
  nginx: { latest: { created: '2026-10-30T10:00:00Z' } },
  'library/nginx': { '1.27': { created: '2026-10-31T10:00:00Z' } },
});

let double: RegistryDouble | undefined;
let client: RegistryClient | undefined;
let logger: ReturnType<typeof memoryLogger>;

async function setup(o: Partial<RegistryDoubleOptions>, r: Partial<RegistryConfig> = {}, extra: Partial<RegistryClientOptions> = {}, credentials: RegistryCredentials | null = null) {
  double = await startRegistryDouble({ fleet: fleet(), ...o });
  logger = memoryLogger();
  client = createRegistryClient(
    { url: `${double.url}${o.pathPrefix ?? ''}`, concurrency: 4, ...r },
    { logger, credentials, http: { sleep: async () => undefined, attempts: 2, timeoutMs: 2000 }, ...extra },
  );
  return { double, client };
}

afterEach(async () => {
  await client?.close();
  await double?.stop();
  client = undefined;
  double = undefined;
});


describe('dates of every kind of image', () => {
  it.each([
    ['jib-prod', '2026-11-07T07:00:00.000Z', 'created 1970 (Jib): the org.opencontainers.image.created label'],
    ['schema-prod', '2026-11-08T08:00:00.000Z', 'no created: org.label-schema.build-date'],
    ['both-prod', '2026-11-09T09:00:00.000Z', 'the OCI label before label-schema'],
    ['nested-prod', '2026-11-10T10:00:00.000Z', 'an index inside two more indexes: its amd64 image'],
  ])('%s is dated %s (%s)', async (tag, expected) => {
    const { client } = await setup({});
    expect((await client.imageDate('shop/api', tag)).created).toBe(expected);
  });

  it('stops following indexes nested too deep, and says a year-1 image (ko) has no usable date', async () => {
    const { client } = await setup({});
    const deep = await rejection(client.imageDate('shop/api', 'deep-prod'));
    expect(deep).toBeInstanceOf(SkippedImage);
    expect(deep.message).toMatch(/nests image indexes more than 4 deep/);
    const ko = await rejection(client.imageDate('shop/api', 'ko-prod'));
    expect((ko as SkippedImage).undated).toBe(true);
    expect(ko.message).toMatch(/^shop\/api:ko-prod has no usable date \(no 'created' after 1980 in its config, no org\.opencontainers\.image\.created or org\.label-schema\.build-date label/);
  });
});

describe('auth per request, challenges one by one', () => {
  it('answers Gitea/Forgejo: Basic and Bearer challenges, the bearer one taken', async () => {
    const { double, client } = await setup(
      { auth: { kind: 'bearer', username: 'ci', password: 'gitea-pass', extraChallenges: ['Basic realm="Gitea Container Registry"'] } },
      {},
      {},
      { username: 'ci', password: 'gitea-pass', from: 'rollback.yml (registry.username)' },
    );
    expect(await client.probe()).toBe('bearer');
    expect(await client.tags('shop/api')).toContain('v1-prod');
    expect(double.count(/^GET \/token\?/)).toBe(1);
  });

  it('answers a 401 on a repository when /v2/ itself is public', async () => {
    const { double, client } = await setup({ auth: { kind: 'bearer' }, publicProbe: true });
    expect(await client.probe()).toBe('anonymous');
    expect((await client.imageDate('shop/api', 'v1-prod')).created).toBe('2026-11-01T10:00:00.000Z');
    expect(double.tokensIssued()).toBe(1);
    // One 401 for the first request, then a token; the config blob reuses it.
    expect(double.requests.filter((r) => r.path.startsWith('/v2/shop/api/') && !r.authorization)).toHaveLength(1);
  });

  it('exchanges an identity token (ACR) at the token server by POST, grant_type=refresh_token', async () => {
    const { double, client } = await setup(
      { auth: { kind: 'bearer', refreshToken: 'acr-refresh-4242' } },
      {},
      {},
      { identityToken: 'acr-refresh-4242', from: 'docker config (credHelpers: acr-env)' },
    );
    expect((await client.imageDate('shop/api', 'v1-prod')).created).toBe('2026-11-01T10:00:00.000Z');
    expect(double.count(/^POST \/oauth2\/token/)).toBe(1);
    expect(logger.lines).toContain(`credentials for ${double.host}: docker config (credHelpers: acr-env)`);
  });

  it('says a refused identity token in one sentence, without the token', async () => {
    const { client } = await setup({ auth: { kind: 'bearer', refreshToken: 'the-right-one' } }, {}, {}, { identityToken: 'stale-token-777', from: 'docker config (credsStore: acr)' });
    const err = await rejection(client.tags('shop/api'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/refused the credentials of the identity token .*they came from docker config \(credsStore: acr\): log in again/);
    expect(err.message).not.toContain('stale-token-777');
  });
});

describe('TLS: a token realm on plain http for an https registry', () => {
  it('is refused in one sentence, and no credentials are sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollback-realm-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
      const { double, client } = await setup(
        { tls, auth: { kind: 'bearer', username: 'ci', password: 'clear-text-pass', realm: 'http://127.0.0.1:9/token' } },
        { ca: join(dir, 'cert.pem') },
        {},
        { username: 'ci', password: 'clear-text-pass', from: 'rollback.yml (registry.username)' },
      );
      const err = await rejection(client.tags('shop/api'));
      expect(err.exitCode).toBe(2);
      expect(err.message).toBe(`Registry ${double.url} names a token server on plain http (http://127.0.0.1:9/token); refusing to send credentials or tokens in clear text, so its realm must be https.`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Artifactory: a registry under a path', () => {
  it('reads every page under the prefix even when Link leaves it out', async () => {
    const prefix = '/artifactory/api/docker/docker-local';
    const { double, client } = await setup({ pathPrefix: prefix, maxPageSize: 2 });
    expect((await client.tags('shop/api')).sort()).toEqual(Object.keys(fleet()['shop/api']).sort());
    expect(double.requests.filter((r) => r.path.includes('tags/list')).every((r) => r.path.startsWith(`${prefix}/v2/shop/api/tags/list`))).toBe(true);
    expect(double.count('tags/list')).toBe(4);
  });

  it('writes image references a target can pull: host/<repo>/<image> for the repository path', () => {
    expect(imagePrefix('https://arti.example.com/artifactory/api/docker/docker-local')).toBe('arti.example.com/docker-local');
    expect(imagePrefix('https://registry.example.com:5000')).toBe('registry.example.com:5000');
    expect(imagePrefix('https://proxy.example.com/team-a')).toBe('proxy.example.com/team-a');
  });

  it('keepPrefix leaves links that already carry the prefix, or go elsewhere, as they are', () => {
    const base = 'https://h/artifactory/api/docker/r';
    expect(keepPrefix('https://h/v2/a/tags/list?last=b', base)).toBe('https://h/artifactory/api/docker/r/v2/a/tags/list?last=b');
    expect(keepPrefix('https://h/artifactory/api/docker/r/v2/a/tags/list?last=b', base)).toBe('https://h/artifactory/api/docker/r/v2/a/tags/list?last=b');
    expect(keepPrefix('https://other/v2/a/tags/list', base)).toBe('https://other/v2/a/tags/list');
  });
});

describe('Docker Hub', () => {
  it('reads one-segment names under library/', async () => {
    const { double } = await setup({});
    await client!.close();
    client = createRegistryClient({ url: 'https://docker.io', concurrency: 2 }, { logger, credentials: null, hubApi: double.url, http: { sleep: async () => undefined, attempts: 1 } });
    expect(await client.tags('nginx')).toEqual(['1.27']);
    expect((await client.imageDate('nginx', '1.27')).created).toBe('2026-10-31T10:00:00.000Z');
    expect(double.count('/v2/nginx/')).toBe(0);
  });

  it('says how many pulls remain and when they come back, once, when few are left', async () => {
    const { double } = await setup({ rateLimit: { limit: 100, remaining: 3, windowSeconds: 21600 } });
    await client!.close();
    client = createRegistryClient({ url: 'https://docker.io', concurrency: 2 }, { logger, credentials: null, hubApi: double.url, http: { sleep: async () => undefined, attempts: 1 } });
    await client.imageDate('shop/api', 'v1-prod');
    await client.imageDate('shop/api', 'jib-prod');
    expect(logger.lines.filter((l) => l.startsWith('warning: Docker Hub'))).toEqual([
      'warning: Docker Hub: 3 of 100 pulls left for this address; they come back within 6 h; log in (docker login) for a higher limit.',
    ]);
  });

  it('says a 429 in one sentence', async () => {
    const { double } = await setup({});
    double.fault({ match: /manifests/, fault: { status: 429 } });
    await client!.close();
    client = createRegistryClient({ url: 'https://docker.io', concurrency: 2 }, { logger, credentials: null, hubApi: double.url, http: { sleep: async () => undefined, attempts: 1 } });
    const err = await rejection(client.imageDate('shop/api', 'v1-prod'));
    expect(err.message).toBe('Docker Hub refused more requests (429 Too Many Requests, no pulls left); they come back within 6 h; log in (docker login) for a higher limit.');
    expect(hubRateLimit({ 'ratelimit-remaining': '0;w=3600', 'ratelimit-limit': '200;w=3600' })).toEqual({ remaining: 0, limit: 200, windowSeconds: 3600 });
  });
});
