/**
 * vars/rollback.groovy and Jenkinsfile.example on real Groovy 2.4, in the pipeline harness, with a
 * stand-in worker (test/groovy/stub-worker) that records exactly what each invocation was given.
 * The real worker runs end to end in jenkins-e2e.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, Scenario, ScenarioResult, runScenarios, shCalls, stepsNamed, workerCalls } from '../groovy/harness';
import { buildWorkerBundle, type WorkerBundle } from '../support/worker-bundle';

const WORKER_SCRIPT = `set +ex
if [ -f "$ROLLBACK_WORKER.part" ]; then mv -f "$ROLLBACK_WORKER.part" "$ROLLBACK_WORKER" || exit 1; fi
command -v node >/dev/null 2>&1 || exit 127
{ node "$ROLLBACK_WORKER" "$ROLLBACK_COMMAND" 2>&1 >"$ROLLBACK_OUT"; echo $? >"$ROLLBACK_RC"; } |
    tee "$ROLLBACK_ERR" >&2
exit "$(cat "$ROLLBACK_RC")"`;

const DATES = ['2026-11-19', '2026-11-17', '2026-11-12', '2026-11-02'];
const SECRETS = { registry: 'reg-pass-Zq81x', target: 'target-pass-Lm42w', slack: 'https://hooks.slack.invalid/services/T0/B0/sl4ck' };
// The other targets' secrets and the general `credentials:` list (secret text, file, username/password).
const MORE = { kubeconfig: 'apiVersion: v1\nkind: Config\nusers: [{name: ci, user: {token: kube-Tok3n-9x}}]\n', github: 'ghp_Secret0123456789abc',
  dcos: 'dcos-Tok-55q', vault: 'vault-Pass-77r', ca: '-----BEGIN CERTIFICATE-----\nCA-body-Qx\n' };
const CREDENTIALS = {
  'rollback-registry': { username: 'reg-user', password: SECRETS.registry },
  'rollback-target': { username: 'deployer', password: SECRETS.target },
  'rollback-slack': { secret: SECRETS.slack },
  'kube-prod': { content: MORE.kubeconfig, fileName: 'kubeconfig' },
  'github-rollback': { secret: MORE.github },
  'dcos-token': { secret: MORE.dcos },
  vault: { username: 'vault-user', password: MORE.vault },
  'extra-ca': { content: MORE.ca, fileName: 'ca.pem' },
  'docker-config': { content: '{"auths":{"registry.example.com":{"auth":"Y2k6ZG9ja2VyLWNvbmZpZy1wYXNz"}}}', fileName: 'config.json' },
  'edge-ssh': { username: 'deploy', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nssh-Key-body-Zt9\n-----END OPENSSH PRIVATE KEY-----\n' },
};
const ALL_CREDENTIALS = `kubeconfigCredentialsId: 'kube-prod', githubCredentialsId: 'github-rollback',
  credentials: [[id: 'dcos-token', type: 'string', variable: 'DCOS_TOKEN'],
                [id: 'vault', type: 'usernamePassword', usernameVariable: 'VAULT_USER', passwordVariable: 'VAULT_PASS'],
                [id: 'extra-ca', type: 'file', variable: 'EXTRA_CA']]`;
const badCredentials = (entry: string) => `@Library('rollback') _\nnode { rollback.choices(env: 'prod', credentials: [${entry}]) }\n`;

let dir: string;
let bundle: WorkerBundle;
let results: Map<string, ScenarioResult>;
const pwned = join(tmpdir(), `pwned-${process.pid}`);
const injected = `2026-01-01; touch ${pwned}`;

interface WorkerRecord {
  argv: string[];
  params: Record<string, unknown>;
  cwd: string;
  secrets: Record<string, number>;
  files: Record<string, number>;
  paths: Record<string, string>;
  latest: string | null;
}
/**
 * Deliberately unsafe changes, each applied to a copy of vars/rollback.groovy: the sandbox and CPS checks
 * must fail them naming the call and its line. `line` is the 1-based line the failure must name.
 */
interface Unsafe {
  name: string;
  vars: string;
  line: number;
}
const STEP = readFileSync(join(ROOT, 'vars', 'rollback.groovy'), 'utf8');
function unsafeCopy(name: string, change: (lines: string[]) => string[], expectAt: RegExp): Unsafe {
  const lines = change(STEP.split('\n'));
  const copy = join(dir, `vars-${name}`);
  mkdirSync(copy);
  writeFileSync(join(copy, 'rollback.groovy'), lines.join('\n'));
  const line = lines.findIndex((l) => expectAt.test(l)) + 1;
  if (line === 0) throw new Error(`${name}: no line matches ${expectAt}`);
  return { name, vars: copy, line };
}
/** Inserts `added` after the first line matching `after`. */
const insertAfter = (after: RegExp, ...added: string[]) => (lines: string[]) => {
  const i = lines.findIndex((l) => after.test(l));
  if (i < 0) throw new Error(`no line matches ${after}`);
  return [...lines.slice(0, i + 1), ...added, ...lines.slice(i + 1)];
};
const unsafe: Record<string, Unsafe> = {};

