/**
 * Kubeconfigs as EKS, GKE, AKS and OIDC teams have them, against the Kubernetes API double:
 * - a real exec credential plugin (a shell script) printing an ExecCredential with an expiry; the
 *   suite counts its runs across expiry and across a 401 mid-run (the API server rotated the token),
 *   and reads back what kubectl passes it (args, env, KUBERNETES_EXEC_INFO);
 * - a missing or failing plugin: one sentence naming the command and its stderr's last line, exit 2,
 *   the plugin's secrets masked;
 * - auth-provider oidc: an expired id-token refreshed at an identity provider double (discovery +
 *   token endpoint);
 * - proxy-url through a real tinyproxy.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Config, EnvironmentConfig, ServiceConfig } from '../../src/config/types';
import { mask, memoryLogger } from '../../src/log';
import { createKubernetesTarget } from '../../src/targets/kubernetes';
import type { Target } from '../../src/targets/types';
import { runCli } from '../support/cli';
import { startTinyproxy, Tinyproxy } from '../support/tinyproxy';
import { CATALOG } from '../doubles/memory-target';
import { KubernetesDouble, startKubernetesDouble } from '../doubles/kubernetes-double';
import { makeTestPki } from '../support/tls';

const REG = 'reg.example:5000';
const API_IMG = CATALOG.services[0].images[0].reference; // shop/api, what runs now

let kube: KubernetesDouble;
let dir: string;
let logger: ReturnType<typeof memoryLogger>;
const opened: Target[] = [];
const svc: ServiceConfig = { name: 'api', repository: 'shop/api' };

/** The plugin: counts its runs, records what it was given, prints a token valid for $TTL seconds. */
const PLUGIN = `#!/bin/sh
d="$(dirname "$0")"
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/count"
printf '%s' "\${KUBERNETES_EXEC_INFO:-unset}" > "$d/info.json"
printf '%s\\n' "$@" > "$d/args"
printf '%s' "\${PLUGIN_REGION:-unset}" > "$d/env"
tok="exec-token-$n-$$"
printf '%s' "$tok" > "$d/token"
exp=$(date -u -d "+\${TTL:-3600} seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\\n' "\${API:-client.authentication.k8s.io/v1}" "$tok" "$exp"
`;

function kubeconfig(user: string, cluster = `server: '${kube.url}'`): string {
  return `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c, user: u, namespace: shop}\nclusters:\n- name: c\n  cluster: {${cluster}}\nusers:\n- name: u\n  user:\n${user}`;
}

const execUser = (o: { api?: string; ttl?: number; command?: string; info?: boolean; extraEnv?: string; noInteractiveMode?: boolean } = {}) => {
  const api = o.api ?? 'client.authentication.k8s.io/v1';
  return `    exec:\n      apiVersion: ${api}\n      command: ${o.command ?? './plugin/get-token'}\n      args: [eks, get-token, --cluster-name, shop]\n` +
    `      env:\n      - {name: PLUGIN_REGION, value: eu-west-1}\n      - {name: API, value: ${api}}\n      - {name: TTL, value: '${o.ttl ?? 3600}'}\n${o.extraEnv ?? ''}` +
    `      provideClusterInfo: ${o.info ?? true}\n${o.noInteractiveMode ? '' : '      interactiveMode: Never\n'}      installHint: install the AWS CLI\n`;
};

function open(): Target {
  const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { kubernetes: { kubeconfig: join(dir, 'kubeconfig') } } };
  const config = { source: join(dir, 'rollback.yml'), registry: { url: `http://${REG}`, concurrency: 4 }, services: [svc], environments: { prod: environment } } as unknown as Config;
  const t = createKubernetesTarget({ config, environment, env: { PATH: process.env.PATH }, logger, stateDir: dir }, { pollMs: 10, http: { sleep: async () => undefined } });
  opened.push(t);
  return t;
}

const runs = () => Number(readFileSync(join(dir, 'plugin', 'count'), 'utf8'));
const read = (f: string) => readFileSync(join(dir, 'plugin', f), 'utf8');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-cred-'));
  mkdirSync(join(dir, 'plugin'));
  writeFileSync(join(dir, 'plugin', 'get-token'), PLUGIN);
  chmodSync(join(dir, 'plugin', 'get-token'), 0o755);
  // The API server accepts the token the plugin issued last, and nothing else.
  kube = await startKubernetesDouble({ token: () => (existsSync(join(dir, 'plugin', 'token')) ? read('token') : 'none-issued-yet') });
  kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: API_IMG }] });
  logger = memoryLogger();
});

afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('exec credential plugins', () => {
  test('v1: run once with its args and env and KUBERNETES_EXEC_INFO (cluster included), then cached while valid', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser()));
    const t = open();
    for (let i = 0; i < 3; i++) expect((await t.current(svc)).image).toBe(API_IMG);
    expect(runs()).toBe(1);
    expect(read('args')).toBe('eks\nget-token\n--cluster-name\nshop\n');
    expect(read('env')).toBe('eu-west-1');
    const info = JSON.parse(read('info.json'));
    expect(info).toEqual({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false, cluster: { server: kube.url } } });
    expect(kube.requests.every((r) => r.authorization === `Bearer ${read('token')}`)).toBe(true);
  });

  test('v1beta1 without provideClusterInfo: KUBERNETES_EXEC_INFO without the cluster', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ api: 'client.authentication.k8s.io/v1beta1', info: false })));
    await open().current(svc);
    expect(JSON.parse(read('info.json'))).toEqual({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: false } });
  });

  test('fetched again once the credential expires (counted across expiry)', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ ttl: 2 })));
    const t = open();
    await t.current(svc);
    await t.current(svc);
    expect(runs()).toBe(1);
    await new Promise((r) => setTimeout(r, 2100));
    await t.current(svc);
    expect(runs()).toBe(2);
    await t.current(svc);
    expect(runs()).toBe(2);
  });

  test('fetched again on a 401 mid-run (the API server no longer takes the cached token), and the request goes on', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser()));
    const t = open();
    await t.current(svc);
    writeFileSync(join(dir, 'plugin', 'token'), 'rotated-by-the-server');
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(runs()).toBe(2);
    expect(kube.requests.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(3);
  });
});

describe('through the CLI', () => {
  const cli = (env: NodeJS.ProcessEnv = {}) => runCli(['plan', '--config', 'rollback.yml', '--env', 'prod', '--date', '2026-11-18'], { env: { PATH: process.env.PATH, ...env }, cwd: dir });

  beforeEach(() => {
    writeFileSync(join(dir, 'rollback.yml'), `registry: {url: 'http://${REG}'}\nservices:\n  - {name: api, repository: shop/api}\nenvironments:\n  prod:\n    target:\n      kubernetes: {kubeconfig: kubeconfig}\nsettle: 0\n`);
    mkdirSync(join(dir, '.rollback'));
    writeFileSync(join(dir, '.rollback', 'catalog.json'), JSON.stringify({ ...CATALOG, services: CATALOG.services.slice(0, 1) }));
  });

  test('a plugin that works: plan reads the fleet, and its token never reaches the output', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser()));
    const out = await cli();
    expect(out.code).toBe(0);
    expect(out.stdout + out.stderr).toContain('api');
    expect(out.stdout + out.stderr).not.toContain(read('token'));
  });

  test('a missing plugin: one sentence naming the command, exit 2', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ command: 'aws-iam-authenticator-nope' })));
    const out = await cli();
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`rollback: The kubeconfig exec plugin 'aws-iam-authenticator-nope' (user 'u' of kubeconfig ${join(dir, 'kubeconfig')}) could not be run: no such program (install the AWS CLI).\n`);
  });

  test('a failing plugin: the command and its stderr\'s last line, exit 2, its secrets masked', async () => {
    const secret = 'S3cr3tAccessKey-0123456789';
    writeFileSync(join(dir, 'plugin', 'get-token'), `#!/bin/sh\necho "loading profile prod" >&2\necho "error: could not get token: AccessDenied for key $AWS_SECRET_ACCESS_KEY" >&2\nexit 1\n`);
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ extraEnv: `      - {name: AWS_SECRET_ACCESS_KEY, value: ${secret}}\n` })));
    const out = await cli();
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`rollback: The kubeconfig exec plugin './plugin/get-token eks get-token --cluster-name shop' (user 'u' of kubeconfig ${join(dir, 'kubeconfig')}) failed: error: could not get token: AccessDenied for key ***.\n`);
    expect(out.stderr).not.toContain(secret);
  });

  test('an exec apiVersion kubectl no longer speaks is bad input naming it', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ api: 'client.authentication.k8s.io/v1alpha1' })));
    const out = await cli();
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^rollback: Kubeconfig .*: the exec plugin of user 'u' asks for apiVersion 'client\.authentication\.k8s\.io\/v1alpha1'; kubectl and this worker speak client\.authentication\.k8s\.io\/v1 and client\.authentication\.k8s\.io\/v1beta1\.\n$/);
  });
});

