import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCatalog, GetProgress } from '../../src/catalog/get';
import type { Config } from '../../src/config/types';
import { RollbackError } from '../../src/errors';
import { memoryLogger } from '../../src/log';
import { DoubleFleet, RegistryDouble, startRegistryDouble } from '../doubles/registry-double';
import { registryTestConfig } from '../support/config';

const fleet = (): DoubleFleet => ({
  'shop/api': {
    '9-prod': { created: '2026-11-19T09:00:00Z' },
    '10-prod': { created: '2026-11-17T09:00:00Z' }, // tag text says newer, the date says older
    '11-develop': { created: '2026-11-20T09:00:00Z' },
    'x-prod': { format: 'oci' }, // no date anywhere: skipped with a warning
  },
  'shop/web': {
    '1-prod': { created: '2026-11-18T22:30:00Z', format: 'oci-index' },
    '2-develop': { created: '2026-11-20T10:00:00Z' },
  },
  'shop/db': { '1-develop': { created: '2026-11-01T00:00:00Z' } },
});

const config = (url: string, over: Partial<Config> = {}): Config =>
  registryTestConfig(url, ['api', 'web', 'db'].map((n) => ({ name: n, repository: `shop/${n}` })), over);

let double: RegistryDouble;
let dir: string;
beforeEach(async () => {
  double = await startRegistryDouble({ fleet: fleet(), auth: { kind: 'bearer', username: 'ci', password: 'pw-1234' } });
  dir = mkdtempSync(join(tmpdir(), 'rollback-get-'));
});
afterEach(async () => {
  await double.stop();
  rmSync(dir, { recursive: true, force: true });
});

const withCreds = (c: Config): Config => ({ ...c, registry: { ...c.registry, username: 'ci', password: 'pw-1234' } });

describe('getCatalog', () => {
  it('says in words when every tag of a service has no usable date', async () => {
    double.fleet['shop/db'] = { '1-prod': { format: 'oci' }, '2-prod': { created: '1970-01-01T00:00:00Z' } };
    const logger = memoryLogger();
    const c = await getCatalog(withCreds(config(double.url)), 'prod', { logger });
    expect(c.services[2].images).toEqual([]);
    expect(c.services[2].note).toBe("all 2 tags of shop/db matching /-prod$/ have no usable date (no 'created' after 1980, no date label, no annotation), so db has no rollback point");
  });

  it('filters by environment, orders by date, notes a service without images, and reports progress', async () => {
    const logger = memoryLogger();
    const progress: GetProgress[] = [];
    const c = await getCatalog(withCreds(config(double.url)), 'prod', { logger, onProgress: (p) => progress.push(p), now: () => new Date('2026-11-21T00:00:00Z') });
    expect(c.choices).toEqual(['2026-11-19', '2026-11-18', '2026-11-17']);
    expect(c.services.map((s) => s.images.map((i) => i.tag))).toEqual([['9-prod', '10-prod'], ['1-prod'], []]);
    expect(c.services[2].note).toMatch(/no tag of shop\/db matching \/-prod\$\/ could be found and dated/);
    expect(logger.lines.some((l) => /^warning: Service db: /.test(l))).toBe(true);
    expect(logger.lines.some((l) => /^warning: shop\/api: 1 tag\(s\) skipped, e\.g\. shop\/api:x-prod has no usable date/.test(l))).toBe(true);
    expect(c.services[0].images[0].reference).toBe(`${double.host}/shop/api:9-prod@${c.services[0].images[0].digest}`);
    expect(c.generatedAt).toBe('2026-11-21T00:00:00.000Z');
    const last = progress[progress.length - 1];
    expect(last).toEqual({ repositoriesDone: 3, repositoriesTotal: 3, tagsDone: 4, tagsTotal: 4, requests: double.requests.length, transport: `HTTP/1.1, ${double.connections()} connection${double.connections() === 1 ? '' : 's'}` });
  });

  it('names the service and repository when a repository does not exist (exit 2)', async () => {
    const c = withCreds(config(double.url, { services: [{ name: 'api', repository: 'shop/api' }, { name: 'cart', repository: 'shop/kart' }] }));
    const err = await getCatalog(c, 'prod', { logger: memoryLogger() }).catch((e: unknown) => e as RollbackError);
    expect(err).toBeInstanceOf(RollbackError);
    expect((err as RollbackError).exitCode).toBe(2);
    expect((err as RollbackError).message).toMatch(/^Service cart: Repository shop\/kart does not exist on http:\/\/127\.0\.0\.1:\d+ \(GET .*\/v2\/shop\/kart\/tags\/list answered 404 Not Found\)\.$/);
  });

  it('says which environments exist when asked for an unknown one', async () => {
    await expect(getCatalog(config(double.url), 'prdo', { logger: memoryLogger() })).rejects.toThrow("Environment 'prdo' is not in test.yml; it defines: prod.");
  });
});

