/**
 * A one-line progress display on stderr for long `get` runs (hundreds of tags take a while on a
 * slow registry): repositories and tags done, and requests per second.
 * It draws only when stderr is a terminal; in Jenkins logs, pipes and files it stays silent, so
 * logs keep one event per line. NO_COLOR (https://no-color.org) turns colour off, not progress.
 */
import type { GetProgress } from '../catalog/get';
import type { Logger } from '../log';

export type { GetProgress };

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressLine {
  update(progress: GetProgress): void;
  /** Removes the line (call once, when get is done or failed). */
  done(): void;
  /** A logger whose lines erase the progress line first and redraw it after, so they never interleave. */
  wrap(logger: Logger): Logger;
}

export interface ProgressOptions {
  stream: ProgressStream;
  env: NodeJS.ProcessEnv;
  /** Injected clock, milliseconds. */
  now?: () => number;
  /** Redraw at most this often; the last state is always drawn by done()'s caller's final update. */
  minIntervalMs?: number;
}

const CLEAR_LINE = '\r\x1b[2K';

/** Colour is on unless NO_COLOR is set to anything non-empty, or TERM is dumb. */
export function colorEnabled(env: NodeJS.ProcessEnv): boolean {
  return !env.NO_COLOR && env.TERM !== 'dumb';
}

/** The text of the line, without control characters other than colour (pure, for tests). */
export function formatProgress(p: GetProgress, elapsedMs: number, options: { color: boolean; columns?: number }): string {
  const rate = elapsedMs > 0 ? (p.requests * 1000) / elapsedMs : 0;
  const parts = [
    `${p.repositoriesDone}/${p.repositoriesTotal} repositories`,
    `${p.tagsDone}/${p.tagsTotal} tags`,
    `${p.requests} requests`,
    `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} req/s`,
  ];
  let text = `reading the registry: ${parts.join(', ')}`;
  // Never wrap: a wrapped line cannot be erased with \r, and the terminal fills with copies.
  const width = (options.columns || 80) - 1;
  if (text.length > width) text = text.slice(0, Math.max(0, width - 1)) + '…';
  return options.color ? `\x1b[2m${text}\x1b[22m` : text;
}

export function createProgressLine(options: ProgressOptions): ProgressLine {
  const { stream, env } = options;
  const now = options.now ?? Date.now;
  const minIntervalMs = options.minIntervalMs ?? 100;
  if (!stream.isTTY || env.TERM === 'dumb') {
    return { update: () => {}, done: () => {}, wrap: (logger) => logger };
  }
  const color = colorEnabled(env);
  const started = now();
  let lastDraw = -Infinity;
  let last: GetProgress | undefined;
  let shown = false;

  const draw = () => {
    if (!last) return;
    stream.write(CLEAR_LINE + formatProgress(last, now() - started, { color, columns: stream.columns }));
    shown = true;
    lastDraw = now();
  };
  const clear = () => {
    if (shown) stream.write(CLEAR_LINE);
    shown = false;
  };
  let finished = false;

  return {
    update(progress) {
      if (finished) return;
      last = { ...progress };
      const complete = progress.repositoriesDone >= progress.repositoriesTotal;
      if (complete || now() - lastDraw >= minIntervalMs) draw();
    },
    done() {
      finished = true;
      clear();
    },
    wrap(logger) {
      const around = (fn: (m: string) => void) => (m: string) => {
        const wasShown = shown;
        clear();
        fn(m);
        if (wasShown && !finished) draw();
      };
      return { info: around(logger.info), warn: around(logger.warn), debug: around(logger.debug) };
    },
  };
}