describe('auth-provider oidc', () => {
  let idp: Server;
  let idpUrl: string;
  let grants: string[];
  const jwt = (exp: number, tag: string) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp, sub: tag })).toString('base64url')}.sig-${tag}`;
  let issued = '';

  beforeEach(async () => {
    grants = [];
    idp = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/realms/shop/.well-known/openid-configuration') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ issuer: `${idpUrl}/realms/shop`, token_endpoint: `${idpUrl}/realms/shop/token` }));
        }
        if (req.url === '/realms/shop/token' && req.method === 'POST') {
          const form = new URLSearchParams(body);
          grants.push(`${form.get('grant_type')} ${form.get('refresh_token')} ${form.get('client_id')}`);
          if (form.get('refresh_token') !== 'refresh-1' && form.get('refresh_token') !== 'refresh-2') { res.writeHead(400); return res.end('{"error":"invalid_grant"}'); }
          issued = jwt(Math.floor(Date.now() / 1000) + 3600, `fresh-${grants.length}`);
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ id_token: issued, refresh_token: 'refresh-2' }));
        }
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    await kube.close();
    kube = await startKubernetesDouble({ token: () => issued });
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: API_IMG }] });
  });
  afterEach(async () => {
    await new Promise<void>((r) => idp.close(() => r()));
  });

  const oidcUser = (idToken: string, refresh = 'refresh-1') =>
    `    auth-provider:\n      name: oidc\n      config:\n        client-id: kubectl\n        client-secret: oidc-client-secret-xyz\n        id-token: ${idToken}\n        refresh-token: ${refresh}\n        idp-issuer-url: ${idpUrl}/realms/shop\n`;

  test('a valid id-token is used as it is; an expired one is refreshed at the issuer', async () => {
    issued = jwt(Math.floor(Date.now() / 1000) + 600, 'valid');
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(oidcUser(issued)));
    let t = open();
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(grants).toEqual([]);

    const expired = jwt(Math.floor(Date.now() / 1000) - 60, 'expired');
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(oidcUser(expired)));
    t = open();
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(grants).toEqual(['refresh_token refresh-1 kubectl']);
    // The expired token was never sent: it was refreshed first, not after a 401.
    expect(kube.requests.filter((r) => r.authorization === `Bearer ${expired}`)).toEqual([]);
    expect(kube.requests.pop()!.authorization).toBe(`Bearer ${issued}`);
  });

  test('a 401 refreshes too, with the refresh token the issuer gave last', async () => {
    issued = jwt(Math.floor(Date.now() / 1000) + 600, 'valid');
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(oidcUser(issued)));
    const t = open();
    await t.current(svc);
    issued = 'revoked';
    expect((await t.current(svc)).image).toBe(API_IMG);
    issued = 'revoked-again';
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(grants).toEqual(['refresh_token refresh-1 kubectl', 'refresh_token refresh-2 kubectl']);
  });

  test('a refresh the issuer refuses is one sentence', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(oidcUser(jwt(1, 'expired'), 'stale')));
    const err = await open().current(svc).catch((e) => e);
    expect(err.message).toBe(`The oidc refresh of user 'u' of kubeconfig ${join(dir, 'kubeconfig')} at ${idpUrl}/realms/shop was refused (400); log in again with kubectl and retry.`);
  });
});

describe('proxy-url', () => {
  let proxy: Tinyproxy;

  beforeAll(async () => {
    proxy = await startTinyproxy(mkdtempSync(join(tmpdir(), 'kube-proxy-')));
  });
  afterAll(() => proxy?.stop());

  test('requests travel through the proxy-url', async () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser(), `server: '${kube.url}', proxy-url: '${proxy.url}'`));
    const t = open();
    expect((await t.current(svc)).image).toBe(API_IMG);
    // The proxy tunnelled the API requests (its log names the API server's address).
    expect(proxy.log()).toContain(`CONNECT ${new URL(kube.url).host} HTTP/1.1`);
  });

  test('a socks proxy-url is bad input naming it', () => {
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser(), `server: '${kube.url}', proxy-url: 'socks5://127.0.0.1:1080'`));
    expect(() => open()).toThrow(/cluster 'c' uses a socks5 proxy-url; this worker speaks http and https proxies\./);
  });
});

describe('the same kubeconfig through the real kubectl', () => {
  // kubectl (client-go) runs exec plugins only for TLS servers: the double serves TLS here, with a
  // certificate for kube.internal that only tls-server-name makes acceptable on 127.0.0.1.
  // scripts/ensure-test-env.sh installs Debian's kubectl (kubernetes-client, 1.20) when none is there:
  // the kubeconfig below uses what that one speaks too (v1beta1, no interactiveMode).
  const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
  let tlsKube: KubernetesDouble;
  let ca: string;

  beforeEach(async () => {
    const tls = join(dir, 'tls');
    mkdirSync(tls);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=kube.internal', '-addext', 'subjectAltName=DNS:kube.internal');
    ca = readFileSync(join(tls, 'cert.pem')).toString('base64');
    tlsKube = await startKubernetesDouble({
      tls: { key: readFileSync(join(tls, 'key.pem'), 'utf8'), cert: readFileSync(join(tls, 'cert.pem'), 'utf8') },
      token: () => (existsSync(join(dir, 'plugin', 'token')) ? read('token') : 'none-issued-yet'),
    });
    tlsKube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: API_IMG }] });
  });
  afterEach(() => tlsKube.close());

  test('kubectl and the worker give the plugin the same KUBERNETES_EXEC_INFO, and read the same object', async () => {
    if (!hasKubectl) throw new Error('kubectl is not installed: run scripts/ensure-test-env.sh (Debian: apt-get install kubernetes-client).');
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ api: 'client.authentication.k8s.io/v1beta1', noInteractiveMode: true }), `server: '${tlsKube.url}', tls-server-name: kube.internal, certificate-authority-data: ${ca}`));
    // Asynchronously: the double answers from this process.
    const { stdout: raw } = await promisify(execFile)('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), 'get', '--raw', '/apis/apps/v1/namespaces/shop/deployments/api'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH } });
    const byKubectl = JSON.parse(read('info.json'));
    expect(JSON.parse(raw).spec.template.spec.containers[0].image).toBe(API_IMG);
    expect(runs()).toBe(1);

    const t = open();
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(runs()).toBe(2);
    const byWorker = JSON.parse(read('info.json'));
    // kubectl always sends config (null without the exec extension); otherwise field for field the same.
    expect(byWorker).toEqual({ ...byKubectl, spec: { ...byKubectl.spec, cluster: Object.fromEntries(Object.entries(byKubectl.spec.cluster).filter(([k, v]) => !(k === 'config' && v === null))) } });
    expect(byWorker.spec.cluster).toMatchObject({ server: tlsKube.url, 'tls-server-name': 'kube.internal', 'certificate-authority-data': ca });
  });
});

test('an exec plugin that hands out a client certificate (no token): presented in the TLS handshake, fetched again on expiry', async () => {
  const pem = makeTestPki(dir);
  // A real executable (node), like kind's or Rancher's plugins: the certificate and key, valid for 2 s.
  writeFileSync(join(dir, 'plugin', 'get-cert'), `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const count = path.join(__dirname, 'count');