describe('the date cache', () => {
  const count = (re: RegExp) => double.count(re);

  it('makes a warm get list tags and HEAD each candidate, nothing more', async () => {
    const cacheFile = join(dir, 'dates-cache.json');
    const cfg = withCreds(config(double.url, { services: [{ name: 'api', repository: 'shop/api' }, { name: 'web', repository: 'shop/web' }] }));
    const cold = await getCatalog(cfg, 'prod', { logger: memoryLogger(), cacheFile });
    const coldCounts = { head: count(/^HEAD .*\/manifests\//), getManifest: count(/^GET .*\/manifests\//), blobs: count(/\/blobs\//), lists: count(/\/tags\/list/) };
    // api: 9-prod, 10-prod, x-prod by GET (+ 2 configs; x-prod's config has no date); web: index + amd64 entry + config.
    expect(coldCounts).toEqual({ head: 0, getManifest: 5, blobs: 4, lists: 2 });
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8')).dates)).toHaveLength(3);

    double.requests.length = 0;
    const warm = await getCatalog(cfg, 'prod', { logger: memoryLogger(), cacheFile });
    // x-prod has no date to cache, so it is read again; every dated tag costs one HEAD.
    expect({ head: count(/^HEAD .*\/manifests\//), getManifest: count(/^GET .*\/manifests\//), blobs: count(/\/blobs\//), lists: count(/\/tags\/list/) }).toEqual({
      head: 4,
      getManifest: 1,
      blobs: 1,
      lists: 2,
    });
    expect({ ...warm, generatedAt: '' }).toEqual({ ...cold, generatedAt: '' });
  });

  it('reads in full only the tags it has not seen', async () => {
    const cacheFile = join(dir, 'dates-cache.json');
    const cfg = withCreds(config(double.url, { services: [{ name: 'web', repository: 'shop/web' }] }));
    await getCatalog(cfg, 'prod', { logger: memoryLogger(), cacheFile });
    double.fleet['shop/web']['3-prod'] = { created: '2026-11-20T12:00:00Z' };
    double.requests.length = 0;
    const c = await getCatalog(cfg, 'prod', { logger: memoryLogger(), cacheFile });
    expect(c.choices).toEqual(['2026-11-20', '2026-11-18']);
    expect(count(/^HEAD .*\/manifests\//)).toBe(2);
    expect(count(/^GET .*\/manifests\/sha256:/)).toBe(1);
    expect(count(/\/blobs\//)).toBe(1);
  });

  it('starts afresh, with a warning, when the cache file is damaged', async () => {
    const cacheFile = join(dir, 'dates-cache.json');
    writeFileSync(cacheFile, '{"version": 1, "dates": {');
    const logger = memoryLogger();
    const c = await getCatalog(withCreds(config(double.url)), 'prod', { logger, cacheFile });
    expect(c.choices).toHaveLength(3);
    expect(logger.lines.some((l) => l.startsWith(`warning: Date cache ${cacheFile} cannot be read`))).toBe(true);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8')).version).toBe(1);
  });
});
