/**
 * Runs the real worker as its own process, exactly as Jenkins does (`node resources/rollback.js`),
 * or the TypeScript sources through tsx (for tests and development, when the bundle may be stale).
 * Every child is tracked so that Ctrl-C or an error never leaves one behind.
 *
 * Non-interactive children get their own process group, so a Ctrl-C in the terminal reaches the
 * demo only; the demo then asks each running child to stop with ONE SIGTERM, which `rollback run`
 * answers the safe way (no new service, put back what changed), and waits for it. A second
 * signal would make the worker stop at once (src/cli/commands/run.ts, withInterrupts).
 * `select` must stay in the terminal's foreground group to read keys, and handles Ctrl-C itself.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { pathToFileURL } from 'node:url';

export interface WorkerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface WorkerOptions {
  /** The bundle (…/rollback.js) or the sources' entry (…/src/index.ts). */
  entry: string;
  /** tsx's loader, needed when entry is TypeScript. */
  tsxLoader?: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface Worker {
  /** Output captured; `interactive` gives the child this terminal's stdin and stderr (for select). */
  run(args: string[], options?: { interactive?: boolean }): Promise<WorkerResult>;
  /** Stops every running child: one SIGTERM, then SIGKILL to its group after `graceMs`. */
  stopAll(graceMs?: number): Promise<void>;
}

export function createWorker(options: WorkerOptions): Worker {
  const children = new Set<ChildProcess>();
  const prefix = options.entry.endsWith('.ts')
    ? ['--import', pathToFileURL(options.tsxLoader ?? require.resolve('tsx')).href, options.entry]
    : [options.entry];
  return {
    run(args, runOptions = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [...prefix, ...args], {
          cwd: options.cwd,
          env: options.env,
          stdio: runOptions.interactive ? ['inherit', 'pipe', 'inherit'] : ['ignore', 'pipe', 'pipe'],
          detached: !runOptions.interactive,
        });
        children.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d) => (stdout += d));
        child.stderr?.on('data', (d) => (stderr += d));
        child.on('error', (err) => {
          children.delete(child);
          reject(err);
        });
        child.on('close', (code, signal) => {
          children.delete(child);
          // Killed by a signal: 128 + its number, as shells report it.
          resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout, stderr });
        });
      });
    },
    async stopAll(graceMs = 20_000) {
      await Promise.all([...children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const closed = new Promise<void>((r) => child.once('close', () => r()));
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
        if ((await Promise.race([closed, late])) === 'late') {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }
        clearTimeout(timer);
      }));
    },
  };
}
