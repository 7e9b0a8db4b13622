/**
 * Image references as catalogs, manifests and targets spell them: `[host[:port]/]path[:tag][@digest]`.
 * The one place that parses and compares them (plan, engine, every target).
 * Grammar: https://github.com/distribution/reference/blob/main/reference.go
 */
export { registryHost } from '../catalog/build';

/** A reference split into name (with registry host), tag and digest. */
export interface ParsedReference {
  name: string;
  tag?: string;
  digest?: string;
}

export function parseReference(reference: string): ParsedReference {
  let rest = reference.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  // A colon after the last slash is a tag; one before it is a registry port.
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

export interface ImageRef {
  /** Registry host (with port), when the reference names one. */
  host?: string;
  /** Repository path, e.g. shop/api. */
  path: string;
  tag?: string;
  digest?: string;
}

/** parseReference, with the registry host split off the repository path. */
export function parseImageRef(ref: string): ImageRef {
  const { name, tag, digest } = parseReference(ref);
  const slash = name.indexOf('/');
  const first = slash > 0 ? name.slice(0, slash) : '';
  // The first component is a host only if it looks like one (docker's rule: '.', ':' or localhost).
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { host: first, path: name.slice(slash + 1), tag, digest };
  }
  return { host: undefined, path: name, tag, digest };
}

/**
 * True when `ref` is an image of `repository`: same path, and either no host (short form) or the
 * registry's host. Docker Hub's implicit `library/` and `docker.io` spellings count as the same.
 */
export function isImageOf(ref: string, repository: string, host?: string): boolean {
  const r = parseImageRef(ref);
  const path = r.path.replace(/^library\//, '');
  const want = repository.replace(/^library\//, '');
  if (path !== want) return false;
  if (!r.host || !host) return true;
  const norm = (h: string) => (h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h);
  return norm(r.host) === norm(host);
}

/** True when two references name the same image: same digest if both pin one, else same path and tag. */
export function sameImage(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseImageRef(a);
  const y = parseImageRef(b);
  if (x.digest && y.digest) return x.digest === y.digest && x.path === y.path;
  return x.path === y.path && (x.tag ?? 'latest') === (y.tag ?? 'latest') && (x.host ?? '') === (y.host ?? '');
}
