/**
 * The fleet ledger: what ran together, and when (docs/points.md). A record is written by
 * `rollback record` (a deploy pipeline's last step) and after every successful run and undo; it
 * names every service's image pinned by digest, so going back to it cannot pick up a re-pushed tag.
 */
import { sameImage } from '../image/reference';

export const LEDGER_VERSION = 1;

export interface LedgerImage {
  service: string;
  /** Digest-pinned reference: host/repository:tag@sha256:... */
  image: string;
}

export interface LedgerRecord {
  ledgerVersion: typeof LEDGER_VERSION;
  environment: string;
  /** When the fleet was seen running these images, to the second: YYYY-MM-DDTHH:MM:SSZ. */
  time: string;
  /** Who or what wrote it: the command, the Jenkins build URL when there is one, else the user. */
  by: { command: 'record' | 'run' | 'undo'; buildUrl?: string; user?: string };
  services: LedgerImage[];
}

/** Where records are kept; a damaged record is skipped with a warning by list(), never trusted. */
export interface LedgerStore {
  /** For messages: "the ledger folder /srv/rollback/ledger/prod". */
  describe(): string;
  /** Every readable record of the environment, oldest first. */
  list(): Promise<LedgerRecord[]>;
  /** Writes one record atomically; a record of the same time is never overwritten (returns false). */
  append(record: LedgerRecord): Promise<boolean>;
  close(): Promise<void>;
}

/** Same services, each at the same image (by digest). */
export function sameFleet(a: LedgerImage[], b: LedgerImage[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => b.some((y) => y.service === x.service && sameImage(y.image, x.image)));
}

const SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** An instant as a point's time: UTC, to the second, no fraction. */
export function pointTime(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isPointTime(text: string): boolean {
  return SECOND.test(text) && !Number.isNaN(Date.parse(text));
}

const REFERENCE = /^[^\s@]+@sha256:[a-f0-9]{64}$/;

/** A record read from storage, checked field by field; a sentence saying what is wrong, or undefined. */
export function recordProblem(data: unknown, environment: string): string | undefined {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return 'it is not a JSON object';
  const r = data as Partial<LedgerRecord>;
  if (r.ledgerVersion !== LEDGER_VERSION) return `its ledgerVersion is ${JSON.stringify(r.ledgerVersion)}, this worker reads ${LEDGER_VERSION}`;
  if (r.environment !== environment) return `it is of environment ${JSON.stringify(r.environment)}, not ${environment}`;
  if (typeof r.time !== 'string' || !isPointTime(r.time)) return 'its time is not of the form YYYY-MM-DDTHH:MM:SSZ';
  if (!r.by || typeof r.by !== 'object' || !['record', 'run', 'undo'].includes(r.by.command as string)) return 'it does not say what wrote it (by.command)';
  if (!Array.isArray(r.services) || r.services.length === 0) return 'it names no service';
  const seen = new Set<string>();
  for (const s of r.services) {
    if (!s || typeof s.service !== 'string' || !s.service) return 'a service has no name';
    if (seen.has(s.service)) return `service ${s.service} is listed twice`;
    seen.add(s.service);
    if (typeof s.image !== 'string' || !REFERENCE.test(s.image)) return `the image of ${s.service} is not a digest-pinned reference`;
  }
  return undefined;
}

/** "Jenkins #412" for a build URL, else "run by alice" and the like: where a point came from, in words. */
export function recordOrigin(by: LedgerRecord['by']): string {
  if (by.buildUrl) {
    const n = /\/(\d+)\/?(?:[?#].*)?$/.exec(by.buildUrl);
    return n ? `Jenkins #${n[1]}` : `Jenkins ${by.buildUrl}`;
  }
  const verb = by.command === 'record' ? 'recorded' : by.command;
  return by.user ? `${verb} by ${by.user}` : verb;
}
