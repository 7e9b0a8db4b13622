/**
 * A damaged catalog: truncated, edited by hand, of another schemaVersion, or with random values
 * at random places. `plan` and `run` trust only the catalog, so reading it must either give a
 * catalog whose plan holds what it promises, or refuse in one sentence naming the file (exit 2).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { readCatalog } from '../../src/catalog/io';
import type { Catalog } from '../../src/catalog/types';
import { describeError, RollbackError } from '../../src/errors';
import { buildPlan, formatPlan, planJson } from '../../src/plan/plan';
import { anyJson, expectOneClearSentence, fuzzParams, FUZZ_RUNS, nastyString, suiteFigures, textMutation } from '../support/fuzz';

const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const day = fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));

/** Valid catalogs of 1-3 services with 0-3 images each, as `get` writes them. */
const validCatalog: fc.Arbitrary<Catalog> = fc
  .uniqueArray(fc.constantFrom('api', 'web', 'db', 'worker'), { minLength: 1, maxLength: 3 })
  .chain((names) => fc.tuple(...names.map((name) => fc.array(fc.tuple(hex, day), { maxLength: 3 }).map((imgs) => ({
    name,
    repository: `shop/${name}`,
    images: imgs.map(([h, d], i) => ({
      service: name, repository: `shop/${name}`, tag: `${i}-prod`, digest: `sha256:${h}`, created: `${d}T10:00:00.000Z`, day: d,
      reference: `r.example.com/shop/${name}:${i}-prod@sha256:${h}`,
    })).sort((a, b) => (a.day < b.day ? 1 : -1)),
  })))))
  .map((services) => ({
    schemaVersion: 1 as const,
    generatedAt: '2026-11-21T10:00:00.000Z',
    environment: 'prod',
    registry: 'https://r.example.com',
    tagPattern: '-prod$',
    timezone: 'UTC',
    limit: 10,
    services,
    choices: [...new Set(services.flatMap((s) => s.images.map((i) => i.day)))].sort().reverse(),
  }));

/** Every path to a value in a JSON tree. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((k) => paths((value as Record<string | number, unknown>)[k], [...prefix, k]))];
}

function edit(value: unknown, path: (string | number)[], replacement: unknown | typeof DELETE): unknown {
  if (path.length === 0) return replacement === DELETE ? undefined : replacement;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (replacement === DELETE) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else {
    node[last] = replacement;
  }
  return copy;
}
const DELETE = Symbol('delete');

/** A catalog file's text: valid, or damaged in one of the ways the issue names. */
const catalogText: fc.Arbitrary<string> = validCatalog.chain((catalog) => {
  const text = JSON.stringify(catalog, null, 2) + '\n';
  const all = paths(catalog);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(text) },
    { weight: 3, arbitrary: textMutation(text) },
    { weight: 1, arbitrary: anyJson(2).map((v) => JSON.stringify({ ...catalog, schemaVersion: v })) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...all), fc.oneof(anyJson(2), nastyString(), fc.constant(DELETE))).map(([p, v]) => JSON.stringify(edit(catalog, p, v)) ?? '') },
    { weight: 1, arbitrary: anyJson(3).map((v) => JSON.stringify(v)) },
    // A service listed twice, or an image moved under another service: hand edits that still parse.
    { weight: 1, arbitrary: fc.constant(JSON.stringify({ ...catalog, services: [...catalog.services, ...catalog.services] })) },
  );
});

describe('fuzzed catalog file', () => {
  // Figures only from a run whose every test passed (suiteFigures), stamped with the commit.
  const { it, record } = suiteFigures('fuzz-catalog');
  let dir: string;
  const counts = { cases: 0, read: 0, refused: 0 };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rollback-fuzz-catalog-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a damaged catalog is refused in one sentence naming it, or plans exactly what it lists', () => {
    const file = join(dir, 'catalog.json');
    fc.assert(
      fc.property(catalogText, (text) => {
        counts.cases++;
        writeFileSync(file, text);
        let catalog: Catalog;
        try {
          catalog = readCatalog(file);
        } catch (err) {
          if (!(err instanceof RollbackError)) throw new Error(`unclassified exception for ${JSON.stringify(text.slice(0, 300))}: ${describeError(err)}`);
          expect(err.kind).toBe('input');
          expectOneClearSentence(describeError(err), JSON.stringify(text.slice(0, 300)));
          expect(err.message).toContain(file);
          counts.refused++;
          return;
        }
        counts.read++;
        // Every service runs something now; plan each date the catalog offers, and one it does not.
        const current = Object.fromEntries(catalog.services.map((s) => [s.name, `r.example.com/${s.repository}:running`]));
        for (const date of [...catalog.choices, '1999-01-01']) {
          let plan;
          try {
            plan = buildPlan(catalog, date, current);
          } catch (err) {
            if (!(err instanceof RollbackError)) throw new Error(`plan of ${date} threw ${describeError(err)} for ${JSON.stringify(text.slice(0, 300))}`);
            expectOneClearSentence(describeError(err), `plan of ${date}`);
            expect(err.kind).toBe('input');
            continue;
          }
          expect(plan.entries).toHaveLength(catalog.services.length);
          plan.entries.forEach((e, i) => {
            const service = catalog.services[i];
            expect(e.service).toBe(service.name);
            if (e.action === 'change') {
              // Only an image the catalog lists for this very service, from on or before the date.
              expect(service.images).toContainEqual(e.target);
              expect(e.target!.day <= date).toBe(true);
            } else if (e.action === 'none') {
              expect(service.images.every((img) => img.day > date)).toBe(true);
            }
          });
          expect(() => formatPlan(plan)).not.toThrow();
          expect(() => JSON.parse(planJson(plan))).not.toThrow();
        }
      }),
      fuzzParams(),
    );
    expect(counts.read).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });

  afterAll(() => {
    if (counts.cases >= FUZZ_RUNS) {
      record({
        figures: { 'catalog files': counts.cases, read: counts.read, refused: counts.refused },
        summary: 'catalog.json truncated, edited, of another schemaVersion, random values at random places; plans of the readable ones checked',
      });
    }
  });
});
