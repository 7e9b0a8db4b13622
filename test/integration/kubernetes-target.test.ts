/**
 * The kubernetes target against the Kubernetes API double (no real cluster can run here):
 * lookup, patch, rollout wait, faults (progress deadline, pods never ready, 409, 5xx), revisions.
 * Workload kinds, ownership and strategies: kubernetes-workloads.test.ts; credentials: kubernetes-credentials.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, EnvironmentConfig, KubernetesTargetConfig, ServiceConfig } from '../../src/config/types';
import { RollbackError } from '../../src/errors';
import { mask, memoryLogger } from '../../src/log';
import { createKubernetesTarget } from '../../src/targets/kubernetes';
import type { Target } from '../../src/targets/types';
import { KubernetesDouble, startKubernetesDouble } from '../doubles/kubernetes-double';

const TOKEN = 'kube-token-0123456789';
const REG = 'registry.example.com';
const img = (repo: string, tag: string, d: string) => `${REG}/${repo}:${tag}@sha256:${d.repeat(64).slice(0, 64)}`;

let kube: KubernetesDouble;
let dir: string;
let target: Target;
let clock = 0;
let logger: ReturnType<typeof memoryLogger>;

const svc = (name: string, extra: Partial<ServiceConfig> = {}): ServiceConfig => ({ name, repository: `shop/${name}`, ...extra });

function open(k: Partial<KubernetesTargetConfig> = {}): Target {
  const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { kubernetes: { kubeconfig: join(dir, 'kubeconfig'), ...k } } };
  const config = { registry: { url: `https://${REG}`, concurrency: 4 }, services: [], environments: { prod: environment } } as unknown as Config;
  return createKubernetesTarget(
    { config, environment, env: {}, logger, stateDir: dir },
    { sleep: async (ms) => { clock += ms; }, now: () => clock, pollMs: 1000, http: { sleep: async () => undefined } },
  );
}

beforeEach(async () => {
  kube = await startKubernetesDouble({ token: TOKEN });
  dir = mkdtempSync(join(tmpdir(), 'kube-target-'));
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c1, user: u1, namespace: shop}\nclusters:\n- name: c1\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u1\n  user: {token: ${TOKEN}}\n`,
  );
  kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'sidecar', image: 'envoyproxy/envoy:v1' }, { name: 'main', image: img('shop/api', '2-prod', 'a') }] });
  kube.addWorkload({ kind: 'StatefulSet', name: 'db', namespace: 'shop', containers: [{ name: 'db', image: img('shop/db', '1-prod', 'b') }] });
  kube.addWorkload({ kind: 'DaemonSet', name: 'agent', namespace: 'shop', containers: [{ name: 'agent', image: `shop/agent:3-prod` }] });
  clock = 0;
  logger = memoryLogger();
  target = open();
});

afterEach(async () => {
  await target.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

test('finds each kind by the service name and the container by repository, and says where', async () => {
  expect(target.describe()).toBe(`Kubernetes at ${kube.url}, namespace shop (kubeconfig ${join(dir, 'kubeconfig')} (context prod))`);
  expect(await target.current(svc('api'))).toEqual({ image: img('shop/api', '2-prod', 'a'), id: 'Deployment shop/api container main' });
  expect((await target.current(svc('db'))).id).toBe('StatefulSet shop/db container db');
  expect((await target.current(svc('agent'))).image).toBe('shop/agent:3-prod');
  // The token travels as a bearer token, and every call is a GET so far.
  expect(kube.requests.every((r) => r.authorization === `Bearer ${TOKEN}` && r.method === 'GET')).toBe(true);
  expect(mask(`token ${TOKEN}`)).toBe('token ***');
});

test('an unknown service or container is bad input naming the service', async () => {
  const e1 = await target.current(svc('nope')).catch((e) => e);
  expect(e1).toBeInstanceOf(RollbackError);
  expect(e1.kind).toBe('input');
  expect(e1.message).toBe(`Service nope: no Deployment, StatefulSet, DaemonSet, CronJob or Rollout named 'nope' in namespace shop at ${kube.url}.`);
  const e2 = await target.current(svc('api', { kubernetes: { container: 'web' } })).catch((e) => e);
  expect(e2.message).toMatch(/^Service api: Deployment shop\/api has no container named 'web'; it has sidecar \(envoyproxy\/envoy:v1\), main/);
  const e3 = await target.current(svc('api', { repository: 'shop/other' })).catch((e) => e);
  expect(e3.message).toMatch(/no container of Deployment shop\/api runs an image of repository shop\/other/);
});

test.each([
  ['Deployment', 'api', 'main', 'shop/api'],
  ['StatefulSet', 'db', 'db', 'shop/db'],
  ['DaemonSet', 'agent', 'agent', 'shop/agent'],
] as const)('%s: patches only the container image (strategic merge) and waits for the rollout', async (kind, name, container, repo) => {
  const to = img(repo, '0-prod', 'c');
  await target.deploy(svc(name), to);
  const patch = kube.requests.find((r) => r.method === 'PATCH')!;
  expect(patch.contentType).toBe('application/strategic-merge-patch+json');
  expect(patch.body).toEqual({
    metadata: { resourceVersion: expect.any(String) },
    spec: { template: { spec: { containers: [{ name: container, image: to }] } } },
  });
  const looksBefore = kube.requests.length;
  await target.waitHealthy(svc(name), to, 60_000);
  // The double needs three looks after a change; a wait that returned earlier would be wrong.
  expect(kube.requests.length - looksBefore).toBeGreaterThanOrEqual(3);
  expect(kube.image(kind, name, container, 'shop')).toBe(to);
  expect(await target.busy(svc(name))).toBeUndefined();
});

test('a workload mid-rollout is busy', async () => {
  kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: 'shop/web:1' }], rollingOut: true });
  expect(await target.busy(svc('web'))).toMatch(/^Deployment shop\/web is still rolling out \(/);
});

test('a rollout stuck on its progress deadline is not busy: rolling back is the remedy', async () => {
  kube.failNextRollout('api', 'deadline');
  await target.deploy(svc('api'), img('shop/api', '4-prod', 'e'));
  await target.waitHealthy(svc('api'), img('shop/api', '4-prod', 'e'), 60_000).catch(() => undefined);
  expect(await target.busy(svc('api'))).toBeUndefined();
  expect(logger.lines.join('\n')).toMatch(/Deployment shop\/api: its last rollout failed \(exceeded its progress deadline/);
  const back = img('shop/api', '2-prod', 'a');
  await target.deploy(svc('api'), back);
  await target.waitHealthy(svc('api'), back, 60_000);
  expect(kube.image('Deployment', 'api', 'main', 'shop')).toBe(back);
});

test('progress deadline exceeded is a failure with the reason', async () => {
  kube.failNextRollout('api', 'deadline');
  const to = img('shop/api', '0-prod', 'c');
  await target.deploy(svc('api'), to);
  const err = await target.waitHealthy(svc('api'), to, 600_000).catch((e) => e);
  expect(err).toBeInstanceOf(RollbackError);
  expect(err.message).toMatch(/^The rollout of Deployment shop\/api \(service api\) to registry.example.com\/shop\/api:0-prod failed: it exceeded its progress deadline/);
});

test('pods that never become ready time out after deployTimeout, by the injected clock', async () => {
  kube.failNextRollout('db', 'never-ready');
  const to = img('shop/db', '0-prod', 'c');
  await target.deploy(svc('db'), to);
  const err = await target.waitHealthy(svc('db'), to, 30_000).catch((e) => e);
  expect(err.message).toMatch(/^StatefulSet shop\/db \(service db\) did not finish rolling out to .* within 30s \(\d+ of 2 pods ready\)\.$/);
  expect(clock).toBeGreaterThanOrEqual(30_000);
  expect(clock).toBeLessThan(32_000);
});

test('409 conflicts are re-read and retried, then refused with a sentence', async () => {
  const to = img('shop/api', '0-prod', 'c');
  kube.conflicts('api', 2);
  await target.deploy(svc('api'), to);
  expect(kube.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
  expect(kube.image('Deployment', 'api', 'main', 'shop')).toBe(to);
  kube.conflicts('api', 5);
  const err = await target.deploy(svc('api'), img('shop/api', '1-prod', 'd')).catch((e) => e);
  expect(err.message).toBe('The workload of service api in namespace shop kept changing while we patched it (409 Conflict 3 times); someone else is deploying it.');
});

test('5xx answers are retried by the shared HTTP client', async () => {
  kube.serverErrors(2);
  expect((await target.current(svc('api'))).image).toBe(img('shop/api', '2-prod', 'a'));
  kube.serverErrors(10);
  const err = await target.current(svc('api')).catch((e) => e);
  expect(err.message).toBe(`GET ${kube.url}/apis/apps/v1/namespaces/shop/deployments/api answered 503 Service Unavailable: the server is currently unable to handle the request.`);
});

test('a change by someone else during the wait is a failure, not a success', async () => {
  const to = img('shop/api', '0-prod', 'c');
  await target.deploy(svc('api'), to);
  kube.externalChange('Deployment', 'api', 'main', 'shop/api:hotfix', 'shop');
  const err = await target.waitHealthy(svc('api'), to, 60_000).catch((e) => e);
  expect(err.message).toBe('Deployment shop/api (service api) was changed to shop/api:hotfix by someone else while we waited for ' + to + '.');
});

test('revisions: true goes back to the ReplicaSet template that ran the image (rollout undo style)', async () => {
  await target.close();
  target = open({ revisions: true });
  const old = img('shop/api', '2-prod', 'a');
  // A newer release also changed an environment variable; rollout undo brings the whole old template back.
  kube.externalChange('Deployment', 'api', 'main', img('shop/api', '3-prod', 'e'), 'shop');
  await target.deploy(svc('api'), old);
  const patch = kube.requests.filter((r) => r.method === 'PATCH').pop()!;
  expect(patch.contentType).toBe('application/json-patch+json');
  const ops = patch.body as { op: string; path: string; value: { metadata: { labels: Record<string, string> } } }[];
  expect(ops.map((o) => o.path)).toEqual(['/metadata/resourceVersion', '/spec/template']);
  expect(ops[1].value.metadata.labels['pod-template-hash']).toBeUndefined();
  await target.waitHealthy(svc('api'), old, 60_000);
  expect(kube.image('Deployment', 'api', 'main', 'shop')).toBe(old);
  expect(logger.lines.join('\n')).toMatch(/going back to revision 1 of Deployment shop\/api/);
  // No ReplicaSet ever ran this one: the image alone changes.
  const never = img('shop/api', '9-prod', 'f');
  await target.deploy(svc('api'), never);
  expect(kube.requests.filter((r) => r.method === 'PATCH').pop()!.contentType).toBe('application/strategic-merge-patch+json');
});
