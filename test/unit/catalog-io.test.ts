import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCatalog, writeCatalog } from '../../src/catalog/io';
import type { Catalog } from '../../src/catalog/types';
import { RollbackError } from '../../src/errors';

const digest = `sha256:${'a'.repeat(64)}`;
const image = (service: string) => ({
  service, repository: `shop/${service}`, tag: '1-prod', digest, created: '2026-11-19T10:00:00Z', day: '2026-11-19',
  reference: `127.0.0.1:5000/shop/${service}:1-prod@${digest}`,
});
const catalog = (names: string[]): Catalog => ({
  schemaVersion: 1, generatedAt: '2026-11-20T00:00:00Z', environment: 'prod', registry: 'http://127.0.0.1:5000',
  tagPattern: '-prod$', timezone: 'UTC', limit: 10, choices: ['2026-11-19'],
  services: names.map((n) => ({ name: n, repository: `shop/${n}`, images: [image(n)] })),
});

describe('readCatalog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rollback-catalog-io-'));

  it('reads back what writeCatalog wrote', () => {
    const file = join(dir, 'ok.json');
    writeCatalog(file, catalog(['api', 'web']));
    expect(readCatalog(file).services.map((s) => s.name)).toEqual(['api', 'web']);
  });

  it('refuses a catalog that lists a service twice, naming it, as bad input', () => {
    const file = join(dir, 'twice.json');
    writeFileSync(file, JSON.stringify(catalog(['api', 'web', 'api'])));
    let caught: unknown;
    try {
      readCatalog(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RollbackError);
    expect((caught as RollbackError).exitCode).toBe(2);
    expect((caught as Error).message).toBe(`Catalog ${file} is damaged: service api is listed twice; run 'rollback get' again.`);
  });
});
