/**
 * `rollback undo` with no snapshot (another agent, a wiped workspace), on the REAL engine and the
 * REAL registry: the docker target's own history file says what the last run replaced. Run to a
 * date, delete the state directory's snapshots, undo: the containers run their images from before;
 * again without snapshots: the undo itself is undone. With neither snapshot nor history: exit 2.
 * Release points (issue 16) on the same containers: record A, a date rollback to B, `run --at <A>`
 * puts them back to A by digest, undo gives B back; without a ledger the history file gives points.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineClient } from '../../src/targets/docker/engine';
import { runCli } from '../support/cli';
import { registryAvailable, RunningRegistry } from '../support/registry';
import { docker, engineAvailable, runContainer, runId, runImages, setUp, tearDown } from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('docker-undo-history', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)'], [registryAvailable(), 'the docker-registry binary']]));

jest.setTimeout(150_000);

const SERVICES = ['api', 'web'];

maybe('rollback undo from the docker history file when no snapshot exists (real engine)', () => {
  const id = runId();
  let reg: RunningRegistry;
  let engine: EngineClient;
  let dir: string;
  const { refs, push } = runImages(id, () => reg);
  const cli = (...args: string[]) => runCli([...args, '--config', 'rollback.yml', '--catalog', '.rollback/catalog.json'], { env: { PATH: process.env.PATH, USER: 'ci' }, cwd: dir });
  const images = () => SERVICES.map((s) => docker('inspect', `${id}-${s}`, '--format', '{{.Config.Image}} {{.State.Status}}'));
  const wipeSnapshots = () => rmSync(join(dir, '.rollback', 'runs'), { recursive: true, force: true });

  beforeAll(async () => {
    ({ reg, engine, dir } = await setUp('rollback-undo-history-'));
    await push('api', '1-stage', '2026-11-01T10:00:00Z');
    await push('api', '5-stage', '2026-11-05T10:00:00Z');
    await push('web', '2-stage', '2026-11-02T10:00:00Z');
    await push('web', '5-stage', '2026-11-05T11:00:00Z');
    for (const s of SERVICES) await runContainer(engine, { name: `${id}-${s}`, image: refs[s]['5-stage'], id, service: s });
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`,
      'services:', ...SERVICES.flatMap((s) => [`  - name: ${s}`, `    repository: ${id}/${s}`]),
      'environments:',
      '  host:', "    tags: '-stage$'", '    target:', '      docker:', `        container: '${id}-{service}'`, '        monitor: 1',
      // Same host, its own history file that never saw a change.
      '  fresh:', "    tags: '-stage$'", '    target:', '      docker:', `        container: '${id}-{service}'`, '        history: fresh-history.json', // relative: read beside rollback.yml
      'parallel: 2', 'deployTimeout: 40', 'settle: 0', '',
    ].join('\n'));
  }, 150_000);

  afterAll(() => tearDown({ engine, id, reg, containers: SERVICES.map((s) => `${id}-${s}`), dir }));

  it('run, delete the snapshots, undo: the containers run the images from before; undo again redoes the run', async () => {
    const newest = SERVICES.map((s) => `${refs[s]['5-stage']} running`);
    const atD = [`${refs.api['1-stage']} running`, `${refs.web['2-stage']} running`];
    expect((await cli('get', '--env', 'host')).code).toBe(0);
    const ran = await cli('run', '--env', 'host', '--date', '2026-11-02');
    expect([ran.code, images()]).toEqual([0, atD]);

    wipeSnapshots();
    const undo = await cli('undo', '--env', 'host');
    expect(undo.code).toBe(0);
    expect(images()).toEqual(newest);
    const history = join(dir, '.rollback', 'docker-history-unix-var-run-docker.sock.json');
    expect(undo.stderr).toContain(`No snapshot of host: undoing the last change recorded in the docker history file ${history} (at `);
    expect(undo.stderr).toContain(`Undo of host (the docker history file ${history}): 2 services put back (api, web)`);
    // Its own snapshot, marked as an undo from the history.
    const pointer = JSON.parse(readFileSync(join(dir, '.rollback', 'runs', 'host-latest.json'), 'utf8')).snapshot;
    const snap = JSON.parse(readFileSync(join(dir, '.rollback', 'runs', pointer), 'utf8'));
    expect([snap.action, snap.outcome, snap.undoesHistory]).toEqual(['undo', 'done', `the docker history file ${history}`]);

    wipeSnapshots();
    const redo = await cli('undo', '--env', 'host');
    expect(redo.code).toBe(0);
    expect(images()).toEqual(atD);
  });

  it('with neither snapshot nor history: one sentence, exit 2, nothing changed', async () => {
    const before = images();
    const r = await cli('undo', '--env', 'fresh');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `rollback: There is no snapshot of fresh under ${join(dir, '.rollback')}, and the docker history file ${join(dir, 'fresh-history.json')} records no change of its services; nothing to undo (pass --snapshot FILE, or --catalog beside the state directory).`,
    );
    expect(images()).toEqual(before);
  });

  it('release points: record A, roll back to a date (B), run --at A runs A by digest; undo gives B back', async () => {
    const host = (...args: string[]) => cli(...args, '--env', 'host');
    const A = images();
    const recorded = await host('record');
    expect(recorded.code).toBe(0);
    const timeA = recorded.stdout.trim();
    expect((await host('get')).code).toBe(0);
    const ran = await host('run', '--date', '2026-11-05');
    expect(ran.code).toBe(0);
    const B = images();
    expect(B).toEqual(SERVICES.map((s) => `${refs[s]['5-stage']} running`));
    expect(B).not.toEqual(A);

    const back = await host('run', '--at', timeA);
    expect(back.stderr).toMatch(/2 services changed \(api, web\)/);
    expect(back.code).toBe(0);
    expect(images()).toEqual(A);

    const undo = await host('undo');
    expect(undo.code).toBe(0);
    expect(images()).toEqual(B);
  });

  it('release points without a ledger: the docker history file gives the points of the changes the tool made', async () => {
    rmSync(join(dir, '.rollback', 'ledger'), { recursive: true, force: true });
    const got = await cli('get', '--env', 'host', '--points', 'released');
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/^(\d{4}-\d\d-\d\dT[\d:]+Z\n)+$/);
    // The newest point is the fleet as it runs now (after the undo), from the history file.
    expect(got.stderr).toContain(`${got.stdout.split('\n')[0]}  api 5-stage, web 5-stage (docker history)`);
  });
});
