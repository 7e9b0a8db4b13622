/**
 * A real OpenSSH server (Debian's openssh-server) on a free loopback port, with its own
 * sshd_config, host key and authorized test key in a temp folder, in front of this machine's
 * dockerd: `ssh ... docker system dial-stdio` there reaches the real engine. Started by the
 * suites that need it, stopped in their afterAll.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './registry';

export interface RunningSshd {
  port: number;
  /** The login name: whoever runs the tests (sshd as root lets it in; as another user, only that user). */
  user: string;
  /** ssh://user@127.0.0.1:port */
  host: string;
  /** The authorized private key (mode 600). */
  identityFile: string;
  /** A known_hosts file holding this server's real host key. */
  knownHosts: string;
  /** A known_hosts file holding another key for the same [127.0.0.1]:port: a changed host key. */
  wrongKnownHosts: string;
  /** A known_hosts file that does not know this host at all. */
  emptyKnownHosts: string;
  dir: string;
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

export function sshdAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', `test -x ${SSHD} && command -v ssh && command -v ssh-keygen`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rollback-test', '-f', file], { stdio: 'ignore' });
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startSshd(): Promise<RunningSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'rollback-sshd-'));
  const port = await freePort();
  const user = userInfo().username;
  const hostPub = keygen(join(dir, 'host_ed25519'));
  const otherPub = keygen(join(dir, 'other_host_ed25519'));
  const clientPub = keygen(join(dir, 'id_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o600 });
  const entry = (pub: string) => `[127.0.0.1]:${port} ${pub.split(' ').slice(0, 2).join(' ')}\n`;
  writeFileSync(join(dir, 'known_hosts'), entry(hostPub));
  writeFileSync(join(dir, 'wrong_known_hosts'), entry(otherPub));
  writeFileSync(join(dir, 'empty_known_hosts'), '');
  // sshd refuses to start without its privilege separation folder (absent on a machine that never ran it).
  if (userInfo().uid === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  for (let i = 0; i < 100 && !(await listening(port)); i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited at start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    user,
    host: `ssh://${user}@127.0.0.1:${port}`,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    wrongKnownHosts: join(dir, 'wrong_known_hosts'),
    emptyKnownHosts: join(dir, 'empty_known_hosts'),
    dir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
