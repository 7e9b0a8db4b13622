/**
 * The real tinyproxy on a free loopback port, logging each request line it forwards (plain-http
 * requests as absolute URIs, https ones as CONNECT host:port). No ConnectPort line: CONNECT is
 * allowed to every port, as the test registries listen on random ones.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './registry';

export interface Tinyproxy {
  url: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startTinyproxy(dir: string): Promise<Tinyproxy> {
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  writeFileSync(log, '');
  chmodSync(log, 0o666);
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', `LogFile "${log}"`, 'LogLevel Info', 'MaxClients 20', 'Allow 127.0.0.1', 'DisableViaHeader Yes'].join('\n') + '\n');
  const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', conf], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!readFileSync(log, 'utf8').includes('listening') && !readFileSync(log, 'utf8').includes('Listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tinyproxy did not start: ${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => readFileSync(log, 'utf8'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
}

