/**
 * The worker's first act: refuse a Node.js older than package.json's engines.node, in one sentence,
 * before any other module loads (its dependencies may not even load on an older Node). Jenkins
 * agents run the bundle with whatever `node` is on their PATH, so this check is the worker's own
 * and costs no extra `sh` step.
 */
import { engines } from '../package.json';

const MINIMUM = engines.node.replace(/^>=\s*/, '');

function parts(version: string): number[] {
  return version.replace(/^v/, '').split('.').map((p) => parseInt(p, 10) || 0);
}

/** The sentence refusing `version` (e.g. process.versions.node), or null when it is new enough. */
export function nodeRefusal(version: string): string | null {
  const have = parts(version);
  const need = parts(MINIMUM);
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) > need[i]) return null;
    if ((have[i] ?? 0) < need[i]) return `this agent has Node.js v${version.replace(/^v/, '')}; the rollback worker needs Node.js ${MINIMUM} or newer.`;
  }
  return null;
}
