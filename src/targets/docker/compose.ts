/**
 * Compose projects on a Docker host: `docker: { project: shop }` makes a service the set of
 * containers Compose labels as that project's service, whatever their names (`shop_api_1` for
 * Compose v1, `shop-api-1` for v2). The labels are Compose's own
 * (https://github.com/docker/compose/blob/v1.29.2/compose/const.py): project, service,
 * container-number (the replica), oneoff (containers of `docker-compose run`, never replicas).
 */
import type { ContainerInspect, EngineClient } from './engine';

export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';
export const NUMBER_LABEL = 'com.docker.compose.container-number';
export const ONEOFF_LABEL = 'com.docker.compose.oneoff';

/** Marks the old container while its replacement starts; never a replica of its own. */
export const OLD_MARK = '-rollback-old-';

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Labels?: Record<string, string>;
  HostConfig?: { NetworkMode?: string };
}

export const nameOf = (c: { Name?: string; Names?: string[] }) => (c.Name ?? c.Names?.[0] ?? '').replace(/^\//, '');

/** The containers of a Compose service (renamed old ones included), as the engine lists them. */
export async function composeContainers(engine: EngineClient, project: string, service: string): Promise<ContainerSummary[]> {
  const list = await engine.json<ContainerSummary[]>('GET', '/containers/json', {
    query: { all: true, filters: JSON.stringify({ label: [`${PROJECT_LABEL}=${project}`, `${SERVICE_LABEL}=${service}`] }) },
  });
  return (list ?? []).filter((c) => !/^true$/i.test(c.Labels?.[ONEOFF_LABEL] ?? ''));
}

/** The replicas, in replica order (container-number, then name); renamed old containers left out. */
export async function composeReplicas(engine: EngineClient, project: string, service: string): Promise<ContainerInspect[]> {
  const ids = (await composeContainers(engine, project, service)).filter((c) => !nameOf(c).includes(OLD_MARK)).map((c) => c.Id);
  const found: ContainerInspect[] = [];
  for (const id of ids) {
    const c = await engine.inspectContainer(id);
    if (c) found.push(c);
  }
  const number = (c: ContainerInspect) => Number(c.Config.Labels?.[NUMBER_LABEL] ?? Number.MAX_SAFE_INTEGER);
  return found.sort((a, b) => number(a) - number(b) || nameOf(a).localeCompare(nameOf(b)));
}

/**
 * Containers outside `replicas` that live in one of their network namespaces
 * (`network_mode: service:x` in Compose, `--network container:x` by hand): replacing x leaves
 * them without a network, so the run must refuse before changing anything.
 */
export async function namespaceSharers(engine: EngineClient, replicas: ContainerInspect[]): Promise<{ sharer: string; of: string }[]> {
  if (replicas.length === 0) return [];
  const all = (await engine.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true } })) ?? [];
  const mine = new Set(replicas.map((r) => r.Id));
  const out: { sharer: string; of: string }[] = [];
  for (const c of all) {
    const mode = c.HostConfig?.NetworkMode ?? '';
    if (mine.has(c.Id) || !mode.startsWith('container:')) continue;
    const ref = mode.slice('container:'.length);
    const of = replicas.find((r) => r.Id === ref || (ref.length >= 12 && r.Id.startsWith(ref)) || nameOf(r) === ref.replace(/^\//, ''));
    if (of) out.push({ sharer: nameOf(c), of: nameOf(of) });
  }
  return out;
}
