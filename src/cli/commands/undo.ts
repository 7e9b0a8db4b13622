/**
 * `rollback undo --config rollback.yml --env prod [--snapshot FILE] [--catalog FILE] [--dry-run]`
 * Puts back every service the last run (or the given snapshot) may have changed, with the same
 * all-or-nothing rules, and writes its own snapshot (so an undo can be undone).
 */
import { resolve } from 'node:path';
import { approverOf } from '../../notify/index';
import { undoRollback } from '../../run/engine';
import type { CommandContext } from '../context';
import { requireOption } from '../options';
import { recordAfter } from './record';
import { finish, setup, withInterrupts, type RunIo } from './run';

export async function undoCommand(ctx: CommandContext, io: RunIo = {}): Promise<number> {
  const envName = requireOption(ctx.options, 'env', '--env');
  const s = await setup(ctx, io, true);
  try {
    const outcome = await withInterrupts(ctx, (signal) => undoRollback({ target: s.target, notifier: s.notifier, logger: ctx.logger, stateDir: s.stateDir, signal, ...io.engine }, {
      environment: envName, services: s.config.services, approver: approverOf(ctx.options.approver, ctx.env), dryRun: ctx.options.dryRun,
      parallel: s.config.parallel, deployTimeoutMs: s.config.deployTimeout * 1000, settleMs: (s.config.settle ?? 30) * 1000,
      snapshot: ctx.options.snapshot ? resolve(ctx.cwd, ctx.options.snapshot) : undefined,
    }));
    await recordAfter(ctx, s, outcome, 'undo', io);
    return finish(ctx, outcome);
  } finally {
    await s.close();
  }
}
