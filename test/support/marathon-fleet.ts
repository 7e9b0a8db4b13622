/**
 * The small Marathon fleet the crash suites share: services api, web and db, each with an image
 * 1-prod (built on FLEET_DATE) and a newer 2-prod in the REAL registry; a rollback.yml whose prod
 * environment runs on the Marathon double at $MARATHON_URL; and the catalog `rollback get` wrote.
 * Each test starts its own Marathon double with `apps()`: the fleet at its newest images.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalog } from '../../src/catalog/types';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { runCli } from './cli';
import { pushImage, startRegistry, type RunningRegistry } from './registry';

export const FLEET = ['api', 'web', 'db'];
export const FLEET_DATE = '2026-11-18';

export interface MarathonFleet {
  reg: RunningRegistry;
  dir: string;
  catalog: Catalog;
  /** `rollback <cmd> --config ... --env prod --catalog ... <rest>`, with absolute paths. */
  args(cmd: string, ...rest: string[]): string[];
  /** The worker's environment for a Marathon double: no secrets, a fixed USER. */
  env(m: MarathonDouble): NodeJS.ProcessEnv;
  /** The fleet at its newest images (by tag, as a deploy pipeline would have set it): startMarathon's apps. */
  apps(): { id: string; image: string }[];
  /** What each service runs on `m`, in FLEET order. */
  images(m: MarathonDouble): string[];
  /** Before any rollback: every service at 2-prod. */
  start(): string[];
  /** The plan for FLEET_DATE: every service at its 1-prod, digest-pinned from the catalog. */
  planned(): string[];
  close(): Promise<void>;
}

export async function prepareMarathonFleet(o: {
  dirPrefix: string;
  deployTimeout: number;
  /** A registry that asks for a login (htpasswd); the config reads it from REG_USER and REG_PASSWORD, which env() sets. */
  auth?: { username: string; password: string };
  /** Extra lines at the end of rollback.yml. */
  extra?: string[];
}): Promise<MarathonFleet> {
  const reg = await startRegistry({ auth: o.auth });
  const dir = mkdtempSync(join(tmpdir(), o.dirPrefix));
  const close = async () => {
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const n of FLEET) {
      await pushImage(reg, { repository: `shop/${n}`, tag: '1-prod', created: `${FLEET_DATE}T10:00:00Z` });
      await pushImage(reg, { repository: `shop/${n}`, tag: '2-prod', created: '2026-11-20T10:00:00Z' });
    }
    writeFileSync(join(dir, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, ...(o.auth ? ['  username: ${REG_USER}', '  password: ${REG_PASSWORD}'] : []), 'services:', ...FLEET.flatMap((n) => [`  - name: ${n}`, `    repository: shop/${n}`]),
      'environments:', '  prod:', '    target:', '      marathon: { url: "${MARATHON_URL}", appPrefix: /ds/prod }', 'parallel: 1', `deployTimeout: ${o.deployTimeout}`, 'settle: 0', ...(o.extra ?? []), '',
    ].join('\n'));
    const env = (m: MarathonDouble) => ({ PATH: process.env.PATH, MARATHON_URL: m.url, USER: 'ci', ...(o.auth ? { REG_USER: o.auth.username, REG_PASSWORD: o.auth.password } : {}) });
    const args = (cmd: string, ...rest: string[]) => [cmd, '--config', join(dir, 'rollback.yml'), '--env', 'prod', '--catalog', join(dir, '.rollback', 'catalog.json'), ...rest];
    const empty = await startMarathon({ apps: [] });
    const got = await runCli(args('get'), { env: env(empty), cwd: dir }).finally(() => empty.stop());
    if (got.code !== 0) throw new Error(got.stderr);
    const catalog = JSON.parse(readFileSync(join(dir, '.rollback', 'catalog.json'), 'utf8')) as Catalog;
    const start = () => FLEET.map((n) => `${reg.host}/shop/${n}:2-prod`);
    return {
      reg, dir, catalog, args, env, close, start,
      apps: () => FLEET.map((n, i) => ({ id: `/ds/prod/${n}`, image: start()[i] })),
      images: (m) => FLEET.map((n) => m.apps.get(`/ds/prod/${n}`)!.container.docker.image),
      planned: () => FLEET.map((n) => catalog.services.find((s) => s.name === n)!.images.find((i) => i.tag === '1-prod')!.reference),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
