/**
 * GHCR as teams use it: public images without any token (the Distribution API, anonymous), and
 * fine-grained tokens, which the GitHub Packages API refuses: the Distribution API with the same
 * token then (GitHub double for the API, registry double for ghcr.io's Distribution API).
 */
import type { Config } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { memoryDateCache } from '../../src/registry/cache';
import { createRegistryClient } from '../../src/registry/client';
import { ghcrImageExists, ghcrPackages, ghcrSource } from '../../src/registry/ghcr';
import { distributionSource, openImageSource } from '../../src/registry/source';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';
import { RegistryDouble, startRegistryDouble } from '../doubles/registry-double';

const TOKEN = 'github_pat_fine_grained_0042';
const ghcrConfig = (github?: Config['github']) =>
  ({ source: 'test', registry: { url: 'https://ghcr.io', concurrency: 2 }, services: [], environments: {}, limit: 10, timezone: 'UTC', parallel: 1, deployTimeout: 60, notify: {}, github }) as unknown as Config;

let gh: GithubDouble | undefined;
let reg: RegistryDouble | undefined;
afterEach(async () => {
  await gh?.close();
  await reg?.stop();
  gh = reg = undefined;
});

test('a public image needs no token: without one, ghcr.io is read through its Distribution API', () => {
  const source = openImageSource(ghcrConfig(), { logger: memoryLogger(), cache: memoryDateCache() });
  expect(source.describe()).toBe('registry https://ghcr.io');
  const withToken = openImageSource(ghcrConfig({ token: TOKEN }), { logger: memoryLogger(), cache: memoryDateCache() });
  expect(withToken.describe()).toMatch(/^ghcr\.io through the GitHub Packages API/);
});

test('a fine-grained token the Packages API refuses: the Distribution API with the same token, for get and for the preflight', async () => {
  gh = await startGithubDouble();
  gh.serverErrors(100, 403, /packages/);
  reg = await startRegistryDouble({ fleet: { 'shop/api': { '2-prod': { created: '2026-11-20T10:00:00Z' }, '1-prod': { created: '2026-11-13T10:00:00Z' } } }, auth: { kind: 'bearer', username: 'token', password: TOKEN } });
  const logger = memoryLogger();
  const config = ghcrConfig({ token: TOKEN, apiUrl: gh.url });
  const client = () => createRegistryClient({ url: reg!.url, concurrency: 2, username: 'token', password: TOKEN }, { logger, http: { sleep: async () => undefined } });
  const cache = memoryDateCache();
  const source = ghcrSource(config, { logger, cache }, { sleep: async () => undefined }, () => distributionSource(client(), reg!.url, { logger, cache }));
  const images = await source.images('shop/api', (t) => t.endsWith('-prod'));
  expect(images.map((i) => [i.tag, i.created]).sort()).toEqual([['1-prod', '2026-11-13T10:00:00.000Z'], ['2-prod', '2026-11-20T10:00:00.000Z']]);
  expect(logger.lines).toContain("ghcr.io: the GitHub Packages API refused the token (fine-grained tokens cannot read it); reading the registry's Distribution API instead.");
  expect(reg.tokensIssued()).toBeGreaterThan(0);
  await source.close();

  const registry = client();
  const packages = ghcrPackages(config, { logger, github: { sleep: async () => undefined } });
  const exists = ghcrImageExists(packages, (image) => registry.hasManifest(image.repository, image.digest));
  expect(await exists({ repository: 'shop/api', digest: images[0].digest })).toBe(true);
  expect(await exists({ repository: 'shop/api', digest: `sha256:${'0'.repeat(64)}` })).toBe(false);
  await packages.close();
  await registry.close();
});
