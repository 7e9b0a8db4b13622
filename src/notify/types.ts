import type { Undoes } from '../plan/undoes';

/**
 * What a run tells the world. The engine emits these events; Slack, GitHub Deployments and the
 * log each listen. A notifier's failure is reported and never fails the rollback.
 */
export interface Change {
  service: string;
  /** Image the service ran before the change. */
  from: string;
  /** Image the service is changed to. */
  to: string;
  /** Day the target image comes from (YYYY-MM-DD); absent for undo. */
  day?: string;
  /** What the change takes away (revisions, compare link, commits; docs/undoes.md); runs only, when worked out. */
  undoes?: Undoes;
}

export interface RunInfo {
  /** 'run' or 'undo'. */
  action: 'run' | 'undo';
  environment: string;
  /** The chosen rollback date (absent for undo). */
  date?: string;
  approver: string;
  /** Human description of the target, e.g. "Marathon at https://... under /ds/prod". */
  target: string;
  changes: Change[];
  dryRun: boolean;
  /** Services this run holds back (--only, --except, `hold: true`), with what they keep running. */
  held?: HeldService[];
}

export interface HeldService {
  service: string;
  /** What holds it: not named in --only, named in --except, or the config's `hold: true`. */
  by: 'only' | 'except' | 'config';
  /** The image it keeps running. */
  image: string;
}

export type RunEvent =
  | { type: 'started'; run: RunInfo }
  | { type: 'service-started'; run: RunInfo; change: Change }
  | { type: 'service-done'; run: RunInfo; change: Change }
  | { type: 'service-failed'; run: RunInfo; change: Change; reason: string }
  | { type: 'service-reverted'; run: RunInfo; change: Change }
  | { type: 'done'; run: RunInfo }
  /** Failed and every changed service was put back (exit 1). */
  | { type: 'failed'; run: RunInfo; reason: string }
  /** Failed and some services could not be put back (exit 3); states names each one's state. */
  | { type: 'partial'; run: RunInfo; reason: string; states: { service: string; state: string }[] };

export interface Notifier {
  readonly name: string;
  notify(event: RunEvent): Promise<void>;
}
