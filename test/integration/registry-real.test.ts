/**
 * Registries as teams run them, on real parts: the real docker-registry with token auth (its
 * `auth: token:` block, a token issuer here signing JWTs with a test key whose certificate is the
 * registry's rootcertbundle), the real docker CLI's `docker login` into a temporary DOCKER_CONFIG,
 * a credential helper as an executable on PATH, and tinyproxy in front of it all.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { freePort, pushImage, RunningRegistry, startRegistry } from '../support/registry';
import { startTinyproxy, Tinyproxy } from '../support/tinyproxy';

const USER = 'ci-bot';
const PASSWORD = 'real-token-pass-5150';
const SERVICE = 'rollback-test-registry';
const ISSUER = 'rollback-test-issuer';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

interface Issuer {
  url: string;
  /** Scopes asked for, with the account that asked. */
  asked: { account: string; scope: string }[];
  stop(): Promise<void>;
}

/**
 * A token server as https://distribution.github.io/distribution/spec/auth/jwt/ describes it:
 * basic credentials in, an RS256 JWT out, its header's x5c holding the signing certificate, which
 * the registry trusts through rootcertbundle. Pull access for every repository asked.
 */
async function startIssuer(key: string, certPem: string): Promise<Issuer> {
  const der = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const asked: Issuer['asked'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    if (url.pathname !== '/token' || req.headers.authorization !== basic) {
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end('{"details":"bad credentials"}');
    }
    const scopes = url.searchParams.getAll('scope');
    for (const scope of scopes) asked.push({ account: USER, scope });
    const access = scopes
      .map((s) => /^repository:(.+):([a-z,*]+)$/.exec(s))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ type: 'repository', name: m[1], actions: ['pull'] }));
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = b64url(JSON.stringify({ iss: ISSUER, sub: USER, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signature = b64url(createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key));
    const token = `${header}.${claims}.${signature}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    asked,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const CONFIG = (url: string) => `registry:
  url: ${url}
services:
  - name: api
    repository: shop/api
  - name: web
    repository: shop/web
environments:
  prod:
    target:
      swarm: { stack: shop }
`;

describe('a real registry with token auth, reached with the credentials the agent already has', () => {
  let dir: string;
  let plain: RunningRegistry;
  let reg: RunningRegistry;
  let issuer: Issuer;
  let proxy: Tinyproxy | undefined;
  const PATH = process.env.PATH ?? '/usr/bin:/bin';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rollback-real-auth-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'signing.key'), '-out', join(dir, 'signing.pem'), '-days', '1', '-subj', `/CN=${ISSUER}`], { stdio: 'ignore' });
    issuer = await startIssuer(readFileSync(join(dir, 'signing.key'), 'utf8'), readFileSync(join(dir, 'signing.pem'), 'utf8'));
    // Images are pushed to an open registry; the token one serves the same storage.
    plain = await startRegistry();
    await pushImage(plain, { repository: 'shop/api', tag: '2-prod', created: '2026-11-20T10:00:00Z' });
    await pushImage(plain, { repository: 'shop/api', tag: '1-prod', created: '2026-11-13T10:00:00Z' });
    await pushImage(plain, { repository: 'shop/web', tag: '7-prod', created: '2026-11-18T10:00:00Z', format: 'oci-index', otherArchCreated: '2026-11-25T00:00:00Z' });
    reg = await startRegistry({
      dataDir: join(plain.dir, 'data'),
      extraConfig: `auth:\n  token:\n    realm: ${issuer.url}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${join(dir, 'signing.pem')}\n`,
    });
    writeFileSync(join(dir, 'rollback.yml'), CONFIG(reg.url));
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    await plain?.stop();
    await issuer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = (env: NodeJS.ProcessEnv) => runCli(['get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', `${randomUUID()}/catalog.json`], { env, cwd: dir });

  it('refuses an anonymous get in one sentence: the token server wants a login', async () => {
    const out = await get({ PATH, DOCKER_CONFIG: join(dir, 'empty') });
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/asks for a login \(401 at http:\/\/127\.0\.0\.1:\d+\/token\); set registry\.username and registry\.password, or run docker login/);
  });

  it('uses `docker login` (the real CLI, a temporary DOCKER_CONFIG): no credentials in rollback.yml', async () => {
    const config = join(dir, 'docker-login');
    mkdirSync(config);
    // Asynchronously: the token server answering docker's login lives in this process.
    await new Promise<void>((resolve, reject) => {
      const child = execFile('docker', ['--config', config, 'login', reg.host, '--username', USER, '--password-stdin'], (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve()));
      child.stdin!.end(PASSWORD);
    });
    expect(JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')).auths[reg.host].auth).toBeDefined();
    const asked = issuer.asked.length;
    const out = await get({ PATH, DOCKER_CONFIG: config });
    expect(out.stderr).toContain(`credentials for ${reg.host}: docker config (auths in ${join(config, 'config.json')})`);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-20\n2026-11-18\n2026-11-13\n');
    expect(issuer.asked.slice(asked).map((a) => a.scope).sort()).toEqual(['repository:shop/api:pull', 'repository:shop/web:pull']);
    expect(out.stderr).not.toContain(PASSWORD);
  });

  it('asks a credential helper on PATH (docker-credential-<name> get, server on stdin, JSON out)', async () => {
    const bin = join(dir, 'bin');
    const config = join(dir, 'docker-helper');
    mkdirSync(bin, { recursive: true });
    mkdirSync(config);
    const helper = join(bin, 'docker-credential-rollbacktest');
    writeFileSync(helper, `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\n[ "$server" = "${reg.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`);
    chmodSync(helper, 0o755);
    writeFileSync(join(config, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'rollbacktest' } }));
    const out = await get({ PATH: `${bin}:${PATH}`, DOCKER_CONFIG: config });
    expect(out.stderr).toContain(`credentials for ${reg.host}: docker config (credHelpers: rollbacktest)`);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-20\n2026-11-18\n2026-11-13\n');
    expect(out.stderr).not.toContain(PASSWORD);
  });

  it('says a helper missing from PATH in one sentence, exit 2, without reading anything', async () => {
    const config = join(dir, 'docker-missing');
    mkdirSync(config);
    writeFileSync(join(config, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'not-installed' } }));
    const out = await get({ PATH, DOCKER_CONFIG: config });
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`rollback: Credential helper docker-credential-not-installed (for ${reg.host}) is not on PATH; install it, or remove it from ${join(config, 'config.json')}.\n`);
  });

  it('goes through tinyproxy from HTTP_PROXY, loopback included; NO_PROXY without a port bypasses it on every port', async () => {
    proxy = await startTinyproxy(dir);
    const config = join(dir, 'docker-login');
    const out = await get({ PATH, DOCKER_CONFIG: config, HTTP_PROXY: proxy.url });
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-20\n2026-11-18\n2026-11-13\n');
    const log = proxy.log();
    // tinyproxy logs each request line it forwards: the registry's and the token server's.
    expect(log).toContain(`GET ${reg.url}/v2/ HTTP/1.1`);
    expect(log).toMatch(new RegExp(`GET ${reg.url}/v2/shop/api/tags/list\\?n=\\d+ HTTP/1\\.1`));
    expect(log).toMatch(new RegExp(`GET ${issuer.url.replace(/[.]/g, '\\.')}\\?`));
    expect(log).not.toContain(PASSWORD);

    // A NO_PROXY entry with another port does not match; one without a port matches every port.
    const before = (proxy.log().match(/GET http/g) ?? []).length;
    const other = await get({ PATH, DOCKER_CONFIG: config, http_proxy: proxy.url, NO_PROXY: '127.0.0.1:1' });
    expect(other.code).toBe(0);
    const afterPortEntry = (proxy.log().match(/GET http/g) ?? []).length;
    expect(afterPortEntry).toBeGreaterThan(before);
    const bypassed = await get({ PATH, DOCKER_CONFIG: config, HTTP_PROXY: proxy.url, NO_PROXY: 'example.com,127.0.0.1' });
    expect(bypassed.code).toBe(0);
    expect((proxy.log().match(/GET http/g) ?? []).length).toBe(afterPortEntry);
  });

  it('says an unreachable proxy in one sentence naming the proxy settings', async () => {
    const port = await freePort();
    const out = await get({ PATH, DOCKER_CONFIG: join(dir, 'docker-login'), HTTPS_PROXY: `http://127.0.0.1:${port}`, HTTP_PROXY: `http://127.0.0.1:${port}` });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`^rollback: Registry http://127\\.0\\.0\\.1:\\d+ cannot be reached \\(through the proxy from HTTPS_PROXY/HTTP_PROXY; NO_PROXY=''\\): .*ECONNREFUSED 127\\.0\\.0\\.1:${port}\\b`, 'm'));
  });
});
