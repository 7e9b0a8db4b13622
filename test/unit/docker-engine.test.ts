/** The Engine API client's edges: where the engine is, API version, pull errors, logs, credentials. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareApiVersions, createEngineClient, demultiplexLogs, pullAuthFor, registryAuthHeader } from '../../src/targets/docker/engine';
import { appendHistory, hostSlug, previousImage, readHistory } from '../../src/targets/docker/history';
import { resolveEngineAddress } from '../../src/targets/docker/host';
import { sshArgs, sshFailure } from '../../src/targets/docker/ssh';
import { engineTime } from '../../src/targets/docker/time';
import { mask } from '../../src/log';
import { startEngineDouble } from '../doubles/engine-double';

describe('resolveEngineAddress (DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY)', () => {
  const W = 'rollback.yml environments.stage.target.swarm';
  it.each([
    [undefined, {}, { socketPath: '/var/run/docker.sock', baseUrl: 'http://localhost' }],
    [undefined, { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, { socketPath: '/run/user/1000/docker.sock' }],
    ['tcp://docker.example.com', {}, { baseUrl: 'http://docker.example.com:2375' }],
    ['tcp://10.0.0.5:2376', { DOCKER_CERT_PATH: '/certs' }, { baseUrl: 'https://10.0.0.5:2376', tls: { ca: '/certs/ca.pem', cert: '/certs/cert.pem', key: '/certs/key.pem', verify: false } }],
    ['tcp://10.0.0.5', { DOCKER_CERT_PATH: '/certs', DOCKER_TLS_VERIFY: '1' }, { baseUrl: 'https://10.0.0.5:2376', tls: { ca: '/certs/ca.pem', cert: '/certs/cert.pem', key: '/certs/key.pem', verify: true } }],
    ['tcp://[::1]:2376', { DOCKER_CERT_PATH: '/c', DOCKER_TLS_VERIFY: '1' }, { baseUrl: 'https://[::1]:2376' }],
  ] as const)('%s with %j', (host, env, want) => {
    expect(resolveEngineAddress(host, undefined, env, W)).toMatchObject(want);
  });

  it('a tls block in the config wins over the environment, and verifies unless insecure', () => {
    const a = resolveEngineAddress('tcp://h:2376', { ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem' }, { DOCKER_CERT_PATH: '/certs' }, W);
    expect(a.tls).toEqual({ ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem', verify: true });
    expect(resolveEngineAddress('tcp://h:2376', { insecure: true }, {}, W).tls?.verify).toBe(false);
  });

  it.each([
    ['npipe:////./pipe/docker_engine', /uses npipe:\/\/, which this tool does not speak/],
    ['ssh://ops@host/var/run', /has a path or query after the host/],
    ['ssh://ops:secret@host', /carries a password/],
    ['ssh://-oProxyCommand=x', /starting with '-'/],
    ['docker.example.com:2376', /is not a URL such as unix:\/\/\/var\/run\/docker.sock/],
    ['unix://relative.sock', /needs an absolute socket path/],
    ['tcp://h:2376/path', /must be just scheme:\/\/host:port/],
  ])('refuses %s in one sentence naming the config key', (host, message) => {
    expect(() => resolveEngineAddress(host, undefined, {}, W)).toThrow(message);
    expect(() => resolveEngineAddress(host, undefined, {}, W)).toThrow(new RegExp(`^${W.replace(/\./g, '\\.')}: Docker host`));
  });

  it('ssh://[user@]host[:port] as docker reads it, with identityFile and knownHosts (~ is the home folder)', () => {
    expect(resolveEngineAddress('ssh://deploy@edge-1:2222', undefined, { HOME: '/home/j' }, W, { identityFile: '/run/key' })).toEqual({
      host: 'ssh://deploy@edge-1:2222',
      baseUrl: 'http://localhost',
      ssh: { user: 'deploy', hostname: 'edge-1', port: 2222, identityFile: '/run/key', knownHosts: '/home/j/.ssh/known_hosts' },
    });
    expect(resolveEngineAddress(undefined, undefined, { DOCKER_HOST: 'ssh://[::1]', HOME: '/h' }, W, { knownHosts: '~/kh' }).ssh).toEqual({
      user: undefined, hostname: '::1', port: undefined, identityFile: undefined, knownHosts: '/h/kh',
    });
    expect(sshArgs({ user: 'deploy', hostname: 'edge-1', port: 2222, identityFile: '/run/key', knownHosts: '/k h/known' })).toEqual([
      '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile="/k h/known"', '-o', 'ConnectTimeout=30',
      '-o', 'IdentitiesOnly=yes', '-i', '/run/key', '-p', '2222', '-l', 'deploy', '-T', '--', 'edge-1', 'docker', 'system', 'dial-stdio',
    ]);
    expect(() => resolveEngineAddress('tcp://h:2376', undefined, {}, W, { identityFile: '/k' })).toThrow(/identityFile and knownHosts apply to an ssh:\/\/user@host Docker host only/);
    expect(() => resolveEngineAddress('ssh://h', { ca: '/ca' }, {}, W)).toThrow(/a tls block does not apply/);
  });

  it('ssh failures: host key and login are the operator\'s (input, one sentence with ssh\'s last line); anything else is retried', () => {
    const a = { user: 'deploy', hostname: 'edge-1', port: 2222, knownHosts: '/kh' };
    const changed = sshFailure(a, 'the Docker engine at ssh://deploy@edge-1:2222', 255, '@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\r\nHost key verification failed.\r\n');
    expect(changed.message).toBe("The Docker engine at ssh://deploy@edge-1:2222 was not reached: the host key of edge-1:2222 is not the one recorded in /kh, and ssh never accepts such a key (ssh said: Host key verification failed); check the host's key fingerprint, then add it to that file (ssh-keyscan -p 2222 edge-1) or set knownHosts.");
    expect((changed as { kind?: string }).kind).toBe('input');
    expect(sshFailure(a, 'the engine', 255, 'deploy@edge-1: Permission denied (publickey).\n').message).toContain('ssh could not log in as deploy on edge-1:2222 (ssh said: deploy@edge-1: Permission denied (publickey))');
    expect(sshFailure(a, 'the engine', 127, 'sh: 1: docker: not found\n').message).toContain('`docker system dial-stdio` failed there (sh: 1: docker: not found)');
    const reset = sshFailure(a, 'the engine', 255, 'ssh: connect to host edge-1 port 2222: Connection refused\n') as Error & { code?: string };
    expect([reset.code, reset.message]).toEqual(['ECONNRESET', 'ssh to edge-1:2222 ended with exit code 255: ssh: connect to host edge-1 port 2222: Connection refused']);
  });

  it('needs a client key with a client certificate', () => {
    expect(() => resolveEngineAddress('tcp://h:2376', { cert: '/c.pem' }, {}, W)).toThrow(/needs both a client certificate and its key/);
  });
});

describe('engine client against the double', () => {
  it('negotiates the API version: the engine\'s, capped at what this client knows; refuses too old', async () => {
    const d = await startEngineDouble();
    try {
      const address = resolveEngineAddress(d.host, undefined, {}, 'test');
      d.apiVersion = '1.47';
      let e = createEngineClient({ address });
      expect(await e.apiVersion()).toBe('1.43');
      await e.close();
      d.apiVersion = '1.24';
      e = createEngineClient({ address });
      await expect(e.apiVersion()).rejects.toThrow(`The Docker engine at ${d.host} speaks Docker API 1.24; this tool needs 1.30 (Docker 17.06) or newer.`);
      await e.close();
    } finally {
      await d.stop();
    }
  });

  it('a pull that fails inside its 200 stream is a failure with the engine\'s words', async () => {
    const d = await startEngineDouble();
    const e = createEngineClient({ address: resolveEngineAddress(d.host, undefined, {}, 'test') });
    try {
      await e.pullImage('r.example.com/shop/api:1@sha256:' + 'c'.repeat(64));
      d.pullStream = ['{"status":"Pulling"}', '{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}'];
      await expect(e.pullImage('r.example.com/shop/api:1')).rejects.toThrow(
        `The Docker engine at ${d.host} could not pull r.example.com/shop/api:1: unauthorized: authentication required.`,
      );
    } finally {
      await e.close();
      await d.stop();
    }
  });

  it('cannot reach an engine: one sentence naming it, after bounded retries', async () => {
    const e = createEngineClient({ address: resolveEngineAddress('unix:///nonexistent/docker.sock', undefined, {}, 'test'), http: { attempts: 2, sleep: async () => {} } });
    await expect(e.apiVersion()).rejects.toThrow(/^Cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker.sock \(GET \/version\): .*ENOENT/);
    await e.close();
  });
});

describe('small parts', () => {
  it('demultiplexes container logs, and passes TTY text through', () => {
    const frame = (stream: number, text: string) => {
      const payload = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(payload.length, 4);
      return Buffer.concat([head, payload]);
    };
    expect(demultiplexLogs(Buffer.concat([frame(1, 'starting\n'), frame(2, 'config missing\n')]))).toBe('starting\nconfig missing\n');
    expect(demultiplexLogs(Buffer.from('plain tty output\n'))).toBe('plain tty output\n');
  });

  it('compares API versions numerically', () => {
    expect(compareApiVersions('1.9', '1.30')).toBe(-1);
    expect(compareApiVersions('1.41', '1.41')).toBe(0);
    expect(compareApiVersions('2.0', '1.43')).toBe(1);
  });

  it('reads engine times with nanoseconds, and the zero time as absent', () => {
    expect(engineTime('2026-11-21T21:06:14.169173084Z')).toBe(Date.parse('2026-11-21T21:06:14.169Z'));
    expect(engineTime('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(engineTime(undefined)).toBeUndefined();
  });

  it('pull credentials go only to the configured registry, and are masked once encoded', () => {
    const registry = { url: 'https://registry.example.com', username: 'ci', password: 'S3cret-pull' };
    expect(pullAuthFor('registry.example.com/shop/api:1', undefined, registry)).toEqual({ username: 'ci', password: 'S3cret-pull', serverAddress: 'registry.example.com' });
    expect(pullAuthFor('evil.example.com/shop/api:1', undefined, registry)).toBeUndefined();
    expect(pullAuthFor('shop/api:1', undefined, { url: 'https://r' })).toBeUndefined();
    const header = registryAuthHeader({ username: 'ci', password: 'S3cret-pull', serverAddress: 'registry.example.com' })['x-registry-auth'];
    expect(mask(`header ${header}`)).toBe('header ***');
    expect(registryAuthHeader(undefined)).toEqual({});
  });

  it('history: appends atomically, keeps the newest, tells the image before the last replacement', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docker-history-'));
    try {
      const file = join(dir, 'sub', `docker-history-${hostSlug('unix:///var/run/docker.sock')}.json`);
      expect(file.endsWith('docker-history-unix-var-run-docker.sock.json')).toBe(true);
      expect(readHistory(file, 'h').entries).toEqual([]);
      appendHistory(file, 'h', { at: '2026-11-21T10:00:00.000Z', service: 'api', container: 'api', replaced: 'r/api:2', by: 'r/api:1' });
      appendHistory(file, 'h', { at: '2026-11-21T11:00:00.000Z', service: 'web', container: 'web', replaced: 'r/web:5', by: 'r/web:2' });
      appendHistory(file, 'h', { at: '2026-11-21T12:00:00.000Z', service: 'api', container: 'api', replaced: 'r/api:1', by: 'r/api:2' });
      const h = readHistory(file, 'h');
      expect(h.entries).toHaveLength(3);
      expect(previousImage(h, 'api')).toBe('r/api:1');
      expect(previousImage(h, 'web')).toBe('r/web:5');
      expect(previousImage(h, 'db')).toBeUndefined();
      expect(hostSlug('tcp://10.0.0.5:2376')).toBe('tcp-10.0.0.5-2376');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
