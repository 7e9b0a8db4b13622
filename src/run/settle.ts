/**
 * Settle: after the last service of a run or undo is healthy, wait `settle` seconds and read every
 * changed service again. Another controller (Argo CD self-heal, a Flux interval, a Helm upgrade, an
 * image automation, a person) may put an image back seconds after the target called the rollout
 * done; a service that moved away from its new image is a failure like any other, so the engine
 * puts back every changed service instead of reporting a rollback the platform already undid.
 */
import type { ServiceConfig } from '../config/types';
import { describeError } from '../errors';
import { sameImage } from '../image/reference';
import type { Logger } from '../log';
import type { Target } from '../targets/types';
import { runPool } from './pool';

export interface SettleInput {
  target: Target;
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  /** 0 (or less) turns the check off. */
  settleMs: number;
  parallel: number;
  /** Every service the run changed, with the image it put in place. */
  changed: { service: ServiceConfig; image: string }[];
}

/** The first service (in the order given) that did not stay at its new image, as the engine's failure; undefined when all stayed. */
export async function settleCheck(o: SettleInput): Promise<{ service: string; reason: string } | undefined> {
  if (o.settleMs <= 0 || o.changed.length === 0) return undefined;
  const seconds = Math.round(o.settleMs / 100) / 10;
  const n = o.changed.length;
  o.logger.info(`Settling: waiting ${seconds}s, then checking that the ${n} changed service${n === 1 ? '' : 's'} still run${n === 1 ? 's' : ''} the new image${n === 1 ? '' : 's'}.`);
  await o.sleep(o.settleMs);
  const problems: (string | undefined)[] = new Array(n);
  await runPool(o.changed, o.parallel, async (ch, i) => {
    let found: string;
    try {
      found = (await o.target.current(ch.service)).image;
    } catch (err) {
      problems[i] = `could not be read again after settling ${seconds}s (${describeError(err).replace(/\.$/, '')})`;
      return;
    }
    if (sameImage(found, ch.image)) return;
    let cause = 'another controller or a person changed it back';
    try {
      const controller = await o.target.controllerOf?.(ch.service);
      if (controller) cause = `${controller} put it back`;
    } catch (err) {
      o.logger.debug(`${ch.service.name}: could not read who manages it: ${describeError(err)}`);
    }
    problems[i] = `moved away from ${ch.image} within ${seconds}s of becoming healthy: it runs ${found} (likely cause: ${cause})`;
  });
  const i = problems.findIndex((p) => p !== undefined);
  if (i < 0) {
    o.logger.info(`Settled: every changed service still runs its new image after ${seconds}s.`);
    return undefined;
  }
  return { service: o.changed[i].service.name, reason: problems[i]! };
}
