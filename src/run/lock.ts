/**
 * One run per environment at a time on one machine: <stateDir>/locks/<env>.lock, created with
 * O_EXCL (open 'wx') so exactly one process wins, holding who took it and when. A second run
 * waits a bounded time, then refuses naming the holder. A lock whose process is gone (killed run)
 * is taken over; the takeover itself is guarded by its own O_EXCL file, so two waiting runs
 * cannot both take over the same stale lock. Runs on different agents need Jenkins' `lock` step
 * (docs/run.md).
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { RollbackError } from '../errors';

export interface LockHolder {
  pid: number;
  host: string;
  user: string;
  since: string;
  command: string;
}

export interface LockOptions {
  stateDir: string;
  environment: string;
  command: string;
  /** How long to wait for a live holder, in ms. Default 60 s. */
  waitMs?: number;
  /** Poll interval while waiting. Default 1 s. */
  pollMs?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Is this pid alive on this host? Injected for tests. */
  alive?: (pid: number) => boolean;
  host?: string;
  pid?: number;
  user?: string;
  onWait?: (holder: LockHolder) => void;
}

export interface Lock {
  file: string;
  holder: LockHolder;
  /** Took over a stale lock of this holder. */
  tookOver?: LockHolder;
  release(): void;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else: alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof h?.pid === 'number' ? h : undefined;
  } catch {
    return undefined;
  }
}

function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

function safeUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}

const same = (a: LockHolder | undefined, b: LockHolder | undefined) => !!a && !!b && a.pid === b.pid && a.host === b.host && a.since === b.since;

export async function acquireLock(o: LockOptions): Promise<Lock> {
  const now = o.now ?? (() => new Date());
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const alive = o.alive ?? processAlive;
  const host = o.host ?? hostname();
  const pid = o.pid ?? process.pid;
  const dir = join(o.stateDir, 'locks');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${o.environment}.lock`);
  const waitMs = o.waitMs ?? 60_000;
  const started = now().getTime();
  let user = o.user;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  const holder: LockHolder = { pid, host, user, since: now().toISOString(), command: o.command };
  const text = JSON.stringify(holder) + '\n';
  let tookOver: LockHolder | undefined;
  let told = false;

  for (;;) {
    if (createExclusive(file, text)) {
      return {
        file, holder, tookOver,
        release: () => {
          // Remove only our own lock (never one a takeover gave to someone else).
          if (same(readHolder(file), holder)) safeUnlink(file);
        },
      };
    }
    const current = readHolder(file);
    if (current && current.host === host && !alive(current.pid)) {
      // Stale: its run was killed. Take it over under a guard only one process can hold.
      const guard = `${file}.takeover`;
      if (createExclusive(guard, text)) {
        try {
          if (same(readHolder(file), current)) {
            safeUnlink(file);
            tookOver = current;
          }
        } finally {
          safeUnlink(guard);
        }
        continue;
      }
      const g = readHolder(guard);
      if (g && g.host === host && !alive(g.pid)) safeUnlink(guard);
    }
    if (now().getTime() - started >= waitMs) {
      if (!current) {
        throw new RollbackError('failed', `Environment ${o.environment} has an unreadable lock file ${file}; if no rollback is running, delete it and try again.`);
      }
      throw new RollbackError('failed',
        `Environment ${o.environment} is locked by ${current.command} of ${current.user} (pid ${current.pid} on ${current.host}) since ${current.since}; ` +
        `waited ${Math.round(waitMs / 1000)}s, nothing was changed${current.host === host ? '' : `; if that run is gone, delete ${file}`}.`);
    }
    if (current && !told) {
      told = true;
      o.onWait?.(current);
    }
    await sleep(o.pollMs ?? 1000);
  }
}
