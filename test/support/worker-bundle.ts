/**
 * The worker as one file, built fresh from src/ for tests that run it as a process (a pty, the
 * demo). The committed resources/rollback.js may lag behind the sources while work is in
 * progress, and tsx compiles everything again on each start (seconds on a busy machine); one
 * esbuild run per suite is both fresh and fast. Same entry and platform as scripts/build.mjs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export interface WorkerBundle {
  file: string;
  remove(): void;
}

export async function buildWorkerBundle(): Promise<WorkerBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'rollback-worker-'));
  const file = join(dir, 'rollback.js');
  await build({
    entryPoints: [resolve(__dirname, '../../src/index.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
  });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
