/**
 * registry.immutableTags: a warm get that trusts the tag -> digest entries of the date cache, and
 * the one pool of workers that dates the tags of every repository. Requests are COUNTED on the
 * registry double (no timing): what the option saves, and what it gives up.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCatalog } from '../../src/catalog/get';
import type { Config } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { memoryDateCache, openDateCache } from '../../src/registry/cache';
import { ImageDate, RegistryClient, SkippedImage } from '../../src/registry/client';
import { distributionSource } from '../../src/registry/source';
import { DoubleFleet, RegistryDouble, startRegistryDouble } from '../doubles/registry-double';
import { registryTestConfig } from '../support/config';

const fleet = (): DoubleFleet => ({
  'shop/api': {
    '9-prod': { created: '2026-11-19T09:00:00Z' },
    '10-prod': { created: '2026-11-17T09:00:00Z' },
    '11-develop': { created: '2026-11-20T09:00:00Z' },
  },
  'shop/web': {
    '1-prod': { created: '2026-11-18T22:30:00Z', format: 'oci-index' },
    '2-prod': { created: '2026-11-16T10:00:00Z', format: 'oci' },
  },
});

const config = (url: string, immutableTags?: boolean): Config =>
  registryTestConfig(url, ['api', 'web'].map((n) => ({ name: n, repository: `shop/${n}` })), {
    registry: { url, concurrency: 4, ...(immutableTags === undefined ? {} : { immutableTags }) },
  });

let double: RegistryDouble;
let dir: string;
let cacheFile: string;
beforeEach(async () => {
  double = await startRegistryDouble({ fleet: fleet() });
  dir = mkdtempSync(join(tmpdir(), 'rollback-immutable-'));
  cacheFile = join(dir, 'dates-cache.json');
});
afterEach(async () => {
  await double.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Requests since the last call, by kind. */
function counts() {
  const kinds = { probe: 0, lists: 0, head: 0, manifests: 0, blobs: 0, other: 0 };
  for (const r of double.requests) {
    if (r.path === '/v2/') kinds.probe++;
    else if (r.path.includes('/tags/list')) kinds.lists++;
    else if (r.method === 'HEAD') kinds.head++;
    else if (r.path.includes('/manifests/')) kinds.manifests++;
    else if (r.path.includes('/blobs/')) kinds.blobs++;
    else kinds.other++;
  }
  double.requests.length = 0;
  return kinds;
}

const get = (immutableTags?: boolean) => getCatalog(config(double.url, immutableTags), 'prod', { logger: memoryLogger(), cacheFile, now: () => new Date('2026-11-21T00:00:00Z') });

describe('registry.immutableTags', () => {
  it('makes a warm get ask for the tag lists only, with the same catalog', async () => {
    const cold = await get(true);
    // Cold is as without the option: manifest + config per tag (the index has one more manifest).
    expect(counts()).toEqual({ probe: 1, lists: 2, head: 0, manifests: 5, blobs: 4, other: 0 });
    const saved = JSON.parse(readFileSync(cacheFile, 'utf8')) as { tags: Record<string, Record<string, string>> };
    expect(Object.keys(saved.tags[`${double.host}/shop/api`]).sort()).toEqual(['10-prod', '9-prod']);

    const warm = await get(true);
    expect(counts()).toEqual({ probe: 1, lists: 2, head: 0, manifests: 0, blobs: 0, other: 0 });
    expect(warm).toEqual(cold);
  });

  it('still dates a tag pushed since the last get (a HEAD, then its manifest and config)', async () => {
    await get(true);
    double.fleet['shop/web']['3-prod'] = { created: '2026-11-20T12:00:00Z' };
    counts();
    const c = await get(true);
    expect(counts()).toEqual({ probe: 1, lists: 2, head: 1, manifests: 1, blobs: 1, other: 0 });
    expect(c.services[1].images[0]).toMatchObject({ tag: '3-prod', created: '2026-11-20T12:00:00.000Z' });
    expect(c.choices).toEqual(['2026-11-20', '2026-11-19', '2026-11-18', '2026-11-17', '2026-11-16']);
  });

  it('keeps the old digest and date of a tag pushed again: what the option trades away', async () => {
    const before = await get(true);
    const old = before.services[0].images.find((i) => i.tag === '9-prod')!;
    double.fleet['shop/api']['9-prod'] = { created: '2026-11-20T15:00:00Z' };
    counts();
    const trusting = await get(true);
    expect(trusting.services[0].images.find((i) => i.tag === '9-prod')).toEqual(old);
    // Without the option, the HEAD per tag sees the new digest and dates it.
    const safe = await get(false);
    const now = safe.services[0].images.find((i) => i.tag === '9-prod')!;
    expect(now.created).toBe('2026-11-20T15:00:00.000Z');
    expect(now.digest).not.toBe(old.digest);
  });

  it('forgets deleted tags, and the default mode keeps no tag entries', async () => {
    await get(true);
    delete double.fleet['shop/api']['10-prod'];
    await get(true);
    const saved = () => JSON.parse(readFileSync(cacheFile, 'utf8')) as { dates: Record<string, string>; tags?: Record<string, Record<string, string>> };
    expect(Object.keys(saved().tags![`${double.host}/shop/api`])).toEqual(['9-prod']);
    // Turning the option off drops the entries, so turning it on later cannot trust stale ones.
    counts();
    await get();
    expect(counts()).toEqual({ probe: 1, lists: 2, head: 3, manifests: 0, blobs: 0, other: 0 });
    expect(saved().tags).toBeUndefined();
    expect(Object.keys(saved().dates).length).toBeGreaterThanOrEqual(3);
  });

  it('leaves the default warm get unchanged: a HEAD per tag', async () => {
    await get();
    counts();
    await get();
    expect(counts()).toEqual({ probe: 1, lists: 2, head: 4, manifests: 0, blobs: 0, other: 0 });
  });
});

