/**
 * What Marathon remembers: every app keeps its past definitions as versions
 * (GET /v2/apps/{id}/versions lists their timestamps, newest first; GET /v2/apps/{id}/versions/{v}
 * is the definition then: https://mesosphere.github.io/marathon/docs/rest-api.html). A version
 * whose image differs from the one before it is a change of the service's image at that time.
 * Versions that only scale or edit other fields are read but change nothing.
 */
import type { ServiceConfig } from '../../config/types';
import { RollbackError } from '../../errors';
import { parseJsonObject, statusError, type HttpResponse } from '../../http/client';
import { runPool } from '../../run/pool';
import type { TargetHistory } from '../types';

/** Versions read per app, newest first: Marathon keeps many (scaling makes one too); older ones cost requests for little. */
export const VERSIONS_READ = 30;

export interface VersionsDeps {
  call(path: string): Promise<HttpResponse>;
  appIdOf(service: ServiceConfig): Promise<string>;
  pathOf(id: string): string;
  where: string;
  parallel: number;
}

/**
 * The image app `id` carried at `version` (GET /v2/apps/{id}/versions/{version}); undefined when
 * Marathon no longer has that version (pruned) or the definition names no Docker image.
 */
export async function imageAtVersion(deps: Pick<VersionsDeps, 'call' | 'pathOf'>, id: string, version: string): Promise<string | undefined> {
  const r = await deps.call(`/v2/apps${deps.pathOf(id)}/versions/${encodeURIComponent(version)}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw statusError(r, 'GET', `reading version ${version} of app ${id}`);
  const image = parseJsonObject<{ container?: { docker?: { image?: unknown } } }>(r, 'app version').container?.docker?.image;
  return typeof image === 'string' && image ? image : undefined;
}

export async function marathonHistory(deps: VersionsDeps, services: ServiceConfig[]): Promise<TargetHistory> {
  const changes: TargetHistory['changes'] = [];
  await runPool(services, deps.parallel, async (service) => {
    const id = await deps.appIdOf(service);
    const res = await deps.call(`/v2/apps${deps.pathOf(id)}/versions`);
    if (res.status === 404) return; // no app: nothing remembered
    if (res.status !== 200) throw statusError(res, 'GET', `reading the versions of app ${id}`);
    const list = parseJsonObject<{ versions?: unknown }>(res, 'versions').versions;
    if (!Array.isArray(list)) throw new RollbackError('failed', `${deps.where} answered GET /v2/apps${id}/versions without a "versions" array.`);
    const versions = list.filter((v): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v)))
      .sort((a, b) => Date.parse(b) - Date.parse(a)).slice(0, VERSIONS_READ).reverse();
    let previous: string | undefined;
    for (const version of versions) {
      const image = await imageAtVersion(deps, id, version); // undefined: pruned meanwhile
      if (!image || image === previous) continue;
      changes.push({ service: service.name, time: version, image });
      previous = image;
    }
  });
  return { source: 'Marathon versions', changes };
}
