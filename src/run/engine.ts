/**
 * The run engine: plan -> preflight -> snapshot -> deploy (bounded parallel) -> on any failure put
 * back every changed service -> notify. Shared by `rollback run` and `rollback undo`, and by every
 * target. Everything it touches is passed in (target, notifier, clock, sleep, imageExists, state
 * dir), so tests and the chaos suites drive it directly, without module mocking.
 *
 * Guarantees, in order:
 *   - nothing changes before the plan, preflight and lock passed and the snapshot is on disk;
 *   - each service's progress is on disk before the step it announces (src/run/snapshot.ts);
 *   - on a failure no new service starts, in-flight ones finish, and every changed service is put
 *     back to the image recorded before the change and waited for (exit 1), or the message names
 *     every service and its state (exit 3).
 */
import { hostname } from 'node:os';
import { writeFileAtomic } from '../catalog/io';
import type { Catalog, CatalogImage } from '../catalog/types';
import type { ServiceConfig } from '../config/types';
import { describeError, inputError, RollbackError } from '../errors';
import type { Logger } from '../log';
import type { Change, Notifier, RunEvent, RunInfo } from '../notify/types';
import { sameImage } from '../image/reference';
import { heldWords, type Plan } from '../plan/plan';
import { choosePlan, heldServices, type Selection } from '../plan/choose';
import { checkRollbackPoint, isMoment, planFor } from '../plan/points';
import type { Target } from '../targets/types';
import { acquireLock, type LockOptions } from './lock';
import { runPool } from './pool';
import { settleCheck } from './settle';
import { displayPath, Journal, latestSnapshotFile, readSnapshot, type Snapshot, type SnapshotService } from './snapshot';

export interface EngineDeps {
  target: Target;
  /** Usually the fan-out of src/notify/index.ts; a failing notifier only warns. */
  notifier?: Notifier;
  logger: Logger;
  /** Where snapshots and locks live (.rollback/ beside the catalog). */
  stateDir: string;
  /** Does the registry still hold this image (HEAD by digest)? */
  imageExists?: (image: CatalogImage) => Promise<boolean>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Lock wait and liveness check (tests shorten the wait). */
  lock?: Pick<LockOptions, 'waitMs' | 'pollMs' | 'alive' | 'host' | 'pid' | 'user'>;
  /** How long preflight waits for deployments already in flight before refusing. Default 60 s. */
  busyWaitMs?: number;
  /** Poll interval of that wait. Default 2 s. */
  busyPollMs?: number;
  /**
   * Aborted when the run must stop (SIGTERM from a Jenkins abort, Ctrl-C): no new service
   * starts, in-flight ones finish, and everything changed is put back, as for a failure.
   */
  signal?: AbortSignal;
}

export interface CommonRequest {
  environment: string;
  /** The environment's services, from the configuration. */
  services: ServiceConfig[];
  approver: string;
  dryRun: boolean;
  parallel: number;
  deployTimeoutMs: number;
  /** After the last service is healthy, wait this long and check every changed service stayed (src/run/settle.ts). Default 0: off. */
  settleMs?: number;
}

/** `only`/`except` choose who goes back; services with `hold: true` stay unless `only` names them. */
export interface RunRequest extends CommonRequest, Selection {
  catalog: Catalog;
  /** A day (YYYY-MM-DD, build days) or a moment (`--at`: the release point at or before it, from catalog.points). */
  date: string;
}

export interface UndoRequest extends CommonRequest {
  /** A snapshot file; default: the environment's latest. */
  snapshot?: string;
}

