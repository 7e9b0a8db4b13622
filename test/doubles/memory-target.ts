/**
 * An in-memory target for engine tests and chaos suites: what each service runs, faults per
 * service (refused deploys, unhealthy images, busy, a hang at the k-th change), every call
 * recorded. Plus a small fleet and its catalog (START = what runs, PLANNED = the 2026-11-18 plan).
 */
import type { Catalog, CatalogImage } from '../../src/catalog/types';
import type { ServiceConfig } from '../../src/config/types';
import type { Target } from '../../src/targets/types';

export const NAMES = ['api', 'web', 'db', 'auth'];
export const REG = 'reg.example:5000';
export const dg = (s: string) => `sha256:${Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64)}`;
export const img = (service: string, n: number, day: string): CatalogImage => ({
  service, repository: `shop/${service}`, tag: `${n}-prod`, digest: dg(`${service}${n}`), created: `${day}T12:00:00Z`, day, reference: `${REG}/shop/${service}:${n}-prod@${dg(`${service}${n}`)}`,
});
export const CATALOG: Catalog = {
  schemaVersion: 1, generatedAt: '2026-11-21T00:00:00Z', environment: 'prod', registry: `http://${REG}`, tagPattern: '-prod$', timezone: 'UTC', limit: 10,
  services: NAMES.map((name) => ({ name, repository: `shop/${name}`, images: [img(name, 2, '2026-11-20'), img(name, 1, '2026-11-18')] })),
  choices: ['2026-11-20', '2026-11-18'],
};
export const SERVICES: ServiceConfig[] = NAMES.map((name) => ({ name, repository: `shop/${name}` }));
export const START = Object.fromEntries(NAMES.map((n) => [n, img(n, 2, '2026-11-20').reference]));
export const PLANNED = Object.fromEntries(NAMES.map((n) => [n, img(n, 1, '2026-11-18').reference]));

/** An in-memory target: images per service, faults per service, every call recorded. */
export class FakeTarget implements Target {
  images: Record<string, string> = { ...START };
  calls: string[] = [];
  /** deploy of this service (to this image, or any) throws. */
  failDeploy = new Map<string, string | true>();
  /** Preflight (Target.refuse) answers this sentence for the service. */
  refusals = new Map<string, string>();
  /** waitHealthy of this service to this image (or any) fails. */
  unhealthy = new Map<string, string | true>();
  busyOnce = new Set<string>();
  busyAlways = new Set<string>();
  /** deploy/wait never resolve at the k-th mutating call (a killed worker). */
  hangAt = -1;
  hangAfterApply = false;
  private mutations = 0;
  describe() { return 'the fake target'; }
  async current(s: ServiceConfig) { this.calls.push(`current ${s.name}`); return { image: this.images[s.name], id: `/fake/${s.name}` }; }
  async busy(s: ServiceConfig) {
    this.calls.push(`busy ${s.name}`);
    if (this.busyAlways.has(s.name) || this.busyOnce.delete(s.name)) return `${s.name} is deploying`;
    return undefined;
  }
  async refuse(s: ServiceConfig, image: string) {
    this.calls.push(`refuse? ${s.name} ${image}`);
    return this.refusals.get(s.name);
  }
  async deploy(s: ServiceConfig, image: string) {
    this.calls.push(`deploy ${s.name} ${image}`);
    const k = this.mutations++;
    if (k === this.hangAt && !this.hangAfterApply) return new Promise<void>(() => {});
    const r = this.failDeploy.get(s.name);
    if (r === true || r === image) throw new Error(`the target refused ${s.name}`);
    this.images[s.name] = image;
    if (k === this.hangAt) return new Promise<void>(() => {});
  }
  async waitHealthy(s: ServiceConfig, image: string) {
    const u = this.unhealthy.get(s.name);
    if (u === true || u === image) throw new Error(`${s.name} did not become healthy`);
  }
  async close() {}
}
