/**
 * Pure reading of registry manifests and image configs: which media types we ask for, which
 * entry of an index is "the" image, and the image's date as DESIGN.md defines it.
 * Specs: https://distribution.github.io/distribution/spec/manifest-v2-2/ ,
 * https://github.com/opencontainers/image-spec/blob/main/manifest.md , .../image-index.md ,
 * schema1: https://distribution.github.io/distribution/spec/deprecated-schema-v1/
 */
export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

/**
 * Every manifest kind we can date. Without the schema1 types some registries (old Docker Hub
 * images, Artifactory) answer 404 or convert; without the index types they pick a platform for us.
 */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.schema1Signed,
  MEDIA_TYPES.schema1,
].join(', ');

/** The OCI pre-defined annotation used as a fallback date. */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

export type ManifestKind = 'index' | 'image' | 'schema1';

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'index'; manifests: Descriptor[]; annotated?: string; provenance?: Provenance }
  | { kind: 'image'; config: Descriptor; annotated?: string; provenance?: Provenance }
  | { kind: 'schema1'; created?: string };

/**
 * A date we accept as an image's creation time, as ISO 8601 UTC; undefined when missing or a
 * placeholder. Reproducible builders (ko, Bazel rules_oci, Nix, SOURCE_DATE_EPOCH=0) write the
 * epoch or year 1 as `created`, which would put every such image on one day in 1970: we treat
 * those as "no date" so the annotation fallback gets a chance.
 */
export function acceptDate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms < Date.UTC(1980, 0, 1)) return undefined;
  return new Date(ms).toISOString();
}

function annotationDate(doc: { annotations?: unknown }): string | undefined {
  const a = doc.annotations;
  return a && typeof a === 'object' ? acceptDate((a as Record<string, unknown>)[CREATED_ANNOTATION]) : undefined;
}

/**
 * Classifies a manifest by its Content-Type, falling back to the body's own mediaType and
 * schemaVersion (some registries answer application/json or octet-stream).
 * Throws an Error with a short reason when the document is not a manifest we know.
 */
export function parseManifest(body: unknown, contentType = ''): ParsedManifest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('the manifest is not a JSON object');
  const doc = body as Record<string, unknown>;
  const type = (contentType.split(';')[0].trim() || '') as string;
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : '';
  const kindOf = (t: string): ManifestKind | undefined =>
    t === MEDIA_TYPES.ociIndex || t === MEDIA_TYPES.dockerList
      ? 'index'
      : t === MEDIA_TYPES.ociManifest || t === MEDIA_TYPES.dockerManifest
        ? 'image'
        : t === MEDIA_TYPES.schema1 || t === MEDIA_TYPES.schema1Signed
          ? 'schema1'
          : undefined;
  let kind = kindOf(type) ?? kindOf(mediaType);
  if (!kind) {
    // An OCI manifest may omit mediaType; its shape tells it apart.
    if (doc.schemaVersion === 1) kind = 'schema1';
    else if (Array.isArray(doc.manifests)) kind = 'index';
    else if (doc.config && typeof doc.config === 'object') kind = 'image';
    else throw new Error(`media type ${type || mediaType || '(none)'} is not an image manifest`);
  }
  if (kind === 'schema1') return { kind, created: schema1Created(doc) };
  if (kind === 'index') {
    const manifests = Array.isArray(doc.manifests) ? (doc.manifests as Descriptor[]).filter((m) => m && typeof m.digest === 'string') : [];
    if (manifests.length === 0) throw new Error('the image index lists no manifests');
    return { kind, manifests, annotated: annotationDate(doc), provenance: annotationProvenance(doc) };
  }
  const config = doc.config as Descriptor | undefined;
  if (!config || typeof config.digest !== 'string') throw new Error('the manifest has no config descriptor');
  return { kind, config, annotated: annotationDate(doc), provenance: annotationProvenance(doc) };
}

/**
 * The entry of an index that stands for the image: linux/amd64 (what the fleet runs), else the
 * first. Attestation manifests (BuildKit's "unknown/unknown" platform) are skipped when choosing
 * the first, since they are not runnable images.
 * https://docs.docker.com/build/metadata/attestations/attestation-storage/
 */
