/**
 * tcp + TLS to the REAL engine, the way a remote Docker host is reached (DOCKER_HOST=tcp://...:2376,
 * DOCKER_CERT_PATH, DOCKER_TLS_VERIFY): a TLS front that demands a client certificate (as dockerd
 * --tlsverify does) forwards to the local engine's socket. Certificates are made with openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, Server } from 'node:tls';
import { createEngineClient } from '../../src/targets/docker/engine';
import { resolveEngineAddress } from '../../src/targets/docker/host';
import { engineAvailable } from './docker-helpers';
import { partsMissing, readyOrFail } from '../support/ready';

const maybe = readyOrFail('docker-tls', partsMissing([[engineAvailable(), 'a Docker engine that answers (dockerd)']]));

function openssl(dir: string, ...args: string[]) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker` expects them in DOCKER_CERT_PATH. */
function makeCertificates(dir: string, name: string) {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-ca-key.pem`, '-out', `${name}-ca.pem`, '-days', '1', '-subj', `/CN=${name} test CA`);
  const sign = (who: string, ext: string) => {
    writeFileSync(join(dir, `${who}.ext`), ext);
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
    openssl(dir, 'x509', '-req', '-in', `${who}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca-key.pem`, '-CAcreateserial', '-out', `${who}.pem`, '-days', '1', '-extfile', `${who}.ext`);
  };
  sign(`${name}-server`, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  sign(`${name}-client`, 'extendedKeyUsage=clientAuth\n');
}

maybe('the Docker engine over tcp + TLS', () => {
  let dir: string;
  let certs: string;
  let front: Server;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'docker-tls-'));
    makeCertificates(dir, 'good');
    makeCertificates(dir, 'other');
    // DOCKER_CERT_PATH layout: ca.pem, cert.pem, key.pem.
    certs = join(dir, 'certs');
    execFileSync('mkdir', [certs]);
    writeFileSync(join(certs, 'ca.pem'), readFileSync(join(dir, 'good-ca.pem')));
    writeFileSync(join(certs, 'cert.pem'), readFileSync(join(dir, 'good-client.pem')));
    writeFileSync(join(certs, 'key.pem'), readFileSync(join(dir, 'good-client-key.pem')));
    front = createServer(
      {
        key: readFileSync(join(dir, 'good-server-key.pem')),
        cert: readFileSync(join(dir, 'good-server.pem')),
        ca: readFileSync(join(dir, 'good-ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        const engine = connect('/var/run/docker.sock');
        socket.pipe(engine).pipe(socket);
        socket.on('error', () => engine.destroy());
        engine.on('error', () => socket.destroy());
      },
    );
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    port = (front.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => front?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const client = (env: NodeJS.ProcessEnv, tls?: { ca?: string; cert?: string; key?: string; insecure?: boolean }) =>
    createEngineClient({ address: resolveEngineAddress(`tcp://127.0.0.1:${port}`, tls, env, 'test'), http: { attempts: 1 } });

  it('DOCKER_CERT_PATH + DOCKER_TLS_VERIFY: the client certificate is accepted and the server verified', async () => {
    const e = client({ DOCKER_CERT_PATH: certs, DOCKER_TLS_VERIFY: '1' });
    try {
      expect(await e.apiVersion()).toMatch(/^1\.\d+$/);
      expect((await e.json<{ ID: string }>('GET', '/info')).ID).toBeTruthy();
    } finally {
      await e.close();
    }
  });

  it('a server certificate from another CA is refused when verifying, in one sentence naming the engine', async () => {
    const e = client({}, { ca: join(dir, 'other-ca.pem'), cert: join(certs, 'cert.pem'), key: join(certs, 'key.pem') });
    try {
      await expect(e.apiVersion()).rejects.toThrow(new RegExp(`^(Cannot reach )?the Docker engine at tcp://127\\.0\\.0\\.1:${port}.*(certificate|self.signed|verify)`, 'i'));
    } finally {
      await e.close();
    }
  });

  it('without a client certificate the engine side refuses the connection', async () => {
    const e = client({}, { ca: join(certs, 'ca.pem') });
    try {
      await expect(e.apiVersion()).rejects.toThrow(new RegExp(`^Cannot reach the Docker engine at tcp://127\\.0\\.0\\.1:${port} \\(GET /version\\): `));
    } finally {
      await e.close();
    }
  });

  it('a missing certificate file is bad input naming the file', () => {
    expect(() => client({ DOCKER_CERT_PATH: join(dir, 'nowhere') })).toThrow(/the Docker TLS CA file .*nowhere\/ca\.pem cannot be read \(ENOENT\)/);
  });
});
