/**
 * Registry authentication as the Docker token spec describes it:
 * https://distribution.github.io/distribution/spec/auth/token/ . The registry answers 401 with
 * `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`; we ask the realm for a token
 * for `repository:<name>:pull` (with basic credentials when configured) and reuse it per scope
 * until it expires. A `Basic` challenge means credentials go on every request.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 7235): `Scheme k="v", k2=v2`. Only the first challenge
 * is read; registries send one.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

export const pullScope = (repository: string) => `repository:${repository}:pull`;

/** What a token server answered. `token` and `access_token` are both in the spec (OAuth2 naming). */
export interface TokenAnswer {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
}

/** Seconds a token may be used: its expires_in, else the spec's default of 60. */
export function tokenLifetime(answer: TokenAnswer): number {
  const n = Number(answer.expires_in);
  return Number.isFinite(n) && n > 0 ? n : 60;
}

export function tokenOf(answer: TokenAnswer): string | undefined {
  const t = typeof answer.token === 'string' && answer.token ? answer.token : answer.access_token;
  return typeof t === 'string' && t ? t : undefined;
}

/** Tokens per scope, valid until shortly before they expire (a request takes time to arrive). */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; until: number }>();
  constructor(private readonly now: () => number) {}

  get(scope: string): string | undefined {
    const t = this.tokens.get(scope);
    return t && t.until > this.now() ? t.token : undefined;
  }

  set(scope: string, token: string, lifetimeSeconds: number): void {
    const margin = Math.min(10, lifetimeSeconds * 0.1);
    this.tokens.set(scope, { token, until: this.now() + (lifetimeSeconds - margin) * 1000 });
  }

  drop(scope: string): void {
    this.tokens.delete(scope);
  }
}
