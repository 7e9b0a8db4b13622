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
 * Parses a WWW-Authenticate header (RFC 7235) into its challenges, one by one: a server may send
 * several (Gitea and Forgejo send Bearer and Basic; several header lines arrive joined by ", ").
 * A new challenge starts where a token stands alone before a space or the end, not before "=".
 */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const token = /\s*,?\s*([A-Za-z][A-Za-z0-9_.+-]*)(?=\s|$|,)(?!\s*=)/y;
  const param = /\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/y;
  let i = 0;
  while (i < header.length) {
    token.lastIndex = i;
    const t = token.exec(header);
    if (!t) {
      param.lastIndex = i;
      const p = param.exec(header);
      if (!p) break; // unparseable rest: keep what was read
      if (out.length > 0) out[out.length - 1].params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
      i = param.lastIndex;
      continue;
    }
    out.push({ scheme: t[1].toLowerCase(), params: {} });
    i = token.lastIndex;
  }
  return out;
}

/** The first challenge of a WWW-Authenticate header. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  return parseChallenges(header)[0];
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
