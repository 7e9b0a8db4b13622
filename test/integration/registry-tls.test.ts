/**
 * The real docker-registry on TLS with a private test CA, asking for client certificates (mutual
 * TLS: registry.cert, registry.key), and redirecting blob reads (its `redirect` storage
 * middleware, as registries on S3 or GCS do) to a second TLS host signed by ANOTHER CA, which the
 * worker trusts only through the system store (NODE_EXTRA_CA_CERTS). The get succeeds only if
 * registry.ca is added to the system roots rather than replacing them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkerBundle, WorkerBundle } from '../support/worker-bundle';
import { freePort, pushImage, RunningRegistry, startRegistry } from '../support/registry';

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

/** A CA, and certificates it signs (IP:127.0.0.1 for servers). */
function makeCa(dir: string, name: string) {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=Rollback test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return (leaf: string, usage: 'serverAuth' | 'clientAuth') => {
    writeFileSync(join(dir, `${leaf}.ext`), `${usage === 'serverAuth' ? 'subjectAltName=IP:127.0.0.1\n' : ''}extendedKeyUsage=${usage}\n`);
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${leaf}.key`, '-out', `${leaf}.csr`, '-subj', `/CN=${usage === 'serverAuth' ? '127.0.0.1' : 'rollback-worker'}`);
    openssl(dir, 'x509', '-req', '-in', `${leaf}.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}.key`, '-CAcreateserial', '-out', `${leaf}.pem`, '-days', '1', '-extfile', `${leaf}.ext`);
    return { cert: join(dir, `${leaf}.pem`), key: join(dir, `${leaf}.key`) };
  };
}

describe('the real registry on a private CA, with mutual TLS and blobs on another CA', () => {
  let dir: string;
  let bundle: WorkerBundle;
  let plain: RunningRegistry;
  let reg: RunningRegistry;
  let storage: Server;
  const storageHits: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rollback-tls-'));
    bundle = await buildWorkerBundle();
    const signRegistry = makeCa(dir, 'registry-ca');
    const signStorage = makeCa(dir, 'storage-ca');
    const server = signRegistry('registry', 'serverAuth');
    signRegistry('worker', 'clientAuth');
    const storageCert = signStorage('storage', 'serverAuth');
    plain = await startRegistry();
    await pushImage(plain, { repository: 'shop/api', tag: '4-prod', created: '2026-11-21T09:00:00Z' });
    await pushImage(plain, { repository: 'shop/api', tag: '3-prod', created: '2026-11-14T09:00:00Z' });
    const data = join(plain.dir, 'data');
    // "Object storage": serves the registry's files by the path the redirect names.
    storage = createServer({ cert: readFileSync(storageCert.cert), key: readFileSync(storageCert.key) }, (req, res) => {
      storageHits.push(req.url ?? '');
      try {
        const body = readFileSync(join(data, new URL(req.url ?? '/', 'https://x').pathname));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    const port = await freePort();
    await new Promise<void>((r) => storage.listen(port, '127.0.0.1', r));
    reg = await startRegistry({
      dataDir: data,
      tls: { ...server, clientCa: join(dir, 'registry-ca.pem') },
      extraConfig: `middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://127.0.0.1:${(storage.address() as AddressInfo).port}/\n`,
    });
  }, 120_000);

  afterAll(async () => {
    await reg?.stop();
    await plain?.stop();
    await new Promise<void>((r) => (storage ? storage.close(() => r()) : r()));
    bundle?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const config = (tls: string) => `registry:
  url: ${reg.url}
${tls}services:
  - name: api
    repository: shop/api
environments:
  prod:
    target:
      swarm: { stack: shop }
`;

  function get(yml: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    writeFileSync(join(dir, 'rollback.yml'), yml);
    return new Promise((done) => {
      execFile(process.execPath, [bundle.file, 'get', '--config', 'rollback.yml', '--env', 'prod', '--catalog', `c${Date.now()}/catalog.json`], { cwd: dir, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  }

  const mutual = () => `  ca: ${join(dir, 'registry-ca.pem')}\n  cert: ${join(dir, 'worker.pem')}\n  key: ${join(dir, 'worker.key')}\n`;

  it('dates every image: registry.ca for the registry, the system store for the storage host', async () => {
    const out = await get(config(mutual()), { NODE_EXTRA_CA_CERTS: join(dir, 'storage-ca.pem') });
    expect(out.stderr).not.toMatch(/warning|rollback:/);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('2026-11-21\n2026-11-14\n');
    // The config blobs came from the storage host, through the registry's redirect.
    expect(storageHits.filter((p) => p.startsWith('/docker/registry/v2/blobs/sha256/')).length).toBeGreaterThanOrEqual(2);
  });

  it('fails on the storage host when the system store does not know its CA (the test is not vacuous)', async () => {
    const out = await get(config(mutual()), {});
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/https:\/\/127\.0\.0\.1:\d+\/docker\/registry\/v2\/blobs\/sha256\/.* failed: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)/);
  });

  it('is refused by the registry without the client certificate, in one sentence', async () => {
    const out = await get(config(`  ca: ${join(dir, 'registry-ca.pem')}\n`), { NODE_EXTRA_CA_CERTS: join(dir, 'storage-ca.pem') });
    expect(out.code).toBe(1);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/^rollback: Registry https:\/\/127\.0\.0\.1:\d+ cannot be reached: /);
  });

  it('says a registry.cert without registry.key is bad input (exit 2)', async () => {
    const out = await get(config(`  cert: ${join(dir, 'worker.pem')}\n`), {});
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/rollback\.yml:\d+: registry must have property key when property cert is present\./);
  });
});
