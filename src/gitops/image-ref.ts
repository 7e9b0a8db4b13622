/**
 * Image references as manifests and workloads spell them: `[host[:port]/]path[:tag][@digest]`.
 * Pure helpers shared by the kubernetes and github targets to recognise "the service's image".
 * Grammar: https://github.com/distribution/reference/blob/main/reference.go
 */
export interface ImageRef {
  /** Registry host (with port), when the reference names one. */
  host?: string;
  /** Repository path, e.g. shop/api. */
  path: string;
  tag?: string;
  digest?: string;
}

export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // A colon after the last slash is a tag; before it, it is a host's port (localhost:5000/api).
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let host: string | undefined;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    // The first component is a host only if it looks like one (docker's rule: '.', ':' or localhost).
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      host = first;
      rest = rest.slice(slash + 1);
    }
  }
  return { host, path: rest, tag, digest };
}

/** The registry host of a base URL such as https://registry.example.com:5000 (no scheme). */
export function registryHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  }
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
