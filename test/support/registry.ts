/**
 * The real Docker distribution registry (Debian's docker-registry), started on a free loopback
 * port with a temporary config, plus a fixture that pushes images through the registry API with
 * chosen `created` dates: Docker v2 and OCI manifests, and OCI indexes.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, request as undiciRequest } from 'undici';

// No keep-alive: the fixture must leave no open sockets behind when a suite ends.
const fixtureAgent = new Agent({ pipelining: 0 });
const request: typeof undiciRequest = ((url: string, opts: object = {}) =>
  undiciRequest(url, { ...opts, dispatcher: fixtureAgent } as never)) as never;

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface RunningRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as image references spell it */
  host: string;
  /** Basic auth credentials when started with htpasswd. */
  auth?: { username: string; password: string };
  dir: string;
  /** The docker-registry process (its CPU time is in /proc/<pid>/stat; the bench reads it). */
  pid?: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function registryAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface RegistryOptions {
  /** Basic auth (htpasswd, bcrypt). */
  auth?: { username: string; password: string };
  /** Serve this storage (another registry's `dir/data`, left in place on stop) instead of a new one. */
  dataDir?: string;
  /** More top-level YAML (an `auth: token:` block, `middleware:`). */
  extraConfig?: string;
  /** Serve HTTPS with these PEM files; clientCa makes the registry ask for client certificates. */
  tls?: { cert: string; key: string; clientCa?: string };
}

/** Starts a real registry; with `auth`, it requires basic auth (htpasswd, bcrypt). */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'rollback-registry-'));
  const port = await freePort();
  mkdirSync(join(dir, 'data'));
  const data = options.dataDir ?? join(dir, 'data');
  const tlsBlock = options.tls
    ? `  tls:\n    certificate: ${options.tls.cert}\n    key: ${options.tls.key}\n${options.tls.clientCa ? `    clientcas:\n      - ${options.tls.clientCa}\n` : ''}`
    : '';
  let authBlock = '';
  if (options.auth) {
    const htpasswd = join(dir, 'htpasswd');
    // htpasswd reads the password from stdin (-i) so it never appears in a process list.
    execFileSync('htpasswd', ['-Bci', htpasswd, options.auth.username], { input: options.auth.password, stdio: ['pipe', 'ignore', 'ignore'] });
    authBlock = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${htpasswd}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${data}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${tlsBlock}${authBlock}${options.extraConfig ?? ''}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  // Only whether it listens: the certificate is the suites' business.
  const probeAgent = options.tls ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = probeAgent ? await undiciRequest(`${url}/v2/`, { dispatcher: probeAgent }) : await request(`${url}/v2/`);
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) break;
    } catch (err) {
      // Asking for a client certificate, it ends the handshake: it is up.
      const code = String((err as { code?: string }).code ?? '');
      if (options.tls?.clientCa && code && code !== 'ECONNREFUSED') break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await probeAgent?.close();
  return {
    url,
    host: `127.0.0.1:${port}`,
    auth: options.auth,
    dir,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function authHeader(reg: RunningRegistry): Record<string, string> {
  return reg.auth ? { authorization: `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64')}` } : {};
}

/** Uploads a blob (monolithic POST + PUT), skipping it when the registry already has it. */
export async function pushBlob(reg: RunningRegistry, repository: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const head = await request(`${reg.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD', headers: authHeader(reg) });
  await head.body.dump();
  if (head.statusCode === 200) return digest;
  const start = await request(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: authHeader(reg) });
  await start.body.dump();
  if (start.statusCode !== 202) throw new Error(`blob upload start: ${start.statusCode}`);
  const location = new URL(String(start.headers.location), reg.url);
  location.searchParams.set('digest', digest);
  const put = await request(location.toString(), {
    method: 'PUT',
    headers: { ...authHeader(reg), 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
  });
  await put.body.dump();
  if (put.statusCode !== 201) throw new Error(`blob upload: ${put.statusCode}`);
  return digest;
}

export async function pushManifest(reg: RunningRegistry, repository: string, reference: string, mediaType: string, body: string): Promise<string> {
  const res = await request(`${reg.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...authHeader(reg), 'content-type': mediaType },
    body,
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`manifest PUT ${repository}:${reference}: ${res.statusCode} ${text}`);
  return String(res.headers['docker-content-digest'] ?? sha256(body));
}

export interface Layer {
  /** gzip-compressed tar */
  gz: Buffer;
  /** sha256 of the uncompressed tar (rootfs diff_id) */
  diffId: string;
}

let busybox: Layer | undefined;
/** A runnable layer: Debian's static busybox as /bin/busybox with /bin/sh pointing at it. */
export function busyboxLayer(): Layer {
  if (busybox) return busybox;
  const root = mkdtempSync(join(tmpdir(), 'rollback-layer-'));
  mkdirSync(join(root, 'bin'));
  execFileSync('cp', ['/bin/busybox', join(root, 'bin', 'busybox')]);
  for (const tool of ['sh', 'sleep', 'echo', 'cat', 'true', 'false', 'wget', 'httpd']) {
    execFileSync('ln', ['-s', 'busybox', join(root, 'bin', tool)]);
  }
  const tar = execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', 'bin'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  rmSync(root, { recursive: true, force: true });
  busybox = { gz: gzipSync(tar), diffId: sha256(tar) };
  return busybox;
}

/** A tiny layer with one file whose content makes the image unique. */
export function textLayer(path: string, content: string): Layer {
  const root = mkdtempSync(join(tmpdir(), 'rollback-layer-'));
  writeFileSync(join(root, path), content);
  const tar = execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', path]);
  rmSync(root, { recursive: true, force: true });
  return { gz: gzipSync(tar, { level: 9 }), diffId: sha256(tar) };
}

export interface ImageSpec {
  repository: string;
  tag: string;
  /** ISO date written into the image config's `created`. */
  created: string;
  format?: 'docker' | 'oci' | 'oci-index';
  /** Runnable images get the busybox layer and this command. */
  cmd?: string[];
  /** Extra config (Healthcheck, Env...). */
  config?: Record<string, unknown>;
  /** For oci-index: the date of the non-amd64 entry (to prove amd64 is the one read). */
  otherArchCreated?: string;
  /** Put the created date only in the org.opencontainers.image.created annotation, not the config. */
  annotationOnly?: boolean;
}

async function pushSingle(reg: RunningRegistry, spec: ImageSpec, arch: string, created: string, oci: boolean): Promise<{ digest: string; body: string; mediaType: string }> {
  const layers: Layer[] = spec.cmd ? [busyboxLayer()] : [];
  layers.push(textLayer('release', `${spec.repository}:${spec.tag}:${arch}:${created}\n`));
  const config: Record<string, unknown> = {
    architecture: arch,
    os: 'linux',
    config: { Cmd: spec.cmd ?? ['/bin/sh'], ...spec.config },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: spec.annotationOnly ? undefined : created, created_by: 'test fixture' })),
  };
  if (!spec.annotationOnly) config.created = created;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await pushBlob(reg, spec.repository, configBytes);
  const layerDescs = [];
  for (const l of layers) {
    const d = await pushBlob(reg, spec.repository, l.gz);
    layerDescs.push({ mediaType: oci ? MEDIA.ociLayer : MEDIA.dockerLayer, size: l.gz.length, digest: d });
  }
  const mediaType = oci ? MEDIA.ociManifest : MEDIA.dockerManifest;
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? MEDIA.ociConfig : MEDIA.dockerConfig, size: configBytes.length, digest: configDigest },
    layers: layerDescs,
  };
  if (spec.annotationOnly) manifest.annotations = { 'org.opencontainers.image.created': created };
  const body = JSON.stringify(manifest);
  return { digest: sha256(body), body, mediaType };
}

