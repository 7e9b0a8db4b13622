/**
 * `rollback get` end to end on the real Docker registry: in-process through main(), and through
 * the built bundle (resources/rollback.js, built by `npm test` before jest runs) with plain node.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCatalog } from '../../src/catalog/io';
import { runCli } from '../support/cli';
import { pushImage, RunningRegistry, startRegistry } from '../support/registry';

const BUNDLE = resolve(__dirname, '../../resources/rollback.js');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

const inProcess = (argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Outcome> => runCli(argv, { env, cwd });

function bundled(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Outcome> {
  return new Promise((done) => {
    execFile(process.execPath, [BUNDLE, ...argv], { cwd, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const CONFIG = (url: string, extra = '') => `registry:
  url: ${url}
${extra}services:
  - name: api
    repository: shop/api
  - name: web
    repository: shop/web
  - name: worker
    repository: shop/worker
  - name: mailer
    repository: shop/mailer
environments:
  prod:
    target:
      swarm: { stack: shop }
  develop:
    target:
      swarm: { stack: shop-dev }
limit: 2
`;

// Tag text order differs from date order (10 is older than 9), an OCI index whose arm64 entry
// is newer than its amd64 one, develop tags to filter out, a service whose only image is weeks
// old, and one with no prod tag at all.
async function pushFleet(reg: RunningRegistry): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  const push = async (repository: string, tag: string, created: string, format?: 'docker' | 'oci' | 'oci-index', otherArchCreated?: string) => {
    digests[`${repository}:${tag}`] = await pushImage(reg, { repository, tag, created, format, otherArchCreated });
  };
  await push('shop/api', '9-prod', '2026-11-19T10:00:00Z');
  await push('shop/api', '10-prod', '2026-11-12T10:00:00Z');
  await push('shop/api', '8-prod', '2026-11-05T23:30:00Z');
  await push('shop/api', '11-develop', '2026-11-20T10:00:00Z');
  await push('shop/web', '2-prod', '2026-11-18T08:00:00Z', 'oci-index', '2026-11-21T08:00:00Z');
  await push('shop/web', '1-prod', '2026-11-12T15:00:00Z', 'oci');
  await push('shop/web', '3-develop', '2026-11-20T09:00:00Z');
  await push('shop/worker', '1-prod', '2026-10-01T12:00:00Z');
  await push('shop/mailer', '5-develop', '2026-11-19T12:00:00Z');
  return digests;
}

describe('rollback get on a real registry', () => {
  let reg: RunningRegistry;
  let dir: string;
  let digests: Record<string, string>;
  const env = {};
  beforeAll(async () => {
    reg = await startRegistry();
    digests = await pushFleet(reg);
    dir = mkdtempSync(join(tmpdir(), 'rollback-get-it-'));
    writeFileSync(join(dir, 'rollback.yml'), CONFIG(reg.url));
  });
  afterAll(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints exactly the right dates, newest first, and writes the catalog', async () => {
    const out = await inProcess(['get', '--config', 'rollback.yml', '--env', 'prod'], env, dir);
    expect(out.stderr).toMatch(/Service mailer: no tag of shop\/mailer matching \/-prod\$\/ could be found/);
    expect(out.code).toBe(0);
    // limit 2 drops api's 8-prod (11-05); the index is dated by its amd64 entry; develop tags do not count.
    expect(out.stdout).toBe('2026-11-19\n2026-11-18\n2026-11-12\n2026-10-01\n');
    const catalog = readCatalog(join(dir, '.rollback/catalog.json'));
    expect(catalog.services.map((s) => [s.name, s.images.map((i) => i.tag)])).toEqual([
      ['api', ['9-prod', '10-prod']],
      ['web', ['2-prod', '1-prod']],
      ['worker', ['1-prod']],
      ['mailer', []],
    ]);
    const web2 = catalog.services[1].images[0];
    expect(web2.reference).toBe(`${reg.host}/shop/web:2-prod@${digests['shop/web:2-prod']}`);
    expect(web2.created).toBe('2026-11-18T08:00:00.000Z');
    expect(existsSync(join(dir, '.rollback/dates-cache.json'))).toBe(true);
  });

  it('gives the same answer warm, with fewer requests, and the bundle prints the same dates', async () => {
    const first = await inProcess(['get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', 'cold/catalog.json'], env, dir);
    const warm = await inProcess(['get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', 'cold/catalog.json'], env, dir);
    const requests = (o: Outcome) => Number(/\((\d+) requests/.exec(o.stderr)?.[1]);
    // Cold: probe + 4 tag lists + GET manifest and config per prod tag (the index has one more manifest).
    expect(requests(first)).toBe(1 + 4 + 2 * 6 + 1);
    // Warm: probe + 4 tag lists + one HEAD per prod tag.
    expect(requests(warm)).toBe(1 + 4 + 6);
    expect(warm.stdout).toBe(first.stdout);
    expect(existsSync(BUNDLE)).toBe(true);
    const b = await bundled(['get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', 'bundle/catalog.json'], env, dir);
    expect(b.stderr).not.toMatch(/Unexpected error/);
    expect(b.code).toBe(0);
    expect(b.stdout).toBe(first.stdout);
  });

  it('takes the seed form: --registry URL --repos a,b --env <suffix>', async () => {
    const out = await inProcess(['get', '--registry', reg.url, '--repos', 'shop/api,shop/web,shop/worker', '--env', 'prod', '--catalog', 'seed/catalog.json'], env, dir);
    expect(out.code).toBe(0);
    // The seed keeps 10 per service, so api's 8-prod of 11-05 is a rollback point here.
    expect(out.stdout).toBe('2026-11-19\n2026-11-18\n2026-11-12\n2026-11-05\n2026-10-01\n');
    expect(readCatalog(join(dir, 'seed/catalog.json')).services.map((s) => s.name)).toEqual(['api', 'web', 'worker']);
  });

  it('dates an image without a config date by its org.opencontainers.image.created annotation', async () => {
    await pushImage(reg, { repository: 'shop/labels', tag: '1-prod', created: '2026-11-07T06:00:00Z', format: 'oci', annotationOnly: true });
    const out = await inProcess(['get', '--registry', reg.url, '--repos', 'shop/labels', '--env', 'prod', '--catalog', 'labels/catalog.json'], env, dir);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-07\n');
  });

  it('fails with exit 2 and writes no catalog when no tag matches at all', async () => {
    const out = await inProcess(['get', '--registry', reg.url, '--repos', 'shop/api,shop/web', '--env', 'qa', '--catalog', 'qa/catalog.json'], env, dir);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/rollback: No service has an image whose tag matches \/-qa\$\/, so there is no date to go back to; check --env and the environment's tags\.\n$/);
    expect(existsSync(join(dir, 'qa/catalog.json'))).toBe(false);
  });

  it('refuses an unknown environment, naming the known ones (exit 2, nothing on stdout)', async () => {
    const out = await inProcess(['get', '--config', 'rollback.yml', '--env', 'production'], env, dir);
    expect(out).toEqual({ code: 2, stdout: '', stderr: "rollback: Environment 'production' is not in rollback.yml; it defines: prod, develop.\n" });
  });

  it('says plainly when a configured repository does not exist (exit 2)', async () => {
    writeFileSync(join(dir, 'typo.yml'), CONFIG(reg.url).replace('repository: shop/worker', 'repository: shop/wroker'));
    const out = await inProcess(['get', '--config', 'typo.yml', '--env', 'prod', '--catalog', 'typo/catalog.json'], env, dir);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^rollback: Service worker: Repository shop\/wroker does not exist on http:\/\/127\.0\.0\.1:\d+ \(GET http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/wroker\/tags\/list answered 404 Not Found\)\.\n$/);
    expect(existsSync(join(dir, 'typo/catalog.json'))).toBe(false);
  });

  it('says an unreachable registry cannot be reached (exit 1)', async () => {
    writeFileSync(join(dir, 'down.yml'), CONFIG('http://127.0.0.1:9'));
    const out = await inProcess(['get', '--config', 'down.yml', '--env', 'prod', '--catalog', 'down/catalog.json'], env, dir);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^rollback: Registry http:\/\/127\.0\.0\.1:9 cannot be reached: GET http:\/\/127\.0\.0\.1:9\/v2\/ failed: ECONNREFUSED.*after 4 attempts\.\n$/);
  });
});

describe('rollback get on a real registry with basic auth (htpasswd)', () => {
  let reg: RunningRegistry;
  let dir: string;
  const auth = { username: 'jenkins', password: 'Registry-Pass-42' };
  beforeAll(async () => {
    reg = await startRegistry({ auth });
    await pushImage(reg, { repository: 'shop/api', tag: '1-prod', created: '2026-11-10T10:00:00Z' });
    await pushImage(reg, { repository: 'shop/api', tag: '2-prod', created: '2026-11-11T10:00:00Z', format: 'oci' });
    dir = mkdtempSync(join(tmpdir(), 'rollback-get-auth-'));
    writeFileSync(
      join(dir, 'rollback.yml'),
      `registry:\n  url: ${reg.url}\n  username: \${REG_USER}\n  password: \${REG_PASSWORD}\nservices:\n  - name: api\n    repository: shop/api\nenvironments:\n  prod:\n    target:\n      docker: {}\n`,
    );
  });
  afterAll(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with the credentials from the environment', async () => {
    const out = await inProcess(['get', '--config', 'rollback.yml', '--env', 'prod'], { REG_USER: auth.username, REG_PASSWORD: auth.password }, dir);
    expect(out.stderr).not.toContain(auth.password);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-11\n2026-11-10\n');
  });

  it('says a wrong password plainly, names the registry and 401, exit 2, never shows it', async () => {
    const out = await inProcess(['get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', 'x/catalog.json'], { REG_USER: auth.username, REG_PASSWORD: 'not-the-password' }, dir);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^rollback: Registry http:\/\/127\.0\.0\.1:\d+ refused the credentials of user 'jenkins' \(401 at http:\/\/127\.0\.0\.1:\d+\/v2\/\); check registry\.username and registry\.password\.\n$/);
    expect(out.stderr).not.toContain('not-the-password');
  });

  it('asks for a login when no credentials are set', async () => {
    writeFileSync(join(dir, 'anon.yml'), `registry:\n  url: ${reg.url}\nservices:\n  - name: api\n    repository: shop/api\nenvironments:\n  prod:\n    target:\n      docker: {}\n`);
    const out = await inProcess(['get', '--config', 'anon.yml', '--env', 'prod', '--catalog', 'y/catalog.json'], {}, dir);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/asks for a login \(401 at http:\/\/127\.0\.0\.1:\d+\/v2\/\); set registry\.username and registry\.password, or run docker login 127\.0\.0\.1:\d+ on this agent\.\n$/);
  });
});
