/**
 * Who goes back (src/plan/choose.ts): --only, --except and `hold: true` over a plan's entries, as
 * tables of cases; the bad input that is refused; the compatibility risk of a held service; how the
 * table and JSON say it; and properties over random selections.
 */
import fc from 'fast-check';
import type { Catalog, CatalogImage } from '../../src/catalog/types';
import { RollbackError } from '../../src/errors';
import { checkSelection, choosePlan, heldServices, serviceList, type Selection } from '../../src/plan/choose';
import { buildPlan, formatPlan, planJson, planServices, type Plan } from '../../src/plan/plan';
import { planFor } from '../../src/plan/points';
import { describePlan } from '../../src/cli/commands/select';

const REG = 'reg.example';
const dg = (s: string) => `sha256:${Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64)}`;
const img = (service: string, n: number, day: string): CatalogImage => ({
  service, repository: `shop/${service}`, tag: `${n}-prod`, digest: dg(`${service}${n}`), created: `${day}T12:00:00Z`, day, reference: `${REG}/shop/${service}:${n}-prod@${dg(`${service}${n}`)}`,
});
const NAMES = ['web', 'api', 'payments', 'db'];
// Every service has 1-prod (11-18) and 2-prod (11-20) and runs 2-prod, except db, which already runs 1-prod.
const CAT: Catalog = {
  schemaVersion: 1, generatedAt: '2026-11-21T00:00:00Z', environment: 'prod', registry: `https://${REG}`, tagPattern: '-prod$', timezone: 'UTC', limit: 10,
  services: NAMES.map((name) => ({ name, repository: `shop/${name}`, images: [img(name, 2, '2026-11-20'), img(name, 1, '2026-11-18')] })),
  choices: ['2026-11-20', '2026-11-18'],
};
const NOW = { web: img('web', 2, '2026-11-20').reference, api: img('api', 2, '2026-11-20').reference, payments: img('payments', 2, '2026-11-20').reference, db: img('db', 1, '2026-11-18').reference };
const plan = (): Plan => buildPlan(CAT, '2026-11-18', NOW);
const actions = (p: Plan) => Object.fromEntries(p.entries.map((e) => [e.service, e.held ? `held:${e.held.by}` : e.action]));

