/**
 * The kubernetes target against the workloads teams run, on the Kubernetes API double: every
 * container and initContainer of the release, workloads other controllers manage (Argo CD, Flux,
 * Helm) refused or patched with annotations, OnDelete / partitioned / paused strategies refused,
 * CronJobs, Argo Rollouts (own template and workloadRef), rollouts that take time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, EnvironmentConfig, KubernetesTargetConfig, ServiceConfig } from '../../src/config/types';
import { memoryLogger } from '../../src/log';
import { createKubernetesTarget } from '../../src/targets/kubernetes';
import type { Target } from '../../src/targets/types';
import { KubernetesDouble, KubernetesDoubleOptions, startKubernetesDouble } from '../doubles/kubernetes-double';

const REG = 'registry.example.com';
const img = (repo: string, tag: string, d: string) => `${REG}/${repo}:${tag}@sha256:${d.repeat(64).slice(0, 64)}`;
const OLD = img('shop/api', '2-prod', 'a');
const NEW = img('shop/api', '1-prod', 'b');

let kube: KubernetesDouble;
let dir: string;
let clock = 0;
let logger: ReturnType<typeof memoryLogger>;
const opened: Target[] = [];

const svc = (name: string, extra: Partial<ServiceConfig> = {}): ServiceConfig => ({ name, repository: `shop/${name}`, ...extra });

function open(k: Partial<KubernetesTargetConfig> = {}): Target {
  const environment: EnvironmentConfig = { name: 'prod', tags: '-prod$', target: { kubernetes: { kubeconfig: join(dir, 'kubeconfig'), ...k } } };
  const config = { registry: { url: `https://${REG}`, concurrency: 4 }, services: [], environments: { prod: environment } } as unknown as Config;
  const t = createKubernetesTarget(
    { config, environment, env: {}, logger, stateDir: dir, approver: 'alice' },
    { sleep: async (ms) => { clock += ms; }, now: () => clock, pollMs: 1000, http: { sleep: async () => undefined } },
  );
  opened.push(t);
  return t;
}

async function start(options: KubernetesDoubleOptions = {}) {
  kube = await startKubernetesDouble(options);
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c1, user: u1, namespace: shop}\nclusters:\n- name: c1\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u1\n  user: {token: t0k3n-abc}\n`,
  );
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-workloads-'));
  clock = Date.parse('2026-11-21T03:00:00Z');
  logger = memoryLogger();
  await start({ token: 't0k3n-abc' });
});

afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rollTo(t: Target, s: ServiceConfig, image: string) {
  expect(await t.refuse!(s, image)).toBeUndefined();
  await t.deploy(s, image);
  await t.waitHealthy(s, image, 600_000);
}

describe('every container of the release', () => {
  test('containers and initContainers from the service repository change together; others stay', async () => {
    kube.addWorkload({
      name: 'api', namespace: 'shop',
      initContainers: [{ name: 'migrate', image: OLD }, { name: 'wait-db', image: 'busybox:1.36' }],
      containers: [{ name: 'envoy', image: 'envoyproxy/envoy:v1' }, { name: 'api', image: OLD }],
    });
    const t = open();
    expect(await t.current(svc('api'))).toEqual({ image: OLD, id: 'Deployment shop/api container api, initContainer migrate' });
    await rollTo(t, svc('api'), NEW);
    expect(kube.image('Deployment', 'api', 'api', 'shop')).toBe(NEW);
    expect(kube.initImage('Deployment', 'api', 'migrate', 'shop')).toBe(NEW);
    expect(kube.initImage('Deployment', 'api', 'wait-db', 'shop')).toBe('busybox:1.36');
    expect(kube.image('Deployment', 'api', 'envoy', 'shop')).toBe('envoyproxy/envoy:v1');
    // One patch for both, merged by name.
    const patches = kube.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0].body).toMatchObject({ spec: { template: { spec: { containers: [{ name: 'api', image: NEW }], initContainers: [{ name: 'migrate', image: NEW }] } } } });
  });

  test('container: names the only one to change', async () => {
    kube.addWorkload({ name: 'api', namespace: 'shop', initContainers: [{ name: 'migrate', image: OLD }], containers: [{ name: 'api', image: OLD }] });
    const t = open();
    await rollTo(t, svc('api', { kubernetes: { container: 'api' } }), NEW);
    expect(kube.image('Deployment', 'api', 'api', 'shop')).toBe(NEW);
    expect(kube.initImage('Deployment', 'api', 'migrate', 'shop')).toBe(OLD);
  });
});

describe('ownership guard', () => {
  test.each([
    ['Argo CD tracking-id', { annotations: { 'argocd.argoproj.io/tracking-id': 'shop-prod:apps/Deployment:shop/api' } },
      /^Service api: Deployment shop\/api is managed by Argo CD application shop-prod \(annotation argocd\.argoproj\.io\/tracking-id\), which would put its image back after a patch; roll back through the GitOps target on the manifests repository of application shop-prod, or turn off its automated sync and self-heal first, or set kubernetes\.managed: patch to patch it anyway$/],
    ['Argo CD label tracking', { labels: { 'app.kubernetes.io/instance': 'shop-prod' } },
      /managed by Argo CD application shop-prod \(label app\.kubernetes\.io\/instance \(Argo CD label tracking\)\)/],
    ['Flux Kustomization', { labels: { 'kustomize.toolkit.fluxcd.io/name': 'shop', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } },
      /managed by Flux Kustomization flux-system\/shop \(label kustomize\.toolkit\.fluxcd\.io\/name\), .*; roll back through the GitOps target on the repository Flux reconciles, or 'flux suspend kustomization shop -n flux-system' first/],
    ['Flux HelmRelease', { labels: { 'helm.toolkit.fluxcd.io/name': 'api', 'helm.toolkit.fluxcd.io/namespace': 'shop' }, annotations: { 'meta.helm.sh/release-name': 'api' } },
      /managed by Flux HelmRelease shop\/api .*'flux suspend helmrelease api -n shop' first/],
    ['Helm', { labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'api' }, annotations: { 'meta.helm.sh/release-name': 'api', 'meta.helm.sh/release-namespace': 'shop' } },
      /managed by Helm release api \(annotation meta\.helm\.sh\/release-name\), .*; roll back with 'helm rollback api -n shop' or through the chart's values in Git/],
  ])('%s: refused before anything changes, naming the controller and the way that works', async (_what, meta, sentence) => {
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }], ...meta });
    const t = open();
    expect(await t.refuse!(svc('api'), NEW)).toMatch(sentence);
    expect(kube.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  test('managed: patch warns, patches, and annotates who, when, from and to', async () => {
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }], annotations: { 'argocd.argoproj.io/tracking-id': 'shop-prod:apps/Deployment:shop/api' } });
    const t = open({ managed: 'patch' });
    await rollTo(t, svc('api'), NEW);
    expect(logger.lines.join('\n')).toMatch(/warning: api: Deployment shop\/api is managed by Argo CD application shop-prod .*; patching it anyway \(kubernetes\.managed: patch\)/);
    expect(kube.workload('Deployment', 'api', 'shop').metadata.annotations).toEqual({
      'argocd.argoproj.io/tracking-id': 'shop-prod:apps/Deployment:shop/api',
      'rollback.jenkins.io/by': 'alice',
      'rollback.jenkins.io/at': new Date(Date.parse('2026-11-21T03:00:00Z')).toISOString(),
      'rollback.jenkins.io/from': OLD,
      'rollback.jenkins.io/to': NEW,
    });
    expect(await t.controllerOf!(svc('api'))).toBe('Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id)');
  });

  test('a workload nobody else manages is neither refused nor annotated', async () => {
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }] });
    const t = open({ managed: 'patch' });
    expect(await t.controllerOf!(svc('api'))).toBeUndefined();
    await rollTo(t, svc('api'), NEW);
    const ann = kube.workload('Deployment', 'api', 'shop').metadata.annotations ?? {};
    expect(ann['rollback.jenkins.io/to']).toBe(NEW); // managed: patch annotates every patched workload
  });
});

describe('strategies that never roll out are refused in preflight', () => {
  test.each([
    ['StatefulSet OnDelete', { kind: 'StatefulSet' as const, updateStrategy: { type: 'OnDelete' as const } },
      'Service api: StatefulSet shop/api uses updateStrategy OnDelete, so a new image reaches no pod until each pod is deleted (kubectl rollout status refuses it too); switch it to RollingUpdate for the rollback'],
    ['DaemonSet OnDelete', { kind: 'DaemonSet' as const, updateStrategy: { type: 'OnDelete' as const } },
      'Service api: DaemonSet shop/api uses updateStrategy OnDelete, so a new image reaches no pod until each pod is deleted (kubectl rollout status refuses it too); switch it to RollingUpdate for the rollback'],
    ['partitioned StatefulSet', { kind: 'StatefulSet' as const, replicas: 3, updateStrategy: { type: 'RollingUpdate' as const, rollingUpdate: { partition: 2 } } },
      'Service api: StatefulSet shop/api has rollingUpdate.partition 2, so its pods below ordinal 2 would keep their image; set the partition to 0 for the rollback'],
    ['paused Deployment', { paused: true },
      'Service api: Deployment shop/api is paused, so a new image would not roll out; resume it first (kubectl rollout resume deployment/api -n shop)'],
  ])('%s', async (_what, spec, sentence) => {
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }], ...spec });
    const t = open();
    expect(await t.refuse!(svc('api'), NEW)).toBe(sentence);
  });

  test('what the double does with them is what makes them unsafe: no pod moves, yet a naive wait says done', async () => {
    kube.addWorkload({ kind: 'StatefulSet', name: 'db', namespace: 'shop', containers: [{ name: 'db', image: img('shop/db', '2-prod', 'a') }], updateStrategy: { type: 'OnDelete' } });
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }], paused: true });
    const t = open();
    // Bypass preflight, as a tool without it would.
    await t.deploy(svc('db'), img('shop/db', '1-prod', 'b'));
    const db = await t.waitHealthy(svc('db'), img('shop/db', '1-prod', 'b'), 60_000).catch((e) => e);
    expect(String(db.message)).toMatch(/failed: it uses updateStrategy OnDelete, which replaces no pod/);
    const st = kube.workload('StatefulSet', 'db', 'shop').status;
    expect(st.currentRevision).not.toBe(st.updateRevision);
    expect(st.updatedReplicas).toBe(0);
    await t.deploy(svc('api'), NEW);
    const api = await t.waitHealthy(svc('api'), NEW, 30_000).catch((e) => e);
    expect(String(api.message)).toMatch(/did not finish rolling out .* within 30s \(0 of 2 new replicas updated\)/);
  });
});

describe('CronJobs and Argo Rollouts', () => {
  test('a CronJob changes its jobTemplate, and the target says there is nothing to wait for', async () => {
    kube.addWorkload({ kind: 'CronJob', name: 'report', namespace: 'shop', containers: [{ name: 'report', image: img('shop/report', '2-prod', 'a') }] });
    const t = open();
    const to = img('shop/report', '1-prod', 'b');
    await rollTo(t, svc('report'), to);
    expect(kube.workload('CronJob', 'report', 'shop').spec.jobTemplate.spec.template.spec.containers[0].image).toBe(to);
    expect(logger.lines.join('\n')).toMatch(/report: CronJob shop\/report runs registry\.example\.com\/shop\/report:1-prod from its next Job on; a CronJob has no rollout, so there is nothing to wait for\./);
  });

  test('a Rollout with its own template is patched (JSON patch: no strategic merge on a CRD) and waited for until Healthy', async () => {
    kube.addWorkload({ kind: 'Rollout', name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }] });
    const t = open();
    await t.deploy(svc('api'), NEW);
    const patch = kube.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.contentType).toBe('application/json-patch+json');
    const looks = kube.requests.length;
    await t.waitHealthy(svc('api'), NEW, 600_000);
    expect(kube.requests.length - looks).toBeGreaterThanOrEqual(3);
    const st = kube.workload('Rollout', 'api', 'shop').status;
    expect([st.phase, st.stableRS === st.currentPodHash]).toEqual(['Healthy', true]);
    expect(kube.image('Rollout', 'api', 'api', 'shop')).toBe(NEW);
  });

  test('a degraded Rollout is a failure with its message', async () => {
    kube.addWorkload({ kind: 'Rollout', name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }] });
    kube.failNextRollout('api', 'degraded');
    const t = open();
    await t.deploy(svc('api'), NEW);
    const err = await t.waitHealthy(svc('api'), NEW, 600_000).catch((e) => e);
    expect(err.message).toBe('The rollout of Rollout shop/api (service api) to registry.example.com/shop/api:1-prod failed: it is Degraded (ProgressDeadlineExceeded: ReplicaSet has timed out progressing).');
  });

  test('a Rollout with workloadRef: the Deployment holding the template is patched, and the Rollout (not the scaled-down Deployment) is waited for', async () => {
    // The Deployment holding the template has the Rollout's name and is scaled to 0, as the Argo Rollouts migration guide sets it up.
    kube.addWorkload({ name: 'api', namespace: 'shop', replicas: 0, containers: [{ name: 'api', image: OLD }] });
    kube.addWorkload({ kind: 'Rollout', name: 'api', namespace: 'shop', workloadRef: { kind: 'Deployment', name: 'api' } });
    const t = open();
    expect((await t.current(svc('api'))).id).toBe('Rollout shop/api container api');
    await t.deploy(svc('api'), NEW);
    expect(kube.requests.find((r) => r.method === 'PATCH')!.path).toBe('/apis/apps/v1/namespaces/shop/deployments/api');
    // Right after the patch the Rollout still says Healthy at its old pod hash: not done.
    const looks = kube.requests.filter((r) => r.path.endsWith('/rollouts/api')).length;
    await t.waitHealthy(svc('api'), NEW, 600_000);
    expect(kube.requests.filter((r) => r.path.endsWith('/rollouts/api')).length - looks).toBeGreaterThanOrEqual(3);
    expect(kube.workload('Rollout', 'api', 'shop').status.phase).toBe('Healthy');
    expect(kube.image('Rollout', 'api', 'api', 'shop')).toBe(NEW);
  });

  test('a paused Rollout is refused', async () => {
    kube.addWorkload({ kind: 'Rollout', name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }], paused: true });
    expect(await open().refuse!(svc('api'), NEW)).toBe('Service api: Rollout shop/api is paused, so a new image would not roll out; resume it first (kubectl argo rollouts resume api)');
  });
});

test('rollouts that take time: the wait lasts as long as the rollout, by the clock the double and the target share', async () => {
  await kube.close();
  await start({ token: 't0k3n-abc', rolloutMs: 90_000, now: () => clock });
  kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: OLD }] });
  const t = open();
  await t.deploy(svc('api'), NEW);
  const t0 = clock;
  await t.waitHealthy(svc('api'), NEW, 600_000);
  expect(clock - t0).toBeGreaterThanOrEqual(90_000);
  expect(clock - t0).toBeLessThan(90_000 + 2_000);
  // Looks cost nothing: more GETs do not finish a rollout sooner.
  kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: img('shop/web', '2', 'c') }] });
  await t.deploy(svc('web'), img('shop/web', '1', 'd'));
  const err = await t.waitHealthy(svc('web'), img('shop/web', '1', 'd'), 30_000).catch((e) => e);
  expect(err.message).toMatch(/did not finish rolling out .* within 30s/);
});
