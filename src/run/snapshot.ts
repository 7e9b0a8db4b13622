/**
 * The snapshot (what each service ran before) and the journal (how far each service got), one
 * file per run under <stateDir>/runs/, rewritten atomically (temp file, fsync, rename) at every
 * step. It is on disk before the first change, so if the worker dies at any point, `rollback undo`
 * knows what to put back and a re-run knows what is done.
 *
 * States of a service:
 *   pending -> deploying -> done                      (changed and healthy)
 *                        -> failed -> reverting -> reverted | revert-failed
 *   done -> reverting -> reverted | revert-failed      (put back after another service failed)
 * "deploying" and "reverting" mean the target may or may not have the change: undo compares.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../catalog/io';
import { inputError } from '../errors';
import { mask } from '../log';

export const SNAPSHOT_VERSION = 1;

export type ServiceState = 'pending' | 'deploying' | 'done' | 'failed' | 'reverting' | 'reverted' | 'revert-failed';

export interface SnapshotService {
  service: string;
  /** How the target names it (app id, ...). */
  id: string;
  /** The image the service ran before this run: what undo restores. */
  before: string;
  /** The image this run puts in place. */
  after: string;
  /** Day the image comes from (run only). */
  day?: string;
  state: ServiceState;
  /** Why it failed, in one sentence. */
  error?: string;
  /**
   * Undo only: the image the run being undone put in place. A deployment still in flight towards
   * exactly that image is that run's own (stuck on a bad image, its answer lost, its worker killed):
   * undo supersedes it, and nobody else's.
   */
  supersede?: string;
  updatedAt: string;
}

export interface Snapshot {
  snapshotVersion: typeof SNAPSHOT_VERSION;
  action: 'run' | 'undo';
  environment: string;
  date?: string;
  approver: string;
  target: string;
  pid: number;
  host: string;
  startedAt: string;
  /** Set when the run ended (either way); absent means it was interrupted. */
  finishedAt?: string;
  /** 'resumed': interrupted, and a later run took over its job (and its "before" images). */
  outcome?: 'done' | 'failed' | 'partial' | 'resumed';
  /** The snapshot this one undoes (undo only). */
  undoes?: string;
  /** Undo only, without a snapshot: the target's own history it undid the last run from (e.g. the docker history file). */
  undoesHistory?: string;
  services: SnapshotService[];
}

export function runsDir(stateDir: string): string {
  return join(stateDir, 'runs');
}

function latestPointer(stateDir: string, environment: string): string {
  return join(runsDir(stateDir), `${environment}-latest.json`);
}

/** A file name that sorts by time and never collides within one machine. */
export function snapshotFile(stateDir: string, environment: string, action: 'run' | 'undo', now: Date, pid = process.pid): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return join(runsDir(stateDir), `${environment}-${stamp}-${action}-${pid}.json`);
}

/** The journal of one run: every change of state is on disk before the step it announces. */
export class Journal {
  readonly file: string;
  readonly data: Snapshot;
  private readonly now: () => Date;

  private constructor(file: string, data: Snapshot, now: () => Date) {
    this.file = file;
    this.data = data;
    this.now = now;
  }

  /** Writes the snapshot, then points the environment's "latest" at it; both before any change. */
  static create(stateDir: string, data: Snapshot, now: () => Date): Journal {
    const file = snapshotFile(stateDir, data.environment, data.action, now());
    const journal = new Journal(file, data, now);
    journal.save();
    writeFileAtomic(latestPointer(stateDir, data.environment), JSON.stringify({ snapshot: basename(file) }) + '\n');
    return journal;
  }

  entry(service: string): SnapshotService {
    const e = this.data.services.find((s) => s.service === service);
    if (!e) throw new Error(`journal: ${service} is not in ${this.file}`);
    return e;
  }

  set(service: string, state: ServiceState, error?: string): void {
    const e = this.entry(service);
    e.state = state;
    // A reason may quote a server's answer that echoed a secret: files get it masked, like log lines.
    if (error !== undefined) e.error = mask(error);
    e.updatedAt = this.now().toISOString();
    this.save();
  }

  finish(outcome: Snapshot['outcome']): void {
    this.data.outcome = outcome;
    this.data.finishedAt = this.now().toISOString();
    this.save();
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + '\n');
  }
}

/** Reads a snapshot, checking just enough that undo never acts on a damaged file. */
export function readSnapshot(file: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(`Snapshot ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}.`);
  }
  let data: Snapshot;
  try {
    data = JSON.parse(text) as Snapshot;
  } catch {
    throw inputError(`Snapshot ${file} is not valid JSON (truncated or edited?).`);
  }
  const ok = data && typeof data === 'object' && data.snapshotVersion === SNAPSHOT_VERSION && typeof data.environment === 'string' && Array.isArray(data.services)
    && data.services.every((s) => s && typeof s.service === 'string' && typeof s.before === 'string' && typeof s.after === 'string' && typeof s.state === 'string');
  if (!ok) throw inputError(`Snapshot ${file} is not a snapshot this worker wrote (snapshotVersion ${SNAPSHOT_VERSION}, services with before/after images).`);
  return data;
}

/** The environment's latest snapshot file, or undefined when no run left one. */
export function latestSnapshotFile(stateDir: string, environment: string): string | undefined {
  const pointer = latestPointer(stateDir, environment);
  try {
    const name = (JSON.parse(readFileSync(pointer, 'utf8')) as { snapshot?: unknown }).snapshot;
    if (typeof name === 'string' && name === basename(name)) return join(runsDir(stateDir), name);
  } catch {
    /* no pointer (or a damaged one): fall back to the newest file by name */
  }
  try {
    const files = readdirSync(runsDir(stateDir)).filter((f) => f.startsWith(`${environment}-`) && /-(run|undo)-\d+\.json$/.test(f)).sort();
    return files.length ? join(runsDir(stateDir), files[files.length - 1]) : undefined;
  } catch {
    return undefined;
  }
}

export function displayPath(file: string, cwd = process.cwd()): string {
  const abs = resolve(file);
  return abs.startsWith(cwd + '/') ? abs.slice(cwd.length + 1) : abs;
}