export interface Outcome {
  exitCode: 0 | 1 | 3;
  /** One sentence: what happened. */
  summary: string;
  plan?: Plan;
  /** The snapshot file this run wrote (absent when nothing was to change or a dry run). */
  snapshot?: string;
  services: { service: string; state: string }[];
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Ctx {
  deps: EngineDeps;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  emit: (event: RunEvent) => Promise<void>;
  settleMs: number;
}

function context(deps: EngineDeps, settleMs = 0): Ctx {
  const now = deps.now ?? (() => new Date());
  return {
    deps,
    now,
    sleep: deps.sleep ?? defaultSleep,
    settleMs,
    emit: async (event) => {
      if (!deps.notifier) return;
      try {
        await deps.notifier.notify(event);
      } catch (err) {
        deps.logger.warn(`notification (${event.type}) failed: ${describeError(err)}`);
      }
    },
  };
}

async function withLock<T>(c: Ctx, environment: string, command: string, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock({
    stateDir: c.deps.stateDir, environment, command, now: c.now, sleep: c.sleep, ...c.deps.lock,
    onWait: (h) => c.deps.logger.info(`Waiting for the lock on ${environment}: held by ${h.command} of ${h.user} (pid ${h.pid} on ${h.host}) since ${h.since}.`),
  });
  if (lock.tookOver) c.deps.logger.warn(`Took over the lock of ${lock.tookOver.command} (pid ${lock.tookOver.pid}, since ${lock.tookOver.since}), whose process is gone.`);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

function serviceConfig(services: ServiceConfig[], name: string, where: string): ServiceConfig {
  const s = services.find((x) => x.name === name);
  if (!s) throw inputError(`Service ${name} is in ${where} but not in the configuration; run 'rollback get' again or fix the configuration.`);
  return s;
}

/** Reads what every service runs now, `parallel` at a time. */
async function readCurrent(c: Ctx, services: ServiceConfig[], parallel: number): Promise<Record<string, { image: string; id: string }>> {
  const out: Record<string, { image: string; id: string }> = {};
  await runPool(services, parallel, async (s) => {
    out[s.name] = await c.deps.target.current(s);
  });
  return out;
}

/**
 * Refuses, before anything changes, a change the target says it cannot make safely (Target.refuse):
 * asked `parallel` at a time, the first refusal in plan order is the one reported.
 */
async function checkRefusals(c: Ctx, changes: { service: ServiceConfig; image: string }[], parallel: number): Promise<void> {
  const refuse = c.deps.target.refuse?.bind(c.deps.target);
  if (!refuse) return;
  const answers: (string | undefined)[] = new Array(changes.length);
  await runPool(changes, parallel, async (ch, i) => {
    answers[i] = await refuse(ch.service, ch.image);
  });
  const first = answers.find((a) => a !== undefined);
  if (first !== undefined) throw new RollbackError('failed', `Preflight: ${first.replace(/\.$/, '')}; nothing was changed.`);
}

/**
 * Refuses while a deployment is in flight on a service, after waiting a bounded time for it. The
 * services are asked `parallel` at a time (one after another, 30 services cost 30 round trips
 * before anything changes); all share one deadline, and the problem reported is the first in plan
 * order, as if they had been asked one by one. After the target fails to answer, no service is
 * asked again.
 */
async function waitNotBusy(c: Ctx, services: ServiceConfig[], parallel: number,
  /** Per service, the image a run being undone put in place: its own deployment towards it does not count. */
  ours: (s: ServiceConfig) => string | undefined = () => undefined): Promise<void> {
  const limit = c.deps.busyWaitMs ?? 60_000;
  const started = c.now().getTime();
  const problems: unknown[] = new Array(services.length);
  let failed = false;
  await runPool(services, parallel, async (s, i) => {
    let told = false;
    try {
      while (!failed) {
        const busy = await c.deps.target.busy(s, ours(s));
        if (!busy) return;
        if (c.now().getTime() - started >= limit) {
          // Not a reason to stop the others: they share the deadline, and the first busy
          // service in plan order must be the one named.
          problems[i] = new RollbackError('failed', `Preflight: ${busy} (waited ${Math.round(limit / 1000)}s); nothing was changed.`);
          return;
        }
        if (!told) c.deps.logger.info(`Waiting for a deployment already in flight: ${busy}`);
        told = true;
        await c.sleep(c.deps.busyPollMs ?? 2000);
      }
    } catch (err) {
      problems[i] = err;
      failed = true;
    }
  });
  const first = problems.find((p) => p !== undefined);
  if (first !== undefined) throw first;
}

function secondsSince(c: Ctx, t: number): string {
  return `${Math.round((c.now().getTime() - t) / 100) / 10}s`;
}

function list(names: string[]): string {
  return names.length ? names.join(', ') : 'none';
}

/**
 * Applies the changes of a journal whose entries are 'pending' (plus 'done' ones carried over from
 * an interrupted run, which are put back on failure like the others). The journal is on disk.
 */
async function applyChanges(c: Ctx, journal: Journal, info: RunInfo, services: ServiceConfig[], parallel: number, timeoutMs: number, what: string,
  /** Services the run leaves alone (already there, no rollback point), named in a partial outcome too. */
  untouched: { service: string; state: string }[] = []): Promise<Outcome> {
  const { target, logger } = c.deps;
  const changeOf = (e: SnapshotService): Change => ({ service: e.service, from: e.before, to: e.after, day: e.day });
  await c.emit({ type: 'started', run: info });

  let firstFailure: { service?: string; reason: string } | undefined;
  const stopped = () => {
    if (!firstFailure && c.deps.signal?.aborted) firstFailure = { reason: `interrupted by ${String(c.deps.signal.reason ?? 'a signal')}` };
    return firstFailure !== undefined;
  };
  const pending = journal.data.services.filter((e) => e.state === 'pending');

  const deployOne = async (e: SnapshotService) => {
    if (stopped()) return; // stop starting new services; in-flight ones finish
    const svc = serviceConfig(services, e.service, journal.file);
    const t0 = c.now().getTime();
    journal.set(e.service, 'deploying');
    logger.info(`${e.service}: ${e.before} -> ${e.after}`);
    await c.emit({ type: 'service-started', run: info, change: changeOf(e) });
    try {
      await target.deploy(svc, e.after, e.supersede);
      await target.waitHealthy(svc, e.after, timeoutMs);
    } catch (err) {
      const reason = describeError(err);
      journal.set(e.service, 'failed', reason);
      logger.info(`${e.service}: failed after ${secondsSince(c, t0)}: ${reason}`);
      firstFailure ??= { service: e.service, reason };
      await c.emit({ type: 'service-failed', run: info, change: changeOf(e), reason });
      return;
    }
    journal.set(e.service, 'done');
    logger.info(`${e.service}: healthy after ${secondsSince(c, t0)}`);
    await c.emit({ type: 'service-done', run: info, change: changeOf(e) });
  };

  await waitResumed(c, journal, services, parallel, timeoutMs, stopped, (service, reason) => { firstFailure ??= { service, reason }; });

  if (target.deployAll && pending.length > 0) {
    // One atomic change for the whole fleet (GitOps); then each service is waited for.
    for (const e of pending) journal.set(e.service, 'deploying');
    let accepted = false;
    try {
      await target.deployAll(pending.map((e) => ({ service: serviceConfig(services, e.service, journal.file), image: e.after })), `${what}, approved by ${info.approver}`);
      accepted = true;
    } catch (err) {
      firstFailure = { reason: describeError(err) };
      for (const e of pending) journal.set(e.service, 'failed', firstFailure.reason);
    }
    if (accepted) {
      await runPool(pending, parallel, async (e) => {
        if (stopped()) return;
        try {
          await target.waitHealthy(serviceConfig(services, e.service, journal.file), e.after, timeoutMs);
        } catch (err) {
          const reason = describeError(err);
          journal.set(e.service, 'failed', reason);
          firstFailure ??= { service: e.service, reason };
          return;
        }
        journal.set(e.service, 'done');
        logger.info(`${e.service}: ${e.before} -> ${e.after}, healthy`);
      });
      // Changed in the same commit but not waited for once the run stopped: changed, not healthy.
      for (const e of pending) if (journal.entry(e.service).state === 'deploying') journal.set(e.service, 'failed', 'not waited for: the run stopped');
    }
  } else {
    await runPool(pending, parallel, deployOne);
  }

  const names = (pred: (e: SnapshotService) => boolean) => journal.data.services.filter(pred).map((e) => e.service);
  // An interruption after the last service started changes nothing: the run is complete.
  if (firstFailure && firstFailure.service === undefined && journal.data.services.every((e) => e.state === 'done')) firstFailure = undefined;
  // Healthy is not enough: every changed service must still run its new image `settle` later.
  if (!firstFailure) firstFailure = await settleCheck({ target, logger, sleep: c.sleep, settleMs: c.settleMs, parallel, changed: journal.data.services.filter((e) => e.state === 'done').map((e) => ({ service: serviceConfig(services, e.service, journal.file), image: e.after })) });
  if (!firstFailure) {
    journal.finish('done');
    await c.emit({ type: 'done', run: info });
    const changed = names((e) => e.state === 'done');
    return {
      exitCode: 0,
      summary: `${what}: ${changed.length} service${changed.length === 1 ? '' : 's'} ${info.action === 'undo' ? 'put back' : 'changed'} (${list(changed)}), approved by ${info.approver}${target.unchecked?.() ? `; ${target.unchecked()}` : ''}.`,
      snapshot: journal.file,
      services: journal.data.services.map((e) => ({ service: e.service, state: e.state })),
    };
  }

  // Put back every service that is or may be changed, to the image recorded before the change.
  const failure = `${firstFailure.service ? `${firstFailure.service}: ` : ''}${firstFailure.reason.replace(/\.$/, '')}`;
  const toRevert = journal.data.services.filter((e) => e.state === 'done' || e.state === 'failed');
  logger.info(`Putting back ${toRevert.length} service${toRevert.length === 1 ? '' : 's'} after ${firstFailure.service ? `the failure of ${firstFailure.service}` : `the run was ${firstFailure.reason}`}.`);
  // Services whose change never took (refused, or already back): put back without a deployment.
  const unchanged = new Set<string>();
  const revertFailed = (e: SnapshotService, err: unknown) => {
    journal.set(e.service, 'revert-failed', describeError(err));
    logger.info(`${e.service}: could not be put back: ${describeError(err)}`);
  };
  const reverted = async (e: SnapshotService) => {
    journal.set(e.service, 'reverted');
    await c.emit({ type: 'service-reverted', run: info, change: changeOf(e) });
  };
  if (target.deployAll) {
    // Atomic targets (GitOps) put back in one change too, then each service is waited for.
    const back: SnapshotService[] = [];
    await runPool(toRevert, parallel, async (e) => {
      journal.set(e.service, 'reverting');
      try {
        const now = await target.current(serviceConfig(services, e.service, journal.file));
        if (sameImage(now.image, e.before)) {
          unchanged.add(e.service);
          await reverted(e);
        } else {
          back.push(e);
        }
      } catch (err) {
        revertFailed(e, err);
      }
    });
    let failedAll: unknown;
    if (back.length) {
      try {
        await target.deployAll(back.map((e) => ({ service: serviceConfig(services, e.service, journal.file), image: e.before })), `Put back: ${what} failed (${failure})`);
      } catch (err) {
        failedAll = err;
      }
    }
    await runPool(back, parallel, async (e) => {
      if (failedAll) return revertFailed(e, failedAll);
      try {
        await target.waitHealthy(serviceConfig(services, e.service, journal.file), e.before, timeoutMs);
        await reverted(e);
      } catch (err) {
        revertFailed(e, err);
      }
    });
  } else {
    await runPool(toRevert, parallel, async (e) => {
      const svc = serviceConfig(services, e.service, journal.file);
      journal.set(e.service, 'reverting');
      try {
        const now = await target.current(svc);
        if (!sameImage(now.image, e.before)) {
          const t0 = c.now().getTime();
          logger.info(`${e.service}: putting back ${now.image} -> ${e.before}`);
          // A deployment of this run's own still in flight towards e.after (stuck, its answer lost) is superseded.
          await target.deploy(svc, e.before, e.after);
          await target.waitHealthy(svc, e.before, timeoutMs);
          logger.info(`${e.service}: put back, healthy after ${secondsSince(c, t0)}`);
        } else {
          unchanged.add(e.service);
        }
        await reverted(e);
      } catch (err) {
        revertFailed(e, err);
      }
    });
  }

  const states = [
    ...journal.data.services.map((e) => ({ service: e.service, state: unchanged.has(e.service) ? `unchanged (runs ${e.before})` : stateWords(e) })),
    ...untouched.filter((u) => !journal.data.services.some((e) => e.service === u.service)),
  ];
  const putBack = names((e) => e.state === 'reverted' && !unchanged.has(e.service));
  if (names((e) => e.state === 'revert-failed').length === 0) {
    journal.finish('failed');
    const reason = `${what} failed (${failure}); ${putBack.length ? `every changed service was put back (${list(putBack)})` : 'nothing was changed'}.`;
    await c.emit({ type: 'failed', run: info, reason });
    return { exitCode: 1, summary: reason, snapshot: journal.file, services: states };
  }
  journal.finish('partial');
  const reason = `${what} failed (${failure}) and could not be fully put back: ${states.map((s) => `${s.service} ${s.state}`).join('; ')}; run 'rollback undo' once the cause is fixed (snapshot ${displayPath(journal.file)}).`;
  await c.emit({ type: 'partial', run: info, reason, states });
  return { exitCode: 3, summary: reason, snapshot: journal.file, services: states };
}

function stateWords(e: SnapshotService): string {
  switch (e.state) {
    case 'pending': return 'untouched (still runs ' + e.before + ')';
    case 'reverted': return 'put back (runs ' + e.before + ')';
    case 'revert-failed': return `NOT put back (may run ${e.after}, should run ${e.before}: ${(e.error ?? 'unknown error').replace(/\.$/, '')})`;
    case 'done': return 'changed (runs ' + e.after + ')';
    default: return e.state;
  }
}

/**
 * Services an interrupted run changed and this run resumes ('done' in a fresh journal: at their
 * target already) are waited for like the others: the dead run never saw them healthy, and a
 * deployment of theirs may be stuck on a bad image. One that does not become healthy is a failure.
 */
async function waitResumed(c: Ctx, journal: Journal, services: ServiceConfig[], parallel: number, timeoutMs: number,
  stopped: () => boolean, fail: (service: string, reason: string) => void): Promise<void> {
  const resumed = journal.data.services.filter((e) => e.state === 'done');
  await runPool(resumed, parallel, async (e) => {
    if (stopped()) return;
    try {
      await c.deps.target.waitHealthy(serviceConfig(services, e.service, journal.file), e.after, timeoutMs);
    } catch (err) {
      const reason = describeError(err);
      journal.set(e.service, 'failed', reason);
      c.deps.logger.info(`${e.service}: changed by the interrupted run, not healthy: ${reason}`);
      fail(e.service, reason);
    }
  });
}

/** `rollback run`: the fleet to the images of `date`, all or nothing. */
export async function runRollback(deps: EngineDeps, req: RunRequest): Promise<Outcome> {
  const c = context(deps, req.settleMs);
  const { logger, target } = deps;
  checkRollbackPoint(req.catalog, req.date); // an unknown date (or a time before every release point) is refused before anything is asked of anyone
  if (req.catalog.environment !== req.environment) {
    throw inputError(`The catalog is for environment ${req.catalog.environment}, not ${req.environment}; run 'rollback get --env ${req.environment}' or pass its --catalog.`);
  }
  return withLock(c, req.environment, `rollback run ${isMoment(req.date) ? '--at' : '--date'} ${req.date}`, async () => {
    const services = req.catalog.services.map((s) => serviceConfig(req.services, s.name, 'the catalog'));
    for (const s of req.services) {
      if (!req.catalog.services.some((c) => c.name === s.name)) logger.warn(`Service ${s.name} is in the configuration but not in the catalog, so it is left as it is; run 'rollback get' again to include it.`);
    }
    const current = await readCurrent(c, services, req.parallel);
    const built = planFor(req.catalog, req.date, Object.fromEntries(Object.entries(current).map(([k, v]) => [k, v.image])));
    const plan = choosePlan(built, { only: req.only, except: req.except }, req.services.filter((s) => s.hold).map((s) => s.name));
    for (const e of plan.entries) logger.info(`plan: ${e.service}: ${e.action === 'change' ? `${e.current} -> ${e.target!.reference}` : e.reason}`);
    for (const note of await target.notes?.(services) ?? []) logger.info(`plan: ${note}`);
    for (const e of plan.entries) if (e.held?.risk) logger.warn(e.held.risk);
    const changes = plan.entries.filter((e) => e.action === 'change');
    const held = heldServices(plan);
    const what = `Rollback of ${req.environment} to ${req.date}${held.length ? ` with ${list(held.map((h) => h.service))} held back` : ''}`;
    const states = plan.entries.map((e) => ({ service: e.service, state: e.action }));

    // Preflight: every target image is still in the registry, nothing is in flight. The images are
    // checked at once, bounded by the registry client's own limit (one at a time, 30 HEADs cost 30
    // round trips: npm run bench); the first problem in plan order is the one reported.
    const checked: ({ exists: boolean } | { error: unknown })[] = new Array(changes.length);
    await runPool(changes, changes.length, async (e, i) => {
      try {
        checked[i] = { exists: deps.imageExists ? await deps.imageExists(e.target!) : true };
      } catch (error) {
        checked[i] = { error };
      }
    });
    changes.forEach((e, i) => {
      const r = checked[i];
      if ('error' in r) {
        throw new RollbackError('failed', `Preflight: could not check that ${e.target!.reference} (service ${e.service}) is still in the registry: ${describeError(r.error).replace(/\.$/, '')}; nothing was changed.`);
      }
      if (!r.exists) throw new RollbackError('failed', `Preflight: ${e.target!.reference} (service ${e.service}) is no longer in the registry; nothing was changed.`);
    });
    await checkRefusals(c, changes.map((e) => ({ service: serviceConfig(req.services, e.service, 'the plan'), image: e.target!.reference })), req.parallel);
    await waitNotBusy(c, changes.map((e) => serviceConfig(req.services, e.service, 'the plan')), req.parallel);

    // An interrupted run of this environment (its process is gone: we hold the lock) left a
    // snapshot without an outcome: keep its "before" images, so undo restores the fleet as it
    // was before that first attempt, and a failure now puts back what it changed too.
    const carried = interruptedRun(deps.stateDir, req.environment, 'run');
    if (changes.length === 0 && !carried) {
      const heldNote = held.length ? `; held back: ${held.map((h) => `${h.service} (${heldWords(h.by)})`).join(', ')}` : '';
      return { exitCode: 0, summary: `Nothing to do: every service of ${req.environment}${held.length ? ' that goes back' : ''} already runs its image for ${req.date} (or has none)${heldNote}.`, plan, services: states };
    }
    if (req.dryRun) {
      return {
        exitCode: 0,
        summary: `Dry run of ${what}: ${changes.length} service${changes.length === 1 ? '' : 's'} would change (${list(changes.map((e) => e.service))}); preflight passed; nothing was changed.`,
        plan, services: states,
      };
    }
    const stamp = c.now().toISOString();
    const entries: SnapshotService[] = changes.map((e) => {
      const old = carried?.services.find((s) => s.service === e.service && s.state !== 'pending');
      return { service: e.service, id: current[e.service].id, before: old ? old.before : e.current, after: e.target!.reference, day: e.day, state: 'pending', updatedAt: stamp };
    });
    for (const old of carried?.services ?? []) {
      if (old.state === 'pending' || entries.some((e) => e.service === old.service)) continue;
      const entry = plan.entries.find((e) => e.service === old.service);
      // Changed by the interrupted run and at its target now: keep it, as done, so it is put back with the rest on
      // failure, and undo restores it (held back now or not: that run did change it).
      if (entry && (entry.action === 'skip' || entry.held?.would === 'skip')) entries.push({ ...old, state: 'done', updatedAt: stamp });
    }
    if (carried) logger.warn(`A previous run of ${req.environment} (pid ${carried.pid}, started ${carried.startedAt}) did not finish; finishing its job, and undo will restore what that run found.`);
    const info: RunInfo = {
      action: 'run', environment: req.environment, date: req.date, approver: req.approver, target: target.describe(),
      changes: entries.map((e) => ({ service: e.service, from: e.before, to: e.after, day: e.day })), dryRun: false,
      ...(held.length ? { held } : {}),
    };
    const journal = Journal.create(deps.stateDir, {
      snapshotVersion: 1, action: 'run', environment: req.environment, date: req.date, approver: req.approver, target: target.describe(),
      pid: process.pid, host: deps.lock?.host ?? hostname(), startedAt: stamp, services: entries,
    }, c.now);
    if (carried) markResumed(carried, c.now());
    logger.info(`Snapshot: ${displayPath(journal.file)}`);
    const untouched = plan.entries.filter((e) => e.action !== 'change').map((e) => ({
      service: e.service,
      state: e.held ? `held back (${heldWords(e.held.by)}; runs ${e.current})` : e.action === 'skip' ? `already at its target (runs ${e.current})` : `left as it is (runs ${e.current})`,
    }));
    const outcome = await applyChanges(c, journal, info, req.services, req.parallel, req.deployTimeoutMs, what, untouched);
    return { ...outcome, plan };
  });
}

/** The environment's latest snapshot of `action` if it never finished (its run was killed). */
function interruptedRun(stateDir: string, environment: string, action: 'run' | 'undo'): (Snapshot & { file: string }) | undefined {
  const file = latestSnapshotFile(stateDir, environment);
  if (!file) return undefined;
  try {
    const s = readSnapshot(file);
    return !s.finishedAt && s.action === action && s.environment === environment ? { ...s, file } : undefined;
  } catch {
    return undefined;
  }
}

/** An interrupted snapshot whose job a new run took over is closed, so it is not resumed twice. */
function markResumed(s: Snapshot & { file: string }, at: Date): void {
  const { file, ...data } = s;
  writeFileAtomic(file, JSON.stringify({ ...data, finishedAt: at.toISOString(), outcome: 'resumed' }, null, 2) + '\n');
}

/** What an undo puts back, and where that knowledge comes from. */
interface UndoSource {
  /**
   * Per service, the image to put back; `expect`: what the change being undone put in place (history
   * only); `intent`: the image the run being undone put in place, whose deployment undo may supersede.
   */
  items: { service: string; image: string; expect?: string; intent?: string }[];
  /** "snapshot .rollback/runs/...json" or "the docker history file ...": for messages. */
  from: string;
  date?: string;
  undoes?: string;
  undoesHistory?: string;
  /** The summary when every service already runs what it should. */
  nothing: string;
}

/** The environment's latest snapshot (or --snapshot FILE); without one, the target's own history. */
async function undoSource(c: Ctx, req: UndoRequest): Promise<UndoSource> {
  const { logger } = c.deps;
  let file = req.snapshot ?? latestSnapshotFile(c.deps.stateDir, req.environment);
  if (!file) return historySource(c, req);
  let snap = readSnapshot(file);
  if (snap.environment !== req.environment) throw inputError(`Snapshot ${displayPath(file)} is of environment ${snap.environment}, not ${req.environment}.`);
  if (!req.snapshot && snap.action === 'undo' && !snap.finishedAt && snap.undoesHistory) {
    // An undo from the target's history was killed: finish it. Its snapshot holds every image it
    // was putting in place; the history now also holds its partial work, so it cannot be asked again.
    logger.warn(`The last undo of ${req.environment} (from ${snap.undoesHistory}) did not finish; finishing it.`);
    return {
      items: snap.services.map((e) => ({ service: e.service, image: e.after })), from: `the interrupted undo ${displayPath(file)}`, undoesHistory: snap.undoesHistory,
      nothing: `Nothing to undo: every service the interrupted undo ${displayPath(file)} was putting back already runs what it recorded.`,
    };
  }
  if (!req.snapshot && snap.action === 'undo' && !snap.finishedAt && snap.undoes) {
    // An undo was killed: finish it (undoing it instead would redo the rollback).
    logger.warn(`The last undo of ${req.environment} did not finish; finishing it.`);
    file = snap.undoes;
    snap = readSnapshot(file);
  }
  const touched = snap.services.filter((e) => e.state !== 'pending');
  for (const e of snap.services.filter((x) => x.state === 'pending')) logger.info(`${e.service}: not touched by that ${snap.action}; left as it is.`);
  return {
    items: touched.map((e) => ({ service: e.service, image: e.before, intent: e.after })), from: `snapshot ${displayPath(file)}`, date: snap.date, undoes: file,
    nothing: `Nothing to undo: every service ${snap.action === 'run' ? 'that run' : 'that undo'} changed already runs what ${displayPath(file)} recorded.`,
  };
}

/** No snapshot (another agent, a wiped workspace): the last run or undo the target's own history recorded. */
async function historySource(c: Ctx, req: UndoRequest): Promise<UndoSource> {
  const { logger, target } = c.deps;
  const noSnapshot = `There is no snapshot of ${req.environment} under ${displayPath(c.deps.stateDir)}`;
  const hint = '(pass --snapshot FILE, or --catalog beside the state directory)';
  if (!target.lastChanges) throw inputError(`${noSnapshot}; nothing to undo ${hint}.`);
  const h = await target.lastChanges(req.services);
  if (!h.last) throw inputError(`${noSnapshot}, and ${h.source} records no change of its services; nothing to undo ${hint}.`);
  const when = `${h.source} (at ${h.last.at})`;
  logger.info(`No snapshot of ${req.environment}: undoing the last change recorded in ${when}.`);
  return {
    // In configuration order, not the order the history recorded (which is whichever became healthy first).
    items: req.services.flatMap((s) => h.last!.changes.filter((x) => x.service === s.name)).map((x) => ({ service: x.service, image: x.before, expect: x.after, intent: x.after })),
    from: h.source, undoesHistory: h.source,
    nothing: h.last.changes.length
      ? `Nothing to undo: every service the last change recorded in ${when} touched already runs what it ran before.`
      : `Nothing to undo: the last change recorded in ${when} left every service as it was.`,
  };
}

/** `rollback undo`: every service a run may have changed goes back to what its snapshot (or the target's history) recorded. */
export async function undoRollback(deps: EngineDeps, req: UndoRequest): Promise<Outcome> {
  const c = context(deps, req.settleMs);
  const { logger, target } = deps;
  return withLock(c, req.environment, 'rollback undo', async () => {
    const src = await undoSource(c, req);
    const services = src.items.map((i) => serviceConfig(req.services, i.service, src.from));
    const current = await readCurrent(c, services, req.parallel);
    for (const i of src.items) {
      const now = current[i.service].image;
      // Changed by other means since (a hand-made docker run): going back a step could be wrong; a person decides.
      if (i.expect && !sameImage(now, i.image) && !sameImage(now, i.expect)) {
        throw new RollbackError('failed', `Preflight: ${i.service} runs ${now}, not ${i.expect} that the last change recorded in ${src.from} put in place; it was changed by other means since, so undo cannot tell what to put back; nothing was changed.`);
      }
    }
    const stamp = c.now().toISOString();
    const entries: SnapshotService[] = src.items
      .filter((i) => !sameImage(current[i.service].image, i.image))
      .map((i) => ({ service: i.service, id: current[i.service].id, before: current[i.service].image, after: i.image, ...(i.intent ? { supersede: i.intent } : {}), state: 'pending', updatedAt: stamp }));
    for (const i of src.items) if (!entries.some((x) => x.service === i.service)) logger.info(`${i.service}: already runs ${i.image}.`);
    const what = `Undo of ${req.environment} (${src.from})`;
    const states = src.items.map((i) => ({ service: i.service, state: entries.some((x) => x.service === i.service) ? 'change' : 'skip' }));
    if (entries.length === 0) return { exitCode: 0, summary: src.nothing, services: states };
    await checkRefusals(c, entries.map((e) => ({ service: serviceConfig(req.services, e.service, src.from), image: e.after })), req.parallel);
    // From a history, every service is checked: a run killed mid-change (a leftover container) recorded
    // nothing for that service, so the history alone would miss it.
    await waitNotBusy(c, src.undoesHistory ? req.services : entries.map((e) => serviceConfig(req.services, e.service, src.from)), req.parallel,
      (s) => src.items.find((i) => i.service === s.name)?.intent);
    if (req.dryRun) {
      return { exitCode: 0, summary: `Dry run of ${what}: ${entries.length} service${entries.length === 1 ? '' : 's'} would be put back (${list(entries.map((e) => e.service))}); nothing was changed.`, services: states };
    }
    const info: RunInfo = {
      action: 'undo', environment: req.environment, date: src.date, approver: req.approver, target: target.describe(),
      changes: entries.map((e) => ({ service: e.service, from: e.before, to: e.after })), dryRun: false,
    };
    const journal = Journal.create(deps.stateDir, {
      snapshotVersion: 1, action: 'undo', environment: req.environment, date: src.date, approver: req.approver, target: target.describe(),
      pid: process.pid, host: deps.lock?.host ?? hostname(), startedAt: stamp, undoes: src.undoes, undoesHistory: src.undoesHistory, services: entries,
    }, c.now);
    logger.info(`Snapshot of this undo: ${displayPath(journal.file)}`);
    return applyChanges(c, journal, info, req.services, req.parallel, req.deployTimeoutMs, what);
  });
}
