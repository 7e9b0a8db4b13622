/**
 * The plan for `--at TIME` (pure): every service back to the image it ran at the newest release
 * point at or before TIME (catalog.points, docs/points.md), digest-pinned; a service that point
 * knows no image of is left as it is, and the plan says so. Same plan entries as a date plan, so
 * everything downstream (preflight, engine, filters, JSON) treats both alike.
 *
 * planFor/checkRollbackPoint take either a day (YYYY-MM-DD, build days) or a time (release points).
 */
import type { Catalog, CatalogImage, CatalogPoint } from '../catalog/types';
import { inputError } from '../errors';
import { parseImageRef } from '../image/reference';
import { buildPlan, checkDate, runsImage, type Plan, type PlanEntry } from './plan';

const TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** True when `point` is a moment (`--at`) rather than a day. */
export function isMoment(point: string): boolean {
  return point.includes('T');
}

/** An --at value as a point time (UTC, to the second), or an input error naming the form. */
export function parseAt(at: string, valid: string): string {
  const ms = TIME.test(at) ? Date.parse(at) : NaN;
  if (Number.isNaN(ms)) throw inputError(`--at '${at}' is not a time of the form YYYY-MM-DDTHH:MM:SSZ; release points: ${valid}.`);
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function validPoints(catalog: Catalog): string {
  const points = catalog.points ?? [];
  return points.length ? points.map((p) => p.time).join(', ') : `none (no release point of ${catalog.environment} is known: run 'rollback record' after a deployment)`;
}

/** The newest point at or before `at`; an input error listing the points when there is none. */
export function pointAt(catalog: Catalog, at: string): CatalogPoint {
  const time = parseAt(at, validPoints(catalog));
  let best: CatalogPoint | undefined;
  for (const p of catalog.points ?? []) if (p.time <= time && (!best || p.time > best.time)) best = p;
  if (!best) throw inputError(`${at} is earlier than every release point of ${catalog.environment}; release points: ${validPoints(catalog)}.`);
  return best;
}

/** Refuses a rollback point the catalog does not offer (exit 2), a day or a moment. */
export function checkRollbackPoint(catalog: Catalog, point: string): string {
  if (isMoment(point)) {
    pointAt(catalog, point);
    return point;
  }
  return checkDate(catalog, point);
}

function imageOf(service: string, reference: string, time: string): CatalogImage {
  const r = parseImageRef(reference);
  return { service, repository: r.path, tag: r.tag ?? r.digest!, digest: r.digest!, created: time, day: time, reference };
}

export function buildPointPlan(catalog: Catalog, at: string, current: Record<string, string>): Plan {
  const point = pointAt(catalog, at);
  const entries = catalog.services.map((service): PlanEntry => {
    const now = current[service.name];
    if (now === undefined) throw new Error(`buildPointPlan: no current image given for ${service.name}`);
    const known = point.services.find((s) => s.service === service.name);
    if (!known) {
      return { service: service.name, current: now, action: 'none', reason: `left as it is: ${service.name} has no known image at the release point ${point.time} (${point.origin})` };
    }
    const target = imageOf(service.name, known.image, point.time);
    if (runsImage(now, target)) return { service: service.name, current: now, target, day: point.time, action: 'skip', reason: `already runs ${target.tag} as at ${point.time}` };
    return { service: service.name, current: now, target, day: point.time, action: 'change', reason: `goes to ${target.tag}, which it ran at the release point ${point.time} (${point.origin})` };
  });
  return { environment: catalog.environment, date: point.time === at ? at : `${at} (release point ${point.time})`, entries };
}

/** The plan for a day (build days) or a moment (release points). */
export function planFor(catalog: Catalog, point: string, current: Record<string, string>): Plan {
  return isMoment(point) ? buildPointPlan(catalog, point, current) : buildPlan(catalog, point, current);
}