fs.writeFileSync(count, String((fs.existsSync(count) ? Number(fs.readFileSync(count, 'utf8')) : 0) + 1));
const status = { clientCertificateData: ${JSON.stringify(pem('client.pem'))}, clientKeyData: ${JSON.stringify(pem('client.key'))}, expirationTimestamp: new Date(Date.now() + 2000).toISOString().replace(/\\.\\d+Z$/, 'Z') };
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status }));
`);
  chmodSync(join(dir, 'plugin', 'get-cert'), 0o755);
  const mtls = await startKubernetesDouble({ tls: { key: pem('server.key'), cert: pem('server.pem'), ca: pem('ca.pem'), requestCert: true } });
  try {
    mtls.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: API_IMG }] });
    writeFileSync(join(dir, 'kubeconfig'), kubeconfig(execUser({ command: './plugin/get-cert' }), `server: '${mtls.url}', certificate-authority-data: ${Buffer.from(pem('ca.pem')).toString('base64')}`));
    const t = open();
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(runs()).toBe(1);
    expect(mtls.requests.every((r) => r.authorization === undefined)).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await t.current(svc)).image).toBe(API_IMG);
    expect(runs()).toBe(2);
    expect(mask(pem('client.key'))).not.toContain('PRIVATE KEY-----\n');
  } finally {
    await mtls.close();
  }
});
