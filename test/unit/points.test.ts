/** Release points, pure parts: merging records and target histories, and the --at plan. */
import type { Catalog } from '../../src/catalog/types';
import type { LedgerRecord } from '../../src/ledger/types';
import { describePoint, mergePoints, type ServiceChange } from '../../src/points/merge';
import { releasedCatalog } from '../../src/points/gather';
import { buildPointPlan, pointAt } from '../../src/plan/points';
import { RollbackError } from '../../src/errors';

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const img = (service: string, tag: string, n: number) => `reg:5000/shop/${service}:${tag}@${D(n)}`;
const ORDER = ['orders', 'inventory', 'web'];

const record = (time: string, images: [string, string, number][], buildUrl?: string): LedgerRecord => ({
  ledgerVersion: 1, environment: 'prod', time, by: { command: 'record', ...(buildUrl ? { buildUrl } : {}), user: 'ci' },
  services: images.map(([service, tag, n]) => ({ service, image: img(service, tag, n) })),
});
const change = (service: string, time: string, tag: string, n: number): ServiceChange => ({ service, time, image: img(service, tag, n), source: 'Marathon versions' });

describe('mergePoints', () => {
  it('merges changes less than releaseWindow apart into one point, at the last change, with the fleet then', () => {
    const points = mergePoints([], [
      change('orders', '2026-11-25T10:00:00.500Z', '104', 1),
      change('inventory', '2026-11-25T10:00:01Z', '302', 2),
      change('web', '2026-11-25T10:00:02Z', '403', 3),
      change('orders', '2026-11-25T14:00:00Z', '105', 4),
      change('web', '2026-11-25T14:09:00Z', '404', 5),
      change('inventory', '2026-11-25T14:18:30Z', '303', 6), // 9.5 minutes after the previous: same release (chained)
    ], 10, ORDER);
    expect(points.map((p) => p.time)).toEqual(['2026-11-25T14:18:30Z', '2026-11-25T10:00:02Z']);
    expect(describePoint(points[0])).toBe('orders 105, inventory 303, web 404 (Marathon versions)');
    expect(describePoint(points[1])).toBe('orders 104, inventory 302, web 403 (Marathon versions)');
  });

  it('never merges ledger records: each is a point of its own, told by where it came from', () => {
    const points = mergePoints([
      record('2026-11-25T14:02:11Z', [['orders', '105', 4], ['inventory', '303', 6], ['web', '404', 5]], 'https://ci/job/deploy/412/'),
      record('2026-11-25T14:03:00Z', [['orders', '106', 7], ['inventory', '303', 6], ['web', '404', 5]]),
    ], [], 10, ORDER);
    expect(points.map((p) => `${p.time}  ${describePoint(p)}`)).toEqual([
      '2026-11-25T14:03:00Z  orders 106, inventory 303, web 404 (recorded by ci)',
      '2026-11-25T14:02:11Z  orders 105, inventory 303, web 404 (Jenkins #412)',
    ]);
  });

  it('with releaseWindow 0 every change is its own point; a release a record already holds is not listed twice', () => {
    const changes = [change('orders', '2026-11-25T14:00:00Z', '105', 4), change('web', '2026-11-25T14:00:30Z', '404', 5)];
    expect(mergePoints([], changes, 0, ORDER).map((p) => p.time)).toEqual(['2026-11-25T14:00:30Z', '2026-11-25T14:00:00Z']);
    const rec = record('2026-11-25T14:01:00Z', [['orders', '105', 4], ['web', '404', 5]]);
    const merged = mergePoints([rec], changes, 10, ORDER);
    expect(merged.map((p) => `${p.time} ${p.origin}`)).toEqual(['2026-11-25T14:01:00Z recorded by ci']);
  });

  it('a service the history does not name yet has no known image at that point', () => {
    const points = mergePoints([], [change('orders', '2026-11-25T10:00:00Z', '104', 1), change('web', '2026-11-25T12:00:00Z', '404', 5)], 10, ORDER);
    expect(points[1].services.map((s) => s.service)).toEqual(['orders']);
    expect(points[0].services.map((s) => s.service)).toEqual(['orders', 'web']);
  });
});

describe('buildPointPlan and pointAt', () => {
  const config = {
    source: 'rollback.yml', registry: { url: 'http://reg:5000', concurrency: 8 }, services: ORDER.map((name) => ({ name, repository: `shop/${name}` })),
    environments: {}, limit: 10, timezone: 'UTC', parallel: 4, deployTimeout: 600, notify: {},
  } as unknown as Parameters<typeof releasedCatalog>[0];
  const points = mergePoints([
    record('2026-11-25T14:02:11Z', [['orders', '105', 4], ['inventory', '303', 6]]),
    record('2026-11-26T09:00:00Z', [['orders', '106', 7], ['inventory', '304', 8], ['web', '405', 9]]),
  ], [], 10, ORDER);
  const catalog: Catalog = releasedCatalog(config, { name: 'prod', tags: '-prod$', target: { docker: {} } }, points);
  const current = { orders: img('orders', '106', 7), inventory: 'reg:5000/shop/inventory:304', web: img('web', '405', 9) };

  it('takes the newest point at or before the time; a service it does not know is left as it is, and the plan says so', () => {
    const plan = buildPointPlan(catalog, '2026-11-25T20:00:00Z', current);
    expect(plan.date).toBe('2026-11-25T20:00:00Z (release point 2026-11-25T14:02:11Z)');
    expect(plan.entries.map((e) => [e.service, e.action, e.target?.reference ?? null])).toEqual([
      ['orders', 'change', img('orders', '105', 4)],
      ['inventory', 'change', img('inventory', '303', 6)],
      ['web', 'none', null],
    ]);
    expect(plan.entries[2].reason).toBe('left as it is: web has no known image at the release point 2026-11-25T14:02:11Z (recorded by ci)');
    // At the exact printed time, exactly that record.
    expect(pointAt(catalog, '2026-11-26T09:00:00Z').time).toBe('2026-11-26T09:00:00Z');
    expect(pointAt(catalog, '2026-11-26T08:59:59Z').time).toBe('2026-11-25T14:02:11Z');
    expect(buildPointPlan(catalog, '2026-11-26T09:00:00Z', current).entries.map((e) => e.action)).toEqual(['skip', 'skip', 'skip']);
  });

  it('refuses a time earlier than every point, listing the points (exit 2)', () => {
    let err: unknown;
    try {
      pointAt(catalog, '2026-11-25T14:02:10Z');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RollbackError);
    expect((err as RollbackError).exitCode).toBe(2);
    expect((err as Error).message).toBe('2026-11-25T14:02:10Z is earlier than every release point of prod; release points: 2026-11-26T09:00:00Z, 2026-11-25T14:02:11Z.');
  });
});
