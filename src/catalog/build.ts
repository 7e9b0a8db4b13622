/**
 * The catalog from dated images: pure, so it is tested with tables and properties.
 * DESIGN.md "Semantics of a date": per service, the newest `limit` images by date (never by tag
 * text); the choices are every day with at least one kept image, newest first; days are cut in
 * the configured time zone.
 */
import type { FoundImage } from '../registry/source';
import { Catalog, CATALOG_SCHEMA_VERSION, CatalogImage, CatalogService } from './types';

export interface CatalogInput {
  environment: string;
  /** Registry base URL as configured. */
  registry: string;
  /** host[:port] that image references start with. */
  registryHost: string;
  tagPattern: string;
  timezone: string;
  limit: number;
  services: { name: string; repository: string; images: FoundImage[]; note?: string }[];
  generatedAt: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar day (YYYY-MM-DD) of an instant, in an IANA time zone. */
export function dayOf(iso: string, timezone: string): string {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timezone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** host[:port] of a registry URL, as image references spell it (no scheme, no path). */
export function registryHost(url: string): string {
  return new URL(url).host;
}

/**
 * What image references start with, so a target can pull them: host[:port], and for a registry
 * under a path the part docker pulls by. Artifactory's repository path
 * (https://host/artifactory/api/docker/<repo>) is pulled as host/<repo>/<image>
 * (https://jfrog.com/help/r/jfrog-artifactory-documentation/the-repository-path-method-for-docker);
 * any other path is kept as it is.
 */
export function imagePrefix(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, '');
  const artifactory = /^\/artifactory\/api\/docker\/([^/]+)$/.exec(path);
  return artifactory ? `${u.host}/${artifactory[1]}` : `${u.host}${path}`;
}

/** Newest first; equal instants by tag, descending, so the order never depends on the registry's. */
export function byDateDesc(a: FoundImage, b: FoundImage): number {
  const d = Date.parse(b.created) - Date.parse(a.created);
  return d !== 0 ? d : a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0;
}

export function buildCatalog(input: CatalogInput): Catalog {
  const services: CatalogService[] = input.services.map((s) => {
    const images: CatalogImage[] = [...s.images]
      .sort(byDateDesc)
      .slice(0, input.limit)
      .map((i) => ({
        service: s.name,
        repository: s.repository,
        tag: i.tag,
        digest: i.digest,
        created: i.created,
        day: dayOf(i.created, input.timezone),
        reference: `${input.registryHost}/${s.repository}:${i.tag}@${i.digest}`,
        ...(i.revision ? { revision: i.revision } : {}),
        ...(i.source ? { source: i.source } : {}),
      }));
    return s.note !== undefined ? { name: s.name, repository: s.repository, images, note: s.note } : { name: s.name, repository: s.repository, images };
  });
  const days = new Set(services.flatMap((s) => s.images.map((i) => i.day)));
  return {
    schemaVersion: CATALOG_SCHEMA_VERSION,
    generatedAt: input.generatedAt,
    environment: input.environment,
    registry: input.registry,
    tagPattern: input.tagPattern,
    timezone: input.timezone,
    limit: input.limit,
    services,
    choices: [...days].sort().reverse(),
  };
}
