/**
 * ssh:// Docker hosts, reached as the docker CLI reaches them (github.com/docker/cli
 * cli/connhelper): the OpenSSH client logs in and runs `docker system dial-stdio` on the host,
 * which joins its stdin/stdout to the engine's socket there. The Engine API client then speaks
 * HTTP over that child's stdio, one ssh process per connection. No SSH protocol is written here:
 * host keys, key files, agents and ssh_config stay OpenSSH's business.
 *
 * Host keys are never accepted silently: StrictHostKeyChecking=yes against `knownHosts`, so an
 * unknown or changed key ends the connection and the sentence says so, with ssh's own last line.
 * BatchMode=yes: ssh never asks for a password or a passphrase (there is nobody to answer).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { buildConnector } from 'undici';
import { inputError, RollbackError } from '../../errors';
import type { SshAddress } from './host';

/** The arguments of ssh, in the order docker's connhelper passes them, plus the strict host key options. */
export function sshArgs(a: SshAddress): string[] {
  const quote = (path: string) => (/\s/.test(path) ? `"${path}"` : path); // ssh -o splits values on spaces unless quoted
  const args = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${quote(a.knownHosts)}`, '-o', 'ConnectTimeout=30'];
  if (a.identityFile) args.push('-o', 'IdentitiesOnly=yes', '-i', a.identityFile);
  if (a.port) args.push('-p', String(a.port));
  if (a.user) args.push('-l', a.user);
  args.push('-T', '--', a.hostname, 'docker', 'system', 'dial-stdio');
  return args;
}

/** The last line ssh (or the remote shell, or dial-stdio) wrote on stderr: its own reason. */
function lastLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return (lines[lines.length - 1] ?? '').replace(/\.$/, '');
}

/**
 * One sentence for an ssh child that ended before the engine answered. Host key and login
 * problems are the operator's to fix (exit 2, never retried); anything else (the network, sshd
 * restarting) is a passing fault the HTTP client retries.
 */
export function sshFailure(a: SshAddress, where: string, code: number | null, stderr: string): Error {
  const said = lastLine(stderr);
  const Where = where.charAt(0).toUpperCase() + where.slice(1);
  const host = `${a.hostname}${a.port ? `:${a.port}` : ''}`;
  if (/host key verification failed|remote host identification has changed|host key .*(not known|has changed)|no \S+ host key is known/i.test(stderr)) {
    const changed = /identification has changed|has changed/i.test(stderr);
    return inputError(
      `${Where} was not reached: the host key of ${host} is ${changed ? 'not the one recorded' : 'not recorded'} in ${a.knownHosts}, and ssh never accepts such a key (ssh said: ${said}); check the host's key fingerprint, then add it to that file (ssh-keyscan -p ${a.port ?? 22} ${a.hostname}) or set knownHosts.`,
    );
  }
  if (/permission denied|too many authentication failures|no more authentication methods/i.test(stderr)) {
    return inputError(
      `${Where} was not reached: ssh could not log in${a.user ? ` as ${a.user}` : ''} on ${host} (ssh said: ${said}); check the key (identityFile) and that it is in that user's authorized_keys.`,
    );
  }
  if (code === 127 || /docker: (command )?not found|dial-stdio/i.test(said)) {
    return inputError(`${Where} was not reached: ssh logged in, but \`docker system dial-stdio\` failed there (${said || `exit code ${code}`}); the docker CLI (18.09 or newer) must be on that host's PATH.`);
  }
  const err = new Error(`ssh to ${host} ended with ${code === null ? 'a signal' : `exit code ${code}`}${said ? `: ${said}` : ''}`) as Error & { code: string };
  err.code = 'ECONNRESET'; // a dropped connection: the HTTP client retries it like a reset socket
  return err;
}

/** Checks, before ssh runs, the files it would otherwise silently skip. */
export function checkSshFiles(a: SshAddress, configWhere: string): void {
  if (a.identityFile) {
    try {
      accessSync(a.identityFile, constants.R_OK);
    } catch (err) {
      throw inputError(`${configWhere}: the ssh identityFile ${a.identityFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  }
  if (!existsSync(a.knownHosts)) {
    throw inputError(
      `${configWhere}: the known hosts file ${a.knownHosts} does not exist, so no host key can be checked; create it with the host's verified key (ssh-keyscan), or set knownHosts.`,
    );
  }
}

/**
 * The child's stdio as one Duplex, which undici takes for a socket. The child's end is only told
 * once it has exited: a failed login or host key then errors the stream with ssh's own reason,
 * rather than looking like an engine that closed the connection.
 */
class SshStdio extends Duplex {
  private stderr = '';
  private closing = false;

  constructor(
    private readonly child: ChildProcess,
    address: SshAddress,
    where: string,
  ) {
    super();
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout!.pause();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4096);
    });
    child.stdin!.on('error', () => undefined); // EPIPE when ssh has gone: its exit says why
    child.on('error', (err) => this.destroy(new RollbackError('failed', `${where} was not reached: ssh could not be started (${(err as NodeJS.ErrnoException).code ?? err.message}); install the OpenSSH client.`)));
    child.on('close', (code) => {
      if (this.destroyed) return;
      if (code === 0 || this.closing) this.push(null);
      else this.destroy(sshFailure(address, where, code, this.stderr));
    });
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.child.stdin!.write(chunk, () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.closing = true;
    this.child.stdin!.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.closing = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    done(err);
  }

  // undici unrefs idle keep-alive sockets so they never hold the worker open.
  ref(): this {
    this.child.ref();
    for (const s of [this.child.stdout, this.child.stderr, this.child.stdin]) (s as Socket | null)?.ref?.();
    return this;
  }

  unref(): this {
    this.child.unref();
    for (const s of [this.child.stdout, this.child.stderr, this.child.stdin]) (s as Socket | null)?.unref?.();
    return this;
  }
}

/**
 * The undici `connect` option for an ssh:// engine: each new connection is a new ssh child.
 * `env` is the environment ssh runs in (HOME for ~/.ssh/config, SSH_AUTH_SOCK for an agent).
 */
export function sshConnector(address: SshAddress, where: string, configWhere: string, env: NodeJS.ProcessEnv = process.env): buildConnector.connector {
  let checked = false;
  return (_opts, callback) => {
    try {
      if (!checked) checkSshFiles(address, configWhere);
      checked = true;
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    const child = spawn('ssh', sshArgs(address), { stdio: ['pipe', 'pipe', 'pipe'], env });
    // undici reads and writes its socket as a stream only (no address, no TLS): any Duplex does.
    const socket = new SshStdio(child, address, where);
    // Asynchronously, as with a real socket: undici's client hangs when its connector answers within the call.
    setImmediate(() => callback(null, socket as unknown as Socket));
  };
}
