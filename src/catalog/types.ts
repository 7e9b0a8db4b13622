/** The catalog: what `get` found, and the only thing `plan` and `run` trust. Validated on read. */
export const CATALOG_SCHEMA_VERSION = 1;

export interface CatalogImage {
  service: string;
  repository: string;
  tag: string;
  /** Manifest digest, sha256:... (from Docker-Content-Digest). */
  digest: string;
  /** Image creation time, ISO 8601 UTC. */
  created: string;
  /** The day of `created`, YYYY-MM-DD, cut in the catalog's timezone. */
  day: string;
  /** Full digest-pinned reference: host[:port]/repository:tag@sha256:... */
  reference: string;
  /** The commit the image was built from (its org.opencontainers.image.revision label), when it says. */
  revision?: string;
  /** The repository it was built from (org.opencontainers.image.source), when it says. */
  source?: string;
}

export interface CatalogService {
  name: string;
  repository: string;
  /** Kept rollback points, newest first (at most `limit`). */
  images: CatalogImage[];
  /** Why there are none, when images is empty (e.g. "no tag matches -prod$"). */
  note?: string;
}

export interface Catalog {
  schemaVersion: typeof CATALOG_SCHEMA_VERSION;
  /** When `get` ran, ISO 8601. */
  generatedAt: string;
  environment: string;
  /** Registry base URL, e.g. https://registry.example.com. */
  registry: string;
  tagPattern: string;
  timezone: string;
  limit: number;
  services: CatalogService[];
  /** Every day with at least one kept image, newest first. */
  choices: string[];
  /** Release points (`get --points released`, docs/points.md), newest first, each with its fleet. */
  points?: CatalogPoint[];
}

export interface CatalogPoint {
  /** YYYY-MM-DDTHH:MM:SSZ */
  time: string;
  /** Where it comes from: "Jenkins #412", "run by alice", "Marathon versions". */
  origin: string;
  /** Every service with a known image then, digest-pinned. */
  services: { service: string; image: string }[];
}
