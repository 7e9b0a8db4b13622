/**
 * The per-host history of images the docker target replaced: the seed article's history file.
 * Each successful replacement appends one entry, so the image a container ran before is known even
 * in a later run, on another agent, or after the snapshot is gone. Written atomically.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../catalog/io';
import { inputError } from '../errors';

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

/** "unix:///var/run/docker.sock" -> "unix-var-run-docker.sock": a file name part for the host. */
export function hostSlug(host: string): string {
  return host.replace(/^[a-z]+:\/\//i, (m) => m.replace('://', '-')).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-+/g, '-').replace(/-$/, '');
}
