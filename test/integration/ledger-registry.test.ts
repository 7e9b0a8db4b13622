/**
 * The ledger as OCI artifacts in the REAL registry (`ledger: { repository: rollback/ledger }`),
 * behind a login (htpasswd): records pushed and read back through the Distribution API with the
 * registry credentials of rollback.yml; a second agent with an empty workspace sees the same
 * points and puts the fleet back to one of them; a damaged artifact is skipped with a warning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { RECORD_MEDIA_TYPE } from '../../src/ledger/registry';
import { runCli } from '../support/cli';
import { deployByHand } from '../support/hand-deploy';
import { FLEET, prepareMarathonFleet, type MarathonFleet } from '../support/marathon-fleet';
import { pushBlob, pushManifest } from '../support/registry';
import { readyOrFail, registryMissing } from '../support/ready';

const maybe = readyOrFail('ledger-registry', registryMissing());
const AUTH = { username: 'ci', password: 'ledger-secret-7' };

maybe('the ledger as OCI artifacts in the registry', () => {
  let fleet: MarathonFleet;
  let m: MarathonDouble;
  let other: string;
  const basic = () => ({ authorization: `Basic ${Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64')}` });
  const get = async (path: string, accept = 'application/json') => {
    const res = await request(`${fleet.reg.url}/v2/${path}`, { headers: { ...basic(), accept } });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const digestOf = (service: string, tag: string) => fleet.catalog.services.find((s) => s.name === service)!.images.find((i) => i.tag === tag)!.digest;

  beforeAll(async () => {
    fleet = await prepareMarathonFleet({ dirPrefix: 'rollback-oci-ledger-', deployTimeout: 10, auth: AUTH, extra: ['ledger: { repository: rollback/ledger }'] });
    m = await startMarathon({ apps: fleet.apps(), deployMs: 5, now: Date.now });
    other = mkdtempSync(join(tmpdir(), 'rollback-other-agent-'));
  });
  afterAll(async () => {
    await m?.stop();
    await fleet?.close();
    if (other) rmSync(other, { recursive: true, force: true });
  });

  it('pushes each record as an artifact tagged <env>-<time>, read back by another agent, which goes back to it', async () => {
    const a = await runCli(fleet.args('record'), { env: fleet.env(m), cwd: fleet.dir });
    expect(a.code).toBe(0);
    const timeA = a.stdout.trim();
    const tagA = `prod-${timeA.replace(/:/g, '')}`;
    expect(JSON.parse((await get('rollback/ledger/tags/list')).body).tags).toEqual([tagA]);
    const manifest = JSON.parse((await get(`rollback/ledger/manifests/${tagA}`, 'application/vnd.oci.image.manifest.v1+json')).body);
    expect(manifest.artifactType).toBe(RECORD_MEDIA_TYPE);
    const record = JSON.parse((await get(`rollback/ledger/blobs/${manifest.layers[0].digest}`)).body);
    expect(record.services.map((s: { image: string }) => s.image.split('@')[1])).toEqual(FLEET.map((n) => digestOf(n, '2-prod')));
    // The password never reaches the record, the output or the log.
    expect(JSON.stringify(record) + a.stdout + a.stderr).not.toContain(AUTH.password);

    const same = await runCli(fleet.args('record'), { env: fleet.env(m), cwd: fleet.dir });
    expect([same.code, same.stdout.trim()]).toEqual([0, timeA]);

    await deployByHand(m, '/ds/prod/db', `${fleet.reg.host}/shop/db:1-prod`);
    const b = await runCli(fleet.args('record'), { env: fleet.env(m), cwd: fleet.dir });
    expect(b.code).toBe(0);
    const timeB = b.stdout.trim();

    // A damaged artifact among them (not JSON): skipped with a warning, never trusted.
    const bad = Buffer.from('{"ledgerVersion":1,');
    const layer = await pushBlob(fleet.reg, 'rollback/ledger', bad);
    const empty = await pushBlob(fleet.reg, 'rollback/ledger', Buffer.from('{}'));
    await pushManifest(fleet.reg, 'rollback/ledger', 'prod-2099-01-01T000000Z', 'application/vnd.oci.image.manifest.v1+json', JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: RECORD_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: RECORD_MEDIA_TYPE, digest: layer, size: bad.length }],
    }));

    // Another agent: its own empty workspace, the same rollback.yml; the ledger is in the registry.
    const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(fleet.dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(other, 'catalog.json'), ...rest];
    const got = await runCli(args('get', '--points', 'released'), { env: fleet.env(m), cwd: other });
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(`${timeB}\n${timeA}\n`);
    expect(got.stderr).toMatch(/Ledger record rollback\/ledger:prod-2099-01-01T000000Z is skipped/);

    const run = await runCli(args('run', '--at', timeA), { env: fleet.env(m), cwd: other });
    expect(run.code).toBe(0);
    expect(fleet.images(m)[2]).toBe(`${fleet.reg.host}/shop/db:2-prod@${digestOf('db', '2-prod')}`);
    // That run's own record went to the registry too.
    const tags = JSON.parse((await get('rollback/ledger/tags/list')).body).tags as string[];
    expect(tags.filter((t) => !t.startsWith('prod-2099'))).toHaveLength(3);
  });
});
