/**
 * Where the Docker engine listens, read the way the docker CLI and the Go SDK read it:
 * a `host` like DOCKER_HOST (unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host:port),
 * TLS from DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) and DOCKER_TLS_VERIFY, or from the
 * target's `tls`; for ssh://, the target's `identityFile` and `knownHosts`.
 * Pure: it only decides; opening files, sockets and ssh happens in engine.ts and ssh.ts.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TlsConfig } from '../../config/types';
import { inputError } from '../../errors';

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

export interface EngineAddress {
  /** As the user wrote it (shown in messages). */
  host: string;
  /** Unix socket path, when the engine listens on one. */
  socketPath?: string;
  /** Base URL of requests: http://localhost for a socket, http(s)://host:port for tcp. */
  baseUrl: string;
  /** TLS files and verification, for https only. */
  tls?: { ca?: string; cert?: string; key?: string; verify: boolean };
  /** For ssh://: the OpenSSH client runs `docker system dial-stdio` on that host (see ssh.ts). */
  ssh?: SshAddress;
}

export interface SshAddress {
  /** Login name; absent: ssh's own default (its config, else the local user), as docker does. */
  user?: string;
  hostname: string;
  port?: number;
  /** Private key file (ssh -i); absent: ssh's own default keys and agent. */
  identityFile?: string;
  /** known_hosts file the host key must be in; never accepted otherwise. */
  knownHosts: string;
}

/** The target keys beside `host` that only ssh:// uses. */
export interface SshOptions {
  identityFile?: string;
  knownHosts?: string;
}

/** ~/ (and a bare ~) as the home folder, as ssh itself reads its files. */
function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === '~' || path.startsWith('~/')) return join(env.HOME || homedir(), path.slice(1));
  return path;
}

/**
 * ssh://[user@]host[:port], read as docker's connhelper/ssh reads it: no path, no query, no
 * password; names starting with '-' are refused (they would be read as ssh options).
 */
function sshAddress(raw: string, where: string, options: SshOptions, env: NodeJS.ProcessEnv): SshAddress {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw inputError(`${where}: Docker host '${raw}' is not a valid ssh://user@host:port address.`);
  }
  if (!url.hostname) throw inputError(`${where}: Docker host '${raw}' names no host; write it as ssh://user@host or ssh://user@host:port.`);
  if (url.password) throw inputError(`${where}: Docker host '${raw}' carries a password; ssh:// hosts log in with a key (identityFile), never a password in the URL.`);
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    throw inputError(`${where}: Docker host '${raw}' has a path or query after the host, which docker does not read either; write it as ssh://user@host:port.`);
  }
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  if (url.hostname.startsWith('-') || user?.startsWith('-')) throw inputError(`${where}: Docker host '${raw}' has a user or host starting with '-', which ssh would read as an option.`);
  return {
    user,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : undefined,
    identityFile: options.identityFile?.trim() ? expandHome(options.identityFile.trim(), env) : undefined,
    knownHosts: expandHome(options.knownHosts?.trim() || '~/.ssh/known_hosts', env),
  };
}

/**
 * Decides how to reach the engine. `where` names the config key for messages.
 * TLS follows the Go SDK's client.FromEnv: DOCKER_CERT_PATH turns TLS on with the certificates in
 * that folder, and the server certificate is verified only when DOCKER_TLS_VERIFY is non-empty
 * (https://pkg.go.dev/github.com/docker/docker/client#FromEnv). A `tls` block in the config wins,
 * and verifies unless it says `insecure: true`.
 */
export function resolveEngineAddress(host: string | undefined, tls: TlsConfig | undefined, env: NodeJS.ProcessEnv, where: string, ssh: SshOptions = {}): EngineAddress {
  const raw = (host ?? env.DOCKER_HOST ?? '').trim() || DEFAULT_DOCKER_HOST;
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(raw);
  if (!match) {
    throw inputError(`${where}: Docker host '${raw}' is not a URL such as unix:///var/run/docker.sock or tcp://docker.example.com:2376.`);
  }
  const scheme = match[1].toLowerCase();
  const rest = match[2];
  if ((ssh.identityFile || ssh.knownHosts) && scheme !== 'ssh') {
    throw inputError(`${where}: identityFile and knownHosts apply to an ssh://user@host Docker host only, not '${raw}'.`);
  }
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw inputError(`${where}: Docker host '${raw}' needs an absolute socket path, as in unix:///var/run/docker.sock.`);
    return { host: raw, socketPath: rest, baseUrl: 'http://localhost' };
  }
  if (scheme === 'ssh') {
    if (tls) throw inputError(`${where}: an ssh:// Docker host is reached through ssh, so a tls block does not apply; remove it.`);
    return { host: raw, baseUrl: 'http://localhost', ssh: sshAddress(raw, where, ssh, env) };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw inputError(
      `${where}: Docker host '${raw}' uses ${scheme}://, which this tool does not speak; use unix://, tcp:// (with TLS) or ssh://user@host.`,
    );
  }
  let url: URL;
  try {
    url = new URL(`http://${rest}`);
  } catch {
    throw inputError(`${where}: Docker host '${raw}' is not a valid host:port.`);
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '')) {
    throw inputError(`${where}: Docker host '${raw}' must be just scheme://host:port.`);
  }
  const certPath = env.DOCKER_CERT_PATH?.trim();
  const useTls = scheme === 'https' || tls !== undefined || (scheme === 'tcp' && Boolean(certPath));
  if (!useTls) {
    // 2375 is the engine's plain-text port by convention, 2376 its TLS one.
    return { host: raw, baseUrl: `http://${url.hostname}:${url.port || '2375'}` };
  }
  const fromEnv = certPath ? { ca: join(certPath, 'ca.pem'), cert: join(certPath, 'cert.pem'), key: join(certPath, 'key.pem') } : {};
  const verify = tls ? !tls.insecure : Boolean(env.DOCKER_TLS_VERIFY?.trim());
  const files = { ca: tls?.ca ?? fromEnv.ca, cert: tls?.cert ?? fromEnv.cert, key: tls?.key ?? fromEnv.key };
  if (Boolean(files.cert) !== Boolean(files.key)) {
    throw inputError(`${where}: Docker TLS needs both a client certificate and its key (tls.cert and tls.key, or cert.pem and key.pem in DOCKER_CERT_PATH).`);
  }
  // WHATWG URL keeps the brackets of an IPv6 hostname, so it can be spliced back as is.
  return { host: raw, baseUrl: `https://${url.hostname}:${url.port || '2376'}`, tls: { ...files, verify } };
}