/** Pushes one image under repository:tag and returns its manifest digest (what the registry serves for the tag). */
export async function pushImage(reg: RunningRegistry, spec: ImageSpec): Promise<string> {
  const format = spec.format ?? 'docker';
  if (format !== 'oci-index') {
    const m = await pushSingle(reg, spec, 'amd64', spec.created, format === 'oci');
    return pushManifest(reg, spec.repository, spec.tag, m.mediaType, m.body);
  }
  const arm = await pushSingle(reg, spec, 'arm64', spec.otherArchCreated ?? spec.created, true);
  await pushManifest(reg, spec.repository, arm.digest, arm.mediaType, arm.body);
  const amd = await pushSingle(reg, spec, 'amd64', spec.created, true);
  await pushManifest(reg, spec.repository, amd.digest, amd.mediaType, amd.body);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { mediaType: arm.mediaType, size: Buffer.byteLength(arm.body), digest: arm.digest, platform: { architecture: 'arm64', os: 'linux' } },
      { mediaType: amd.mediaType, size: Buffer.byteLength(amd.body), digest: amd.digest, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  });
  return pushManifest(reg, spec.repository, spec.tag, MEDIA.ociIndex, index);
}

/** Reads a file the registry wrote, for debugging failed tests. */
export function registryLog(reg: RunningRegistry): string {
  try {
    return readFileSync(join(reg.dir, 'registry.log'), 'utf8');
  } catch {
    return '';
  }
}
