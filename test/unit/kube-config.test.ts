/**
 * Kubeconfig reading (contexts, KUBECONFIG lists, token/tokenFile, client certificate, CA, basic
 * auth, insecure; in-cluster service account; refused plugins), the rollout verdicts, and one
 * real TLS handshake with a client certificate against the double served over HTTPS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createKubeClient } from '../../src/targets/kubernetes/client';
import { loadKubeConnection } from '../../src/targets/kubernetes/config';
import { rolloutVerdict, Workload } from '../../src/targets/kubernetes/rollout';
import { mask } from '../../src/log';
import { startKubernetesDouble } from '../doubles/kubernetes-double';
import { makeTestPki } from '../support/tls';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

const KUBECONFIG = `apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: dev, user: dev-user}
- name: prod
  context: {cluster: prod, user: prod-user, namespace: shop}
clusters:
- name: dev
  cluster:
    server: https://dev.example:6443/
    insecure-skip-tls-verify: true
- name: prod
  cluster:
    server: https://prod.example
    certificate-authority: certs/ca.pem
users:
- name: dev-user
  user: {username: admin, password: s3cret-basic-pass}
- name: prod-user
  user:
    client-certificate-data: ${Buffer.from('CERT PEM').toString('base64')}
    client-key-data: ${Buffer.from('KEY PEM').toString('base64')}
    tokenFile: ${'TOKENFILE'}
`;

test('the current context, basic auth (masked), insecure, default namespace', () => {
  const file = write('config-a', KUBECONFIG);
  const c = loadKubeConnection({ kubeconfig: file, env: {} });
  expect(c).toMatchObject({ server: 'https://dev.example:6443', namespace: 'default', insecure: true, source: `kubeconfig ${file} (context dev)` });
  expect(c.authorization).toBe(`Basic ${Buffer.from('admin:s3cret-basic-pass').toString('base64')}`);
  expect(mask(`${c.authorization} s3cret-basic-pass`)).toBe('Basic *** ***');
});

test('a named context: CA file relative to the kubeconfig, certificate data, token file, namespace override', () => {
  const tokenFile = write('token', 'file-token-xyz987\n');
  execFileSync('mkdir', ['-p', join(dir, 'certs')]);
  write('certs/ca.pem', 'CA PEM');
  const file = write('config-b', KUBECONFIG.replace('TOKENFILE', tokenFile));
  const c = loadKubeConnection({ kubeconfig: file, context: 'prod', env: {} });
  expect(c.server).toBe('https://prod.example');
  expect(c.namespace).toBe('shop');
  expect(c.ca?.toString()).toBe('CA PEM');
  expect(c.cert?.toString()).toBe('CERT PEM');
  expect(c.key?.toString()).toBe('KEY PEM');
  expect(c.authorization).toBe('Bearer file-token-xyz987');
  expect(loadKubeConnection({ kubeconfig: file, context: 'prod', namespace: 'other', env: {} }).namespace).toBe('other');
});

test('KUBECONFIG lists merge the way kubectl does: the first file to define a name wins', () => {
  const first = write('k1', 'current-context: b\nclusters:\n- name: c\n  cluster: {server: https://first}\n');
  const second = write('k2', 'current-context: a\ncontexts:\n- name: b\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: https://second}\n');
  const c = loadKubeConnection({ env: { KUBECONFIG: [first, second].join(delimiter) } });
  expect(c.server).toBe('https://first');
  expect(c.authorization).toBeUndefined();
});

test.each([
  ['a missing file', () => loadKubeConnection({ kubeconfig: join(dir, 'nope'), env: {} }), /^Kubeconfig .*nope does not exist\.$/],
  ['an unknown context', () => loadKubeConnection({ kubeconfig: write('c1', KUBECONFIG), context: 'qa', env: {} }), /has no context 'qa'; it has: dev, prod\.$/],
  ['an auth-provider plugin', () => loadKubeConnection({ kubeconfig: write('c2', KUBECONFIG.replace('{username: admin, password: s3cret-basic-pass}', '{auth-provider: {name: gcp}}')), env: {} }), /user 'dev-user' authenticates with the gcp auth-provider, which kubectl no longer ships either; use its exec plugin/],
  ['not YAML', () => loadKubeConnection({ kubeconfig: write('c3', 'a: [1'), env: {} }), /is not valid YAML/],
  ['credentials for a plain-http server off this machine', () => loadKubeConnection({ kubeconfig: write('c4', KUBECONFIG.replace('https://dev.example:6443/', 'http://dev.example:8080')), env: {} }),
    /^Kubeconfig .*c4: cluster 'dev' is at http:\/\/dev\.example:8080, without TLS, so the credentials of user 'dev-user' would travel in clear text; use the API server's https:\/\/ address\.$/],
  ['no kubeconfig and not in a cluster', () => loadKubeConnection({ env: {} }), /has no kubeconfig .* and is not running inside a cluster/],
])('%s is one clear sentence', (_what, fn, message) => {
  expect(fn).toThrow(message);
  try {
    fn();
  } catch (err) {
    expect((err as { kind?: string }).kind).toBe('input');
  }
});

test('in-cluster: the service account token, CA and namespace', () => {
  const sa = join(dir, 'sa');
  execFileSync('mkdir', ['-p', sa]);
  writeFileSync(join(sa, 'token'), 'sa-token-123456\n');
  writeFileSync(join(sa, 'ca.crt'), 'SA CA');
  writeFileSync(join(sa, 'namespace'), 'jenkins\n');
  const c = loadKubeConnection({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa });
  expect(c).toMatchObject({ server: 'https://10.0.0.1:443', namespace: 'jenkins', authorization: 'Bearer sa-token-123456', source: 'the in-cluster service account' });
  expect(c.ca?.toString()).toBe('SA CA');
  expect(mask('sa-token-123456')).toBe('***');
});

const base = (over: Partial<Workload['status']> = {}, spec: Partial<Workload['spec']> = {}): Workload => ({
  metadata: { name: 'x', generation: 4 },
  spec: { replicas: 3, template: { spec: { containers: [] } }, ...spec },
  status: { observedGeneration: 4, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, ...over },
});

test.each([
  ['done', 'Deployment', base(), 0, 'done'],
  ['not observed yet', 'Deployment', base({ observedGeneration: 3 }), 0, 'progressing'],
  ['our patch not observed yet', 'Deployment', base(), 5, 'progressing'],
  ['updating', 'Deployment', base({ updatedReplicas: 1 }), 0, 'progressing'],
  ['old replicas terminating', 'Deployment', base({ replicas: 4 }), 0, 'progressing'],
  ['not available', 'Deployment', base({ availableReplicas: 2 }), 0, 'progressing'],
  ['deadline', 'Deployment', base({ updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }), 0, 'failed'],
  ['sts revisions differ', 'StatefulSet', base({ currentRevision: 'a', updateRevision: 'b' }), 0, 'progressing'],
  ['sts done', 'StatefulSet', base({ currentRevision: 'b', updateRevision: 'b' }), 0, 'done'],
  ['sts partition reached', 'StatefulSet', base({ currentRevision: 'a', updateRevision: 'b', updatedReplicas: 1 }, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } }), 0, 'done'],
  ['ds scheduling', 'DaemonSet', base({ desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 }), 0, 'progressing'],
  ['ds unavailable', 'DaemonSet', base({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }), 0, 'progressing'],
  ['ds done', 'DaemonSet', base({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }), 0, 'done'],
] as const)('rollout verdict: %s', (_name, kind, w, min, state) => {
  expect(rolloutVerdict(kind, w, min).state).toBe(state);
});

test('real TLS: the CA from the kubeconfig is trusted, the client certificate is presented, others are refused', async () => {
  const read = makeTestPki(dir);
  const kube = await startKubernetesDouble({ tls: { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem'), requestCert: true } });
  kube.addWorkload({ name: 'api', containers: [{ name: 'api', image: 'shop/api:1' }] });
  const file = write('tls-config', `current-context: t\ncontexts:\n- name: t\n  context: {cluster: t, user: t}\nclusters:\n- name: t\n  cluster: {server: '${kube.url}', certificate-authority: tls/ca.pem}\nusers:\n- name: t\n  user: {client-certificate: tls/client.pem, client-key: tls/client.key}\n`);
  const noRetry = { attempts: 1 };
  const good = createKubeClient(loadKubeConnection({ kubeconfig: file, env: {} }), noRetry);
  const noCert = createKubeClient({ ...loadKubeConnection({ kubeconfig: file, env: {} }), cert: undefined, key: undefined }, noRetry);
  const noCa = createKubeClient({ ...loadKubeConnection({ kubeconfig: file, env: {} }), ca: undefined }, noRetry);
  try {
    expect((await good.get<Workload>('/apis/apps/v1/namespaces/default/deployments/api'))?.metadata.name).toBe('api');
    await expect(noCert.get('/apis/apps/v1/namespaces/default/deployments/api')).rejects.toThrow();
    await expect(noCa.get('/apis/apps/v1/namespaces/default/deployments/api')).rejects.toThrow(/certificate/);
  } finally {
    await Promise.all([good.close(), noCert.close(), noCa.close()]);
    await kube.close();
  }
});

test('plain http is fine without credentials, or to this machine (kubectl proxy, a tunnel)', () => {
  const plain = `current-context: p\ncontexts:\n- name: p\n  context: {cluster: p, user: u}\nclusters:\n- name: p\n  cluster: {server: 'SERVER'}\nusers:\n- name: u\n  user: USER\n`;
  const load = (server: string, user: string) => loadKubeConnection({ kubeconfig: write(`p-${server.length}-${user.length}`, plain.replace('SERVER', server).replace('USER', user)), env: {} });
  expect(load('http://127.0.0.1:8001', '{token: abcd-1234}').server).toBe('http://127.0.0.1:8001');
  expect(load('http://localhost:8001', '{token: abcd-1234}').server).toBe('http://localhost:8001');
  expect(load('http://kube.example:8080', '{}').authorization).toBeUndefined();
  expect(() => load('http://kube.example:8080', '{token: abcd-1234}')).toThrow(/would travel in clear text/);
});
