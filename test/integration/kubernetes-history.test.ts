/**
 * What the kubernetes target remembers (Target.history), on the Kubernetes API double: a
 * Deployment's ReplicaSet revisions, oldest first, each new image a change at the ReplicaSet's
 * creationTimestamp; other kinds tell nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, EnvironmentConfig, ServiceConfig } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { createKubernetesTarget } from '../../src/targets/kubernetes';
import type { Target } from '../../src/targets/types';
import { KubernetesDouble, startKubernetesDouble } from '../doubles/kubernetes-double';

const REG = 'registry.example.com';
const img = (repo: string, tag: string, d: string) => `${REG}/${repo}:${tag}@sha256:${d.repeat(64).slice(0, 64)}`;

let kube: KubernetesDouble;
let dir: string;
let clock = 0;
let logger: ReturnType<typeof memoryLogger>;
let target: Target;

const svc = (name: string): ServiceConfig => ({ name, repository: `shop/${name}` });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-history-'));
  clock = Date.parse('2026-11-21T03:00:00Z');
  logger = memoryLogger();
  kube = await startKubernetesDouble({ token: 't0k3n-abc', now: () => clock });
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c1, user: u1, namespace: shop}\nclusters:\n- name: c1\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u1\n  user: {token: t0k3n-abc}\n`,
  );
  const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { kubernetes: { kubeconfig: join(dir, 'kubeconfig') } } };
  const config = { registry: { url: `https://${REG}`, concurrency: 4 }, services: [], environments: { prod: environment } } as unknown as Config;
  target = createKubernetesTarget(
    { config, environment, env: {}, logger, stateDir: dir, approver: 'alice' },
    { sleep: async (ms) => { clock += ms; }, now: () => clock, pollMs: 1000, http: { sleep: async () => undefined } },
  );
});

afterEach(async () => {
  await target.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rollTo(s: ServiceConfig, image: string) {
  await target.deploy(s, image);
  await target.waitHealthy(s, image, 600_000);
}

test('a Deployment with three revisions gives its three images at their ReplicaSets\' creation times, oldest first', async () => {
  const api = svc('api');
  const [v1, v2, v3] = [img('shop/api', '1-prod', 'a'), img('shop/api', '2-prod', 'b'), img('shop/api', '3-prod', 'c')];
  kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: v1 }, { name: 'proxy', image: `${REG}/infra/envoy:1` }] });
  clock = Date.parse('2026-11-21T04:00:00Z');
  await rollTo(api, v2);
  clock = Date.parse('2026-11-21T05:30:00Z');
  await rollTo(api, v3);
  // Other kinds keep no revisions this target reads: nothing from them.
  kube.addWorkload({ kind: 'StatefulSet', name: 'db', namespace: 'shop', containers: [{ name: 'db', image: img('shop/db', '1-prod', 'd') }] });

  const history = await target.history!([api, svc('db')]);

  expect(history.source).toBe('Kubernetes ReplicaSet revisions');
  expect(history.changes).toEqual([
    { service: 'api', time: '2026-11-21T03:00:00.000Z', image: v1 },
    { service: 'api', time: '2026-11-21T04:00:00.000Z', image: v2 },
    { service: 'api', time: '2026-11-21T05:30:00.000Z', image: v3 },
  ]);
  expect(logger.lines.join('\n')).toContain('api: 3 ReplicaSet revision(s) of Deployment shop/api (best effort: Kubernetes keeps only revisionHistoryLimit of them');
  expect(logger.lines.join('\n')).toContain('db: StatefulSet shop/db keeps no revisions this target reads; no history from the cluster.');
});
