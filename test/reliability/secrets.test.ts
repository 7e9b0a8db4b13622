/**
 * Secrets never leak. Distinct secrets are planted (registry password on the real registry with
 * htpasswd, a DC/OS login password and the token the login hands out, the Slack webhook, a GitHub
 * token, and a wrong password tried once), then representative runs of the bundled worker as
 * real processes (success, failure put back, bad input, --debug, failing notifiers, refused
 * logins) are captured, and every stream, every file they left (catalog, date cache, snapshots,
 * locks) and every message sent to Slack, GitHub and Marathon is searched for each secret in its
 * plain, URL-encoded and base64 forms (basic auth headers hide passwords in base64). None may appear.
 *
 * Masking is tested end to end, not by calling mask(): some runs meet servers that echo a planted
 * secret back (Marathon's 422 body quoting the Authorization header with the DC/OS token, Slack's
 * error body quoting the webhook URL, a registry whose WWW-Authenticate header names a realm URL
 * holding the password), in text the worker does log; those streams must show `***` where the
 * secret was, and a logger that stops masking fails this suite.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGithubDouble, type GithubDouble } from '../doubles/github-double';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startSlack, type SlackDouble } from '../doubles/slack-double';
import { startRegistryDouble, type RegistryDouble } from '../doubles/registry-double';
import { suiteFigures } from '../support/fuzz';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';
import { readyOrFail, registryMissing } from '../support/ready';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const maybe = readyOrFail('secrets', registryMissing());
const NAMES = ['api', 'web'];
const D = '2026-11-18';
const secret = (label: string) => `${label}-${randomBytes(9).toString('hex')}`;

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

maybe('secrets in every output, file and message', () => {
  const { it, record } = suiteFigures('secrets');
  let figures: Record<string, number> | undefined;
  afterAll(() => {
    if (figures) record({ figures, summary: 'registry password, DC/OS password and token, Slack webhook, GitHub token and a wrong password, searched (plain, URL-encoded, base64, basic auth) in every stream, file and message of success, failure, bad-input and --debug runs, while the doubles echo them back in error bodies, a header and URLs the worker logs (which must show ***)' });
  });
  const SECRETS = {
    registryPassword: secret('regpw'),
    wrongPassword: secret('wrongpw'),
    dcosPassword: secret('dcospw'),
    dcosToken: secret('dcostoken'),
    githubToken: secret('ghtoken'),
  };
  let reg: RunningRegistry;
  let bundle: WorkerBundle;
  let marathon: MarathonDouble;
  let slack: SlackDouble;
  let github: GithubDouble;
  let echoing: RegistryDouble;
  /** Runs whose streams must show a masked echo, and the pattern of that echo. */
  const echoes: { name: string; masked: RegExp }[] = [];
  let dir: string;
  /** Everything that was said or sent, labelled by where it went. */
  const captured: { where: string; text: string }[] = [];
  const runs: { name: string; code: number | null }[] = [];

  /** The forms a secret takes on the way out: plain, URL-encoded, base64, and inside basic auth. */
  function forms(value: string): string[] {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    return [value, encodeURIComponent(value), b64(value), b64(`robot:${value}`), b64(`ci:${value}`)];
  }
  const allSecrets = () => ({ ...SECRETS, slackWebhookPath: slack.secret });

  const baseEnv = () => ({
    PATH: process.env.PATH, USER: 'ci', BUILD_USER_ID: 'alice',
    REGISTRY_PASSWORD: SECRETS.registryPassword, DCOS_PASSWORD: SECRETS.dcosPassword, SLACK_WEBHOOK: slack.webhook, GITHUB_TOKEN: SECRETS.githubToken,
  });

  /** One run of the bundled worker as a real process; its streams are captured. */
  function worker(name: string, args: string[], env: NodeJS.ProcessEnv = baseEnv()): Promise<number | null> {
    const c = spawn(process.execPath, [bundle.file, ...args], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { err += d; });
    return new Promise((res) => c.on('exit', (code) => {
      captured.push({ where: `${name}: stdout`, text: out }, { where: `${name}: stderr`, text: err });
      runs.push({ name, code });
      res(code);
    }));
  }
  const args = (cmd: string, ...rest: string[]) => [cmd, '--config', 'rollback.yml', '--env', 'prod', ...rest];

  beforeAll(async () => {
    reg = await startRegistry({ auth: { username: 'robot', password: SECRETS.registryPassword } });
    for (const n of NAMES) {
      await pushImage(reg, { repository: `shop/${n}`, tag: '1-prod', created: `${D}T10:00:00Z` });
      await pushImage(reg, { repository: `shop/${n}`, tag: '2-prod', created: '2026-11-20T10:00:00Z' });
    }
    bundle = await buildWorkerBundle();
    slack = await startSlack();
    github = await startGithubDouble({ token: SECRETS.githubToken });
    marathon = await startMarathon({
      deployMs: 10,
      apps: NAMES.map((n) => ({ id: `/ds/prod/${n}`, image: `${reg.host}/shop/${n}:2-prod` })),
      auth: { dcos: { uid: 'ci', password: SECRETS.dcosPassword, token: SECRETS.dcosToken } },
    });
    dir = mkdtempSync(join(tmpdir(), 'rollback-secrets-'));
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, '  username: robot', '  password: ${REGISTRY_PASSWORD}',
      'services:', ...NAMES.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', '      marathon:', `        url: ${marathon.url}`, '        appPrefix: /ds/prod',
      '        dcos:', '          uid: ci', '          password: ${DCOS_PASSWORD}',
      'deployTimeout: 3', 'settle: 0',
      'notify:', '  slack:', '    webhook: ${SLACK_WEBHOOK}',
      'github:', '  token: ${GITHUB_TOKEN}', `  apiUrl: ${github.url}`, '  deployments:', '    repo: shop/fleet', '',
    ].join('\n'));
  }, 120_000);

  afterAll(async () => {
    await marathon?.stop();
    await slack?.stop();
    await github?.close();
    await echoing?.stop();
    await reg?.stop();
    bundle?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('representative runs end as expected (the runs the search below covers)', async () => {
    expect(await worker('get --debug', args('get', '--debug'))).toBe(0);
    expect(await worker('plan --json', args('plan', '--date', D, '--json'))).toBe(0);
    expect(await worker('run --debug (success)', args('run', '--date', D, '--debug', '--approver', 'alice'))).toBe(0);
    expect(await worker('undo --debug', args('undo', '--debug'))).toBe(0);
    // A bad image: the planned image of web never gets healthy; everything is put back (exit 1).
    const planned = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8')).services[1].images.find((i: { tag: string }) => i.tag === '1-prod').reference;
    marathon.faults['/ds/prod/web'] = { unhealthy: planned };
    // ...while Slack and GitHub fail too (their errors are reported, with URLs that hold secrets).
    slack.fail = { status: 500, reason: 'internal_error' };
    expect(await worker('run --debug (failure, notifiers failing)', args('run', '--date', D, '--debug'))).toBe(1);
    delete marathon.faults['/ds/prod/web'];
    slack.fail = undefined;
    // Bad input, with --debug (a stack trace may be shown, the secrets may not).
    expect(await worker('run --debug (unknown date)', args('run', '--date', '1999-01-01', '--debug'))).toBe(2);
    // Refused logins: a wrong registry password, a wrong DC/OS password.
    // (Refused credentials are exit 1 or 2 depending on whose fault the worker judges it: either is fine here.)
    expect([1, 2]).toContain(await worker('get --debug (wrong registry password)', args('get', '--debug', '--catalog', 'other/catalog.json'), { ...baseEnv(), REGISTRY_PASSWORD: SECRETS.wrongPassword }));
    expect([1, 2]).toContain(await worker('plan --debug (wrong DC/OS password)', args('plan', '--date', D, '--debug'), { ...baseEnv(), DCOS_PASSWORD: SECRETS.wrongPassword }));
    // The seed's flag form reads the password from the environment only.
    expect(await worker('get (seed flags)', ['get', '--registry', reg.url, '--repos', 'shop/api,shop/web', '--env', 'prod', '--catalog', 'seed/catalog.json', '--debug'], { ...baseEnv(), REGISTRY_USER: 'robot' })).toBe(0);

    // Servers that echo a secret back, in text the worker logs. Marathon's 422 quotes the
    // Authorization header (the DC/OS token); Slack's error body quotes the webhook path; the run
    // fails and is put back, and its failure reason (with the echo) goes to Slack and GitHub too.
    marathon.faults['/ds/prod/web'] = { put: { status: 422, times: 1, echoAuthorization: true } };
    slack.fail = { status: 404, reason: `no_service for ${new URL(slack.webhook).pathname}` };
    expect(await worker('run --debug (Marathon and Slack echo secrets)', args('run', '--date', D, '--debug'))).toBe(1);
    echoes.push({ name: 'run --debug (Marathon and Slack echo secrets)', masked: /Authorization: token=\*\*\*/ });
    echoes.push({ name: 'run --debug (Marathon and Slack echo secrets)', masked: /no_service for \*\*\*/ });
    delete marathon.faults['/ds/prod/web'];
    slack.fail = undefined;
    // A registry whose challenge header names a realm URL holding the password it was given.
    echoing = await startRegistryDouble({ fleet: { 'shop/api': { '1-prod': { created: `${D}T10:00:00Z` } } } });
    echoing.fault({ match: 'GET /v2/', fault: { status: 401, headers: { 'www-authenticate': `Bearer realm="ftp://127.0.0.1/token/${SECRETS.registryPassword}",service="echo"` } } });
    expect([1, 2]).toContain(await worker('get --debug (registry header echoes the password)', ['get', '--registry', echoing.url, '--repos', 'shop/api', '--env', 'prod', '--catalog', 'echo/catalog.json', '--debug'], { ...baseEnv(), REGISTRY_USER: 'robot' }));
    echoes.push({ name: 'get --debug (registry header echoes the password)', masked: /realm="ftp:\/\/127\.0\.0\.1\/token\/\*\*\*"/ });
    expect(echoing.faultsFired()).toBe(1);

    // The runs really used the secrets: logins happened, messages were sent.
    expect(marathon.requests.some((r) => r.authorization === `token=${SECRETS.dcosToken}`)).toBe(true);
    expect(slack.posts.length).toBeGreaterThan(0);
    expect(github.requests.some((r) => r.path.includes('/deployments'))).toBe(true);
  }, 300_000);

  it('no secret appears in any stream, file or message', () => {
    // Files: everything the runs left in the working directory (catalogs, date cache, snapshots, locks).
    for (const file of filesUnder(dir)) captured.push({ where: `file ${file.slice(dir.length + 1)}`, text: readFileSync(file, 'latin1') });
    // Messages: what Slack and GitHub received (bodies), and what Marathon received apart from its credentials.
    for (const p of slack.posts) captured.push({ where: 'Slack post', text: p.raw });
    for (const r of github.requests) captured.push({ where: `GitHub ${r.method} ${r.path}`, text: `${r.path} ${JSON.stringify(r.body ?? '')}` });
    // (The DC/OS login body is the one place the DC/OS password belongs, like an Authorization header.)
    for (const r of marathon.requests.filter((x) => x.path !== '/acs/api/v1/auth/login')) captured.push({ where: `Marathon ${r.method} ${r.path}`, text: `${r.path} ${JSON.stringify(r.query)} ${JSON.stringify(r.body ?? '')}` });
    expect(captured.length).toBeGreaterThan(20);
    const search = (items: { where: string; text: string }[]) => {
      const hits: string[] = [];
      for (const [name, value] of Object.entries(allSecrets())) {
        for (const form of forms(value)) for (const c of items) if (c.text.includes(form)) hits.push(`${name} in ${c.where}`);
      }
      return hits;
    };
    const found = search(captured);
    expect(found).toEqual([]);
    // The search itself works: a basic auth header or the webhook URL would be found, and the
    // --debug runs really said a lot (requests, retries, stacks) for it to search.
    expect(search([{ where: 'control', text: `authorization: Basic ${Buffer.from(`robot:${SECRETS.registryPassword}`).toString('base64')}` }, { where: 'control', text: slack.webhook }]).map((h) => h.split(' ')[0])).toEqual(expect.arrayContaining(['registryPassword', 'slackWebhookPath']));
    expect(captured.filter((c) => c.where.endsWith('stderr')).map((c) => c.text).join('')).toMatch(/debug: /);
    // The echoes reached the streams, masked: the worker logged what the servers said, with *** in place.
    const stderrOf = (name: string) => captured.find((c) => c.where === `${name}: stderr`)?.text ?? '';
    for (const e of echoes) expect({ run: e.name, masked: e.masked.test(stderrOf(e.name)) }).toEqual({ run: e.name, masked: true });
    // ...and the messages about that failed run carry the masked echo, not the token.
    expect(github.requests.map((r) => JSON.stringify(r.body ?? '')).join('\n')).toMatch(/token=\*\*\*/);
    figures = {
      'secrets planted': Object.keys(allSecrets()).length,
      'worker runs searched': runs.length,
      'streams, files and messages searched': captured.length,
      'streams showing a masked echo (***)': new Set(echoes.map((e) => e.name)).size,
    };
  });
});
