/**
 * Image dates by manifest digest, kept between runs in a file beside the catalog. A manifest
 * digest is the hash of the manifest, which names the config, which holds the date: the same
 * digest always has the same date, in any repository, so entries never go stale.
 *
 * With registry.immutableTags the file also remembers which digest each tag pointed at, so a warm
 * get need not ask the registry again. Unlike the dates, those entries CAN go stale (a tag pushed
 * again): they are trusted only when the user says tags are never pushed twice.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../catalog/io';
import type { Logger } from '../log';
import type { Provenance } from './manifest';

const CACHE_VERSION = 1;
/** Bound on the file (about 100 bytes an entry): old entries beyond it are dropped first. */
const MAX_ENTRIES = 500_000;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface DateCache {
  get(digest: string): string | undefined;
  set(digest: string, created: string): void;
  size(): number;
  /** The digest `tag` of `scope` (registry host/repository) pointed at when last read. */
  tagDigest(scope: string, tag: string): string | undefined;
  rememberTag(scope: string, tag: string, digest: string): void;
  /** Forgets the tags of `scope` not in `current` (deleted from the registry); all of them without `current`. */
  forgetTags(scope: string, current?: readonly string[]): void;
  /**
   * The revision and source read with the digest's date (`{}` when the image carries none);
   * undefined when it was never read (a cache written before provenance was kept).
   */
  provenance(digest: string): Provenance | undefined;
  setProvenance(digest: string, provenance: Provenance): void;
  /** Writes the file (atomically) when something changed. */
  save(): void;
}

/** Only the two strings, so a damaged file cannot put anything else in the catalog. */
function cleanProvenance(v: unknown): Provenance | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const { revision, source } = v as Record<string, unknown>;
  return { ...(typeof revision === 'string' ? { revision } : {}), ...(typeof source === 'string' ? { source } : {}) };
}

/** The tag half of a cache: scope -> tag -> digest. `onChange` marks the file dirty. */
function tagMemory(tags: Map<string, Map<string, string>>, onChange: () => void) {
  return {
    tagDigest: (scope: string, tag: string) => tags.get(scope)?.get(tag),
    rememberTag: (scope: string, tag: string, digest: string) => {
      let byTag = tags.get(scope);
      if (!byTag) tags.set(scope, (byTag = new Map()));
      if (byTag.get(tag) === digest) return;
      byTag.set(tag, digest);
      onChange();
    },
    forgetTags: (scope: string, current?: readonly string[]) => {
      const byTag = tags.get(scope);
      if (!byTag) return;
      if (!current) {
        tags.delete(scope);
        onChange();
        return;
      }
      const keep = new Set(current);
      for (const tag of byTag.keys()) {
        if (!keep.has(tag)) {
          byTag.delete(tag);
          onChange();
        }
      }
    },
  };
}

export function memoryDateCache(initial: Record<string, string> = {}): DateCache {
  const dates = new Map(Object.entries(initial));
  const sources = new Map<string, Provenance>();
  return {
    get: (d) => dates.get(d),
    set: (d, c) => void dates.set(d, c),
    size: () => dates.size,
    provenance: (d) => sources.get(d),
    setProvenance: (d, p) => void sources.set(d, p),
    ...tagMemory(new Map(), () => undefined),
    save: () => undefined,
  };
}

/** Opens the cache file; a missing file is an empty cache, a damaged one is ignored with a warning. */
export function openDateCache(file: string, logger: Logger, maxEntries = MAX_ENTRIES): DateCache {
  const dates = new Map<string, string>();
  const tags = new Map<string, Map<string, string>>();
  const sources = new Map<string, Provenance>();
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; dates?: unknown; tags?: unknown; provenance?: unknown };
    if (data?.version === CACHE_VERSION && data.dates && typeof data.dates === 'object') {
      for (const [k, v] of Object.entries(data.dates as Record<string, unknown>)) {
        if (DIGEST.test(k) && typeof v === 'string' && !Number.isNaN(Date.parse(v))) dates.set(k, v);
      }
      // Optional: files written before provenance was kept have none (those images are read once more).
      if (data.provenance && typeof data.provenance === 'object') {
        for (const [k, v] of Object.entries(data.provenance as Record<string, unknown>)) {
          const p = cleanProvenance(v);
          if (p && dates.has(k)) sources.set(k, p);
        }
      }
      // Optional (written only under registry.immutableTags); older files have none.
      if (data.tags && typeof data.tags === 'object') {
        for (const [scope, byTag] of Object.entries(data.tags as Record<string, unknown>)) {
          if (!byTag || typeof byTag !== 'object') continue;
          const m = new Map<string, string>();
          for (const [tag, d] of Object.entries(byTag as Record<string, unknown>)) if (typeof d === 'string' && dates.has(d)) m.set(tag, d);
          if (m.size > 0) tags.set(scope, m);
        }
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
    provenance: (d) => sources.get(d),
    setProvenance: (d, p) => {
      const had = sources.get(d);
      if (had && had.revision === p.revision && had.source === p.source) return;
      sources.set(d, p);
      changed = true;
    },
    ...tagMemory(tags, () => (changed = true)),
    save: () => {
      if (!changed) return;
      writeFileAtomic(file, cacheText(dates, tags, maxEntries, sources));
      changed = false;
    },
  };
}

/**
 * The file's JSON in pieces of about 64 KB, written one after another: building an object of every
 * entry and then one string of it was the peak of a get over 100k tags (+16 MB at its very end;
 * npm run bench).
 */
function* cacheText(dates: Map<string, string>, tags: Map<string, Map<string, string>>, maxEntries: number, sources: Map<string, Provenance> = new Map()): Generator<string> {
  let piece = `{"version":${CACHE_VERSION},"dates":{`;
  const flush = function* (last = false) {
    if (last || piece.length >= 65_536) {
      yield piece;
      piece = '';
    }
  };
  // The oldest entries beyond the bound are dropped (a Map iterates in insertion order).
  let skip = Math.max(0, dates.size - maxEntries);
  const dropped = new Set<string>();
  let first = true;
  for (const [digest, created] of dates) {
    if (skip > 0) {
      skip--;
      dropped.add(digest);
      continue;
    }
    piece += `${first ? '' : ','}${JSON.stringify(digest)}:${JSON.stringify(created)}`;
    first = false;
    yield* flush();
  }
  piece += '}';
  if (tags.size > 0) {
    // A tag whose digest's date was dropped is simply read again next time.
    piece += ',"tags":{';
    let firstScope = true;
    for (const [scope, byTag] of tags) {
      piece += `${firstScope ? '' : ','}${JSON.stringify(scope)}:{`;
      firstScope = false;
      let firstTag = true;
      for (const [tag, digest] of byTag) {
        if (dropped.has(digest)) continue;
        piece += `${firstTag ? '' : ','}${JSON.stringify(tag)}:${JSON.stringify(digest)}`;
        firstTag = false;
        yield* flush();
      }
      piece += '}';
    }
    piece += '}';
  }
  if (sources.size > 0) {
    piece += ',"provenance":{';
    let firstSource = true;
    for (const [digest, p] of sources) {
      if (dropped.has(digest) || !dates.has(digest)) continue;
      piece += `${firstSource ? '' : ','}${JSON.stringify(digest)}:${JSON.stringify(p)}`;
      firstSource = false;
      yield* flush();
    }
    piece += '}';
  }
  piece += '}\n';
  yield* flush(true);
}
