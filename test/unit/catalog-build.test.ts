import fc from 'fast-check';
import { buildCatalog, CatalogInput, dayOf, registryHost } from '../../src/catalog/build';
import type { FoundImage } from '../../src/registry/source';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const img = (tag: string, created: string, n = 1): FoundImage => ({ tag, created, digest: digest(n) });

const input = (services: CatalogInput['services'], over: Partial<CatalogInput> = {}): CatalogInput => ({
  environment: 'prod',
  registry: 'https://registry.example.com:5000',
  registryHost: 'registry.example.com:5000',
  tagPattern: '-prod$',
  timezone: 'UTC',
  limit: 10,
  services,
  generatedAt: '2026-11-21T00:00:00.000Z',
  ...over,
});

describe('dayOf', () => {
  it.each([
    ['2026-11-19T23:30:00.000Z', 'UTC', '2026-11-19'],
    ['2026-11-19T23:30:00.000Z', 'Europe/Berlin', '2026-11-20'],
    ['2026-11-20T03:00:00.000Z', 'America/New_York', '2026-11-19'],
    ['2026-03-29T00:30:00.000Z', 'Europe/Berlin', '2026-03-29'], // the night clocks go forward
    ['2026-12-31T12:00:00.000Z', 'Pacific/Kiritimati', '2027-01-01'],
  ])('%s in %s is %s', (iso, tz, day) => expect(dayOf(iso, tz)).toBe(day));
});

describe('registryHost', () => {
  it.each([
    ['https://registry.example.com', 'registry.example.com'],
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://registry-1.docker.io', 'registry-1.docker.io'],
    ['https://r.example.com:443/', 'r.example.com'],
  ])('%s -> %s', (url, host) => expect(registryHost(url)).toBe(host));
});

describe('buildCatalog', () => {
  it('orders by date, not by tag text, and keeps the newest limit', () => {
    const c = buildCatalog(
      input(
        [{ name: 'api', repository: 'shop/api', images: [img('9-prod', '2026-11-01T10:00:00.000Z', 1), img('10-prod', '2026-11-03T10:00:00.000Z', 2), img('2-prod', '2026-11-02T10:00:00.000Z', 3)] }],
        { limit: 2 },
      ),
    );
    expect(c.services[0].images.map((i) => i.tag)).toEqual(['10-prod', '2-prod']);
    expect(c.choices).toEqual(['2026-11-03', '2026-11-02']);
    expect(c.services[0].images[0]).toEqual({
      service: 'api',
      repository: 'shop/api',
      tag: '10-prod',
      digest: digest(2),
      created: '2026-11-03T10:00:00.000Z',
      day: '2026-11-03',
      reference: `registry.example.com:5000/shop/api:10-prod@${digest(2)}`,
    });
  });

  it('gives every day with a kept image, newest first, once; a service without images keeps its note', () => {
    const c = buildCatalog(
      input([
        { name: 'api', repository: 'shop/api', images: [img('a-prod', '2026-11-19T08:00:00.000Z'), img('b-prod', '2026-11-19T20:00:00.000Z')] },
        { name: 'web', repository: 'shop/web', images: [img('w-prod', '2026-10-02T08:00:00.000Z')] },
        { name: 'db', repository: 'shop/db', images: [], note: 'no tag matches' },
      ]),
    );
    expect(c.choices).toEqual(['2026-11-19', '2026-10-02']);
    expect(c.services[2]).toEqual({ name: 'db', repository: 'shop/db', images: [], note: 'no tag matches' });
    expect(c.schemaVersion).toBe(1);
  });

  it('cuts days in the configured time zone', () => {
    const services = [{ name: 'api', repository: 'shop/api', images: [img('a-prod', '2026-11-19T23:30:00.000Z')] }];
    expect(buildCatalog(input(services)).choices).toEqual(['2026-11-19']);
    expect(buildCatalog(input(services, { timezone: 'Asia/Tokyo' })).choices).toEqual(['2026-11-20']);
  });

  it('breaks ties of equal instants by tag, whatever order the registry listed them in', () => {
    const a = img('a-prod', '2026-11-19T08:00:00.000Z', 1);
    const b = img('b-prod', '2026-11-19T08:00:00.000Z', 2);
    const one = buildCatalog(input([{ name: 'api', repository: 'shop/api', images: [a, b] }], { limit: 1 }));
    const two = buildCatalog(input([{ name: 'api', repository: 'shop/api', images: [b, a] }], { limit: 1 }));
    expect(one.services[0].images[0].tag).toBe('b-prod');
    expect(two).toEqual(one);
  });
});

describe('buildCatalog properties', () => {
  const instant = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }).map((ms) => new Date(ms).toISOString());
  const images = fc.uniqueArray(fc.record({ tag: fc.stringMatching(/^[a-z0-9.]{1,8}-prod$/), created: instant, n: fc.nat() }), { selector: (r) => r.tag, maxLength: 30 });
  const fleet = fc.array(images, { minLength: 1, maxLength: 6 });
  const zone = fc.constantFrom('UTC', 'Europe/Berlin', 'America/Los_Angeles', 'Asia/Kolkata', 'Pacific/Chatham');
  const limit = fc.integer({ min: 1, max: 12 });

  const build = (f: { tag: string; created: string; n: number }[][], tz: string, l: number) =>
    buildCatalog(input(f.map((imgs, i) => ({ name: `s${i}`, repository: `shop/s${i}`, images: imgs.map((x) => img(x.tag, x.created, x.n)) })), { timezone: tz, limit: l }));

  it('choices are sorted newest first and unique, and each has an image of that day', () => {
    fc.assert(
      fc.property(fleet, zone, limit, (f, tz, l) => {
        const c = build(f, tz, l);
        expect([...c.choices].sort().reverse()).toEqual(c.choices);
        expect(new Set(c.choices).size).toBe(c.choices.length);
        const kept = c.services.flatMap((s) => s.images);
        for (const d of c.choices) expect(kept.some((i) => i.day === d)).toBe(true);
        for (const i of kept) {
          expect(c.choices).toContain(i.day);
          expect(i.day).toBe(dayOf(i.created, tz));
        }
      }),
    );
  });

  it('keeps exactly min(limit, images) per service, the newest by date', () => {
    fc.assert(
      fc.property(fleet, zone, limit, (f, tz, l) => {
        const c = build(f, tz, l);
        c.services.forEach((s, i) => {
          expect(s.images).toHaveLength(Math.min(l, f[i].length));
          const times = s.images.map((x) => Date.parse(x.created));
          expect([...times].sort((a, b) => b - a)).toEqual(times);
          const oldestKept = Math.min(...times);
          const dropped = f[i].filter((x) => !s.images.some((k) => k.tag === x.tag));
          for (const d of dropped) expect(Date.parse(d.created)).toBeLessThanOrEqual(oldestKept);
        });
      }),
    );
  });

  it('does not depend on the order images were listed in', () => {
    fc.assert(
      fc.property(fleet, zone, limit, (f, tz, l) => {
        const reversed = f.map((imgs) => [...imgs].reverse());
        expect(build(reversed, tz, l)).toEqual(build(f, tz, l));
      }),
    );
  });
});
