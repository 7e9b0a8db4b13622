/**
 * The fleet ledger (issue 16): `rollback record` against the Marathon double with images in the
 * REAL registry (digests come from it), a record after every successful run and undo, damaged
 * records skipped with a warning.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { runCli } from '../support/cli';
import { deployByHand } from '../support/hand-deploy';
import { FLEET, FLEET_DATE, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import type { LedgerRecord } from '../../src/ledger/types';
import { readyOrFail, registryMissing } from '../support/ready';

const maybe = readyOrFail('ledger', registryMissing());
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\n$/;

maybe('rollback record and the ledger', () => {
  let fleet: MarathonFleet;
  let m: MarathonDouble;
  const ledgerDir = () => join(fleet.dir, '.rollback', 'ledger', 'prod');
  const records = (): LedgerRecord[] => readdirSync(ledgerDir()).filter((f) => !f.startsWith('2099')).sort().map((f) => JSON.parse(readFileSync(join(ledgerDir(), f), 'utf8')));
  const digestOf = (service: string, tag: string) => fleet.catalog.services.find((s) => s.name === service)!.images.find((i) => i.tag === tag)!.digest;
  const cli = (env: NodeJS.ProcessEnv, ...args: string[]) => runCli(args, { env, cwd: fleet.dir });

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-ledger-', deployTimeout: 10 });
    m = await startMarathon({ apps: fleet.apps(), deployMs: 5 });
  });
  afterAll(async () => {
    await m?.stop();
    await fleet?.close();
  });

  it('records the fleet pinned by digest, once per change, and says when nothing changed', async () => {
    const first = await cli(fleet.env(m), ...fleet.args('record'));
    expect(first.stderr).toMatch(/Recorded the fleet of prod \(3 services\)/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(TIME);
    let r = records();
    expect(r).toHaveLength(1);
    expect(r[0].time).toBe(first.stdout.trim());
    // Tags on the target, digests in the record: the ones the registry serves for 2-prod.
    expect(r[0].services.map((s) => s.image)).toEqual(FLEET.map((n) => `${fleet.reg.host}/shop/${n}:2-prod@${digestOf(n, '2-prod')}`));
    expect(r[0].by).toEqual({ command: 'record', user: 'ci' });

    const again = await cli(fleet.env(m), ...fleet.args('record'));
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.stderr).toMatch(/has not changed since the record of .*nothing was recorded/);
    expect(records()).toHaveLength(1);

    await deployByHand(m, '/ds/prod/api', `${fleet.reg.host}/shop/api:1-prod`);
    const build = 'https://jenkins.example.com/job/shop/job/deploy/412/';
    const second = await cli({ ...fleet.env(m), BUILD_URL: build }, ...fleet.args('record'));
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(TIME);
    expect(second.stdout.trim() > first.stdout.trim()).toBe(true);
    r = records();
    expect(r).toHaveLength(2);
    expect(r[1].services[0].image).toBe(`${fleet.reg.host}/shop/api:1-prod@${digestOf('api', '1-prod')}`);
    expect(r[1].by.buildUrl).toBe(build);
  });

  it('skips a damaged record with a warning, never trusting it', async () => {
    const before = records();
    writeFileSync(join(ledgerDir(), '2099-01-01T000000Z.json'), '{"ledgerVersion":1,"environment":"prod","time":"2099-01-01T00:00:00Z",');
    writeFileSync(join(ledgerDir(), '2099-01-02T000000Z.json'), JSON.stringify({ ...before[0], time: '2099-01-02T00:00:00Z', services: [{ service: 'api', image: 'shop/api:1-prod' }] }));
    const r = await cli(fleet.env(m), ...fleet.args('record'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2099-01-01T000000Z\.json is skipped: it is not valid JSON/);
    expect(r.stderr).toMatch(/2099-01-02T000000Z\.json is skipped: the image of api is not a digest-pinned reference/);
    // The last record it trusts is the newest valid one: the fleet has not changed since.
    expect(r.stdout.trim()).toBe(before[before.length - 1].time);
    expect(r.stderr).toMatch(/has not changed/);
  });

  it('appends a record after a successful run and after its undo', async () => {
    const files = () => readdirSync(ledgerDir()).filter((f) => !f.startsWith('2099'));
    const n = files().length;
    const run = await cli(fleet.env(m), ...fleet.args('run', '--date', FLEET_DATE));
    expect(run.stderr).toMatch(/Release point \S+ recorded/);
    expect(run.code).toBe(0);
    const afterRun = records();
    expect(afterRun).toHaveLength(n + 1);
    const last = afterRun[afterRun.length - 1];
    expect(last.by.command).toBe('run');
    expect(last.services.map((s) => s.image)).toEqual(fleet.planned());

    const undo = await cli(fleet.env(m), ...fleet.args('undo'));
    expect(undo.code).toBe(0);
    const afterUndo = records();
    expect(afterUndo).toHaveLength(n + 2);
    expect(afterUndo[afterUndo.length - 1].by.command).toBe('undo');

    // A dry run changes nothing and records nothing.
    const dry = await cli(fleet.env(m), ...fleet.args('run', '--date', FLEET_DATE, '--dry-run'));
    expect(dry.code).toBe(0);
    expect(files()).toHaveLength(n + 2);
  });

  it('keeps the ledger where ledger.path says, relative to rollback.yml', async () => {
    const config = join(fleet.dir, 'shared.yml');
    writeFileSync(config, readFileSync(join(fleet.dir, 'rollback.yml'), 'utf8') + 'ledger: { path: shared-ledger }\n');
    const r = await cli(fleet.env(m), 'record', '--config', config, '--env', 'prod', '--catalog', join(fleet.dir, '.rollback', 'catalog.json'));
    expect(r.code).toBe(0);
    const file = join(fleet.dir, 'shared-ledger', 'prod', `${r.stdout.trim().replace(/:/g, '')}.json`);
    expect(existsSync(file)).toBe(true);
    expect((JSON.parse(readFileSync(file, 'utf8')) as LedgerRecord).time).toBe(r.stdout.trim());
  });
});
