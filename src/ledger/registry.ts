/**
 * The ledger as small OCI artifacts in the fleet's own registry (`ledger: { repository }`), so every
 * agent sees the same records with the registry credentials it already has. One record is one
 * artifact tagged `<env>-<time>` (colons left out: a tag may not hold them): an OCI image manifest
 * with an `artifactType`, the empty config, and the record's JSON as its one layer, pushed and read
 * back through the Distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md:
 * monolithic blob upload POST + PUT ?digest=, manifest PUT; tags/list, manifest GET, blob GET).
 * Manifest layout per the OCI image spec 1.1 guidance for artifacts (image-spec manifest.md).
 */
import { createHash } from 'node:crypto';
import { describeError, failure, inputError, RollbackError } from '../errors';
import { displayUrl, statusError } from '../http/client';
import type { Logger } from '../log';
import type { RegistryClient } from '../registry/client';
import { runPool } from '../run/pool';
import { recordProblem, type LedgerRecord, type LedgerStore } from './types';

export const RECORD_MEDIA_TYPE = 'application/vnd.jenkins-rollback.ledger.record.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The OCI empty descriptor: `{}` (image-spec manifest.md, "Guidance for an Empty Descriptor"). */
const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', data: Buffer.from('{}') };

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function recordTag(environment: string, time: string): string {
  return `${environment}-${time.replace(/:/g, '')}`;
}

export function createRegistryLedger(registry: RegistryClient, registryUrl: string, repository: string, environment: string, logger: Logger, parallel = 4): LedgerStore {
  const where = `the ledger repository ${repository}`;
  const request = registry.repositoryRequest;
  if (!request) throw failure(`${where}: this registry client cannot push artifacts.`);
  if (!TAG.test(recordTag(environment, '2026-01-01T00:00:00Z'))) {
    throw inputError(`Environment '${environment}' cannot name ledger tags in ${repository} (tags are letters, digits, '_', '.' and '-'); use ledger.path for it.`);
  }
  const ours = new RegExp(`^${environment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{4}-\\d{2}-\\d{2}T\\d{6}Z$`);

  async function pushBlob(data: Buffer): Promise<string> {
    const digest = sha256(data);
    const head = await request!(repository, `blobs/${digest}`, { method: 'HEAD' }, true);
    if (head.status === 200) return digest;
    const start = await request!(repository, 'blobs/uploads/', { method: 'POST', idempotent: false }, true);
    if (start.status !== 202 || !start.headers.location) throw statusError(start, 'POST', `starting an upload to ${where}`);
    const location = new URL(start.headers.location, start.url);
    location.searchParams.set('digest', digest);
    const put = await request!(repository, location.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data }, true);
    if (put.status !== 201) throw statusError(put, 'PUT', `uploading a record to ${where}`);
    return digest;
  }

  async function read(tag: string): Promise<unknown> {
    const res = await request!(repository, `manifests/${tag}`, { headers: { accept: MANIFEST } });
    if (res.status !== 200) throw statusError(res, 'GET');
    const manifest = JSON.parse(res.body.toString('utf8')) as { artifactType?: string; layers?: { mediaType?: string; digest?: string }[] };
    const layer = manifest.layers?.[0];
    if (manifest.artifactType !== RECORD_MEDIA_TYPE || layer?.mediaType !== RECORD_MEDIA_TYPE || !layer.digest) throw new Error('it is not a ledger record artifact');
    const blob = await request!(repository, `blobs/${layer.digest}`);
    if (blob.status !== 200) throw statusError(blob, 'GET');
    // Content-addressed: bytes that do not hash to the digest are not the record that was pushed.
    if (sha256(blob.body) !== layer.digest) throw new Error(`its layer does not match its digest ${layer.digest}`);
    return JSON.parse(blob.body.toString('utf8'));
  }

  return {
    describe: () => `${where} on ${displayUrl(registryUrl)}`,
    async list() {
      let tags: string[];
      try {
        tags = await registry.tags(repository);
      } catch (err) {
        // No record pushed yet: the repository does not exist.
        if (err instanceof RollbackError && err.kind === 'input' && /does not exist/.test(err.message)) return [];
        throw err;
      }
      const mine = tags.filter((t) => ours.test(t)).sort();
      const out: (LedgerRecord | undefined)[] = new Array(mine.length);
      await runPool(mine, parallel, async (tag, i) => {
        let data: unknown;
        try {
          data = await read(tag);
        } catch (err) {
          if (err instanceof RollbackError && err.retryable) throw err;
          logger.warn(`Ledger record ${repository}:${tag} is skipped: ${describeError(err).replace(/\.$/, '')}.`);
          return;
        }
        const problem = recordProblem(data, environment);
        if (problem) logger.warn(`Ledger record ${repository}:${tag} is skipped: ${problem}.`);
        else out[i] = data as LedgerRecord;
      });
      return out.filter((r): r is LedgerRecord => r !== undefined).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    },
    async append(record) {
      const tag = recordTag(environment, record.time);
      const exists = await request!(repository, `manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST } }, true);
      if (exists.status === 200) return false;
      const data = Buffer.from(JSON.stringify(record, null, 2) + '\n');
      const configDigest = await pushBlob(EMPTY.data);
      const layerDigest = await pushBlob(data);
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        artifactType: RECORD_MEDIA_TYPE,
        config: { mediaType: EMPTY.mediaType, digest: configDigest, size: EMPTY.data.length },
        layers: [{ mediaType: RECORD_MEDIA_TYPE, digest: layerDigest, size: data.length }],
        annotations: { 'org.opencontainers.image.created': record.time },
      }));
      const put = await request!(repository, `manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: manifest }, true);
      if (put.status !== 201) throw statusError(put, 'PUT', `writing the record ${tag} to ${where}`);
      return true;
    },
    close: () => registry.close(),
  };
}
