/**
 * What the GitOps suites share: a catalog over registry.example.com built by hand (no registry
 * needed: the GitOps targets never pull), and the run/undo requests the engine takes.
 */
import type { Catalog, CatalogImage } from '../../src/catalog/types';
import type { ServiceConfig } from '../../src/config/types';

export const HOST = 'registry.example.com';
export const digest = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;

/** Per service, its images as [tag, digest char, day], newest first. */
export function gitopsCatalog(images: Record<string, [string, string, string][]>): Catalog {
  const services = Object.entries(images).map(([name, list]) => ({
    name, repository: `shop/${name}`,
    images: list.map(([tag, c, day]): CatalogImage => ({
      service: name, repository: `shop/${name}`, tag, digest: digest(c), created: `${day}T10:00:00Z`, day, reference: `${HOST}/shop/${name}:${tag}@${digest(c)}`,
    })),
  }));
  const choices = [...new Set(services.flatMap((s) => s.images.map((i) => i.day)))].sort().reverse();
  return { schemaVersion: 1, generatedAt: '2026-11-21T00:00:00Z', environment: 'prod', registry: `https://${HOST}`, tagPattern: '-prod$', timezone: 'UTC', limit: 10, services, choices };
}

export const runRequest = (services: ServiceConfig[], catalog: Catalog, date: string) => ({
  environment: 'prod', services, approver: 'alice', dryRun: false, parallel: 2, deployTimeoutMs: 60_000, catalog, date,
});

export const undoRequest = (services: ServiceConfig[]) => ({
  environment: 'prod', services, approver: 'bob', dryRun: false, parallel: 2, deployTimeoutMs: 60_000,
});

/** The text with exactly these substrings replaced (each must occur once): the only bytes an edit may change. */
export function swapped(text: string, pairs: [string, string][]): string {
  let out = text;
  for (const [a, b] of pairs) {
    expect(out.split(a)).toHaveLength(2);
    out = out.replace(a, b);
  }
  return out;
}

/** A digest-pinned image of shop/<service> on registry.example.com. */
export const shopImage = (service: string, tag: string, c: string) => `${HOST}/shop/${service}:${tag}@${digest(c)}`;

/** Two Deployments (api, web) in one multi-document file, as the wait suites' repository holds them. */
export const twoDeployments = (api: string, web: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ${api}\n---\n` +
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: ${web}\n`;

/** api and web, each with a 2026-11-20 image (what runs) and a 2026-11-18 one (the rollback point). */
export const twoServiceCatalog = () => gitopsCatalog({
  api: [['39-prod', '1', '2026-11-20'], ['38-prod', '3', '2026-11-18']],
  web: [['5-prod', 'b', '2026-11-20'], ['4-prod', '4', '2026-11-18']],
});
