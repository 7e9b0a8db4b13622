/**
 * Who goes back: `--only a,b`, `--except c` and the config's `services[].hold: true`, applied to a
 * plan's entries. Pure, and a function of the entries alone, so it applies to any plan source
 * (build days, release points) and is tested with tables.
 *
 * Rules: without --only, every service goes except those named in --except and those the config
 * holds; with --only, exactly the named services go, held ones included (naming one is how it is
 * rolled back on purpose). A held service keeps what it runs now; when it runs an image built after
 * the date while others go back, the plan says so: the compatibility risk of a partial rollback.
 */
import { inputError, oneLine } from '../errors';
import { parseReference } from '../image/reference';
import { heldWords, type HeldBy, type Plan, type PlanEntry } from './plan';

export interface Selection {
  /** Exactly these services go back (held ones included). */
  only?: string[];
  /** Every service but these goes back. */
  except?: string[];
}

/** A comma-separated list from a flag ("web, api") as names; an empty list is bad input. */
export function serviceList(text: string | undefined, flag: '--only' | '--except'): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw inputError(`${flag} needs at least one service name, e.g. ${flag} web,api.`);
  return [...new Set(names)];
}

/**
 * Refuses --only with --except, and any name that is not one of `services` (listing them): exit 2.
 * `where` says whose services they are ("prod in rollback.yml", "the plan for prod").
 */
export function checkSelection(selection: Selection, services: readonly string[], where: string): void {
  if (selection.only && selection.except) {
    throw inputError('--only and --except cannot be used together: --only names the services that go back, --except the ones that stay; use one of them.');
  }
  for (const [flag, names] of [['--only', selection.only], ['--except', selection.except]] as const) {
    const unknown = (names ?? []).filter((n) => !services.includes(n));
    if (unknown.length) {
      const what = unknown.map((n) => `'${oneLine(n)}'`).join(', ');
      throw inputError(`${flag} names ${unknown.length === 1 ? 'a service' : 'services'} not in ${where}: ${what}; valid services: ${services.join(', ')}.`);
    }
  }
}

function heldBy(service: string, selection: Selection, hold: ReadonlySet<string>): HeldBy | undefined {
  if (selection.only) return selection.only.includes(service) ? undefined : 'only';
  if (selection.except?.includes(service)) return 'except';
  return hold.has(service) ? 'config' : undefined;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const tagOf = (reference: string) => parseReference(reference).tag ?? reference;

/**
 * The plan with every service that does not go back marked 'held' (its entry otherwise kept, so
 * `held.would` says what the date would have done), and the compatibility risk of each held one.
 * `hold` names the services the configuration holds (`hold: true`).
 */
export function choosePlan(plan: Plan, selection: Selection, hold: readonly string[]): Plan {
  checkSelection(selection, plan.entries.map((e) => e.service), `the plan for ${plan.environment}`);
  const held = new Set(hold);
  const entries = plan.entries.map((entry): PlanEntry => {
    // Choosing twice starts from what the date would do, not from the first choice.
    const e: PlanEntry = entry.held ? { ...entry, action: entry.held.would, held: undefined } : entry;
    const by = heldBy(e.service, selection, held);
    if (!by) return e;
    const would = e.action as Exclude<PlanEntry['action'], 'held'>;
    const without = would === 'change' && e.target ? `; without the hold it would go to ${e.target.tag} from ${e.day}` : '';
    return { ...e, action: 'held', held: { by, would }, reason: `held back (${heldWords(by)}): stays on ${tagOf(e.current)}${without}` };
  });
  const going = entries.filter((e) => e.action === 'change').map((e) => e.service);
  if (going.length === 0) return { ...plan, entries };
  const day = plan.date.slice(0, 10);
  const others = going.length === 1 ? going[0] : `${going.slice(0, -1).join(', ')} and ${going[going.length - 1]}`;
  return {
    ...plan,
    entries: entries.map((e) => {
      if (!e.held) return e;
      const start = `${e.service} is held back (${heldWords(e.held.by)}) and runs ${tagOf(e.current)}`;
      let risk: string | undefined;
      if (e.currentDay && e.currentDay > day) {
        risk = `${start}, built on ${e.currentDay}, after ${plan.date}, while ${others} go${going.length === 1 ? 'es' : ''} back: check that ${going.length === 1 ? 'it works' : 'they work'} with it.`;
      } else if (!e.currentDay && e.held.would === 'change') {
        // A release point (--at) or an image the catalog does not know: it is not what goes with the others.
        const unknown = DAY.test(plan.date) ? ' (its build day is not in the catalog)' : '';
        risk = `${start}, not its image for ${plan.date}${unknown}, while ${others} go${going.length === 1 ? 'es' : ''} back: check that ${going.length === 1 ? 'it works' : 'they work'} with it.`;
      }
      return risk ? { ...e, held: { ...e.held, risk } } : e;
    }),
  };
}

/** The held-back services of a plan, for messages and notifications. */
export function heldServices(plan: Plan): { service: string; by: HeldBy; image: string }[] {
  return plan.entries.filter((e) => e.held).map((e) => ({ service: e.service, by: e.held!.by, image: e.current }));
}
