/**
 * Credentials in docker's order (rollback.yml, credHelpers, credsStore, auths), the credential
 * helper protocol spoken to real executables on PATH, and bad input as one sentence, exit 2.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejection } from '../support/rejection';
import { mask } from '../../src/log';
import { dockerConfigFile, findCredentials, keyHost, targetPullAuth } from '../../src/registry/credentials';

const SECRET = 's3cret-from-helper-7731';
let dir: string;
let bin: string;
let env: NodeJS.ProcessEnv;

/** A helper that logs the server it was asked about and answers `body` with `code`. */
function helper(name: string, body: string, code = 0) {
  const file = join(bin, `docker-credential-${name}`);
  writeFileSync(file, `#!/bin/sh\n[ "$1" = get ] || exit 9\ncat > "${join(dir, `${name}.asked`)}"\nprintf '%s' '${body.replace(/'/g, `'\\''`)}'\nexit ${code}\n`);
  chmodSync(file, 0o755);
}
const asked = (name: string) => readFileSync(join(dir, `${name}.asked`), 'utf8');
const writeConfig = (doc: unknown) => writeFileSync(join(dir, 'docker', 'config.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rollback-creds-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'docker'));
  env = { PATH: `${bin}:/usr/bin:/bin`, DOCKER_CONFIG: join(dir, 'docker'), HOME: dir };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));


describe('the docker client configuration, in docker order', () => {
  it('reads $DOCKER_CONFIG/config.json, else ~/.docker/config.json', () => {
    expect(dockerConfigFile(env)).toBe(join(dir, 'docker', 'config.json'));
    expect(dockerConfigFile({ HOME: '/home/ci' })).toBe('/home/ci/.docker/config.json');
    // Jenkins' dockerConfigCredentialsId binds the Secret file itself.
    expect(dockerConfigFile({ ...env, ROLLBACK_DOCKER_CONFIG_FILE: '/ws@tmp/secretFiles/u/config.json' })).toBe('/ws@tmp/secretFiles/u/config.json');
  });

  it('matches keys as docker does: with or without scheme and path', () => {
    expect(keyHost('https://reg.example.com:5000/v1/')).toBe('reg.example.com:5000');
    expect(keyHost('reg.example.com')).toBe('reg.example.com');
  });

  it.each([
    ['auth (base64 user:password)', { auth: b64('ci:pa:ss') }, { username: 'ci', password: 'pa:ss' }],
    ['username and password', { username: 'ci', password: 'pw-1234' }, { username: 'ci', password: 'pw-1234' }],
    ['identitytoken', { identitytoken: 'refresh-abc-123' }, { identityToken: 'refresh-abc-123' }],
  ])('auths with %s', async (_what, entry, expected) => {
    writeConfig({ auths: { 'https://reg.example.com/v1/': entry } });
    const found = await findCredentials({}, 'reg.example.com', env);
    expect(found).toMatchObject(expected);
    expect(found?.from).toBe(`docker config (auths in ${join(dir, 'docker', 'config.json')})`);
  });

  it('finds Docker Hub credentials under the legacy key https://index.docker.io/v1/', async () => {
    writeConfig({ auths: { 'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') } } });
    expect(await findCredentials({}, 'docker.io', env)).toMatchObject({ username: 'hubuser', password: 'hubpass' });
    expect(await findCredentials({}, 'registry-1.docker.io', env)).toMatchObject({ username: 'hubuser' });
  });

  it('credHelpers beats credsStore, which beats auths; rollback.yml beats them all', async () => {
    helper('one', JSON.stringify({ ServerURL: 'reg.example.com', Username: 'from-helper', Secret: SECRET }));
    helper('store', JSON.stringify({ ServerURL: 'reg.example.com', Username: 'from-store', Secret: 'store-secret' }));
    writeConfig({ credHelpers: { 'reg.example.com': 'one' }, credsStore: 'store', auths: { 'reg.example.com': { auth: b64('from-auths:x') } } });
    expect(await findCredentials({}, 'reg.example.com', env)).toEqual({ username: 'from-helper', password: SECRET, from: 'docker config (credHelpers: one)' });
    expect(asked('one')).toBe('reg.example.com');
    expect(await findCredentials({}, 'other.example.com', env)).toEqual({ username: 'from-store', password: 'store-secret', from: 'docker config (credsStore: store)' });
    expect(await findCredentials({ username: 'yml', password: 'yml-pass' }, 'reg.example.com', env)).toMatchObject({ username: 'yml', from: 'rollback.yml (registry.username)' });
  });

  it('asks a helper about Docker Hub by its legacy key, and reads a <token> username as an identity token', async () => {
    helper('ecr', JSON.stringify({ ServerURL: 'x', Username: '<token>', Secret: 'refresh-token-9981' }));
    writeConfig({ credsStore: 'ecr' });
    expect(await findCredentials({}, 'docker.io', env)).toEqual({ identityToken: 'refresh-token-9981', from: 'docker config (credsStore: ecr)' });
    expect(asked('ecr')).toBe('https://index.docker.io/v1/');
  });

  it('is anonymous when the helper has nothing for the host, or when there is no config at all', async () => {
    helper('desktop', 'credentials not found in native keychain', 1);
    writeConfig({ credsStore: 'desktop' });
    expect(await findCredentials({}, 'reg.example.com', env)).toBeUndefined();
    rmSync(join(dir, 'docker', 'config.json'));
    expect(await findCredentials({}, 'reg.example.com', env)).toBeUndefined();
  });

  it('gives the swarm and docker targets the same credentials to pull with', async () => {
    writeConfig({ auths: { 'reg.example.com:5000': { auth: b64('puller:pull-pass') } } });
    expect(await targetPullAuth({ url: 'https://reg.example.com:5000' }, env)).toEqual({ username: 'puller', password: 'pull-pass', serverAddress: 'reg.example.com:5000' });
    writeConfig({ auths: { 'reg.example.com:5000': { identitytoken: 'idt-0001' } } });
    expect(await targetPullAuth({ url: 'https://reg.example.com:5000' }, env)).toBeUndefined();
  });
});

describe('bad input: one sentence naming the helper or file, exit 2, no secret', () => {
  const config = () => join(dir, 'docker', 'config.json');
  it.each([
    ['a helper that is not on PATH', () => writeConfig({ credHelpers: { 'reg.example.com': 'gone' } }), /^Credential helper docker-credential-gone \(for reg\.example\.com\) is not on PATH; install it, or remove it from .*config\.json\.$/],
    ['a helper that fails', () => { helper('bad', `oops ${SECRET}`, 3); writeConfig({ credsStore: 'bad' }); }, /^Credential helper docker-credential-bad \(for reg\.example\.com\) failed \(exit code 3\)\.$/],
    ['a helper that prints garbage', () => { helper('noisy', `not json ${SECRET}`); writeConfig({ credsStore: 'noisy' }); }, /^Credential helper docker-credential-noisy \(for reg\.example\.com\) printed something that is not the JSON \{ServerURL, Username, Secret\} the protocol asks for\.$/],
    ['a config.json that is not JSON', () => writeConfig(`{"auths": {"reg.example.com": {"auth": "${b64(`ci:${SECRET}`)}"`), /^Docker client configuration .*config\.json is not valid JSON; /],
    ['a config.json that cannot be read', () => mkdirSync(config()), /^Docker client configuration .*config\.json cannot be read \(it is a directory\); /],
  ])('%s', async (_what, arrange, message) => {
    arrange();
    const err = await rejection(findCredentials({}, 'reg.example.com', env));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(b64(`ci:${SECRET}`));
    expect(mask(err.message)).toBe(err.message);
  });
});
