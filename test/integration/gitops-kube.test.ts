/**
 * Waiting for the cluster through the kubernetes target's reads (an environment naming a kubeconfig,
 * no Argo CD): against the GitHub double and the Kubernetes double, with the GitOps controller played
 * by the test (it applies the branch's images to the Deployments, or not). Healthy only once the
 * workload runs the committed image and its rollout is done; a commit never applied, or a rollout
 * that fails, is put back with a revert commit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import { memoryLogger } from '../../src/log';
import { runRollback } from '../../src/run/engine';
import { createGithubTarget } from '../../src/targets/gitops/github';
import type { Target } from '../../src/targets/types';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';
import { KubernetesDouble, startKubernetesDouble } from '../doubles/kubernetes-double';
import { engineDeps } from '../support/engine-deps';
import { runRequest, shopImage, twoDeployments, twoServiceCatalog } from '../support/gitops';

const GH_TOKEN = 'ghp_kube0123456789';
const KUBE_TOKEN = 'kube-token-0123456789';
const img = shopImage;
const START = twoDeployments(img('api', '39-prod', '1'), img('web', '5-prod', 'b'));
const catalog = twoServiceCatalog();

let gh: GithubDouble;
let kube: KubernetesDouble;
let dir: string;
let target: Target | undefined;

/** The GitOps controller: applies the branch head's images to the Deployments when `applies` says so. */
function controller(applies: (message: string) => boolean) {
  let seen = '';
  return () => {
    const head = gh.commits('shop/gitops', 'main')[0];
    if (head.sha === seen || !applies(head.message)) return;
    seen = head.sha;
    const text = gh.file('shop/gitops', 'main', 'prod/apps.yaml')!;
    for (const m of text.matchAll(/- name: (\w+)\n\s+image: (\S+)/g)) {
      if (kube.image('Deployment', m[1], m[1], 'shop') !== m[2]) kube.externalChange('Deployment', m[1], m[1], m[2], 'shop');
    }
  };
}

function setUp(applies: (message: string) => boolean) {
  const config = parseConfig(
    `registry: {url: https://registry.example.com}\ngithub: {token: '\${GH_TOKEN}', apiUrl: '${gh.url}'}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\n` +
    'environments:\n  prod:\n    target:\n      github: {repo: shop/gitops, paths: [prod/apps.yaml], kubernetes: {kubeconfig: kubeconfig}}\n',
    join(dir, 'rollback.yml'), { GH_TOKEN },
  );
  const tick = controller(applies);
  // One driven clock; each wait is also a turn of the GitOps controller.
  let t = Date.parse('2026-11-21T03:00:00Z');
  const clock = { now: () => new Date(t), sleep: async (ms: number) => { t += ms; tick(); } };
  target = createGithubTarget({ config, environment: config.environments.prod, env: {}, logger: memoryLogger(), stateDir: dir, pollMs: 5000, ...clock }, { github: { sleep: async () => undefined } });
  return { config, ...engineDeps(target, dir, clock) };
}

beforeEach(async () => {
  gh = await startGithubDouble({ token: GH_TOKEN });
  kube = await startKubernetesDouble({ token: KUBE_TOKEN });
  gh.addRepo('shop/gitops', 'main', { 'prod/apps.yaml': START });
  kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: img('api', '39-prod', '1') }] });
  kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: img('web', '5-prod', 'b') }] });
  dir = mkdtempSync(join(tmpdir(), 'gitops-kube-'));
  writeFileSync(join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c1, user: u1, namespace: shop}\nclusters:\n- name: c1\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u1\n  user: {token: ${KUBE_TOKEN}}\n`);
});

afterEach(async () => {
  await target?.close();
  await kube.close();
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
});

test('healthy once the Deployments run the committed images and their rollouts are done; the workloads are only read', async () => {
  const { config, d } = setUp(() => true);
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(0);
  expect(outcome.summary).toBe('Rollback of prod to 2026-11-18: 2 services changed (api, web), approved by alice.');
  expect(kube.image('Deployment', 'api', 'api', 'shop')).toBe(img('api', '38-prod', '3'));
  expect(kube.workload('Deployment', 'api', 'shop').status.updatedReplicas).toBe(kube.workload('Deployment', 'api', 'shop').spec.replicas);
  expect(kube.requests.filter((r) => r.method !== 'GET')).toEqual([]);
});

test('a commit the controller never applies times out and is reverted', async () => {
  const { config, d } = setUp((message) => !message.startsWith('Rollback of'));
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/\((api|web): Deployment shop\/\1 container \1 \(service \1\) still runs registry\.example\.com\/shop\/\1:(39|5)-prod@sha256:\w+ 60s after the commit: the GitOps controller did not apply it\); every changed service was put back \(api, web\)\.$/);
  expect(gh.commits('shop/gitops', 'main')[0].message).toMatch(/^Revert "Rollback of prod to 2026-11-18/);
  expect(gh.file('shop/gitops', 'main', 'prod/apps.yaml')).toBe(START);
});

test('a rollout that fails after the commit is applied is put back with a revert commit, applied in turn', async () => {
  const { config, d } = setUp(() => true);
  kube.failNextRollout('api', 'deadline');
  const outcome = await runRollback(d, runRequest(config.services, catalog, '2026-11-18'));
  expect(outcome.exitCode).toBe(1);
  expect(outcome.summary).toMatch(/^Rollback of prod to 2026-11-18 failed \(api: The rollout of Deployment shop\/api \(service api\) to registry\.example\.com\/shop\/api:38-prod failed: .*\); every changed service was put back \(api, web\)\.$/);
  expect(gh.commits('shop/gitops', 'main')[0].message).toMatch(/^Revert "Rollback of prod to 2026-11-18/);
  expect(kube.image('Deployment', 'api', 'api', 'shop')).toBe(img('api', '39-prod', '1'));
});
