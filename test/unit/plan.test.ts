import fc from 'fast-check';
import type { Catalog, CatalogImage, CatalogService } from '../../src/catalog/types';
import { RollbackError } from '../../src/errors';
import { parseReference } from '../../src/image/reference';
import { buildPlan, checkDate, formatPlan, planJson, rollbackPoint, runsImage } from '../../src/plan/plan';

const REG = 'registry.example.com';

function image(service: string, tag: string, created: string, n = 0): CatalogImage {
  const digest = `sha256:${(service + tag + n).padEnd(64, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 64)}`;
  return { service, repository: `shop/${service}`, tag, digest, created, day: created.slice(0, 10), reference: `${REG}/shop/${service}:${tag}@${digest}` };
}

function catalog(services: CatalogService[]): Catalog {
  const days = new Set<string>();
  services.forEach((s) => s.images.forEach((i) => days.add(i.day)));
  return {
    schemaVersion: 1, generatedAt: '2026-11-21T00:00:00Z', environment: 'prod', registry: `https://${REG}`, tagPattern: '-prod$',
    timezone: 'UTC', limit: 10, services, choices: [...days].sort().reverse(),
  };
}

describe('plan', () => {
  // The seed's fleet: web changed on the 19th, api last on the 17th, db on the 20th.
  const web = { name: 'web', repository: 'shop/web', images: [image('web', '3-prod', '2026-11-20T09:00:00Z'), image('web', '2-prod', '2026-11-19T23:59:59Z'), image('web', '1-prod', '2026-11-17T08:00:00Z')] };
  const api = { name: 'api', repository: 'shop/api', images: [image('api', '2-prod', '2026-11-20T00:00:01Z'), image('api', '1-prod', '2026-11-17T12:00:00Z')] };
  const db = { name: 'db', repository: 'shop/db', images: [image('db', '1-prod', '2026-11-20T10:00:00Z')] };
  const cat = catalog([web, api, db]);
  const now = { web: web.images[0].reference, api: `${REG}/shop/api:2-prod`, db: `${REG}/shop/db:1-prod` };

  it('gives a service without an image on the day its newest one built on or before the END of that day (the special case)', () => {
    const plan = buildPlan(cat, '2026-11-19', now);
    const by = Object.fromEntries(plan.entries.map((e) => [e.service, e]));
    expect(by.web.target?.tag).toBe('2-prod'); // built at 23:59:59 on the day: counts
    expect(by.web.action).toBe('change');
    expect(by.api.target?.tag).toBe('1-prod'); // no api image on the 19th: the one from the 17th, not "none"
    expect(by.api.day).toBe('2026-11-17');
    expect(by.api.reason).toContain('built on 2026-11-17');
    expect(by.db.action).toBe('none');
    expect(by.db.reason).toMatch(/left as it is: db has no image built on or before 2026-11-19/);
  });

  it('skips a service already at its target, by digest when the current reference has one', () => {
    const plan = buildPlan(cat, '2026-11-20', now);
    expect(plan.entries.map((e) => e.action)).toEqual(['skip', 'skip', 'skip']);
    // Same tag but another digest (a re-pushed tag) is a change.
    const repushed = { ...now, web: `${REG}/shop/web:3-prod@sha256:${'f'.repeat(64)}` };
    expect(buildPlan(cat, '2026-11-20', repushed).entries[0].action).toBe('change');
  });

  it('refuses a date that is not a rollback point, listing the valid ones (exit 2)', () => {
    expect.assertions(3);
    try {
      buildPlan(cat, '2026-11-18', now);
    } catch (err) {
      expect(err).toBeInstanceOf(RollbackError);
      expect((err as RollbackError).exitCode).toBe(2);
      expect((err as Error).message).toBe('Date 2026-11-18 is not a rollback point of prod; valid dates: 2026-11-20, 2026-11-19, 2026-11-17.');
    }
  });

  it('says what is wrong with a malformed or missing date', () => {
    expect(() => checkDate(cat, '19.11.2026')).toThrow(/not of the form YYYY-MM-DD/);
    expect(() => checkDate(cat, undefined)).toThrow(/A date is needed/);
  });

  it('parses references with a registry port, tag and digest', () => {
    expect(parseReference('127.0.0.1:5000/shop/api:1-prod@sha256:abc')).toEqual({ name: '127.0.0.1:5000/shop/api', tag: '1-prod', digest: 'sha256:abc' });
    expect(parseReference('127.0.0.1:5000/shop/api')).toEqual({ name: '127.0.0.1:5000/shop/api', tag: undefined, digest: undefined });
    expect(runsImage('other.example/shop/api:1-prod', api.images[1])).toBe(true);
    expect(runsImage('other.example/shop/apix:1-prod', api.images[1])).toBe(false);
  });

  it('prints a table and JSON naming every service', () => {
    const plan = buildPlan(cat, '2026-11-19', now);
    const table = formatPlan(plan);
    expect(table.split('\n')[0]).toMatch(/^SERVICE\s+CURRENT\s+TARGET\s+FROM DAY\s+ACTION$/);
    expect(table).toContain('2 of 3 services change for prod on 2026-11-19.');
    const json = JSON.parse(planJson(plan));
    expect(json.services.map((s: { service: string; action: string }) => `${s.service}:${s.action}`)).toEqual(['web:change', 'api:change', 'db:none']);
  });

  describe('properties over random fleets and dates', () => {
    const dayArb = fc.integer({ min: 0, max: 40 }).map((n) => new Date(Date.UTC(2026, 9, 1) + n * 86_400_000).toISOString().slice(0, 10));
    const instantArb = fc.tuple(dayArb, fc.integer({ min: 0, max: 86_399 })).map(([d, s]) => new Date(Date.parse(`${d}T00:00:00Z`) + s * 1000).toISOString());
    const fleetArb = fc.uniqueArray(fc.constantFrom('api', 'web', 'db', 'auth', 'cart', 'mail'), { minLength: 1, maxLength: 6 }).chain((names) =>
      fc.tuple(...names.map((name) => fc.uniqueArray(instantArb, { maxLength: 6 }).map((instants): CatalogService => ({
        name, repository: `shop/${name}`,
        images: instants.sort().reverse().map((c, i) => image(name, `${instants.length - i}-prod`, c, i)),
      })))));
    const caseArb = fleetArb
      .filter((services) => services.some((s) => s.images.length > 0))
      .chain((services) => {
        const cat = catalog(services);
        return fc.tuple(fc.constant(cat), fc.constantFrom(...cat.choices), fc.array(fc.nat(), { minLength: services.length, maxLength: services.length }));
      });

    it('picks for each service exactly its newest image of the date or before, and changes only what differs', () => {
      fc.assert(fc.property(caseArb, ([cat, date, picks]) => {
        // Each service currently runs one of its images (or something unrelated when it has none).
        const current = Object.fromEntries(cat.services.map((s, i) => [s.name, s.images.length ? s.images[picks[i] % s.images.length].reference : `${REG}/shop/${s.name}:legacy`]));
        const plan = buildPlan(cat, date, current);
        plan.entries.forEach((e, i) => {
          const s = cat.services[i];
          const eligible = s.images.filter((img) => img.created.slice(0, 10) <= date);
          if (eligible.length === 0) {
            expect(e.action).toBe('none');
            expect(e.target).toBeUndefined();
            return;
          }
          const newest = eligible.reduce((a, b) => (Date.parse(b.created) > Date.parse(a.created) ? b : a));
          expect(e.target).toBe(newest);
          expect(Date.parse(e.target!.created)).toBeLessThan(Date.parse(`${date}T00:00:00Z`) + 86_400_000);
          expect(s.images.every((img) => img === newest || img.created.slice(0, 10) > date || Date.parse(img.created) <= Date.parse(newest.created))).toBe(true);
          expect(e.action).toBe(current[s.name] === newest.reference ? 'skip' : 'change');
        });
        // The chosen date is a day on which at least one service's target was built.
        expect(plan.entries.some((e) => e.day === date)).toBe(true);
      }), { numRuns: 300 });
    });

    it('is idempotent: planning again from the planned images changes nothing', () => {
      fc.assert(fc.property(caseArb, ([cat, date]) => {
        const start = Object.fromEntries(cat.services.map((s) => [s.name, `${REG}/shop/${s.name}:legacy`]));
        const first = buildPlan(cat, date, start);
        const after = Object.fromEntries(first.entries.map((e) => [e.service, e.target?.reference ?? e.current]));
        expect(buildPlan(cat, date, after).entries.every((e) => e.action !== 'change')).toBe(true);
      }), { numRuns: 200 });
    });

    it('refuses every date that is not a choice', () => {
      fc.assert(fc.property(caseArb, dayArb, ([cat], day) => {
        fc.pre(!cat.choices.includes(day));
        expect(() => buildPlan(cat, day, {})).toThrow(/is not a rollback point of prod; valid dates: /);
      }), { numRuns: 200 });
    });
  });

  it('rollbackPoint ignores list order and takes the newest eligible image', () => {
    const shuffled = { ...web, images: [web.images[2], web.images[0], web.images[1]] };
    expect(rollbackPoint(shuffled, '2026-11-20')?.tag).toBe('3-prod');
  });
});
