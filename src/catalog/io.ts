/** Reads and writes the catalog file; reading validates it, so plan/run never act on a damaged file. */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import Ajv from 'ajv';
import schema from '../../schema/catalog.schema.json';
import { inputError } from '../errors';
import { CATALOG_SCHEMA_VERSION, type Catalog } from './types';

const validate = new Ajv({ allErrors: false, strict: false }).compile(schema);

/**
 * Writes a file atomically: temp file, fsync, rename. A crash leaves the old file or the new one.
 * `text` may come in pieces, so that a large file (the date cache) never exists as one string.
 */
export function writeFileAtomic(file: string, text: string | Iterable<string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    if (typeof text === 'string') writeFileSync(fd, text);
    else for (const piece of text) writeFileSync(fd, piece);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dir = openSync(dirname(file), 'r');
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    /* directories cannot be fsynced on every platform */
  }
}

export function writeCatalog(file: string, catalog: Catalog): void {
  writeFileAtomic(file, JSON.stringify(catalog, null, 2) + '\n');
}

export function readCatalog(file: string): Catalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw inputError(`Catalog ${file} does not exist; run 'rollback get' first (or pass --catalog).`);
    throw inputError(`Catalog ${file} cannot be read (${code}).`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw inputError(`Catalog ${file} is not valid JSON (truncated or edited?); run 'rollback get' again.`);
  }
  const version = (data as { schemaVersion?: unknown })?.schemaVersion;
  if (data && typeof data === 'object' && version !== CATALOG_SCHEMA_VERSION) {
    throw inputError(`Catalog ${file} has schemaVersion ${JSON.stringify(version)}, this worker reads ${CATALOG_SCHEMA_VERSION}; run 'rollback get' again with this version.`);
  }
  if (!validate(data)) {
    const e = validate.errors![0];
    throw inputError(`Catalog ${file} is damaged: ${e.instancePath || 'the top level'} ${e.message}; run 'rollback get' again.`);
  }
  const catalog = data as unknown as Catalog;
  // JSON Schema cannot say "names are unique"; a service twice would be planned twice.
  const seen = new Set<string>();
  for (const service of catalog.services) {
    if (seen.has(service.name)) throw inputError(`Catalog ${file} is damaged: service ${service.name} is listed twice; run 'rollback get' again.`);
    seen.add(service.name);
  }
  return catalog;
}
