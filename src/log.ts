/**
 * All human output goes to stderr (stdout is reserved for answers such as the list of dates).
 * Every secret the worker learns (passwords, tokens, webhook URLs) is registered here before the
 * first log line, and masked in everything written through this module.
 */
const secrets = new Set<string>();

/** Registers a secret value; it is replaced by *** in every log line and error message. */
export function addSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) {
    secrets.add(value);
    // A secret also leaks in its URL-encoded and base64 forms (basic auth headers, query strings).
    secrets.add(encodeURIComponent(value));
    secrets.add(Buffer.from(value).toString('base64'));
  }
}

export function mask(text: string): string {
  let out = text;
  // Longest first, so a secret containing another is masked whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 4) out = out.split(s).join('***');
  }
  return out;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface LoggerOptions {
  debug?: boolean;
  quiet?: boolean;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (prefix: string, message: string) => write(mask(`${prefix}${message}`) + '\n');
  return {
    info: (m) => { if (!options.quiet) emit('', m); },
    warn: (m) => emit('warning: ', m),
    debug: (m) => { if (options.debug) emit('debug: ', m); },
  };
}

/** A logger that records lines, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ debug: true, write: (l) => lines.push(l.replace(/\n$/, '')) });
  return Object.assign(logger, { lines });
}
