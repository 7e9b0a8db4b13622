/**
 * The whole flow through the CLI's main(): the real Docker registry (images with chosen dates),
 * the Kubernetes API double as the target, and the GitHub double recording the Deployments audit:
 * get -> plan -> run that fails (progress deadline) and is put back -> run -> undo.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { pushImage, RunningRegistry, startRegistry } from '../support/registry';
import { GithubDouble, startGithubDouble } from '../doubles/github-double';
import { KubernetesDouble, startKubernetesDouble } from '../doubles/kubernetes-double';

const KUBE_TOKEN = 'kube-cli-token-abcdef123';
const GH_TOKEN = 'ghp_cli_token_0123456789';

let reg: RunningRegistry;
let kube: KubernetesDouble;
let gh: GithubDouble;
let dir: string;
const ref: Record<string, string> = {};

const cli = (...argv: string[]) => runCli([...argv, '--config', 'rollback.yml', '--env', 'prod'], { env: { KUBE_TOKEN, GH_TOKEN, PATH: process.env.PATH }, cwd: dir });

beforeAll(async () => {
  reg = await startRegistry();
  for (const [repo, tag, created] of [
    ['shop/api', '1-prod', '2026-11-15T10:00:00Z'], ['shop/api', '2-prod', '2026-11-18T10:00:00Z'], ['shop/api', '3-prod', '2026-11-20T10:00:00Z'],
    ['shop/web', '1-prod', '2026-11-14T10:00:00Z'], ['shop/web', '2-prod', '2026-11-19T10:00:00Z'],
  ]) {
    const digest = await pushImage(reg, { repository: repo, tag, created });
    ref[`${repo}:${tag}`] = `${reg.host}/${repo}:${tag}@${digest}`;
  }
});
afterAll(async () => {
  await reg.stop();
});

beforeEach(async () => {
  kube = await startKubernetesDouble({ token: KUBE_TOKEN });
  gh = await startGithubDouble({ token: GH_TOKEN });
  dir = mkdtempSync(join(tmpdir(), 'kube-cli-'));
  kube.addWorkload({ kind: 'StatefulSet', name: 'api', namespace: 'shop', containers: [{ name: 'api', image: ref['shop/api:3-prod'] }] });
  kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: ref['shop/web:2-prod'] }] });
  // The token lives in the kubeconfig as Jenkins would write it from a credential; the config names the file.
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c, user: u, namespace: shop}\nclusters:\n- name: c\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u\n  user: {token: ${KUBE_TOKEN}}\n`,
  );
  writeFileSync(
    join(dir, 'rollback.yml'),
    `registry:\n  url: ${reg.url}\nservices:\n  - {name: api, repository: shop/api}\n  - {name: web, repository: shop/web}\nenvironments:\n  prod:\n    target:\n      kubernetes: {kubeconfig: kubeconfig}\ngithub:\n  token: \${GH_TOKEN}\n  apiUrl: ${gh.url}\n  deployments: {repo: shop/audit, ref: main}\ndeployTimeout: 60\nsettle: 0\n`,
  );
});

afterEach(async () => {
  await kube.close();
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
});

const states = (service: string) =>
  gh.deployments.filter((d) => d.payload.service === service).map((d) => gh.statuses.get(d.id)!.map((s: { state: string }) => s.state));

test('get -> plan -> failing run put back -> run -> undo, with the GitHub Deployments audit', async () => {
  const got = await cli('get');
  expect(got.code).toBe(0);
  expect(got.stdout).toBe('2026-11-20\n2026-11-19\n2026-11-18\n2026-11-15\n2026-11-14\n');

  const plan = await cli('plan', '--date', '2026-11-18', '--json');
  expect(plan.stderr).toBe('');
  expect(plan.code).toBe(0);
  expect(plan.stdout).toContain(ref['shop/api:2-prod']);
  expect(plan.stdout).toContain(ref['shop/web:1-prod']);

  // web's rollout exceeds its progress deadline: both services end as they were.
  kube.failNextRollout('web', 'deadline');
  const failed = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
  if (process.env.SHOW_OUTPUT) process.stderr.write(failed.stderr);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toMatch(/web: .*exceeded its progress deadline/);
  expect(failed.stderr).toMatch(/put back/);
  expect(kube.image('StatefulSet', 'api', 'api', 'shop')).toBe(ref['shop/api:3-prod']);
  expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:2-prod']);
  expect(states('web')[0]).toEqual(['in_progress', 'failure', 'inactive']);
  expect(states('api')[0].slice(0, 1)).toEqual(['in_progress']);
  expect(states('api')[0].pop()).toBe('inactive');
  expect(gh.deployments[0]).toMatchObject({ environment: 'prod', ref: 'main', payload: { date: '2026-11-18', approver: 'alice' } });
  expect(gh.deployments[0].request).toMatchObject({ auto_merge: false, required_contexts: [] });

  const ok = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
  expect(ok.code).toBe(0);
  expect(kube.image('StatefulSet', 'api', 'api', 'shop')).toBe(ref['shop/api:2-prod']);
  expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:1-prod']);
  expect(states('api')[1]).toEqual(['in_progress', 'success']);
  expect(states('web')[1]).toEqual(['in_progress', 'success']);

  const undone = await cli('undo', '--approver', 'bob');
  expect(undone.code).toBe(0);
  expect(kube.image('StatefulSet', 'api', 'api', 'shop')).toBe(ref['shop/api:3-prod']);
  expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:2-prod']);
  expect(gh.deployments.slice(-2).map((d) => d.payload.approver)).toEqual(['bob', 'bob']);

  // Secrets never reach the output.
  for (const out of [got, plan, failed, ok, undone]) expect(out.stderr + out.stdout).not.toMatch(new RegExp(`${KUBE_TOKEN}|${GH_TOKEN}`));
});

test('an audit that GitHub refuses never fails the rollback', async () => {
  expect((await cli('get')).code).toBe(0);
  gh.serverErrors(100, 500, /deployments/);
  const ok = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
  expect(ok.code).toBe(0);
  expect(ok.stderr).toMatch(/warning: GitHub deployments in shop\/audit notification \(started\) failed, the rollback goes on/);
  expect(kube.image('StatefulSet', 'api', 'api', 'shop')).toBe(ref['shop/api:2-prod']);
});

describe('a workload Argo CD manages with self-heal', () => {
  const ARGO = { 'argocd.argoproj.io/tracking-id': 'shop-prod:apps/Deployment:shop/web' };
  const config = (extra: string, settle: number) =>
    readFileSync(join(dir, 'rollback.yml'), 'utf8').replace('kubernetes: {kubeconfig: kubeconfig}', `kubernetes: {kubeconfig: kubeconfig${extra}}`).replace('settle: 0', `settle: ${settle}`);

  beforeEach(() => {
    kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: ref['shop/web:2-prod'] }], annotations: ARGO });
  });

  /** managed: patch, Argo CD healing web 1.5 s after any change (after its rollout is healthy), and a run with this settle. */
  async function runAgainstSelfHeal(settle: number) {
    expect((await cli('get')).code).toBe(0);
    writeFileSync(join(dir, 'rollback.yml'), config(', managed: patch', settle));
    const heal = kube.selfHeal('Deployment', 'web', 1500, 'shop');
    const out = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
    if (process.env.SHOW_OUTPUT) process.stderr.write(out.stderr);
    return { heal, out };
  }

  test('is refused before anything changes, naming Argo CD and the ways that work', async () => {
    expect((await cli('get')).code).toBe(0);
    const out = await cli('run', '--date', '2026-11-18', '--approver', 'alice');
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback: Preflight: Service web: Deployment shop/web is managed by Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id), which would put its image back after a patch; roll back through the GitOps target on the manifests repository of application shop-prod, or turn off its automated sync and self-heal first, or set kubernetes.managed: patch to patch it anyway; nothing was changed.');
    expect(kube.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  test('managed: patch and a self-heal within settle: exit 1, the fleet as it was, never done', async () => {
    const { heal, out } = await runAgainstSelfHeal(4);
    expect(out.code).toBe(1);
    expect(heal.count()).toBe(1);
    expect(out.stderr).toMatch(/warning: web: Deployment shop\/web is managed by Argo CD application shop-prod .*patching it anyway/);
    expect(out.stderr).toContain(`(web: moved away from ${ref['shop/web:1-prod']} within 4s of becoming healthy: it runs ${ref['shop/web:2-prod']} (likely cause: Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id) put it back)); every changed service was put back (api).`);
    expect(kube.image('StatefulSet', 'api', 'api', 'shop')).toBe(ref['shop/api:3-prod']);
    expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:2-prod']);
    expect(out.stderr).not.toMatch(/services? changed/);
    // The audit ends with every service's deployment inactive (put back), none left at success.
    expect(gh.deployments.map((d) => gh.statuses.get(d.id)!.map((s: { state: string }) => s.state).pop())).toEqual(['inactive', 'inactive']);
  });

  test('with settle: 0 the same run reports done, and the platform undoes it moments later', async () => {
    const { heal, out } = await runAgainstSelfHeal(0);
    expect(out.code).toBe(0);
    expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:1-prod']);
    await new Promise((r) => setTimeout(r, 2000));
    expect(heal.count()).toBe(1);
    expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:2-prod']);
  });
});
