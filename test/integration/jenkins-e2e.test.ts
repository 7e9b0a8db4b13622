/**
 * End to end, the way an operator meets it: Jenkinsfile.example on real Groovy 2.4 (the pipeline
 * harness), the real worker bundle (resources/rollback.js, built by `npm test`), the REAL registry
 * with basic auth, and the Marathon and Slack doubles. Credentials reach the worker only through
 * withCredentials; the fleet really goes back to the picked date.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readyOrFail, registryMissing } from '../support/ready';
import { pushImage, startRegistry, type RunningRegistry } from '../support/registry';
import { startMarathon, type MarathonDouble } from '../doubles/marathon-double';
import { startSlack, type SlackDouble } from '../doubles/slack-double';
import { startKubernetesDouble, type KubernetesDouble } from '../doubles/kubernetes-double';
import { startGithubDouble, type GithubDouble } from '../doubles/github-double';
import { ROOT, Scenario, ScenarioResult, runScenarios, shCalls, stepsNamed } from '../groovy/harness';

const maybe = readyOrFail('jenkins-e2e', registryMissing()
  ?? (existsSync(join(ROOT, 'resources', 'rollback.js')) ? undefined : 'The worker bundle resources/rollback.js is missing: run `npm run build` first.'));

const REGISTRY = { username: 'jenkins', password: 'reg-Secret-e2e-77' };
const MARATHON = { username: 'ops', password: 'marathon-Secret-e2e-42' };
const KUBE_TOKEN = 'kube-Secret-e2e-31';
const GH_TOKEN = 'ghp_Secret_e2e_0123456789';
const D = '2026-11-19';

// prod: api has no image on D (goes to its newest before), web was built late on D.
const IMAGES = [
  { repository: 'shop/api', tag: '1-prod', created: '2026-11-17T10:00:00Z' },
  { repository: 'shop/api', tag: '2-prod', created: '2026-11-20T09:00:00Z' },
  { repository: 'shop/web', tag: '1-prod', created: '2026-11-17T08:00:00Z' },
  { repository: 'shop/web', tag: '2-prod', created: '2026-11-19T23:30:00Z' },
  { repository: 'shop/web', tag: '3-prod', created: '2026-11-20T11:00:00Z' },
  { repository: 'shop/api', tag: '1-stage', created: '2026-11-10T10:00:00Z' },
  { repository: 'shop/api', tag: '2-stage', created: '2026-11-18T10:00:00Z' },
  { repository: 'shop/web', tag: '1-stage', created: '2026-11-12T10:00:00Z' },
  { repository: 'shop/web', tag: '2-stage', created: '2026-11-18T12:00:00Z' },
  { repository: 'shop/api', tag: '1-dev', created: '2026-11-15T10:00:00Z' },
  { repository: 'shop/web', tag: '1-dev', created: '2026-11-15T11:00:00Z' },
];

maybe('Jenkinsfile.example end to end (real Groovy, real worker, real registry, Marathon and Slack doubles)', () => {
  let reg: RunningRegistry;
  let marathon: MarathonDouble;
  let slack: SlackDouble;
  let kube: KubernetesDouble;
  let gh: GithubDouble;
  const ref: Record<string, string> = {};
  let dir: string;
  let results: Map<string, ScenarioResult>;
  let before: Record<string, string>;
  let afterPick: Record<string, string>;
  const pwned = join(tmpdir(), `pwned-e2e-${process.pid}`);
  const images = () => Object.fromEntries([...marathon.apps.values()].map((a) => [a.id, a.container.docker.image]));
  const result = (name: string) => results.get(name)!;

  beforeAll(async () => {
    reg = await startRegistry({ auth: REGISTRY });
    for (const i of IMAGES) ref[`${i.repository}:${i.tag}`] = `${reg.host}/${i.repository}:${i.tag}@${await pushImage(reg, i)}`;
    slack = await startSlack();
    const app = (env: string, service: string, tag: string) => ({ id: `/ds/${env}/${service}`, image: `${reg.host}/shop/${service}:${tag}` });
    marathon = await startMarathon({
      deployMs: 20,
      auth: { basic: MARATHON },
      apps: [app('prod', 'api', '2-prod'), app('prod', 'web', '3-prod'), app('stage', 'api', '2-stage'), app('stage', 'web', '2-stage'), app('dev', 'api', '1-dev'), app('dev', 'web', '1-dev')],
    });
    before = images();
    dir = mkdtempSync(join(tmpdir(), 'jenkins-e2e-'));
    const repo = join(dir, 'repo');
    mkdirSync(repo);
    const target = (env: string) => [
      `  ${env}:`, '    target:', '      marathon:', `        url: ${marathon.url}`, `        appPrefix: /ds/${env}`,
      '        username: ${TARGET_USER}', '        password: ${TARGET_PASSWORD}',
    ];
    writeFileSync(join(repo, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, '  username: ${REGISTRY_USER}', '  password: ${REGISTRY_PASSWORD}',
      'services:', '  - name: api', '    repository: shop/api', '  - name: web', '    repository: shop/web',
      'environments:', ...target('prod'), ...target('stage'), ...target('dev'),
      'deployTimeout: 5', 'settle: 0',
      'notify:', '  slack:', '    webhook: ${SLACK_WEBHOOK}', '',
    ].join('\n'));
    const jenkinsfile = readFileSync(join(ROOT, 'Jenkinsfile.example'), 'utf8');
    const scenario = (name: string, extra: Partial<Scenario>): Scenario => ({
      name,
      jenkinsfile,
      repo,
      credentials: {
        'rollback-registry': REGISTRY,
        'rollback-target': MARATHON,
        'rollback-slack': { secret: slack.webhook },
      },
      ...extra,
    });
    // The Rollback and Undo stages run on the agent labelled 'rollback', whose workspace outlives the build.
    const rollbackAgent = { agents: { rollback: 'rollback-agent' }, agentsDir: join(dir, 'agents') };
    // A Kubernetes environment: its kubeconfig (with a token) exists only as a Jenkins Secret file
    // credential, and the GitHub Deployments audit reads GITHUB_TOKEN from a Secret text credential.
    kube = await startKubernetesDouble({ token: KUBE_TOKEN });
    gh = await startGithubDouble({ token: GH_TOKEN });
    kube.addWorkload({ name: 'api', namespace: 'shop', containers: [{ name: 'api', image: ref['shop/api:2-prod'] }] });
    kube.addWorkload({ name: 'web', namespace: 'shop', containers: [{ name: 'web', image: ref['shop/web:3-prod'] }] });
    const kubeRepo = join(dir, 'repo-kubernetes');
    mkdirSync(kubeRepo);
    writeFileSync(join(kubeRepo, 'rollback.yml'), [
      'registry:', `  url: ${reg.url}`, '  username: ${REGISTRY_USER}', '  password: ${REGISTRY_PASSWORD}',
      'services:', '  - name: api', '    repository: shop/api', '  - name: web', '    repository: shop/web',
      // No kubeconfig: here: the worker reads $KUBECONFIG, which kubeconfigCredentialsId binds.
      'environments:', '  prod:', '    target:', '      kubernetes: {}',
      'github:', '  token: ${GITHUB_TOKEN}', `  apiUrl: ${gh.url}`, '  deployments: {repo: shop/audit, ref: main}',
      'deployTimeout: 30', 'settle: 0', '',
    ].join('\n'));
    const kubeconfig = `apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c, user: u, namespace: shop}\n` +
      `clusters:\n- name: c\n  cluster: {server: '${kube.url}'}\nusers:\n- name: u\n  user: {token: ${KUBE_TOKEN}}\n`;
    results = await runScenarios([
      scenario('kubernetes-credentials', {
        jenkinsfile: "@Library('rollback') _\nrollback(env: 'prod', date: '2026-11-19', approver: 'alice', registryCredentialsId: 'rollback-registry',\n" +
          "         kubeconfigCredentialsId: 'kube-prod', githubCredentialsId: 'github-rollback')\n",
        repo: kubeRepo,
        credentials: { 'rollback-registry': REGISTRY, 'kube-prod': { content: kubeconfig, fileName: 'config' }, 'github-rollback': { secret: GH_TOKEN } },
      }),
      scenario('prod-pick', { params: { environment: 'prod' }, inputs: [{ DATE: D, user: 'alice' }], ...rollbackAgent }),
      scenario('stage-dry-run', { params: { environment: 'stage', DATE: '2026-11-12', DRY_RUN: true } }),
      scenario('dev-injection', { params: { environment: 'dev', DATE: `2026-01-01; touch ${pwned}` } }),
    ]);
    afterPick = images();
    // A later build: UNDO, started by bob, on the same agent.
    const later = await runScenarios([
      scenario('prod-undo', { params: { environment: 'prod', UNDO: true }, causes: [{ _class: 'hudson.model.Cause$UserIdCause', userId: 'bob' }], ...rollbackAgent }),
    ]);
    results.set('prod-undo', later.get('prod-undo')!);
  }, 240_000);

  afterAll(async () => {
    await marathon?.stop();
    await slack?.stop();
    await kube?.close();
    await gh?.close();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(pwned, { force: true });
  });

  test('prod, pick D: the whole fleet runs the digest-pinned images of D, approved by alice', async () => {
    const r = result('prod-pick');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    const [input] = stepsNamed(r, 'input');
    const [param] = input.parameters as Array<{ choices: string[]; description: string }>;
    expect(param.choices).toEqual(['2026-11-20', '2026-11-19', '2026-11-17']);
    // The question shows what D would do before anyone chooses it.
    expect(param.description).toContain(`${D}:\n`);
    expect(param.description).toContain('shop/web:2-prod@sha256:');
    expect(afterPick['/ds/prod/api']).toMatch(new RegExp(`^${reg.host}/shop/api:1-prod@sha256:[0-9a-f]{64}$`));
    expect(afterPick['/ds/prod/web']).toMatch(new RegExp(`^${reg.host}/shop/web:2-prod@sha256:[0-9a-f]{64}$`));
    expect(slack.allText()).toContain('alice');
    expect(slack.allText()).toContain(D);
    expect(r.description).toBe(`rolled back prod to ${D}`);
  });

  test('prod, UNDO in a later build on the rollback agent: the fleet runs the images from before the rollback again', () => {
    const r = result('prod-undo');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    expect(stepsNamed(r, 'stage').filter((s) => s.ran).map((s) => s.name)).toEqual(['Undo']);
    expect(images()['/ds/prod/api']).toBe(before['/ds/prod/api']);
    expect(images()['/ds/prod/web']).toBe(before['/ds/prod/web']);
    // The run's snapshot was archived with its build, and the undo's with this one.
    const archived = (name: string) => stepsNamed(result(name), 'archiveArtifacts').flatMap((c) => c.files as string[]);
    expect(archived('prod-pick')).toEqual([expect.stringMatching(/^\.rollback\/runs\/prod-.*-run-\d+\.json$/), '.rollback/runs/prod-latest.json']);
    expect(archived('prod-undo')).toEqual([expect.stringMatching(/^\.rollback\/runs\/prod-.*-undo-\d+\.json$/), '.rollback/runs/prod-latest.json']);
    expect(slack.allText()).toContain('bob');
    expect(r.description).toBe('undo of the last rollback of prod: done');
  });

  test('stage, DRY_RUN with a DATE: no question, no change', () => {
    const r = result('stage-dry-run');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    expect(stepsNamed(r, 'input')).toEqual([]);
    expect(images()['/ds/stage/api']).toBe(before['/ds/stage/api']);
    expect(images()['/ds/stage/web']).toBe(before['/ds/stage/web']);
    expect(marathon.requests.filter((q) => q.method !== 'GET' && q.path.includes('/ds/stage'))).toEqual([]);
    expect(r.description).toBe('dry run of rollback of stage to 2026-11-12: checked, nothing was changed');
  });

  test('dev, a DATE with shell syntax: nothing runs, nothing changes, one bad-input sentence', () => {
    const r = result('dev-injection');
    expect(existsSync(pwned)).toBe(false);
    expect(r.result).toBe('FAILURE');
    expect(r.error).toMatch(/^rollback run: bad input: .*2026-01-01; touch .*2026-11-15/);
    expect(images()['/ds/dev/api']).toBe(before['/ds/dev/api']);
    expect(marathon.requests.filter((q) => q.method !== 'GET' && q.path.includes('/ds/dev'))).toEqual([]);
  });

  test('Kubernetes: the kubeconfig from a Secret file credential and the GitHub token from a Secret text one reach the real worker', () => {
    const r = result('kubernetes-credentials');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    expect(kube.image('Deployment', 'api', 'api', 'shop')).toBe(ref['shop/api:1-prod']);
    expect(kube.image('Deployment', 'web', 'web', 'shop')).toBe(ref['shop/web:2-prod']);
    // Every call to the cluster carried the token that only the credential's kubeconfig holds.
    expect(kube.requests.length).toBeGreaterThan(0);
    expect(new Set(kube.requests.map((q) => q.authorization))).toEqual(new Set([`Bearer ${KUBE_TOKEN}`]));
    expect(gh.deployments.map((d) => [d.payload.service, d.payload.approver]).sort()).toEqual([['api', 'alice'], ['web', 'alice']]);
  });

  test('with the real 2 MB bundle: no call needs script approval, no CPS local holds the bundle or cannot be saved', () => {
    const violations = [...results.values()].flatMap((r) => r.sandbox.violations.map((v) => `${r.name}: ${v.message}`));
    expect(violations).toEqual([]);
    // The checks ran: the example's call sites were reached.
    expect(result('prod-pick').sandbox.sites.filter((s) => s.reached).length).toBeGreaterThan(100);
  });

  test('no secret reaches a shell script, the parameters, the log or the description', () => {
    for (const r of results.values()) {
      const visible = JSON.stringify(shCalls(r).map((c) => [c.script, c.env.ROLLBACK_PARAMS])) + r.log + (r.description ?? '');
      for (const secret of [REGISTRY.password, MARATHON.password, slack.secret, KUBE_TOKEN, GH_TOKEN]) expect(visible).not.toContain(secret);
    }
  });
});
