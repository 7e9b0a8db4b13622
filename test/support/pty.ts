/**
 * Drives a program through a real pseudo-terminal with util-linux `script` (no native module):
 * the program sees a TTY on stdin and stderr, sets raw mode, and reads keys we type.
 * Keys are sent only after the screen shows what we wait for, so nothing depends on timing.
 */
import { spawn } from 'node:child_process';

export interface PtySession {
  /** Everything the terminal showed so far (escape sequences included). */
  screen(): string;
  /** Resolves once the screen shows `text`; rejects if the program ends first. */
  waitFor(text: string | RegExp): Promise<void>;
  type(keys: string): void;
  /** The program's exit code. */
  exited: Promise<number>;
  kill(): void;
}

export const KEYS = { down: '\x1b[B', up: '\x1b[A', enter: '\r', esc: '\x1b', ctrlC: '\x03' } as const;

/** Runs `command` (a shell command line: quote what you splice in) in a pty of the given size. */
export function runInPty(command: string, options: { cwd: string; env: NodeJS.ProcessEnv; columns?: number; rows?: number }): PtySession {
  // script takes its window size from its own stdin when that is a terminal; here it is a pipe, so set it.
  const sized = `stty cols ${options.columns ?? 120} rows ${options.rows ?? 40}; ${command}`;
  const child = spawn('script', ['-qfec', sized, '/dev/null'], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const waiters: { match: string | RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  const seen = (m: string | RegExp) => (typeof m === 'string' ? screen.includes(m) : m.test(screen));
  const check = () => {
    for (const w of [...waiters]) {
      if (seen(w.match)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (d) => {
    screen += d;
    check();
  });
  child.stderr.on('data', (d) => (screen += d));
  const exited = new Promise<number>((resolve) => {
    child.on('close', (code) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`the program ended before the screen showed ${String(w.match)}; screen:\n${screen}`));
      resolve(code ?? 1);
    });
  });
  return {
    screen: () => screen,
    waitFor: (match) => new Promise<void>((resolve, reject) => {
      if (seen(match)) return resolve();
      if (child.exitCode !== null) return reject(new Error(`the program has ended; screen:\n${screen}`));
      waiters.push({ match, resolve, reject });
    }),
    type: (keys) => {
      child.stdin.write(keys);
    },
    exited,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Shell-quotes one word. */
export const shq = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
