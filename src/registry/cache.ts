/**
 * Image dates by manifest digest, kept between runs in a file beside the catalog. A manifest
 * digest is the hash of the manifest, which names the config, which holds the date: the same
 * digest always has the same date, in any repository, so entries never go stale.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../catalog/io';
import type { Logger } from '../log';

const CACHE_VERSION = 1;
/** Bound on the file (about 100 bytes an entry): old entries beyond it are dropped first. */
const MAX_ENTRIES = 500_000;

export interface DateCache {
  get(digest: string): string | undefined;
  set(digest: string, created: string): void;
  size(): number;
  /** Writes the file (atomically) when something changed. */
  save(): void;
}

export function memoryDateCache(initial: Record<string, string> = {}): DateCache {
  const dates = new Map(Object.entries(initial));
  return {
    get: (d) => dates.get(d),
    set: (d, c) => void dates.set(d, c),
    size: () => dates.size,
    save: () => undefined,
  };
}

/** Opens the cache file; a missing file is an empty cache, a damaged one is ignored with a warning. */
export function openDateCache(file: string, logger: Logger): DateCache {
  const dates = new Map<string, string>();
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; dates?: unknown };
    if (data?.version === CACHE_VERSION && data.dates && typeof data.dates === 'object') {
      for (const [k, v] of Object.entries(data.dates as Record<string, unknown>)) {
        if (/^sha256:[a-f0-9]{64}$/.test(k) && typeof v === 'string' && !Number.isNaN(Date.parse(v))) dates.set(k, v);
      }
    } else {
      logger.warn(`Date cache ${file} has an unknown layout; starting it afresh.`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn(`Date cache ${file} cannot be read (${(err as Error).message.split('\n')[0]}); starting it afresh.`);
  }
  let changed = false;
  return {
    get: (d) => dates.get(d),
    set: (d, c) => {
      if (dates.get(d) === c) return;
      // Re-inserting moves the entry to the end, so the oldest unused ones are dropped first.
      dates.delete(d);
      dates.set(d, c);
      changed = true;
    },
    size: () => dates.size,
    save: () => {
      if (!changed) return;
      const entries = [...dates.entries()];
      const kept = entries.slice(Math.max(0, entries.length - MAX_ENTRIES));
      writeFileAtomic(file, JSON.stringify({ version: CACHE_VERSION, dates: Object.fromEntries(kept) }) + '\n');
      changed = false;
    },
  };
}
