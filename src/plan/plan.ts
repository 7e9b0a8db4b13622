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
import type { Undoes } from './undoes';

export type PlanAction = 'change' | 'skip' | 'none' | 'held';

/** Why a service is held back: not named in --only, named in --except, or `hold: true` in the config. */
export type HeldBy = 'only' | 'except' | 'config';

/** A held-back service (src/plan/choose.ts): what holds it, and what the plan would have done. */
export interface Held {
  by: HeldBy;
  would: Exclude<PlanAction, 'held'>;
  /** The compatibility risk in one sentence, when it runs an image built after the date while others go back. */
  risk?: string;
}

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
  /** The day the current image was built, when the catalog knows it (for the held-back risk). */
  currentDay?: string;
  /** Set when the service is held back (action 'held'). */
  held?: Held;
  /** What the change takes away: revisions, compare link, commits (src/plan/undoes-fetch.ts). */
  undoes?: Undoes;
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
    const known = service.images.find((i) => runsImage(now, i));
    const currentDay = known ? { currentDay: known.day } : {};
    if (!target) {
      const why = service.images.length === 0
        ? `has no rollback point at all${service.note ? ` (${service.note})` : ''}`
        : `has no image built on or before ${date} (its oldest kept image is from ${oldestDay(service)})`;
      return { service: service.name, current: now, action: 'none', reason: `left as it is: ${service.name} ${why}`, ...currentDay };
    }
    if (runsImage(now, target)) {
      return { service: service.name, current: now, target, day: target.day, action: 'skip', reason: `already runs ${target.tag} from ${target.day}`, ...currentDay };
    }
    const fromDay = target.day === date ? `built on ${date}` : `its newest image on or before ${date}, built on ${target.day}`;
    return { service: service.name, current: now, target, day: target.day, action: 'change', reason: `goes to ${target.tag} (${fromDay})`, ...currentDay };
  });
  return { environment: catalog.environment, date, entries };
}

function oldestDay(service: CatalogService): string {
  return service.images.reduce((min, i) => (i.day < min ? i.day : min), service.images[0].day);
}

/** "by --except", "by config", "not in --only": why a service is held back, in words. */
export function heldWords(by: HeldBy): string {
  return by === 'only' ? 'not in --only' : by === 'except' ? 'by --except' : 'by config';
}

function actionWords(e: PlanEntry): string {
  if (e.action === 'none') return 'none (left as it is)';
  if (e.action === 'held') return `held back (${heldWords(e.held!.by)})`;
  return e.action;
}

/** The plan as a table for people (stdout of `rollback plan`). */
export function formatPlan(plan: Plan): string {
  const rows = plan.entries.map((e) => [e.service, e.current || '-', e.action === 'held' ? '-' : e.target?.reference ?? '-', e.action === 'held' ? '-' : e.day ?? '-', actionWords(e)]);
  const header = ['SERVICE', 'CURRENT', 'TARGET', 'FROM DAY', 'ACTION'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const notes = plan.entries.filter((e) => e.action === 'none' || e.action === 'held').map((e) => `note: ${e.action === 'held' ? `${e.service} ` : ''}${e.reason}.`);
  const warnings = plan.entries.filter((e) => e.held?.risk).map((e) => `warning: ${e.held!.risk}`);
  const changes = plan.entries.filter((e) => e.action === 'change').length;
  const held = plan.entries.filter((e) => e.action === 'held');
  const heldText = held.length ? `; held back: ${held.map((e) => `${e.service} (${heldWords(e.held!.by)})`).join(', ')}` : '';
  const summary = `${changes} of ${plan.entries.length} services change for ${plan.environment} on ${plan.date}${heldText}.`;
  return [line(header), ...rows.map(line), ...notes, ...warnings, summary].join('\n') + '\n';
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
  /** Only for a held-back service: what holds it ('only', 'except', 'config'). */
  heldBy?: HeldBy;
  /** Only for a held-back service that runs an image built after the date while others go back. */
  risk?: string;
  /** Only for a service that changes: the revisions, compare link and commits it takes away. */
  undoes?: Undoes;
}

export function planServices(plan: Plan): PlanService[] {
  return plan.entries.map((e) => ({
    service: e.service,
    current: e.current,
    // A held-back service goes nowhere: no target, whatever the date would have given it.
    target: e.action === 'held' ? null : e.target?.reference ?? null,
    day: e.action === 'held' ? null : e.day ?? null,
    action: e.action,
    reason: e.reason,
    ...(e.held ? { heldBy: e.held.by } : {}),
    ...(e.held?.risk ? { risk: e.held.risk } : {}),
    ...(e.undoes && e.action === 'change' ? { undoes: e.undoes } : {}),
  }));
}

/** The plan as JSON (stdout of `rollback plan --json`): stable field names for scripts. */
export function planJson(plan: Plan): string {
  return JSON.stringify({ environment: plan.environment, date: plan.date, services: planServices(plan) }, null, 2) + '\n';
}
