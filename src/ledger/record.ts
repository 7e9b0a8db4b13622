/**
 * `rollback record` without the CLI: what every service runs now, pinned by digest, appended to
 * the ledger when it differs from the last record. Also called after every successful run and undo.
 */
import type { ServiceConfig } from '../config/types';
import { describeError, inputError, RollbackError } from '../errors';
import { parseImageRef } from '../image/reference';
import type { Logger } from '../log';
import type { RegistryClient } from '../registry/client';
import { runPool } from '../run/pool';
import type { Target } from '../targets/types';
import { LEDGER_VERSION, pointTime, sameFleet, type LedgerImage, type LedgerRecord, type LedgerStore } from './types';

export interface RecordDeps {
  target: Target;
  ledger: LedgerStore;
  /** The image as a digest-pinned reference (see registryPinner). */
  pin: (service: ServiceConfig, image: string) => Promise<string>;
  logger: Logger;
  now?: () => Date;
}

export interface RecordRequest {
  environment: string;
  services: ServiceConfig[];
  parallel: number;
  by: LedgerRecord['by'];
}

export interface RecordOutcome {
  /** The record's time: the new one, or the last one when the fleet has not changed since. */
  time: string;
  written: boolean;
  record: LedgerRecord;
}

/**
 * Pins what a target reports by asking the registry for the tag's digest (HEAD). A reference that
 * carries a digest already is kept as it is: that is exactly what runs.
 */
export function registryPinner(registry: Pick<RegistryClient, 'digest'>, registryHost: string): RecordDeps['pin'] {
  return async (service, image) => {
    const ref = parseImageRef(image);
    if (ref.digest) return image;
    if (ref.host && ref.host !== registryHost) {
      throw inputError(`Service ${service.name} runs ${image}, which is not in the registry ${registryHost}, so it cannot be pinned by digest; deploy it from ${registryHost} or by digest.`);
    }
    const tag = ref.tag ?? 'latest';
    let digest: string;
    try {
      digest = await registry.digest(ref.path, tag);
    } catch (err) {
      throw new RollbackError(err instanceof RollbackError ? err.kind : 'failed', `Service ${service.name} runs ${image}, whose digest could not be read from ${registryHost}: ${describeError(err).replace(/\.$/, '')}.`, { cause: err });
    }
    return `${registryHost}/${ref.path}:${tag}@${digest}`;
  };
}

export async function recordFleet(deps: RecordDeps, req: RecordRequest): Promise<RecordOutcome> {
  const now = deps.now ?? (() => new Date());
  const images: LedgerImage[] = new Array(req.services.length);
  await runPool(req.services, req.parallel, async (s, i) => {
    const current = await deps.target.current(s);
    images[i] = { service: s.name, image: await deps.pin(s, current.image) };
  });
  const records = await deps.ledger.list();
  const last = records[records.length - 1];
  if (last && sameFleet(last.services, images)) return { time: last.time, written: false, record: last };
  // Kept to the second; a second record within the same second (or a clock behind the last record)
  // takes the next free second, so a printed time always selects exactly one record.
  let ms = Math.max(now().getTime(), last ? Date.parse(last.time) + 1000 : 0);
  for (;;) {
    const record: LedgerRecord = { ledgerVersion: LEDGER_VERSION, environment: req.environment, time: pointTime(ms), by: req.by, services: images };
    if (await deps.ledger.append(record)) {
      deps.logger.debug(`Recorded the fleet of ${req.environment} at ${record.time} in ${deps.ledger.describe()}.`);
      return { time: record.time, written: true, record };
    }
    ms += 1000;
  }
}
