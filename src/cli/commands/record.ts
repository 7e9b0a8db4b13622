/**
 * `rollback record --config rollback.yml --env prod [--catalog FILE]`: appends what every service
 * runs now, pinned by digest, to the ledger when it differs from the last record; prints the
 * record's time (YYYY-MM-DDTHH:MM:SSZ) on stdout, also when nothing changed (said on stderr).
 * recordAfter() is the same step after a successful run or undo.
 */
import { registryHost } from '../../image/reference';
import { describeError } from '../../errors';
import { openLedger } from '../../ledger/open';
import { recordFleet, registryPinner, type RecordOutcome } from '../../ledger/record';
import type { LedgerRecord } from '../../ledger/types';
import { approverOf } from '../../notify/index';
import { createRegistryClient } from '../../registry/client';
import type { Outcome } from '../../run/engine';
import type { CommandContext } from '../context';
import { setup, type RunIo, type Setup } from './run';

/** Records the fleet of an open setup (target and config). */
export async function recordWith(ctx: CommandContext, s: Pick<Setup, 'config' | 'environment' | 'stateDir' | 'target'>, command: LedgerRecord['by']['command'], io: RunIo = {}): Promise<RecordOutcome> {
  const ledger = openLedger(s.config, s.environment.name, s.stateDir, ctx.logger);
  const registry = createRegistryClient(s.config.registry, { logger: ctx.logger });
  try {
    return await recordFleet(
      { target: s.target, ledger, pin: registryPinner(registry, registryHost(s.config.registry.url)), logger: ctx.logger, now: io.engine?.now },
      {
        environment: s.environment.name, services: s.config.services, parallel: s.config.parallel,
        by: { command, ...(ctx.env.BUILD_URL ? { buildUrl: ctx.env.BUILD_URL } : {}), user: approverOf(ctx.options.approver, ctx.env) },
      },
    );
  } finally {
    await registry.close();
    await ledger.close();
  }
}

export async function recordCommand(ctx: CommandContext, io: RunIo = {}): Promise<number> {
  const s = await setup(ctx, io, false);
  try {
    const r = await recordWith(ctx, s, 'record', io);
    ctx.logger.info(r.written
      ? `Recorded the fleet of ${s.environment.name} (${r.record.services.length} services) at ${r.time}.`
      : `The fleet of ${s.environment.name} has not changed since the record of ${r.time}; nothing was recorded.`);
    ctx.stdout(`${r.time}\n`);
    return 0;
  } finally {
    await s.close();
  }
}

/**
 * After a successful run or undo the fleet is a release point of its own. The rollback is done
 * whatever the ledger says: a failure to record only warns.
 */
export async function recordAfter(ctx: CommandContext, s: Setup, outcome: Outcome, command: 'run' | 'undo', io: RunIo = {}): Promise<void> {
  if (outcome.exitCode !== 0 || !outcome.snapshot || ctx.options.dryRun) return;
  try {
    const r = await recordWith(ctx, s, command, io);
    ctx.logger.info(r.written ? `Release point ${r.time} recorded.` : `The fleet is as the release point ${r.time} recorded.`);
  } catch (err) {
    ctx.logger.warn(`The ${command} is done, but the ledger could not record it: ${describeError(err)}`);
  }
}
