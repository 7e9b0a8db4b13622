/**
 * The plan: what a rollback to a date would do, per service. Pure: catalog + date + what each
 * service runs now in, a plan out. No I/O, so it is tested with tables and property tests.
 *
 * DESIGN.md, "Semantics of a date": each service gets its newest kept image created on or before
 * the END of the chosen day (so a service with no image that day gets its nearest older one, the
 * seed article's special case); no image at or before the day leaves the service as it is.
 */
import { parseReference } from '../image/reference';
import type { Catalog, CatalogImage, CatalogService } from '../catalog/types';
import { inputError } from '../errors';

export type PlanAction = 'change' | 'skip' | 'none';

export interface PlanEntry {
  service: string;
  /** What the service runs now, as the target reports it. */
  current: string;
  /** The rollback point for the date (absent for 'none'). */
  target?: CatalogImage;
  /** The day the target image comes from (YYYY-MM-DD). */
  day?: string;
  action: PlanAction;
  /** The action in words, for people. */
  reason: string;
}

export interface Plan {
  environment: string;
  date: string;
  entries: PlanEntry[];
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Refuses a date the catalog does not offer, listing the ones it does (exit 2). */
export function checkDate(catalog: Catalog, date: string | undefined): string {
  const valid = catalog.choices.length ? catalog.choices.join(', ') : 'none (the catalog has no rollback points)';
  if (!date) throw inputError(`A date is needed (--date YYYY-MM-DD); the catalog for ${catalog.environment} offers: ${valid}.`);
  if (!DAY.test(date)) throw inputError(`Date '${date}' is not of the form YYYY-MM-DD; the catalog for ${catalog.environment} offers: ${valid}.`);
  if (!catalog.choices.includes(date)) {
    throw inputError(`Date ${date} is not a rollback point of ${catalog.environment}; valid dates: ${valid}.`);
  }
  return date;
}

/**
 * The service's rollback point for `date`: its newest image whose day (already cut in the
 * catalog's timezone) is not after the date. Comparing days, not instants, is what makes an
 * image built at 23:59 on the day count, and one built at 00:01 the next day not.
 */
export function rollbackPoint(service: CatalogService, date: string): CatalogImage | undefined {
  let best: CatalogImage | undefined;
  for (const image of service.images) {
    if (image.day > date) continue;
    // The catalog lists newest first, but a hand-edited one may not: decide by `created`, and on a
    // tie keep the first listed (the order `get` chose).
    if (!best || Date.parse(image.created) > Date.parse(best.created)) best = image;
  }
  return best;
}

/**
 * Does the service already run `target`? By digest when the current reference carries one (a
 * re-pushed tag cannot fool it); else by repository and tag, the registry host aside (targets
 * may spell it differently, e.g. docker.io/ or not).
 */
export function runsImage(current: string, target: CatalogImage): boolean {
  const c = parseReference(current);
  if (c.digest) return c.digest === target.digest;
  if (!c.tag || c.tag !== target.tag) return false;
  return c.name === target.repository || c.name.endsWith(`/${target.repository}`);
}

/**
 * Builds the plan. `current` maps each service name to the image it runs now; services are taken
 * in the catalog's order. A service missing from `current` is an error of the caller (the target
 * must have been asked for every service before planning).
 */
export function buildPlan(catalog: Catalog, date: string, current: Record<string, string>): Plan {
  checkDate(catalog, date);
  const entries = catalog.services.map((service): PlanEntry => {
    const now = current[service.name];
    if (now === undefined) throw new Error(`buildPlan: no current image given for ${service.name}`);
    const target = rollbackPoint(service, date);
    if (!target) {
      const why = service.images.length === 0
        ? `has no rollback point at all${service.note ? ` (${service.note})` : ''}`
        : `has no image built on or before ${date} (its oldest kept image is from ${oldestDay(service)})`;
      return { service: service.name, current: now, action: 'none', reason: `left as it is: ${service.name} ${why}` };
    }
    if (runsImage(now, target)) {
      return { service: service.name, current: now, target, day: target.day, action: 'skip', reason: `already runs ${target.tag} from ${target.day}` };
    }
    const fromDay = target.day === date ? `built on ${date}` : `its newest image on or before ${date}, built on ${target.day}`;
    return { service: service.name, current: now, target, day: target.day, action: 'change', reason: `goes to ${target.tag} (${fromDay})` };
  });
  return { environment: catalog.environment, date, entries };
}

function oldestDay(service: CatalogService): string {
  return service.images.reduce((min, i) => (i.day < min ? i.day : min), service.images[0].day);
}

/** The plan as a table for people (stdout of `rollback plan`). */
export function formatPlan(plan: Plan): string {
  const rows = plan.entries.map((e) => [e.service, e.current || '-', e.target?.reference ?? '-', e.day ?? '-', e.action === 'none' ? 'none (left as it is)' : e.action]);
  const header = ['SERVICE', 'CURRENT', 'TARGET', 'FROM DAY', 'ACTION'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const notes = plan.entries.filter((e) => e.action === 'none').map((e) => `note: ${e.reason}.`);
  const changes = plan.entries.filter((e) => e.action === 'change').length;
  const summary = `${changes} of ${plan.entries.length} services change for ${plan.environment} on ${plan.date}.`;
  return [line(header), ...rows.map(line), ...notes, summary].join('\n') + '\n';
}

/** One service of the plan as scripts see it (`plan --json`), also what `select` and the demo draw from. */
export interface PlanService {
  service: string;
  current: string;
  /** Target image reference; null when the service is left as it is. */
  target: string | null;
  day: string | null;
  action: PlanAction;
  reason: string;
}

export function planServices(plan: Plan): PlanService[] {
  return plan.entries.map((e) => ({
    service: e.service,
    current: e.current,
    target: e.target?.reference ?? null,
    day: e.day ?? null,
    action: e.action,
    reason: e.reason,
  }));
}

/** The plan as JSON (stdout of `rollback plan --json`): stable field names for scripts. */
export function planJson(plan: Plan): string {
  return JSON.stringify({ environment: plan.environment, date: plan.date, services: planServices(plan) }, null, 2) + '\n';
}
