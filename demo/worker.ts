/**
 * Runs the real worker as its own process, exactly as Jenkins does (`node resources/rollback.js`),
 * or the TypeScript sources through tsx (for tests and development, when the bundle may be stale).
 * Every child is tracked so that Ctrl-C or an error never leaves one behind.
 */
import { ChildProcess, spawn } from 'node:child_process';
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
  /** Ends every running child (SIGTERM to its process group). */
  killAll(): void;
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
          resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 1), stdout, stderr });
        });
      });
    },
    killAll() {
      for (const child of children) {
        if (child.exitCode === null) child.kill('SIGTERM');
      }
    },
  };
}
