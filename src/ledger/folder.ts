/**
 * The ledger as a folder: <dir>/<env>/<time>.json, one file per record, written atomically (temp
 * file, fsync, rename) and never overwritten. Colons are left out of file names (Windows shares,
 * some artifact stores); the record inside carries the exact time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../catalog/io';
import type { Logger } from '../log';
import { recordProblem, type LedgerRecord, type LedgerStore } from './types';

export function fileNameOf(time: string): string {
  return `${time.replace(/:/g, '')}.json`;
}

export function createFolderLedger(dir: string, environment: string, logger: Logger): LedgerStore {
  const folder = join(dir, environment);
  return {
    describe: () => `the ledger folder ${folder}`,
    async list() {
      if (!existsSync(folder)) return [];
      const out: LedgerRecord[] = [];
      for (const name of readdirSync(folder).filter((n) => n.endsWith('.json')).sort()) {
        const file = join(folder, name);
        let data: unknown;
        try {
          data = JSON.parse(readFileSync(file, 'utf8'));
        } catch {
          logger.warn(`Ledger record ${file} is skipped: it is not valid JSON (truncated or edited?).`);
          continue;
        }
        const problem = recordProblem(data, environment);
        if (problem) {
          logger.warn(`Ledger record ${file} is skipped: ${problem}.`);
          continue;
        }
        out.push(data as LedgerRecord);
      }
      return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    },
    async append(record) {
      const file = join(folder, fileNameOf(record.time));
      if (existsSync(file)) return false;
      writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n');
      return true;
    },
    close: async () => {},
  };
}
