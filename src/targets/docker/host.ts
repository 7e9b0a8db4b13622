/**
 * Where the Docker engine listens, read the way the docker CLI and the Go SDK read it:
 * a `host` like DOCKER_HOST (unix:///var/run/docker.sock, tcp://host:2376), TLS from
 * DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) and DOCKER_TLS_VERIFY, or from the target's `tls`.
 * Pure: it only decides; opening files and sockets happens in engine.ts.
 */
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
}

/**
 * Decides how to reach the engine. `where` names the config key for messages.
 * TLS follows the Go SDK's client.FromEnv: DOCKER_CERT_PATH turns TLS on with the certificates in
 * that folder, and the server certificate is verified only when DOCKER_TLS_VERIFY is non-empty
 * (https://pkg.go.dev/github.com/docker/docker/client#FromEnv). A `tls` block in the config wins,
 * and verifies unless it says `insecure: true`.
 */
export function resolveEngineAddress(host: string | undefined, tls: TlsConfig | undefined, env: NodeJS.ProcessEnv, where: string): EngineAddress {
  const raw = (host ?? env.DOCKER_HOST ?? '').trim() || DEFAULT_DOCKER_HOST;
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(raw);
  if (!match) {
    throw inputError(`${where}: Docker host '${raw}' is not a URL such as unix:///var/run/docker.sock or tcp://docker.example.com:2376.`);
  }
  const scheme = match[1].toLowerCase();
  const rest = match[2];
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw inputError(`${where}: Docker host '${raw}' needs an absolute socket path, as in unix:///var/run/docker.sock.`);
    return { host: raw, socketPath: rest, baseUrl: 'http://localhost' };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw inputError(
      `${where}: Docker host '${raw}' uses ${scheme}://, which this tool does not speak; use unix:// or tcp:// (with TLS), or forward the socket (ssh -L).`,
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
