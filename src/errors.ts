/**
 * Failures are classified once, here, and mapped to the exit codes of DESIGN.md:
 *   0 done; 1 failed (nothing changed, or everything put back); 2 bad input; 3 partly done, not put back.
 * Every message is one sentence a person can act on at 3 a.m.; stack traces only with --debug.
 */
export type FailureKind =
  /** The user's input is wrong: usage, config, unknown date, missing file. Exit 2. */
  | 'input'
  /** The rollback (or get) failed and the fleet is as it was (or was put back). Exit 1. */
  | 'failed'
  /** Some services changed and could not be put back. Exit 3. */
  | 'partial';

export const EXIT_CODES: Record<FailureKind, number> = { input: 2, failed: 1, partial: 3 };

export class RollbackError extends Error {
  readonly kind: FailureKind;
  /** Transient (429, 5xx, network): worth retrying, and not the user's fault. */
  readonly retryable: boolean;

  constructor(kind: FailureKind, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RollbackError';
    this.kind = kind;
    this.retryable = options.retryable ?? false;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

export const inputError = (message: string, cause?: unknown) => new RollbackError('input', message, { cause });
export const failure = (message: string, cause?: unknown) => new RollbackError('failed', message, { cause });

/**
 * Control characters that reached a message from input (a newline in a flag, a hand-edited
 * catalog) would split the one sentence, or forge a log line: they are shown escaped.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The one sentence to print for any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof RollbackError) return oneLine(err.message);
  if (err instanceof Error) return `Unexpected error: ${oneLine(err.message)}`;
  return `Unexpected error: ${oneLine(String(err))}`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof RollbackError ? err.exitCode : 1;
}