const records = (name: string): WorkerRecord[] => {
  const file = join(dir, `${name}.jsonl`);
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
};
const result = (name: string) => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jenkins-steps-'));
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  writeFileSync(join(repo, 'rollback.yml'), 'registry: { url: http://127.0.0.1:1 }\n');
  // An agent with an old Node: this node, reporting v18.19.0, running the real worker built from src/.
  const oldNode = join(dir, 'old-node');
  mkdirSync(oldNode);
  writeFileSync(join(oldNode, 'v18.js'), "Object.defineProperty(process.versions, 'node', { value: '18.19.0' });\n");
  writeFileSync(join(oldNode, 'node'), `#!/bin/sh\nexec '${process.execPath}' -r '${join(oldNode, 'v18.js')}' "$@"\n`);
  chmodSync(join(oldNode, 'node'), 0o755);
  // An agent without Node.js: only the tools the worker script itself uses.
  const noNode = join(dir, 'no-node');
  mkdirSync(noNode);
  for (const tool of ['mv', 'tee', 'cat']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(noNode, tool));
  bundle = await buildWorkerBundle();
  writeFileSync(join(dirname(bundle.file), 'rollback.version'), 'src-build\n');
  // A bundle as large as the real one (2 MB), for the local-holds-the-bundle check.
  const bigBundle = join(dir, 'big-bundle');
  mkdirSync(bigBundle);
  writeFileSync(join(bigBundle, 'rollback.js'), readFileSync(join(ROOT, 'test', 'groovy', 'stub-worker', 'rollback.js'), 'utf8') + `//${'x'.repeat(2_000_000)}\n`);
  writeFileSync(join(bigBundle, 'rollback.version'), 'big-1\n');
  const choicesStart = /^List choices\(Map args/;
  unsafe.file = unsafeCopy('file', insertAfter(choicesStart, "    String host = new File('/etc/hostname').text"), /new File\('\/etc\/hostname'\)/);
  unsafe.sort = unsafeCopy('sort', insertAfter(choicesStart, '    List order = [3, 1, 2].sort { a, b -> a <=> b }'), /\.sort \{/);
  unsafe.matcher = unsafeCopy('matcher', insertAfter(/^\s+Map given = \[config:/, '    java.util.regex.Matcher found = (command =~ /e/)'), /^\s+withEnv\(vars\) \{/);
  unsafe.nonCps = unsafeCopy('noncps', (lines) => [
    ...insertAfter(choicesStart, "    shout('listing')")(lines),
    '', '@NonCPS', 'private String shout(String text) {', '    echo(text)', '    return text', '}', ''], /^\s+echo\(text\)/);
  unsafe.bundle = unsafeCopy('bundle', (lines) => lines.flatMap((l) => (/writeFile\(file: "\$\{path\}\.part"/.test(l)
    ? ["        String text = libraryResource(resource: 'rollback.js', encoding: 'UTF-8')", '        writeFile(file: "${path}.part", text: text, encoding: \'UTF-8\')']
    : [l])), /writeFile\(file: "\$\{path\}\.part", text: text/);
  const onNode = (body: string) => `@Library('rollback') _\nnode {\n  ${body}\n}\n`;
  const PLANS = "List dates = rollback.choices(env: 'prod')\n  Map previews = rollback.plans(env: 'prod', dates: dates, count: 2)\n  echo \"previews: ${previews.size()}: ${previews['2026-11-19'].trim()}\"";
  const unsafeScenario = (u: Unsafe, extra: Partial<Scenario> = {}) =>
    scenario(`unsafe-${u.name}`, { jenkinsfile: "@Library('rollback') _\nnode { rollback.choices(env: 'prod') }\n", vars: u.vars, ...extra });

  const jenkinsfile = readFileSync(join(ROOT, 'Jenkinsfile.example'), 'utf8');
  const scenario = (name: string, extra: Partial<Scenario> = {}): Scenario => ({
    name,
    jenkinsfile,
    // Call sites of the example itself are counted for the sandbox coverage; inline scripts are not.
    jenkinsfileName: extra.jenkinsfile ? 'Jenkinsfile' : 'Jenkinsfile.example',
    repo,
    resources: join(ROOT, 'test', 'groovy', 'stub-worker'),
    credentials: CREDENTIALS,
    params: { environment: 'prod' },
    ...extra,
    agentEnv: { STUB_RECORD: join(dir, `${name}.jsonl`), STUB_DATES: DATES.join(','), ...extra.agentEnv },
  });
  const pick = { DATE: '2026-11-17', user: 'alice' };
  // Builds of the example job on one agent labelled 'rollback', whose workspace outlives each build.
  const onRollbackAgent = (agentsDir: string) => ({ agents: { rollback: 'rollback-agent' }, agentsDir: join(dir, agentsDir) });
  const bob = [{ _class: 'hudson.model.Cause$UserIdCause', userId: 'bob' }];
  results = await runScenarios([
    scenario('undo-1-run', { inputs: [pick], ...onRollbackAgent('agents-a') }),
    // A DATE left over from an earlier build is ignored when UNDO is set.
    scenario('undo-2-later', { params: { environment: 'prod', UNDO: true, DATE: '2026-11-12' }, causes: bob, ...onRollbackAgent('agents-a') }),
    scenario('undo-3-dry', { params: { environment: 'prod', UNDO: true, DRY_RUN: true }, ...onRollbackAgent('agents-a') }),
    scenario('undo-elsewhere', { params: { environment: 'prod', UNDO: true }, ...onRollbackAgent('agents-b') }),
    scenario('undo-same-build', {
      jenkinsfile: "@Library('rollback') _\nnode('rollback') {\n  rollback.choices(env: 'dev')\n  rollback.run(env: 'dev', date: '2026-11-02')\n" +
        "  String first = rollback.undo(env: 'dev')\n  echo \"first undo wrote ${first}\"\n  rollback.undo(env: 'dev', snapshot: first, approver: 'carol')\n}\n",
      ...onRollbackAgent('agents-c'),
    }),
    scenario('archive-off', {
      jenkinsfile: "@Library('rollback') _\nnode('rollback') {\n  rollback.choices(env: 'dev')\n  rollback.run(env: 'dev', date: '2026-11-02', archive: false)\n}\n",
      ...onRollbackAgent('agents-d'),
    }),
    scenario('archive-fails', {
      inputs: [pick], archiveFails: 'No space left on device',
      agentEnv: { STUB_RUN_EXIT: '3', STUB_RUN_SAYS: 'web is on web:1.2, api could not be put back.' },
    }),
    scenario('credentials-all', {
      jenkinsfile: `@Library('rollback') _\nnode { rollback.choices(env: 'prod', ${ALL_CREDENTIALS}) }\n`,
      agentEnv: { STUB_SECRET_VARS: 'DCOS_TOKEN,VAULT_USER,VAULT_PASS', STUB_FILE_VARS: 'EXTRA_CA' },
    }),
    scenario('credentials-docker-config', {
      jenkinsfile: "@Library('rollback') _\nnode { rollback.choices(env: 'prod', dockerConfigCredentialsId: 'docker-config') }\n",
      agentEnv: { STUB_FILE_VARS: 'ROLLBACK_DOCKER_CONFIG_FILE' },
    }),
    scenario('credentials-ssh', {
      jenkinsfile: "@Library('rollback') _\nnode { rollback.choices(env: 'edge', sshCredentialsId: 'edge-ssh') }\n",
      agentEnv: { STUB_SECRET_VARS: 'SSH_USER', STUB_FILE_VARS: 'SSH_KEY_FILE' },
    }),
    scenario('credentials-bad-type', { jenkinsfile: badCredentials("[id: 'vault', type: 'sshUserPrivateKey', variable: 'KEY']") }),
    scenario('credentials-bad-name', { jenkinsfile: badCredentials(`[id: 'dcos-token', type: 'string', variable: 'T; touch ${pwned}']`) }),
    scenario('credentials-reserved', { jenkinsfile: badCredentials("[id: 'vault', type: 'usernamePassword', usernameVariable: 'U', passwordVariable: 'ROLLBACK_PARAMS']") }),
    scenario('credentials-no-id', { jenkinsfile: badCredentials("[type: 'string', variable: 'TOKEN']") }),
    scenario('pick', { inputs: [pick] }),
    scenario('date-given', { params: { environment: 'stage', DATE: ' 2026-11-12 ' }, causes: [{ _class: 'hudson.model.Cause$UserIdCause', userId: 'bob' }] }),
    scenario('injection', { params: { environment: 'prod', DATE: injected } }),
    scenario('timeout', { inputs: ['timeout'] }),
    scenario('abort', { inputs: ['abort'] }),
    scenario('timeout-clock-step', { inputs: ['timeout-early'] }),
    scenario('dry-run', { params: { environment: 'prod', DRY_RUN: true }, inputs: [pick] }),
    scenario('no-node', { agentEnv: { PATH: noNode } }),
    scenario('old-node', { agentEnv: { PATH: `${oldNode}:/usr/bin:/bin` }, resources: dirname(bundle.file) }),
    scenario('preview-fails', { inputs: [pick], agentEnv: { STUB_PLAN_SAYS: 'Marathon at http://marathon.invalid answered 503.' } }),
    scenario('run-fails', { inputs: [pick], agentEnv: { STUB_RUN_EXIT: '1', STUB_RUN_SAYS: 'api did not become healthy; all 3 services were put back.' } }),
    scenario('run-partly', { inputs: [pick], agentEnv: { STUB_RUN_EXIT: '3', STUB_RUN_SAYS: 'web is on web:1.2, api could not be put back.' } }),
    scenario('whole-flow', {
      jenkinsfile: "@Library('rollback') _\nrollback(env: 'prod', registryCredentialsId: 'rollback-registry', timeout: 60, submitter: 'ops,carol')\n",
      inputs: [{ DATE: '2026-11-19', user: 'carol' }],
    }),
    scenario('submitter-group', {
      jenkinsfile: "@Library('rollback') _\nrollback(env: 'prod', timeout: 60, submitter: ' Release , OPS ')\n",
      inputs: [{ DATE: '2026-11-19', user: 'alice' }], groups: { alice: ['ops'] },
    }),
    scenario('whole-flow-date', { jenkinsfile: "@Library('rollback') _\nrollback(env: 'dev', date: '2026-11-02', approver: 'release-bot')\n" }),
    scenario('plan-step', {
      jenkinsfile: "@Library('rollback') _\nnode { rollback.choices(env: 'prod') }\nnode { def table = rollback.plan(env: 'prod', date: '2026-11-12'); echo \"returned ${table.length()} characters\" }\n",
    }),
    scenario('record-step', {
      jenkinsfile: "@Library('rollback') _\nnode {\n  String point = rollback.record(env: 'prod', registryCredentialsId: 'rollback-registry')\n  echo \"recorded ${point}\"\n}\n",
    }),
    scenario('points-flow', {
      jenkinsfile: "@Library('rollback') _\ndef points\ndef labels\nnode { points = rollback.choices(env: 'prod', points: 'released') }\n" +
        "node { labels = rollback.labels(env: 'prod') }\n" +
        "def picked = rollback.select(env: 'prod', choices: points, labels: labels, timeout: 60)\nnode { rollback.run([env: 'prod'] + picked) }\n",
      inputs: [{ DATE: '2026-11-25T14:02:11Z  api 1.1, web 401 (Jenkins #411)', user: 'alice' }], agentEnv: { STUB_DATES: '2026-11-26T09:00:00Z,2026-11-25T14:02:11Z' },
    }),
    scenario('points-whole-flow', {
      jenkinsfile: "@Library('rollback') _\nrollback(env: 'prod', points: 'released', timeout: 60)\n",
      inputs: [{ DATE: '2026-11-25T14:02:11Z  api 1.1, web 401 (Jenkins #411)', user: 'carol' }], agentEnv: { STUB_DATES: '2026-11-26T09:00:00Z,2026-11-25T14:02:11Z' },
    }),
    scenario('record-fails', {
      jenkinsfile: "@Library('rollback') _\nnode { rollback.record(env: 'prod') }\n",
      agentEnv: { STUB_RECORD_SAYS: 'Service web runs shop/web:9, whose digest could not be read from registry.example.com: 404.' },
    }),
    scenario('no-env', { jenkinsfile: "@Library('rollback') _\nnode { rollback.choices(config: 'rollback.yml') }\n" }),
    // Who goes back: a checkbox per service in the same question (payments has hold: true in rollback.yml).
    ...([
      ['boxes-except', { DATE: '2026-11-17', user: 'alice', web: false }],
      ['boxes-hold-checked', { DATE: '2026-11-17', user: 'alice', payments: true }],
      ['boxes-untouched', { DATE: '2026-11-17', user: 'alice' }],
      ['boxes-none', { DATE: '2026-11-17', user: 'alice', api: false, web: false }],
    ] as const).map(([name, answer]) => scenario(name, {
      jenkinsfile: "@Library('rollback') _\ndef picked = rollback(env: 'prod', timeout: 60)\necho \"picked ${picked}\"\n",
      inputs: [answer], agentEnv: { STUB_SERVICES: 'api,web,payments:hold' },
    })),
    scenario('example-boxes', { inputs: [{ DATE: '2026-11-17', user: 'alice', web: false }], agentEnv: { STUB_SERVICES: 'api,web,payments:hold' } }),
    scenario('only-automation', {
      jenkinsfile: "@Library('rollback') _\nrollback(env: 'prod', date: '2026-11-17', only: ['web', 'api'])\n" +
        "node { rollback.plan(env: 'prod', date: '2026-11-17', except: 'payments'); rollback.run(env: 'prod', date: '2026-11-17', except: 'payments') }\n",
      agentEnv: { STUB_SERVICES: 'api,web,payments:hold' },
    }),
    scenario('boxes-stages', {
      jenkinsfile: "@Library('rollback') _\ndef dates\ndef svc\nnode { dates = rollback.choices(env: 'prod') }\nnode { svc = rollback.services(env: 'prod') }\n" +
        "def picked = rollback.select(env: 'prod', choices: dates, services: svc, except: ['api'], timeout: 60)\nnode { rollback.run([env: 'prod'] + picked) }\n",
      inputs: [{ DATE: '2026-11-12', user: 'bob' }], agentEnv: { STUB_SERVICES: 'api,web,payments:hold' },
    }),
    // The remaining branches of the steps, so every call site is checked by the sandbox at least once.
    scenario('no-dates', { jenkinsfile: onNode("rollback.choices(env: 'prod')"), agentEnv: { STUB_DATES: '' } }),
    scenario('get-fails', { jenkinsfile: onNode("rollback.choices(env: 'prod')"), agentEnv: { STUB_GET_EXIT: '1' } }),
    scenario('get-crashes', { jenkinsfile: onNode("rollback.choices(env: 'prod')"), agentEnv: { STUB_GET_EXIT: '5' } }),
    scenario('plans-without-previews', { jenkinsfile: onNode(PLANS) }),
    scenario('plans-without-previews-fail', { jenkinsfile: onNode(PLANS), agentEnv: { STUB_PLAN_SAYS: 'Marathon answered 503.' } }),
    scenario('select-nothing', { jenkinsfile: "@Library('rollback') _\nrollback.select(env: 'prod', choices: [])\n" }),
    scenario('run-no-date', { jenkinsfile: onNode("rollback.run(env: 'prod')") }),
    scenario('undo-fails', { ...onRollbackAgent('agents-a2'), inputs: [pick], agentEnv: { STUB_UNDO_EXIT: '1' },
      jenkinsfile: "@Library('rollback') _\nnode('rollback') {\n  rollback.choices(env: 'dev')\n  rollback.run(env: 'dev', date: '2026-11-02')\n  rollback.undo(env: 'dev')\n}\n" }),
    scenario('select-service-named-date', { jenkinsfile: "@Library('rollback') _\nrollback.select(env: 'prod', choices: ['2026-11-19'], services: ['api', 'DATE'])\n" }),
    scenario('select-only', {
      jenkinsfile: "@Library('rollback') _\ndef picked = rollback.select(env: 'prod', choices: ['2026-11-19'], services: ['api', 'web'], only: ['web'], timeout: 60)\necho \"picked ${picked}\"\n",
      inputs: [{ DATE: '2026-11-19', user: 'alice' }],
    }),
    scenario('select-except-text', {
      jenkinsfile: "@Library('rollback') _\ndef picked = rollback.select(env: 'prod', choices: ['2026-11-19'], services: ['api', 'web'], except: 'api', timeout: 60)\necho \"picked ${picked}\"\n",
      inputs: [{ DATE: '2026-11-19', user: 'alice' }],
    }),
    scenario('example-hold-checked', { inputs: [{ DATE: '2026-11-17', user: 'alice', payments: true }], agentEnv: { STUB_SERVICES: 'api,web,payments:hold' } }),
    unsafeScenario(unsafe.file),
    unsafeScenario(unsafe.sort),
    unsafeScenario(unsafe.matcher),
    unsafeScenario(unsafe.nonCps),
    unsafeScenario(unsafe.bundle, { resources: bigBundle }),
  ]);
}, 240_000);

afterAll(() => {
  bundle?.remove();
  rmSync(dir, { recursive: true, force: true });
  rmSync(pwned, { force: true });
});

describe('Jenkinsfile.example with a picked date', () => {
  test('gets, asks, and runs the worker with exactly these parameters', () => {
    const r = result('pick');
    expect(r.error).toBeNull();
    expect(r.result).toBe('SUCCESS');
    expect(records('pick').map((x) => [x.argv, x.params])).toEqual([
      [['get'], { config: 'rollback.yml', env: 'prod', previews: 3 }],
      [['run'], { config: 'rollback.yml', env: 'prod', date: '2026-11-17', dryRun: false, approver: 'alice' }],
    ]);
    expect(r.description).toBe('rolled back prod to 2026-11-17');
  });

  test('every shell script is the one constant; values travel in the environment', () => {
    const r = result('pick');
    const scripts = new Set(shCalls(r).map((c) => c.script));
    expect([...scripts]).toEqual([WORKER_SCRIPT]);
    for (const c of workerCalls(r)) {
      expect(c.returnStatus).toBe(true);
      expect(JSON.parse(c.env.ROLLBACK_PARAMS)).toMatchObject({ env: 'prod' });
      // Named by the bundle's version (resources/rollback.version), so a new bundle is never taken for an old one.
      expect(c.env.ROLLBACK_WORKER).toMatch(/@tmp\/rollback\/rollback-stub-1\.js$/);
    }
  });

  test('the whole flow with a pick costs two worker sh steps and one bundle write per agent', () => {
    const r = result('pick');
    expect(shCalls(r)).toHaveLength(2);
    expect(shCalls(r).filter((c) => c.node === stepsNamed(r, 'input')[0].node)).toEqual([]);
    const writes = stepsNamed(r, 'writeFile');
    expect(writes.map((w) => w.file)).toEqual(workerCalls(r).map((c) => `${c.env.ROLLBACK_WORKER}.part`));
    expect(new Set(writes.map((w) => w.node)).size).toBe(writes.length);
    // The bundle goes from libraryResource to writeFile without a stop in a variable between sh steps.
    expect(stepsNamed(r, 'libraryResource').map((c) => c.resource)).toEqual(['rollback.version', 'rollback.js', 'rollback.version', 'rollback.js']);
  });

  test('a later build on the same agent finds its bundle there and writes none', () => {
    const first = result('undo-1-run');
    const later = result('undo-2-later');
    expect(stepsNamed(first, 'writeFile').filter((w) => w.node === 'rollback-agent')).toHaveLength(1);
    expect(stepsNamed(later, 'fileExists')).toContainEqual(expect.objectContaining({ file: expect.stringMatching(/rollback-stub-1\.js$/), exists: true }));
    expect(stepsNamed(later, 'writeFile')).toEqual([]);
    expect(stepsNamed(later, 'libraryResource').map((c) => c.resource)).toEqual(['rollback.version']);
  });

  test('asks outside any node, with the dates as choices and the newest plans in the description', () => {
    const r = result('pick');
    const [input] = stepsNamed(r, 'input');
    expect(input.node).toBeNull();
    expect(input.submitterParameter).toBe('approver');
    const [param] = input.parameters as Array<Record<string, unknown>>;
    expect(param).toMatchObject({ type: 'choice', name: 'DATE', choices: DATES });
    expect(param.description).toContain('2026-11-19:\nSERVICE');
    expect(param.description).toContain('api:1.2 (2026-11-12)');
    expect(param.description).not.toContain('2026-11-02:');
    expect(stepsNamed(r, 'timeout')).toEqual([expect.objectContaining({ time: 600, unit: 'SECONDS', node: null })]);
  });

  test('a preview that fails only says so in the question; the person can still choose', () => {
    const r = result('preview-fails');
    expect(r.result).toBe('SUCCESS');
    const [param] = stepsNamed(r, 'input')[0].parameters as Array<Record<string, string>>;
    expect(param.description).toContain('2026-11-19:\n(no preview: Marathon at http://marathon.invalid answered 503.)');
    expect(records('preview-fails').pop()!.argv).toEqual(['run']);
  });

  test('the catalog travels by stash: run finds it on another agent', () => {
    const r = result('pick');
    const [get, run] = workerCalls(r);
    expect(get.node).not.toBe(run.node);
    const includes = ['.rollback/catalog.json', '.rollback/services.txt', '.rollback/points.txt', ...DATES.slice(0, 3).map((d) => `.rollback/previews/${d}.txt`)].join(',');
    expect(stepsNamed(r, 'stash')).toEqual([expect.objectContaining({ name: 'rollback-catalog', includes, files: 4 })]);
    expect(stepsNamed(r, 'unstash').map((c) => c.node)).toContain(run.node);
    expect(stepsNamed(r, 'lock')).toEqual([expect.objectContaining({ resource: 'rollback-prod', node: run.node })]);
  });

  test('secrets arrive only through withCredentials, never in a script, a parameter or the log', () => {
    const r = result('pick');
    const bindings = stepsNamed(r, 'withCredentials')[0].bindings as Array<Record<string, string>>;
    expect(bindings.map((b) => [b.credentialsId, b.usernameVariable ?? b.variable, b.passwordVariable])).toEqual([
      ['rollback-registry', 'REGISTRY_USER', 'REGISTRY_PASSWORD'],
      ['rollback-target', 'TARGET_USER', 'TARGET_PASSWORD'],
      ['rollback-slack', 'SLACK_WEBHOOK', undefined],
    ]);
    for (const rec of records('pick')) {
      expect(rec.secrets).toEqual({ REGISTRY_USER: 8, REGISTRY_PASSWORD: SECRETS.registry.length, TARGET_USER: 8, TARGET_PASSWORD: SECRETS.target.length, SLACK_WEBHOOK: SECRETS.slack.length });
    }
    const visible = JSON.stringify(shCalls(r).map((c) => [c.script, c.env.ROLLBACK_PARAMS])) + r.log + (r.description ?? '');
    for (const secret of Object.values(SECRETS)) expect(visible).not.toContain(secret);
  });
});

test("the worker script works under Jenkins' own shell (/bin/sh -xe, dash on Debian): exit code, answer and sentence kept apart", () => {
  const work = mkdtempSync(join(tmpdir(), 'jenkins-sh-'));
  try {
    const worker = join(work, 'worker.js');
    writeFileSync(worker, "process.stdout.write('2026-11-19\\n'); process.stderr.write('progress\\nrollback: it went wrong.\\n'); process.exitCode = 3;");
    const script = join(work, 'script.sh');
    writeFileSync(script, WORKER_SCRIPT);
    // A bundle just written by writeFile sits under .part until the script moves it into place.
    writeFileSync(`${worker}.part`, readFileSync(worker));
    rmSync(worker);
    const env = { PATH: process.env.PATH!, ROLLBACK_WORKER: worker, ROLLBACK_COMMAND: 'run', ROLLBACK_OUT: join(work, 'out'), ROLLBACK_ERR: join(work, 'err'), ROLLBACK_RC: join(work, 'rc') };
    const res = spawnSync('/bin/sh', ['-xe', script], { env, encoding: 'utf8' });
    expect(existsSync(worker) && !existsSync(`${worker}.part`)).toBe(true);
    expect(res.status).toBe(3);
    expect(readFileSync(join(work, 'out'), 'utf8')).toBe('2026-11-19\n');
    expect(readFileSync(join(work, 'err'), 'utf8')).toBe('progress\nrollback: it went wrong.\n');
    // The worker's stderr still reaches the build log as it happens.
    expect(res.stderr).toContain('rollback: it went wrong.');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('vars/rollback.groovy stays sandbox-safe: steps and whitelisted calls only, constant shell scripts', () => {
  const source = readFileSync(join(ROOT, 'vars', 'rollback.groovy'), 'utf8');
  // Each of these needs script approval, runs on the controller, or breaks CPS.
  for (const banned of ['new File', 'JsonSlurper', '@NonCPS', '.execute(', 'System.', 'getCauses', 'Jenkins.instance', 'evaluate(']) {
    expect(source).not.toContain(banned);
  }
  const shCallsInSource = source.match(/\bsh\(script: [^,)]+/g) ?? [];
  expect(shCallsInSource).toEqual(['sh(script: WORKER_SCRIPT']);
  // The constant is a single-quoted Groovy string: Groovy never interpolates into it.
  expect(source).toContain("final String WORKER_SCRIPT = '''");
});

describe('DATE parameter', () => {
  test('a DATE skips the question and the person who started the build approves', () => {
    const r = result('date-given');
    expect(r.result).toBe('SUCCESS');
    expect(stepsNamed(r, 'input')).toEqual([]);
    expect(records('date-given').map((x) => x.argv[0])).toEqual(['get', 'run']);
    expect(records('date-given')[1].params).toEqual({ config: 'rollback.yml', env: 'stage', date: '2026-11-12', dryRun: false, approver: 'bob' });
    expect(stepsNamed(r, 'stage').map((s) => [s.name, s.ran])).toEqual([['Get', true], ['Select', false], ['Rollback', true], ['Undo', false]]);
  });

  test('a DATE with shell syntax is only data: nothing runs, and the build fails with the bad-input sentence', () => {
    const r = result('injection');
    expect(existsSync(pwned)).toBe(false);
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe(`rollback run: bad input: there is no rollback point '${injected}' for prod; valid dates: ${DATES.join(', ')}.`);
    expect(records('injection')[1].params.date).toBe(injected);
    for (const c of shCalls(r)) expect(c.script).not.toContain('2026-01-01');
    expect(r.description).toContain('bad input');
  });
});

describe('select', () => {
  test('a timeout ends the build without failing it, and without a rollback', () => {
    const r = result('timeout');
    expect(r.result).toBe('SUCCESS');
    expect(records('timeout').map((x) => x.argv[0])).toEqual(['get']);
    expect(r.log).toContain('no rollback point was chosen within 600 seconds; nothing was changed.');
    expect(r.description).toBe('prod: no rollback point was chosen in time; nothing was changed');
  });

  test('a timeout whose clock reads up to a second short is still a timeout', () => {
    const r = result('timeout-clock-step');
    expect(r.result).toBe('SUCCESS');
    expect(r.log).toContain('no rollback point was chosen within 600 seconds; nothing was changed.');
  });

  test("a person's abort aborts the build, without a rollback", () => {
    const r = result('abort');
    expect(r.result).toBe('ABORTED');
    expect(records('abort').map((x) => x.argv[0])).not.toContain('run');
    // Jenkins' exception carries its causes joined as its message.
    expect(r.log).toContain('FlowInterruptedException: Rejected by alice');
    expect(r.log).not.toContain('no rollback point was chosen within');
  });
});

test('DRY_RUN reaches the worker as dryRun and the description says nothing changed', () => {
  const r = result('dry-run');
  expect(r.result).toBe('SUCCESS');
  expect(records('dry-run').pop()!.params).toMatchObject({ date: '2026-11-17', dryRun: true });
  expect(r.description).toBe('dry run of rollback of prod to 2026-11-17: checked, nothing was changed');
});

describe('agents without a usable Node.js', () => {
  test('no node: a clear error, and the worker never starts', () => {
    const r = result('no-node');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('rollback: this agent has no Node.js on its PATH; the rollback worker needs Node.js 20.18.1 or newer on every agent that runs it.');
    expect(records('no-node')).toEqual([]);
  });

  test('old node: the worker itself refuses in one sentence naming the version found, in the same sh step', () => {
    const r = result('old-node');
    expect(r.error).toBe('rollback: this agent has Node.js v18.19.0; the rollback worker needs Node.js 20.18.1 or newer.');
    expect(shCalls(r)).toEqual([expect.objectContaining({ exit: 2, script: WORKER_SCRIPT })]);
    expect(r.log).not.toMatch(/\n\s+at /);
  });
});

describe('worker exit codes become clear build errors', () => {
  test('exit 1: failed, fleet unchanged or put back, with the worker sentence', () => {
    const r = result('run-fails');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('rollback FAILED, the fleet is unchanged or was put back: api did not become healthy; all 3 services were put back.');
  });

  test('exit 3: partly done, with the worker sentence', () => {
    const r = result('run-partly');
    expect(r.error).toBe('rollback PARTLY DONE: some services changed and could not be put back; check them now: web is on web:1.2, api could not be put back.');
    expect(r.description).toContain('PARTLY DONE');
  });
});

describe('rollback(...): the whole flow in one call', () => {
  test('gets and previews on one agent, asks outside any node, runs on another with the submitter as approver', () => {
    const r = result('whole-flow');
    expect(r.result).toBe('SUCCESS');
    expect(records('whole-flow').map((x) => [x.argv[0], x.params.date ?? null, x.params.previews ?? null])).toEqual([
      ['get', null, 3], ['run', '2026-11-19', null],
    ]);
    expect(shCalls(r)).toHaveLength(2);
    expect(stepsNamed(r, 'writeFile')).toHaveLength(2);
    expect((stepsNamed(r, 'input')[0].parameters as Array<{ description: string }>)[0].description).toContain('api:1.2 (2026-11-12)');
    expect(records('whole-flow').pop()!.params.approver).toBe('carol');
    expect(stepsNamed(r, 'input')[0].node).toBeNull();
    expect(stepsNamed(r, 'timeout')[0]).toMatchObject({ time: 60 });
    expect(stepsNamed(r, 'input')[0].submitter).toBe('ops,carol');
    expect(stepsNamed(r, 'node')).toHaveLength(2);
    expect(stepsNamed(r, 'checkout')).toHaveLength(2);
    expect(stepsNamed(r, 'withCredentials')[0].bindings).toEqual([expect.objectContaining({ credentialsId: 'rollback-registry' })]);
  });

  test('submitter is matched as Jenkins does: comma-separated, trimmed, case-insensitive, by group', () => {
    const r = result('submitter-group');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    expect(records('submitter-group').pop()!.params.approver).toBe('alice');
  });

  test('the bundle and its version are read with an explicit encoding (a controller default may not be UTF-8)', () => {
    const r = result('whole-flow');
    expect(stepsNamed(r, 'libraryResource').map((c) => c.encoding)).toEqual(['UTF-8', 'UTF-8', 'UTF-8', 'UTF-8']);
  });

  test('with a date: no question, get and run on one agent', () => {
    const r = result('whole-flow-date');
    expect(r.result).toBe('SUCCESS');
    expect(stepsNamed(r, 'input')).toEqual([]);
    expect(stepsNamed(r, 'node')).toHaveLength(1);
    expect(records('whole-flow-date').map((x) => [x.argv[0], x.params])).toEqual([
      ['get', { config: 'rollback.yml', env: 'dev' }],
      ['run', { config: 'rollback.yml', env: 'dev', date: '2026-11-02', dryRun: false, approver: 'release-bot' }],
    ]);
  });

  test('rollback.plan on another agent: unstashes the catalog, prints the table and returns it', () => {
    const r = result('plan-step');
    expect(r.error).toBeNull();
    expect(records('plan-step').map((x) => [x.argv[0], x.params.date ?? null])).toEqual([['get', null], ['plan', '2026-11-12']]);
    const table = 'SERVICE  NOW       AFTER\napi      api:1.3   api:1.2 (2026-11-12)\n';
    expect(stepsNamed(r, 'echo').map((c) => c.message)).toContain(table);
    expect(r.log).toContain(`returned ${table.length} characters`);
    expect(stepsNamed(r, 'unstash')).toEqual([expect.objectContaining({ name: 'rollback-catalog', node: 'agent-2' })]);
    // The bundle is written as UTF-8 whatever the agent's default encoding.
    expect(stepsNamed(r, 'writeFile').every((c) => c.encoding === 'UTF-8')).toBe(true);
  });

  test('a missing env is one clear sentence', () => {
    expect(result('no-env').error).toBe("rollback: say which environment, e.g. rollback(env: 'prod').");
  });
});

describe('credentials for every target', () => {
  test('kubeconfig (Secret file), GitHub token and the general list are bound by withCredentials, in this order', () => {
    const r = result('credentials-all');
    expect(r.error).toBeNull();
    expect(stepsNamed(r, 'withCredentials')[0].bindings).toEqual([
      { type: 'file', credentialsId: 'kube-prod', variable: 'KUBECONFIG' },
      { type: 'string', credentialsId: 'github-rollback', variable: 'GITHUB_TOKEN' },
      { type: 'string', credentialsId: 'dcos-token', variable: 'DCOS_TOKEN' },
      { type: 'usernamePassword', credentialsId: 'vault', usernameVariable: 'VAULT_USER', passwordVariable: 'VAULT_PASS' },
      { type: 'file', credentialsId: 'extra-ca', variable: 'EXTRA_CA' },
    ]);
  });

  test('the worker sees every secret, and the secret files hold the credential, under the agent temp folder', () => {
    const [rec] = records('credentials-all');
    expect(rec.secrets).toEqual({ GITHUB_TOKEN: MORE.github.length, DCOS_TOKEN: MORE.dcos.length, VAULT_USER: 10, VAULT_PASS: MORE.vault.length });
    expect(rec.files).toEqual({ KUBECONFIG: MORE.kubeconfig.length, EXTRA_CA: MORE.ca.length });
    expect(rec.paths.KUBECONFIG).toMatch(/@tmp\/secretFiles\/[^/]+\/kubeconfig$/);
    expect(rec.paths.EXTRA_CA).toMatch(/@tmp\/secretFiles\/[^/]+\/ca\.pem$/);
  });

  test('no secret reaches a shell script, the parameters or the log', () => {
    const r = result('credentials-all');
    const visible = JSON.stringify(shCalls(r).map((c) => [c.script, c.env.ROLLBACK_PARAMS])) + r.log;
    for (const secret of [MORE.github, MORE.dcos, MORE.vault, 'kube-Tok3n-9x', 'CA-body-Qx']) expect(visible).not.toContain(secret);
    expect(new Set(shCalls(r).map((c) => c.script))).toEqual(new Set([WORKER_SCRIPT]));
  });

  test('sshCredentialsId: the key as a temporary file (SSH_KEY_FILE) and its user (SSH_USER), never in a script or the log', () => {
    const r = result('credentials-ssh');
    expect(r.error).toBeNull();
    expect(stepsNamed(r, 'withCredentials')[0].bindings).toEqual([
      { type: 'sshUserPrivateKey', credentialsId: 'edge-ssh', keyFileVariable: 'SSH_KEY_FILE', usernameVariable: 'SSH_USER' },
    ]);
    const [rec] = records('credentials-ssh');
    expect(rec.secrets).toMatchObject({ SSH_USER: 'deploy'.length });
    expect(rec.files).toEqual({ SSH_KEY_FILE: CREDENTIALS['edge-ssh'].privateKey.length });
    expect(rec.paths.SSH_KEY_FILE).toMatch(/@tmp\/secretFiles\/[^/]+\/ssh-key$/);
    const visible = JSON.stringify(shCalls(r).map((c) => [c.script, c.env.ROLLBACK_PARAMS])) + r.log;
    expect(visible).not.toContain('ssh-Key-body-Zt9');
    expect(new Set(shCalls(r).map((c) => c.script))).toEqual(new Set([WORKER_SCRIPT]));
  });

  test('dockerConfigCredentialsId: the config.json as a temporary file the worker reads, never in a script or the log', () => {
    const r = result('credentials-docker-config');
    expect(r.error).toBeNull();
    expect(stepsNamed(r, 'withCredentials')[0].bindings).toEqual([{ type: 'file', credentialsId: 'docker-config', variable: 'ROLLBACK_DOCKER_CONFIG_FILE' }]);
    const [rec] = records('credentials-docker-config');
    expect(rec.files).toEqual({ ROLLBACK_DOCKER_CONFIG_FILE: CREDENTIALS['docker-config'].content.length });
    expect(rec.paths.ROLLBACK_DOCKER_CONFIG_FILE).toMatch(/@tmp\/secretFiles\/[^/]+\/config\.json$/);
    const visible = JSON.stringify(shCalls(r).map((c) => [c.script, c.env])) + r.log;
    expect(visible).not.toContain('Y2k6ZG9ja2VyLWNvbmZpZy1wYXNz');
    expect(new Set(shCalls(r).map((c) => c.script))).toEqual(new Set([WORKER_SCRIPT]));
  });

  test.each([
    ['credentials-bad-type', "rollback: credentials[0] (id 'vault') has type 'sshUserPrivateKey'; use 'string', 'file' or 'usernamePassword'."],
    ['credentials-bad-name', `rollback: credentials[0].variable must be an environment variable name such as VAULT_TOKEN (letters, digits, _; not ROLLBACK_*), not 'T; touch ${pwned}'.`],
    ['credentials-reserved', "rollback: credentials[0].passwordVariable must be an environment variable name such as VAULT_TOKEN (letters, digits, _; not ROLLBACK_*), not 'ROLLBACK_PARAMS'."],
    ['credentials-no-id', "rollback: credentials[0] needs id: (a Jenkins credential id), e.g. [id: 'vault', type: 'string', variable: 'VAULT_TOKEN']."],
  ])('%s: one sentence naming the entry, and the worker never starts', (name, sentence) => {
    const r = result(name);
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe(sentence);
    expect(records(name)).toEqual([]);
    expect(stepsNamed(r, 'withCredentials')).toEqual([]);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('undo from Jenkins: the snapshot stays in the rollback agent workspace', () => {
  const archived = (r: ScenarioResult) => stepsNamed(r, 'archiveArtifacts').map((c) => c.files as string[]);
  const runSnapshot = () => records('undo-1-run').pop()!;

  test('run leaves its snapshot in .rollback/runs/ of the agent labelled rollback, says so, and archives it', () => {
    const r = result('undo-1-run');
    expect(r.error).toBeNull();
    const run = workerCalls(r).pop()!;
    expect(run.env.ROLLBACK_COMMAND).toBe('run');
    expect(run.node).toBe('rollback-agent');
    const [files] = archived(r);
    expect(files).toEqual([expect.stringMatching(/^\.rollback\/runs\/prod-\d+-run-\d+\.json$/), '.rollback/runs/prod-latest.json']);
    expect(r.log).toContain(`rollback: the snapshot of this run is ${files[0]} in the workspace on rollback-agent; rollback.undo(env: 'prod') there puts back what it replaced.`);
    expect(runSnapshot().latest).toBeNull();
  });

  test('UNDO in a later build (DATE ignored): no Get, no question; undo finds that run\'s snapshot on the same agent', () => {
    const r = result('undo-2-later');
    expect({ result: r.result, error: r.error }).toEqual({ result: 'SUCCESS', error: null });
    expect(stepsNamed(r, 'stage').map((s) => [s.name, s.ran])).toEqual([['Get', false], ['Select', false], ['Rollback', false], ['Undo', true]]);
    expect(stepsNamed(r, 'input')).toEqual([]);
    const [undo] = records('undo-2-later');
    expect(records('undo-2-later')).toHaveLength(1);
    expect([undo.argv, undo.params]).toEqual([['undo'], { config: 'rollback.yml', env: 'prod', dryRun: false, approver: 'bob' }]);
    const ran = archived(result('undo-1-run'))[0][0];
    expect(`.rollback/runs/${undo.latest}`).toBe(ran);
    expect(stepsNamed(r, 'lock')).toEqual([expect.objectContaining({ resource: 'rollback-prod', node: 'rollback-agent' })]);
    // The undo's own snapshot is archived too: an undo can be undone.
    expect(archived(r)).toEqual([[expect.stringMatching(/^\.rollback\/runs\/prod-\d+-undo-\d+\.json$/), '.rollback/runs/prod-latest.json']]);
    expect(r.description).toBe('undo of the last rollback of prod: done');
  });

  test('UNDO with DRY_RUN: the worker is told dryRun, no new snapshot is archived', () => {
    const r = result('undo-3-dry');
    expect(r.result).toBe('SUCCESS');
    const [undo] = records('undo-3-dry');
    expect(undo.params).toMatchObject({ dryRun: true });
    expect(undo.latest).toMatch(/^prod-\d+-undo-\d+\.json$/);
    expect(archived(r)).toEqual([]);
    expect(r.description).toBe('dry run of undo of the last rollback of prod: checked, nothing was changed');
  });

  test('UNDO where no run left a snapshot: the worker decides (a target history may do), and one clear sentence says where the step looked', () => {
    const r = result('undo-elsewhere');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('rollback undo: there is no snapshot of prod in this workspace (.rollback/runs/prod-latest.json on rollback-agent) ' +
      'and the worker could not undo without one (There is no snapshot of prod under .rollback; nothing to undo.); ' +
      'undo must run on the agent and in the workspace where rollback.run ran, or that snapshot must be put there first.');
    expect(records('undo-elsewhere').map((x) => x.argv[0])).toEqual(['undo']);
    expect(r.description).toContain('undo of the last rollback of prod: rollback undo: there is no snapshot');
  });

  test('in one build: run, undo, then undo of that undo by its returned snapshot path', () => {
    const r = result('undo-same-build');
    expect(r.error).toBeNull();
    const recs = records('undo-same-build');
    expect(recs.map((x) => x.argv[0])).toEqual(['get', 'run', 'undo', 'undo']);
    const [, run, first, second] = recs;
    expect(first.latest).toMatch(/^dev-\d+-run-\d+\.json$/);
    expect(run.latest).toBeNull();
    const firstUndo = archived(r)[1][0];
    expect(firstUndo).toMatch(/^\.rollback\/runs\/dev-\d+-undo-\d+\.json$/);
    expect(r.log).toContain(`first undo wrote ${firstUndo}`);
    expect(second.params).toEqual({ config: 'rollback.yml', env: 'dev', snapshot: firstUndo, dryRun: false, approver: 'carol' });
    expect(new Set(workerCalls(r).map((c) => c.node))).toEqual(new Set(['rollback-agent']));
  });

  test('a failed run still archives its snapshot before the build fails', () => {
    const r = result('run-fails');
    expect(r.result).toBe('FAILURE');
    expect(archived(r)).toEqual([[expect.stringMatching(/^\.rollback\/runs\/prod-\d+-run-\d+\.json$/), '.rollback/runs/prod-latest.json']]);
  });
});

describe('archiving the snapshot', () => {
  test('archive: false keeps the snapshot only in the workspace, and the log still says where it is', () => {
    const r = result('archive-off');
    expect(r.error).toBeNull();
    expect(stepsNamed(r, 'archiveArtifacts')).toEqual([]);
    expect(r.log).toMatch(/rollback: the snapshot of this run is \.rollback\/runs\/dev-\d+-run-\d+\.json in the workspace on rollback-agent;/);
  });

  test("an archive that fails is a warning: the build still ends with the worker's PARTLY DONE sentence", () => {
    const r = result('archive-fails');
    expect(stepsNamed(r, 'archiveArtifacts')).toHaveLength(1);
    expect(r.log).toContain('rollback: WARNING: the snapshot could not be archived (No space left on device); it is still in the workspace.');
    expect(r.error).toBe('rollback PARTLY DONE: some services changed and could not be put back; check them now: web is on web:1.2, api could not be put back.');
  });
});

describe('who goes back: a checkbox per service in the same question', () => {
  const boxes = (name: string) => (stepsNamed(result(name), 'input')[0].parameters as Array<Record<string, unknown>>);
  const runParams = (name: string) => records(name).filter((x) => x.argv[0] === 'run').map((x) => x.params);

  test('the question offers the dates and one checkbox per service, checked by default and unchecked for hold: true', () => {
    const params = boxes('boxes-untouched');
    expect(params.map((p) => [p.type, p.name, p.defaultValue ?? null])).toEqual([
      ['choice', 'DATE', null], ['booleanParam', 'api', true], ['booleanParam', 'web', true], ['booleanParam', 'payments', false],
    ]);
    expect(params[3].description).toBe('hold: true in rollback.yml: stays as it is unless checked.');
    expect(params[0].description).toContain('A service whose box below is unchecked is held back: it keeps what it runs.');
    // One question: the answer carries the date and the services at once.
    expect(stepsNamed(result('boxes-untouched'), 'input')).toHaveLength(1);
  });

  test('left as they are: the config holds payments itself, so the worker is told nothing more', () => {
    const r = result('boxes-untouched');
    expect(r.result).toBe('SUCCESS');
    expect(runParams('boxes-untouched')).toEqual([{ config: 'rollback.yml', env: 'prod', date: '2026-11-17', dryRun: false, approver: 'alice' }]);
    expect(r.log).toContain('picked [date:2026-11-17, approver:alice, held:[payments], only:null, except:null]');
  });

  test('an unchecked service is held back: the run gets except, through ROLLBACK_PARAMS only', () => {
    const r = result('boxes-except');
    expect(r.result).toBe('SUCCESS');
    expect(runParams('boxes-except')).toEqual([{ config: 'rollback.yml', env: 'prod', date: '2026-11-17', dryRun: false, approver: 'alice', except: 'web' }]);
    expect(r.log).toContain('picked [date:2026-11-17, approver:alice, held:[web, payments], only:null, except:[web]]');
    for (const c of workerCalls(r)) expect(c.script).toBe(WORKER_SCRIPT);
  });

  test('a checked hold: true service goes: the run gets only, naming every checked service', () => {
    expect(runParams('boxes-hold-checked')).toEqual([expect.objectContaining({ only: 'api,web,payments' })]);
    expect(runParams('boxes-hold-checked')[0]).not.toHaveProperty('except');
  });

  test('nothing checked: the build fails in one sentence, and nothing runs', () => {
    const r = result('boxes-none');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('rollback: no service was checked in the question, so nothing would go back; nothing was changed.');
    expect(runParams('boxes-none')).toEqual([]);
  });

  test('automation: rollback(..., only: [...]), rollback.plan and rollback.run(..., except: ...) reach the worker as lists of names', () => {
    const r = result('only-automation');
    expect(r.result).toBe('SUCCESS');
    expect(stepsNamed(r, 'input')).toEqual([]);
    expect(records('only-automation').filter((x) => x.argv[0] !== 'get').map((x) => [x.argv[0], x.params.only ?? null, x.params.except ?? null])).toEqual([
      ['run', 'web,api', null], ['plan', null, 'payments'], ['run', null, 'payments'],
    ]);
  });

  test('Jenkinsfile.example: the Select stage asks with the checkboxes, and the Rollback stage runs without the held service', () => {
    const r = result('example-boxes');
    expect(r.result).toBe('SUCCESS');
    expect(boxes('example-boxes').filter((p) => p.type === 'booleanParam').map((p) => [p.name, p.defaultValue])).toEqual([['api', true], ['web', true], ['payments', false]]);
    expect(runParams('example-boxes')).toEqual([{ config: 'rollback.yml', env: 'prod', date: '2026-11-17', dryRun: false, approver: 'alice', except: 'web' }]);
    expect(r.description).toBe('rolled back prod to 2026-11-17 (held back: web, payments)');
  });

  test('stage by stage: rollback.services on another agent, select starts from except:, the answer feeds run', () => {
    const r = result('boxes-stages');
    expect(r.result).toBe('SUCCESS');
    expect(boxes('boxes-stages').filter((p) => p.type === 'booleanParam').map((p) => [p.name, p.defaultValue])).toEqual([['api', false], ['web', true], ['payments', false]]);
    expect(runParams('boxes-stages')).toEqual([expect.objectContaining({ date: '2026-11-12', approver: 'bob', except: 'api' })]);
  });
});

describe('rollback.record (a deploy pipeline\'s last step)', () => {
  test('runs the worker\'s record with the environment and the registry credentials, and returns the release point', () => {
    const r = result('record-step');
    expect(r.error).toBeNull();
    expect(r.result).toBe('SUCCESS');
    const calls = records('record-step');
    expect(calls.map((x) => [x.argv, x.params])).toEqual([[['record'], { config: 'rollback.yml', env: 'prod' }]]);
    expect(Object.keys(calls[0].secrets).sort()).toEqual(['REGISTRY_PASSWORD', 'REGISTRY_USER']);
    expect(r.log).toContain('recorded 2026-11-25T14:02:11Z');
    expect(new Set(shCalls(r).map((c) => c.script))).toEqual(new Set([WORKER_SCRIPT]));
  });

  test('a failed record fails the build with the worker\'s own sentence', () => {
    const r = result('record-fails');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toContain('rollback record failed: Service web runs shop/web:9, whose digest could not be read from registry.example.com: 404.');
  });
});

test.each([
  ['no-dates', "rollback: the registry has no image for environment 'prod', so there is no rollback point to choose."],
  ['get-fails', 'rollback get failed: the registry at http://127.0.0.1:1 answered 500.'],
  ['get-crashes', 'rollback get: the worker stopped with exit code 5: the registry at http://127.0.0.1:1 answered 500.'],
  ['select-nothing', 'rollback.select: choices is empty; pass the list rollback.choices returned.'],
  ['run-no-date', "rollback: say which rollback point, e.g. date: '2026-11-19'."],
  ['undo-fails', 'rollback undo FAILED, the fleet is as it was before the undo: api did not become healthy; every service was put back.'],
])('%s: one sentence', (name, sentence) => {
  expect(result(name).error).toBe(sentence);
});

test('the question\'s checkboxes from only: and from a comma-separated except:, and a service named like the question\'s own field', () => {
  expect(result('select-service-named-date').error).toBe("rollback.select: a service named 'DATE' cannot have a checkbox beside the question's own DATE.");
  const boxes = (name: string) => (stepsNamed(result(name), 'input')[0].parameters as Array<{ type: string; name: string; defaultValue: boolean }>)
    .filter((p) => p.type === 'booleanParam').map((p) => [p.name, p.defaultValue]);
  expect(boxes('select-only')).toEqual([['api', false], ['web', true]]);
  expect(boxes('select-except-text')).toEqual([['api', false], ['web', true]]);
  const r = result('example-hold-checked');
  expect(r.result).toBe('SUCCESS');
  expect(records('example-hold-checked').pop()!.params.only).toBe('api,web,payments');
});

test('plans without previews from get: the worker plans each date (two runs), and a failed plan only says so', () => {
  expect(records('plans-without-previews').map((x) => [x.argv[0], x.params.date ?? null])).toEqual([['get', null], ['plan', '2026-11-19'], ['plan', '2026-11-17']]);
  expect(result('plans-without-previews').log).toContain('previews: 2: SERVICE  NOW       AFTER');
  expect(result('plans-without-previews-fail').log).toContain('previews: 2: (no preview: Marathon answered 503.)');
});

describe('sandbox and CPS: what a real controller would refuse or could not save', () => {
  const all = () => [...results.values()].filter((r) => !r.name.startsWith('unsafe-'));

  test('no scenario makes a call that needs script approval, or that CPS could not run or save', () => {
    expect(all().flatMap((r) => r.sandbox.violations.map((v) => `${r.name}: ${v.message}`))).toEqual([]);
  });

  test('every call site of vars/rollback.groovy and Jenkinsfile.example was checked by at least one scenario', () => {
    const sites = new Map<string, boolean>();
    for (const r of all()) {
      for (const s of r.sandbox.sites.filter((x) => x.file === 'rollback.groovy' || x.file === 'Jenkinsfile.example')) {
        const key = `${s.file}:${s.line}: ${s.kind} ${s.text}`;
        sites.set(key, (sites.get(key) ?? false) || s.reached);
      }
    }
    expect(sites.size).toBeGreaterThan(150);
    expect([...sites].filter(([, reached]) => !reached).map(([key]) => key)).toEqual([]);
  });

  test('every whitelist entry is needed by some scenario and names its source', () => {
    const text = readFileSync(join(ROOT, 'test', 'groovy', 'sandbox', 'whitelist'), 'utf8');
    const entries = text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
    const used = new Set(all().flatMap((r) => r.sandbox.used));
    expect(entries.filter((e) => !used.has(e))).toEqual([]);
  });

  test('new File(...) in a step: rejected as blacklisted, naming the call and its line', () => {
    const r = result('unsafe-file');
    const message = `Scripts not permitted to use new java.io.File java.lang.String (blacklisted: it can never be approved) (rollback.groovy:${unsafe.file.line}: new java.io.File(...))`;
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe(`java.lang.SecurityException: ${message}`);
    expect(r.sandbox.violations).toEqual([expect.objectContaining({ kind: 'sandbox', line: unsafe.file.line, message })]);
  });

  test('[..].sort { } in a CPS method: the closure handed to a non-CPS method is named with its line', () => {
    const r = result('unsafe-sort');
    expect(r.sandbox.violations).toContainEqual(expect.objectContaining({
      kind: 'cps', line: unsafe.sort.line,
      message: expect.stringMatching(new RegExp(`^CPS: a closure is passed to java\\.util\\.ArrayList\\.sort\\(\\.\\.\\.\\), which is not CPS-transformed \\(rollback\\.groovy:${unsafe.sort.line}: `)),
    }));
  });

  test('a Matcher kept across a step: CPS cannot save it, and the build fails naming the local, the step and its line', () => {
    const r = result('unsafe-matcher');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe(`java.lang.SecurityException: CPS: local 'found' (java.util.regex.Matcher) cannot be saved when withEnv suspends ` +
      `(rollback.groovy:${unsafe.matcher.line}: withEnv(...)): java.io.NotSerializableException: java.util.regex.Matcher`);
  });

  test('a @NonCPS method that calls a step is named with the step and its line', () => {
    const r = result('unsafe-noncps');
    expect(r.sandbox.violations).toEqual([expect.objectContaining({
      kind: 'cps', line: unsafe.nonCps.line,
      message: `CPS: @NonCPS method shout() calls the step echo (rollback.groovy:${unsafe.nonCps.line}: echo(...)); steps cannot run inside @NonCPS methods.`,
    })]);
  });

  test('the bundle kept in a local: every save point would write it, so the check names the local and the step', () => {
    const r = result('unsafe-bundle');
    expect(r.sandbox.violations).toEqual([expect.objectContaining({
      kind: 'cps', line: unsafe.bundle.line,
      message: expect.stringMatching(new RegExp(`^CPS: local 'text' holds \\d{7} characters when writeFile suspends \\(rollback\\.groovy:${unsafe.bundle.line}: writeFile`)),
    })]);
  });
});

describe('release points in Jenkins', () => {
  const LABELS = ['2026-11-26T09:00:00Z  api 1.2, web 402 (Jenkins #412)', '2026-11-25T14:02:11Z  api 1.1, web 401 (Jenkins #411)'];
  const question = (name: string) => stepsNamed(result(name), 'input')[0] as unknown as { message: string; parameters: Array<{ name: string; choices: string[]; description: string }> };

  test('choices(points: released) asks get for them, and a chosen point runs with at:, not date:', () => {
    const r = result('points-flow');
    expect(r.error).toBeNull();
    expect(records('points-flow').map((x) => [x.argv, x.params])).toEqual([
      [['get'], { config: 'rollback.yml', env: 'prod', points: 'released' }],
      [['run'], { config: 'rollback.yml', env: 'prod', at: '2026-11-25T14:02:11Z', dryRun: false, approver: 'alice' }],
    ]);
  });

  // points-flow reads the labels on another agent than get's: they travel in the catalog's stash.
  test('the question shows each point with what ran and where it came from; the picked label reaches the worker as at: <time>', () => {
    for (const name of ['points-flow', 'points-whole-flow']) {
      const r = result(name);
      expect(r.error).toBeNull();
      const q = question(name);
      expect(q.message).toBe('Roll prod back to which release point?');
      expect(q.parameters[0]).toMatchObject({ name: 'DATE', choices: LABELS });
      expect(q.parameters[0].description).toMatch(/^Each point puts every service back to the image it ran at that moment/);
      expect(records(name).filter((x) => x.argv[0] === 'run').map((x) => x.params)).toEqual([
        expect.objectContaining({ at: '2026-11-25T14:02:11Z', approver: name === 'points-flow' ? 'alice' : 'carol' }),
      ]);
      expect(records(name).filter((x) => x.argv[0] === 'run')[0].params).not.toHaveProperty('date');
    }
  });

  test('build days keep their question: dates as choices, no labels', () => {
    const q = question('pick');
    expect(q.message).toBe('Roll prod back to the images of which date?');
    expect(q.parameters[0].choices).toEqual(DATES);
  });
});
