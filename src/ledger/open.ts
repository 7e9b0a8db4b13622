/** Opens the ledger an environment's records live in (config `ledger:`; default ledger/ in the state directory). */
import { join } from 'node:path';
import type { Config } from '../config/types';
import type { Logger } from '../log';
import { createFolderLedger } from './folder';
import type { LedgerStore } from './types';

export function openLedger(config: Config, environment: string, stateDir: string, logger: Logger): LedgerStore {
  return createFolderLedger(config.ledger?.path ?? join(stateDir, 'ledger'), environment, logger);
}
