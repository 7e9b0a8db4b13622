/**
 * The per-host history of images the docker target replaced: the seed article's history file.
 * Each successful replacement appends one entry, so the image a container ran before is known even
 * in a later run, on another agent, or after the snapshot is gone. Written atomically.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../catalog/io';
import { inputError } from '../../errors';
import { sameImage } from '../../image/reference';

export const HISTORY_SCHEMA_VERSION = 1;
/** Entries kept per file: enough for months of rollbacks, small enough to read by eye. */
export const HISTORY_LIMIT = 200;

export interface HistoryEntry {
  /** When the new container took over (ISO 8601). */
  at: string;
  service: string;
  container: string;
  /** The image the container ran before (what undo goes back to). */
  replaced: string;
  /** The image it runs since. */
  by: string;
  /**
   * Which run or undo made the replacement (one per worker process): undo without a snapshot
   * takes the net effect of the last one, so a change that was put back within its run cancels out.
   * Absent in entries written before it existed: each such entry counts as a run of its own.
   */
  run?: string;
}

export interface History {
  schemaVersion: typeof HISTORY_SCHEMA_VERSION;
  /** The engine, as configured (unix:///var/run/docker.sock, tcp://host:2376). */
  host: string;
  /** Oldest first. */
  entries: HistoryEntry[];
}

export function readHistory(file: string, host: string): History {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: HISTORY_SCHEMA_VERSION, host, entries: [] };
    throw inputError(`Docker history file ${file} cannot be read (${(err as NodeJS.ErrnoException).code}).`);
  }
  let data: History;
  try {
    data = JSON.parse(text) as History;
  } catch {
    throw inputError(`Docker history file ${file} is not valid JSON; fix or remove it (it only records past replacements).`);
  }
  if (data?.schemaVersion !== HISTORY_SCHEMA_VERSION || !Array.isArray(data.entries)) {
    throw inputError(`Docker history file ${file} is not a history this worker reads (schemaVersion ${HISTORY_SCHEMA_VERSION} expected).`);
  }
  return data;
}

export function appendHistory(file: string, host: string, entry: HistoryEntry): void {
  const history = readHistory(file, host);
  history.entries.push(entry);
  history.entries = history.entries.slice(-HISTORY_LIMIT);
  writeFileAtomic(file, JSON.stringify(history, null, 2) + '\n');
}

/** The image a container ran before its latest replacement, if the history knows it. */
export function previousImage(history: History, container: string): string | undefined {
  for (let i = history.entries.length - 1; i >= 0; i--) {
    if (history.entries[i].container === container) return history.entries[i].replaced;
  }
  return undefined;
}

/** One container's net change in a run: what it ran before the run, and what it runs after it. */
export interface RunChange {
  service: string;
  container: string;
  before: string;
  after: string;
  /** When its last replacement in that run took over. */
  at: string;
}

/**
 * The last run (or undo) in the history that replaced any of `containers` (container -> service),
 * with each container's net change: the image before its first replacement in that run and after
 * its last. Containers the run put back where they were are left out. Undefined when the history
 * records no replacement of these containers. Other environments' containers on the same host are
 * ignored, so their runs never count as this environment's last one.
 */
export function lastRun(history: History, containers: Map<string, string>): { run: string; at: string; changes: RunChange[] } | undefined {
  const key = (e: HistoryEntry) => e.run ?? `entry at ${e.at}`;
  const ours = history.entries.filter((e) => containers.has(e.container));
  if (ours.length === 0) return undefined;
  const run = key(ours[ours.length - 1]);
  const net = new Map<string, RunChange>();
  for (const e of ours.filter((x) => key(x) === run)) {
    const seen = net.get(e.container);
    net.set(e.container, { service: containers.get(e.container)!, container: e.container, before: seen ? seen.before : e.replaced, after: e.by, at: e.at });
  }
  const changes = [...net.values()].filter((c) => !sameImage(c.before, c.after));
  return { run, at: ours[ours.length - 1].at, changes };
}

/**
 * Every replacement of `containers` (container -> service) as a change of its service's image at
 * the moment the new container took over: what the history file adds to release points. The image
 * a replacement found (`replaced`) is not a change: since when it ran is unknown.
 */
export function imageChanges(history: History, containers: Map<string, string>): { service: string; time: string; image: string }[] {
  return history.entries.filter((e) => containers.has(e.container)).map((e) => ({ service: containers.get(e.container)!, time: e.at, image: e.by }));
}

/** "unix:///var/run/docker.sock" -> "unix-var-run-docker.sock": a file name part for the host. */
export function hostSlug(host: string): string {
  return host.replace(/^[a-z]+:\/\//i, (m) => m.replace('://', '-')).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-+/g, '-').replace(/-$/, '');
}