export function pickPlatform(manifests: Descriptor[]): Descriptor {
  const amd64 = manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
  if (amd64) return amd64;
  const runnable = manifests.find((m) => m.platform?.os !== 'unknown' && m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  return runnable ?? manifests[0];
}

/** schema1: the newest `created` among history[].v1Compatibility (each a JSON string). */
export function schema1Created(doc: Record<string, unknown>): string | undefined {
  let newest: string | undefined;
  const history = Array.isArray(doc.history) ? doc.history : [];
  for (const h of history) {
    const raw = (h as { v1Compatibility?: unknown })?.v1Compatibility;
    if (typeof raw !== 'string') continue;
    let created: string | undefined;
    try {
      created = acceptDate((JSON.parse(raw) as { created?: unknown }).created);
    } catch {
      continue;
    }
    if (created && (!newest || created > newest)) newest = created;
  }
  return newest;
}

/** Labels that date an image when its config's `created` is missing or a placeholder, in order. */
export const DATE_LABELS = [CREATED_ANNOTATION, 'org.label-schema.build-date'] as const;

/**
 * What the worker reads from an image config blob, in ONE place: `created` and the labels
 * (config.Labels). Anything else taken from the blob later (provenance labels) belongs here too.
 * https://github.com/opencontainers/image-spec/blob/main/config.md
 */
export interface ImageConfigFacts {
  created?: string;
  labels: Record<string, string>;
}

export function readImageConfig(config: unknown): ImageConfigFacts {
  if (!config || typeof config !== 'object') return { labels: {} };
  const doc = config as { created?: unknown; config?: { Labels?: unknown } };
  const raw = doc.config && typeof doc.config === 'object' ? doc.config.Labels : undefined;
  const labels: Record<string, string> = {};
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
  }
  return { created: acceptDate(doc.created), labels };
}

/**
 * The image's date from its config: `created`, else (Jib writes 1970, ko and Bazel fixed epochs)
 * the org.opencontainers.image.created label, then org.label-schema.build-date.
 */
export function configDate(facts: ImageConfigFacts): string | undefined {
  if (facts.created) return facts.created;
  for (const label of DATE_LABELS) {
    const d = acceptDate(facts.labels[label]);
    if (d) return d;
  }
  return undefined;
}

/** The image config's date (created, then the date labels), if it has a real one. */
export function configCreated(config: unknown): string | undefined {
  return configDate(readImageConfig(config));
}

/** The date in a descriptor's annotations (an index entry), if any. */
export function descriptorDate(d: Descriptor): string | undefined {
  return annotationDate(d);
}

/**
 * Where an image was built from: the commit and the repository, as CI writes them into the image.
 * OCI pre-defined annotation keys (used as config labels by docker/metadata-action, buildx, Jib,
 * ko) first, then the older Label Schema ones.
 * https://github.com/opencontainers/image-spec/blob/main/annotations.md#pre-defined-annotation-keys
 */
export interface Provenance {
  revision?: string;
  source?: string;
}

export const REVISION_LABELS = ['org.opencontainers.image.revision', 'org.label-schema.vcs-ref'] as const;
export const SOURCE_LABELS = ['org.opencontainers.image.source', 'org.label-schema.vcs-url'] as const;

/** The provenance in a set of labels or annotations; undefined when neither key is there. */
export function provenanceOf(labels: Record<string, unknown> | undefined): Provenance | undefined {
  if (!labels || typeof labels !== 'object') return undefined;
  const first = (keys: readonly string[]) => {
    for (const k of keys) {
      const v = labels[k];
      if (typeof v === 'string' && v.trim() !== '') return v.trim();
    }
    return undefined;
  };
  const revision = first(REVISION_LABELS);
  const source = first(SOURCE_LABELS);
  if (!revision && !source) return undefined;
  return { ...(revision ? { revision } : {}), ...(source ? { source } : {}) };
}

/** Labels win, field by field; annotations (of the manifest, then of an index) fill what they lack. */
export function mergeProvenance(...found: (Provenance | undefined)[]): Provenance | undefined {
  const revision = found.find((p) => p?.revision)?.revision;
  const source = found.find((p) => p?.source)?.source;
  if (!revision && !source) return undefined;
  return { ...(revision ? { revision } : {}), ...(source ? { source } : {}) };
}

function annotationProvenance(doc: { annotations?: unknown }): Provenance | undefined {
  const a = doc.annotations;
  return a && typeof a === 'object' ? provenanceOf(a as Record<string, unknown>) : undefined;
}
