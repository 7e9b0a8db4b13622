/** Opens the ledger an environment's records live in (config `ledger:`; default ledger/ in the state directory). */
import { join } from 'node:path';
import type { Config } from '../config/types';
import type { Logger } from '../log';
import { createRegistryClient } from '../registry/client';
import { createFolderLedger } from './folder';
import { createRegistryLedger } from './registry';
import type { LedgerStore } from './types';

export function openLedger(config: Config, environment: string, stateDir: string, logger: Logger): LedgerStore {
  if (config.ledger?.repository) {
    // Its own client: the records are pushed with a pull,push token, the images only ever pulled.
    const registry = createRegistryClient(config.registry, { logger });
    return createRegistryLedger(registry, config.registry.url, config.ledger.repository, environment, logger, config.registry.concurrency);
  }
  return createFolderLedger(config.ledger?.path ?? join(stateDir, 'ledger'), environment, logger);
}
