/**
 * Release points end to end (issue 16): images in the REAL registry (digests from it), the
 * Marathon double as the target. Record fleet A, deploy B by hand, record B; `run --at <A>` puts
 * the fleet exactly at A (digests equal), `undo` gives B back. The same with no record at all,
 * from Marathon's app versions.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import type { Catalog } from '../../src/catalog/types';
import { runCli } from '../support/cli';
import { deployByHand } from '../support/hand-deploy';
import { FLEET, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { readyOrFail, registryMissing } from '../support/ready';

const maybe = readyOrFail('points', registryMissing());

maybe('release points from the ledger: record A, deploy B by hand, record B, run --at A, undo', () => {
  let fleet: MarathonFleet;
  let m: MarathonDouble;
  const cli = (...args: string[]) => runCli(args, { env: fleet.env(m), cwd: fleet.dir });
  const digestOf = (service: string, tag: string) => fleet.catalog.services.find((s) => s.name === service)!.images.find((i) => i.tag === tag)!.digest;
  const digests = () => fleet.images(m).map((i) => i.split('@')[1] ?? `tag ${i.split(':').pop()}`);

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-points-', deployTimeout: 10 });
    // Marathon's versions on the real clock: what it remembers is the same releases the records hold, listed once.
    m = await startMarathon({ apps: fleet.apps(), deployMs: 5, now: Date.now });
  });
  afterAll(async () => {
    await m?.stop();
    await fleet?.close();
  });

  it('goes back exactly to A, digest-pinned, and undo gives B back', async () => {
    const a = await cli(...fleet.args('record'));
    expect(a.code).toBe(0);
    const timeA = a.stdout.trim();
    const A = FLEET.map((n) => digestOf(n, '2-prod'));

    await deployByHand(m, '/ds/prod/api', `${fleet.reg.host}/shop/api:1-prod`);
    await deployByHand(m, '/ds/prod/web', `${fleet.reg.host}/shop/web:1-prod`);
    const B = fleet.images(m);
    const b = await cli(...fleet.args('record'));
    expect(b.code).toBe(0);
    const timeB = b.stdout.trim();
    expect(timeB > timeA).toBe(true);

    // get --points released: the points, newest first, one per line, nothing else; the catalog holds their fleets.
    const got = await cli(...fleet.args('get', '--points', 'released'));
    expect(got.stderr).toMatch(new RegExp(`${timeA}  api 2-prod, web 2-prod, db 2-prod \\(recorded by ci\\)`));
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(`${timeB}\n${timeA}\n`);
    const catalog = JSON.parse(readFileSync(join(fleet.dir, '.rollback', 'catalog.json'), 'utf8')) as Catalog;
    expect(catalog.points!.map((p) => p.time)).toEqual([timeB, timeA]);
    expect(catalog.points![1].services.map((s) => s.image.split('@')[1])).toEqual(A);

    const plan = await cli(...fleet.args('plan', '--at', timeA, '--json'));
    expect(plan.code).toBe(0);
    expect((JSON.parse(plan.stdout) as { services: { service: string; action: string }[] }).services.map((s) => `${s.service} ${s.action}`)).toEqual(['api change', 'web change', 'db skip']);

    const run = await cli(...fleet.args('run', '--at', timeA));
    expect(run.stderr).toMatch(/Rollback of prod to \S+: 2 services changed \(api, web\)/);
    expect(run.code).toBe(0);
    // Exactly A: api and web by digest; db was left as it ran (2-prod by tag, whose digest is A's).
    expect(digests()).toEqual([A[0], A[1], 'tag 2-prod']);
    expect(m.running.get('/ds/prod/api')).toBe(`${fleet.reg.host}/shop/api:2-prod@${A[0]}`);

    const undo = await cli(...fleet.args('undo'));
    expect(undo.code).toBe(0);
    expect(fleet.images(m)).toEqual(B);
  });

  it('an --at earlier than every point lists the valid ones (exit 2) and changes nothing', async () => {
    const before = fleet.images(m);
    const r = await cli(...fleet.args('run', '--at', '2020-01-01T00:00:00Z'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/2020-01-01T00:00:00Z is earlier than every release point of prod; release points: \d{4}-\d\d-\d\dT[\d:]+Z, /);
    expect(r.stdout).toBe('');
    expect(fleet.images(m)).toEqual(before);
    const bad = await cli(...fleet.args('plan', '--at', 'yesterday'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--at 'yesterday' is not a time of the form YYYY-MM-DDTHH:MM:SSZ/);
    const both = await cli(...fleet.args('plan', '--at', '2026-11-25T14:02:11Z', '--date', '2026-11-18'));
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --date .* or --at/);
  });
});

maybe("release points from Marathon's app versions, with no record at all", () => {
  let fleet: MarathonFleet;
  let m: MarathonDouble;
  let clock = Date.parse('2026-11-20T10:00:00Z');
  const cli = (...args: string[]) => runCli(args, { env: fleet.env(m), cwd: fleet.dir });
  const digestOf = (service: string, tag: string) => fleet.catalog.services.find((s) => s.name === service)!.images.find((i) => i.tag === tag)!.digest;

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-versions-', deployTimeout: 10 });
    m = await startMarathon({ apps: fleet.apps(), deployMs: 5, now: () => clock });
  });
  afterAll(async () => {
    await m?.stop();
    await fleet?.close();
  });

  it('lists the releases Marathon remembers, goes back exactly to A, and undo gives B back', async () => {
    clock += 3_600_000;
    await deployByHand(m, '/ds/prod/api', `${fleet.reg.host}/shop/api:1-prod`);
    await deployByHand(m, '/ds/prod/web', `${fleet.reg.host}/shop/web:1-prod`);
    const B = fleet.images(m);
    clock += 3_600_000;
    expect(existsSync(join(fleet.dir, '.rollback', 'ledger'))).toBe(false);

    const got = await cli(...fleet.args('get', '--points', 'released'));
    expect(got.stderr).toMatch(/2026-11-20T10:00:00Z {2}api 2-prod, web 2-prod, db 2-prod \(Marathon versions\)/);
    expect(got.stderr).toMatch(/2026-11-20T11:00:00Z {2}api 1-prod, web 1-prod, db 2-prod \(Marathon versions\)/);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe('2026-11-20T11:00:00Z\n2026-11-20T10:00:00Z\n');
    // Beside the catalog, for the Jenkins question: the same words as stderr and select, one label a point, newest first.
    expect(readFileSync(join(fleet.dir, '.rollback', 'points.txt'), 'utf8')).toBe(
      '2026-11-20T11:00:00Z  api 1-prod, web 1-prod, db 2-prod (Marathon versions)\n' +
      '2026-11-20T10:00:00Z  api 2-prod, web 2-prod, db 2-prod (Marathon versions)\n');
    const versionReads = m.requests.filter((r) => /\/versions\/[^/]+$/.test(r.path)).length;
    expect(versionReads).toBe(5); // api 2, web 2, db 1

    const run = await cli(...fleet.args('run', '--at', '2026-11-20T10:30:00Z'));
    expect(run.stderr).toMatch(/plan: api: \S+:1-prod -> \S+:2-prod@sha256/);
    expect(run.code).toBe(0);
    expect(fleet.images(m)).toEqual([
      `${fleet.reg.host}/shop/api:2-prod@${digestOf('api', '2-prod')}`,
      `${fleet.reg.host}/shop/web:2-prod@${digestOf('web', '2-prod')}`,
      `${fleet.reg.host}/shop/db:2-prod`,
    ]);

    clock += 3_600_000;
    const undo = await cli(...fleet.args('undo'));
    expect(undo.code).toBe(0);
    expect(fleet.images(m)).toEqual(B);
  });
});