describe('choosing who goes back', () => {
  const cases: { name: string; selection: Selection; hold: string[]; want: Record<string, string> }[] = [
    { name: 'default: the whole fleet', selection: {}, hold: [], want: { web: 'change', api: 'change', payments: 'change', db: 'skip' } },
    { name: '--except payments', selection: { except: ['payments'] }, hold: [], want: { web: 'change', api: 'change', payments: 'held:except', db: 'skip' } },
    { name: '--only web,api', selection: { only: ['web', 'api'] }, hold: [], want: { web: 'change', api: 'change', payments: 'held:only', db: 'held:only' } },
    { name: 'hold: true in the config', selection: {}, hold: ['payments'], want: { web: 'change', api: 'change', payments: 'held:config', db: 'skip' } },
    { name: 'hold: true, and --except another', selection: { except: ['web'] }, hold: ['payments'], want: { web: 'held:except', api: 'change', payments: 'held:config', db: 'skip' } },
    { name: 'hold: true, named in --except as well: --except says why', selection: { except: ['payments'] }, hold: ['payments'], want: { web: 'change', api: 'change', payments: 'held:except', db: 'skip' } },
    { name: 'hold: true goes when --only names it', selection: { only: ['payments'] }, hold: ['payments'], want: { web: 'held:only', api: 'held:only', payments: 'change', db: 'held:only' } },
    { name: '--except every service', selection: { except: NAMES }, hold: [], want: { web: 'held:except', api: 'held:except', payments: 'held:except', db: 'held:except' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const chosen = choosePlan(plan(), c.selection, c.hold);
      expect(actions(chosen)).toEqual(c.want);
      // A held service keeps what it runs: it is never a change, whatever the date would do.
      for (const e of chosen.entries.filter((x) => x.held)) expect(e.action).toBe('held');
    });
  }

  const bad: { name: string; selection: Selection; message: string }[] = [
    { name: '--only with --except', selection: { only: ['web'], except: ['api'] }, message: '--only and --except cannot be used together: --only names the services that go back, --except the ones that stay; use one of them.' },
    { name: 'an unknown name in --only', selection: { only: ['web', 'cart'] }, message: "--only names a service not in rollback.yml: 'cart'; valid services: web, api, payments, db." },
    { name: 'unknown names in --except', selection: { except: ['cart', 'mail'] }, message: "--except names services not in rollback.yml: 'cart', 'mail'; valid services: web, api, payments, db." },
    { name: 'a control character is shown, not obeyed', selection: { except: ['we\nb'] }, message: "--except names a service not in rollback.yml: 'we\\u000ab'; valid services: web, api, payments, db." },
  ];
  for (const c of bad) {
    it(`refuses ${c.name} (exit 2, listing the valid services)`, () => {
      let err: unknown;
      try {
        checkSelection(c.selection, NAMES, 'rollback.yml');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RollbackError);
      expect({ code: (err as RollbackError).exitCode, message: (err as Error).message }).toEqual({ code: 2, message: c.message });
    });
  }

  it('refuses in choosePlan too, against the plan\'s own services (any plan source)', () => {
    expect(() => choosePlan(plan(), { only: ['cart'] }, [])).toThrow("--only names a service not in the plan for prod: 'cart'; valid services: web, api, payments, db.");
  });

  it('reads a comma-separated list; an empty one is bad input', () => {
    expect(serviceList(' web, api,,web ', '--only')).toEqual(['web', 'api']);
    expect(serviceList(undefined, '--only')).toBeUndefined();
    expect(() => serviceList(' , ', '--except')).toThrow('--except needs at least one service name, e.g. --except web,api.');
  });

  it('warns when a held service runs an image built after the date while others go back (the compatibility risk)', () => {
    const chosen = choosePlan(plan(), { except: ['payments'] }, []);
    const payments = chosen.entries.find((e) => e.service === 'payments')!;
    expect(payments.held).toEqual({
      by: 'except', would: 'change',
      risk: 'payments is held back (by --except) and runs 2-prod, built on 2026-11-20, after 2026-11-18, while web and api go back: check that they work with it.',
    });
    expect(payments.reason).toBe('held back (by --except): stays on 2-prod; without the hold it would go to 1-prod from 2026-11-18');
    // db already runs its image of the date: held or not, there is no risk.
    expect(choosePlan(plan(), { except: ['db'] }, []).entries.find((e) => e.service === 'db')!.held).toEqual({ by: 'except', would: 'skip' });
    // Nobody goes back: nothing to be incompatible with.
    expect(choosePlan(plan(), { only: ['db'] }, []).entries.some((e) => e.held?.risk)).toBe(false);
    // Not in the catalog and not its image of the date: said so too.
    const unknown = choosePlan(buildPlan(CAT, '2026-11-18', { ...NOW, payments: `${REG}/shop/payments:hotfix` }), { except: ['payments'] }, []);
    expect(unknown.entries.find((e) => e.service === 'payments')!.held!.risk).toBe('payments is held back (by --except) and runs hotfix, not its image for 2026-11-18 (its build day is not in the catalog), while web and api go back: check that they work with it.');
  });

  it('says it in words in the table, and in the JSON for scripts', () => {
    const chosen = choosePlan(plan(), { except: ['payments'] }, ['db']);
    const table = formatPlan(chosen);
    expect(table).toMatch(/^payments\s+\S+:2-prod@sha256:\S+\s+-\s+-\s+held back \(by --except\)$/m);
    expect(table).toMatch(/^db\s+\S+\s+-\s+-\s+held back \(by config\)$/m);
    expect(table).toContain('note: payments held back (by --except): stays on 2-prod; without the hold it would go to 1-prod from 2026-11-18.\n');
    expect(table).toContain('warning: payments is held back (by --except) and runs 2-prod, built on 2026-11-20, after 2026-11-18, while web and api go back: check that they work with it.\n');
    expect(table).toMatch(/2 of 4 services change for prod on 2026-11-18; held back: payments \(by --except\), db \(by config\)\.\n$/);
    expect(formatPlan(choosePlan(plan(), { only: ['web'] }, []))).toContain('held back (not in --only)');
    const json = JSON.parse(planJson(chosen)).services;
    expect(json.find((s: { service: string }) => s.service === 'payments')).toMatchObject({ action: 'held', heldBy: 'except', target: null, day: null, risk: expect.stringContaining('after 2026-11-18') });
    expect(json.find((s: { service: string }) => s.service === 'web')).not.toHaveProperty('heldBy');
    expect(heldServices(chosen)).toEqual([{ service: 'payments', by: 'except', image: NOW.payments }, { service: 'db', by: 'config', image: NOW.db }]);
  });

  it('rollback select shows a held service in its words too', () => {
    const item = describePlan('2026-11-18', planServices(choosePlan(plan(), {}, ['payments'])));
    expect(item.label).toBe('2026-11-18  2 of 4 services change: web, api');
    expect(item.detail).toContain('payments  held back (by config): stays on 2-prod; without the hold it would go to 1-prod from 2026-11-18');
  });

  it('applies to a release-point plan (--at) alike: it only reads the plan entries', () => {
    const at = '2026-11-19T08:00:00Z';
    const cat: Catalog = { ...CAT, points: [{ time: at, origin: 'Jenkins #412', services: NAMES.map((n) => ({ service: n, image: img(n, 1, '2026-11-18').reference })) }] };
    const chosen = choosePlan(planFor(cat, at, NOW), { except: ['payments'] }, ['web']);
    expect(actions(chosen)).toEqual({ web: 'held:config', api: 'change', payments: 'held:except', db: 'skip' });
    expect(chosen.entries.find((e) => e.service === 'payments')!.held!.risk).toBe(`payments is held back (by --except) and runs 2-prod, not its image for ${at}, while api goes back: check that it works with it.`);
  });

  describe('properties over random selections', () => {
    const selArb = fc.tuple(fc.subarray(NAMES), fc.subarray(NAMES), fc.constantFrom('only', 'except', 'none'))
      .map(([names, hold, kind]) => ({ selection: (kind === 'only' ? { only: names } : kind === 'except' ? { except: names } : {}) as Selection, hold }));

    it('a service goes back exactly when chosen, and keeps what the date gives it; held ones are never changes', () => {
      fc.assert(fc.property(selArb, ({ selection, hold }) => {
        fc.pre(!selection.only || selection.only.length > 0);
        const base = plan();
        const chosen = choosePlan(base, selection, hold);
        chosen.entries.forEach((e, i) => {
          const goes = selection.only ? selection.only.includes(e.service) : !(selection.except ?? []).includes(e.service) && !hold.includes(e.service);
          if (goes) expect(e).toEqual(base.entries[i]);
          else expect({ action: e.action, would: e.held?.would, target: e.target }).toEqual({ action: 'held', would: base.entries[i].action, target: base.entries[i].target });
        });
        // Choosing again with the same selection changes nothing (any plan source may already be chosen).
        expect(choosePlan(chosen, selection, hold)).toEqual(chosen);
      }), { numRuns: 300 });
    });
  });
});