/** A client whose tags resolve when the test says, to watch the shared pool. */
function heldClient(repos: Record<string, string[]>, fail?: { repository: string; tag: string }) {
  let inFlight = 0;
  let peak = 0;
  const started: string[] = [];
  const client: RegistryClient = {
    probe: async () => 'anonymous',
    tags: async (r) => repos[r],
    digest: async () => {
      throw new Error('not warm');
    },
    hasManifest: async () => true,
    imageDate: async (repository, tag): Promise<ImageDate> => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      started.push(`${repository}:${tag}`);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      if (fail && repository === fail.repository && tag === fail.tag) throw new Error(`boom ${tag}`);
      if (tag.startsWith('skip')) throw new SkippedImage(`${repository}:${tag} has no date`);
      return { digest: `sha256:${tag.padStart(64, '0')}`, created: `2026-11-${String((Number(tag) % 28) + 1).padStart(2, '0')}T00:00:00Z` };
    },
    requests: () => 0,
    close: async () => undefined,
  };
  return { client, peak: () => peak, started };
}

describe('the shared pool of tag workers', () => {
  const tags = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

  it('never dates more than twice the concurrency of tags at once across all repositories', async () => {
    const repos = { a: tags(40), b: tags(40), c: [...tags(39), 'skip-1'] };
    const held = heldClient(repos);
    const logger = memoryLogger();
    const source = distributionSource(held.client, 'http://r.example', { cache: memoryDateCache(), logger }, 3);
    const found = await Promise.all(Object.keys(repos).map((r) => source.images(r, () => true)));
    expect(found.map((f) => f.length)).toEqual([40, 40, 39]);
    expect(held.peak()).toBeLessThanOrEqual(6);
    expect(held.peak()).toBeGreaterThan(3);
    expect(logger.lines.filter((l) => l.startsWith('warning: c: 1 tag(s) skipped'))).toHaveLength(1);
  });

  it('fails only the repository whose tag failed, starts none of its later tags, and stops on abort', async () => {
    const repos = { a: tags(30), b: tags(30) };
    const held = heldClient(repos, { repository: 'a', tag: '2' });
    const source = distributionSource(held.client, 'http://r.example', { cache: memoryDateCache(), logger: memoryLogger() }, 1);
    const abort = new AbortController();
    const a = source.images('a', () => true, undefined, abort.signal).catch((e: Error) => {
      abort.abort();
      return e;
    });
    const b = source.images('b', () => true, undefined, abort.signal).catch((e: Error) => e);
    expect(((await a) as Error).message).toBe('boom 2');
    expect(((await b) as Error).name).toBe('AbortError');
    // 2 workers: a's tags 1 and 2 run, 3 may already have started; nothing near the end of either list.
    expect(held.started.filter((s) => s.startsWith('a:')).length).toBeLessThanOrEqual(3);
    expect(held.started.filter((s) => s.startsWith('b:')).length).toBeLessThanOrEqual(2);
  });
});

describe('the date cache file', () => {
  const d = (n: number) => `sha256:${String(n).repeat(64)}`;

  it('keeps the newest entries within its bound, with the tags that point at them, as valid JSON', () => {
    const logger = memoryLogger();
    const cache = openDateCache(cacheFile, logger, 2);
    cache.set(d(1), '2026-11-01T00:00:00.000Z');
    cache.set(d(2), '2026-11-02T00:00:00.000Z');
    cache.set(d(3), '2026-11-03T00:00:00.000Z');
    cache.rememberTag('r.example/shop/api', '1-prod', d(1));
    cache.rememberTag('r.example/shop/api', '3-prod', d(3));
    cache.rememberTag('r.example/shop/web', 'a "quoted" tag', d(2));
    cache.save();
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))).toEqual({
      version: 1,
      dates: { [d(2)]: '2026-11-02T00:00:00.000Z', [d(3)]: '2026-11-03T00:00:00.000Z' },
      tags: { 'r.example/shop/api': { '3-prod': d(3) }, 'r.example/shop/web': { 'a "quoted" tag': d(2) } },
    });
    const again = openDateCache(cacheFile, logger);
    expect([again.size(), again.tagDigest('r.example/shop/api', '3-prod'), again.tagDigest('r.example/shop/api', '1-prod')]).toEqual([2, d(3), undefined]);
    expect(logger.lines).toEqual([]);
  });

  it('writes a file of many entries in pieces that join to the same JSON', () => {
    const cache = openDateCache(cacheFile, memoryLogger());
    for (let i = 0; i < 5000; i++) cache.set(`sha256:${i.toString(16).padStart(64, '0')}`, new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString());
    cache.save();
    const saved = JSON.parse(readFileSync(cacheFile, 'utf8')) as { dates: Record<string, string> };
    expect(Object.keys(saved.dates)).toHaveLength(5000);
    expect(saved.dates[`sha256:${(4999).toString(16).padStart(64, '0')}`]).toBe(new Date(Date.UTC(2026, 0, 1) + 4999 * 60_000).toISOString());
  });
});
