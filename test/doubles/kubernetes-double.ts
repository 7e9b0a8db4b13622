/**
 * A Kubernetes API double, written from the API reference (apps/v1 Deployments, StatefulSets,
 * DaemonSets, ReplicaSets; GET and PATCH; no watch):
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
 * It simulates a rollout over a few looks (observedGeneration lags, replicas update, become
 * available), keeps ReplicaSets with revision annotations for Deployments, and injects faults:
 * progress deadline exceeded, pods never ready, 409 conflicts, 5xx answers. Every request is recorded.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
const RESOURCES: Record<string, Kind> = { deployments: 'Deployment', statefulsets: 'StatefulSet', daemonsets: 'DaemonSet' };

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

interface Workload {
  kind: Kind;
  obj: Obj;
  /** Looks (GETs) since the last template change; drives the simulated rollout. */
  looks: number;
  fault?: 'deadline' | 'never-ready';
  /** Pods wanted: spec.replicas, or the nodes a DaemonSet schedules on. */
  desired: number;
}

export interface WorkloadSpec {
  kind?: Kind;
  name: string;
  namespace?: string;
  replicas?: number;
  containers: { name: string; image: string }[];
  /** Set when the workload is mid-rollout at the start. */
  rollingOut?: boolean;
}

export interface KubernetesDouble {
  url: string;
  requests: RecordedRequest[];
  addWorkload(spec: WorkloadSpec): void;
  /** The object as the API server would return it (status as of the last look). */
  workload(kind: Kind, name: string, namespace?: string): Obj;
  image(kind: Kind, name: string, container?: string, namespace?: string): string;
  /** Faults: the next rollout of `name` fails the given way. */
  failNextRollout(name: string, how: 'deadline' | 'never-ready'): void;
  /** The next `count` PATCHes of `name` answer 409 Conflict (someone else wrote first). */
  conflicts(name: string, count: number): void;
  /** The next `count` requests answer `status` (503 by default). */
  serverErrors(count: number, status?: number): void;
  /** Changes a workload behind the tool's back (another deployer). */
  externalChange(kind: Kind, name: string, container: string, image: string, namespace?: string): void;
  close(): Promise<void>;
}

/** Looks after a template change until the rollout completes. */
const LOOKS_TO_DONE = 3;

export async function startKubernetesDouble(options: { token?: string; tls?: { key: string; cert: string; ca?: string; requestCert?: boolean } } = {}): Promise<KubernetesDouble> {
  const workloads = new Map<string, Workload>();
  const replicaSets = new Map<string, Obj>();
  const requests: RecordedRequest[] = [];
  const pendingConflicts = new Map<string, number>();
  const pendingFaults = new Map<string, 'deadline' | 'never-ready'>();
  let errors = { count: 0, status: 503 };
  let rvCounter = 100;
  const key = (kind: Kind, ns: string, name: string) => `${kind}/${ns}/${name}`;
  const nextRv = () => String(++rvCounter);

  function templateHash(template: Obj): string {
    return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
  }

  /** The Deployment controller: one ReplicaSet per distinct template, newest revision = highest. */
  function recordReplicaSet(w: Workload): void {
    if (w.kind !== 'Deployment') return;
    const d = w.obj;
    const hash = templateHash(d.spec.template);
    const ns = d.metadata.namespace;
    const name = `${d.metadata.name}-${hash}`;
    const revisions = [...replicaSets.values()]
      .filter((rs) => rs.metadata.ownerReferences[0].uid === d.metadata.uid)
      .map((rs) => Number(rs.metadata.annotations['deployment.kubernetes.io/revision']));
    const revision = String(Math.max(0, ...revisions) + 1);
    const existing = replicaSets.get(`${ns}/${name}`);
    if (existing) {
      existing.metadata.annotations['deployment.kubernetes.io/revision'] = revision;
      return;
    }
    const template = JSON.parse(JSON.stringify(d.spec.template));
    template.metadata = template.metadata ?? {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), 'pod-template-hash': hash };
    replicaSets.set(`${ns}/${name}`, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name, namespace: ns, uid: `uid-${name}`,
        labels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash },
        annotations: { 'deployment.kubernetes.io/revision': revision },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true }],
      },
      spec: { replicas: d.spec.replicas, selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } }, template },
    });
  }

  /** Advances the simulated controllers by one look and writes status the way each kind reports it. */
  function observe(w: Workload): void {
    const o = w.obj;
    const want = w.desired;
    const step = Math.min(w.looks, LOOKS_TO_DONE);
    w.looks += 1;
    const observed = step >= 1 ? o.metadata.generation : o.metadata.generation - 1;
    const done = step >= LOOKS_TO_DONE && !w.fault;
    const partial = step >= 2 ? want : Math.max(0, want - 1);
    if (w.kind === 'Deployment') {
      const conditions: Obj[] = [{ type: 'Available', status: done ? 'True' : 'False' }];
      if (w.fault === 'deadline' && step >= 2) {
        conditions.push({ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${o.metadata.name}-x" has timed out progressing.` });
      } else {
        conditions.push({ type: 'Progressing', status: 'True', reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' });
      }
      o.status = {
        observedGeneration: observed,
        replicas: done ? want : want + 1,
        updatedReplicas: step >= 1 ? partial : 0,
        readyReplicas: done ? want : Math.max(0, partial - 1),
        availableReplicas: done ? want : Math.max(0, partial - 1),
        conditions,
      };
    } else if (w.kind === 'StatefulSet') {
      const update = `${o.metadata.name}-${templateHash(o.spec.template)}`;
      o.status = {
        observedGeneration: observed,
        replicas: want,
        readyReplicas: done ? want : Math.max(0, partial - 1),
        updatedReplicas: partial,
        currentRevision: done ? update : (o.status?.currentRevision ?? 'old'),
        updateRevision: update,
      };
    } else {
      o.status = {
        observedGeneration: observed,
        desiredNumberScheduled: want,
        updatedNumberScheduled: step >= 1 ? partial : 0,
        numberAvailable: done ? want : Math.max(0, partial - 1),
        numberReady: done ? want : Math.max(0, partial - 1),
      };
    }
  }

  function templateChanged(w: Workload, before: string): void {
    if (JSON.stringify(w.obj.spec.template) === before) return;
    w.obj.metadata.generation += 1;
    w.looks = 0;
    w.fault = pendingFaults.get(w.obj.metadata.name);
    pendingFaults.delete(w.obj.metadata.name);
    recordReplicaSet(w);
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
  /** https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/ */
  function statusBody(code: number, reason: string, message: string): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  function strategicMerge(o: Obj, patch: Obj): void {
    // Only what a strategic merge patch does to the paths this tool touches: containers merge by name.
    const containers = patch?.spec?.template?.spec?.containers;
    if (Array.isArray(containers)) {
      for (const c of containers) {
        const target = o.spec.template.spec.containers.find((x: Obj) => x.name === c.name);
        if (target) Object.assign(target, c);
        else o.spec.template.spec.containers.push(c);
      }
    }
  }

  function jsonPatch(o: Obj, ops: Obj[]): string | undefined {
    for (const op of ops) {
      if (op.op !== 'replace') return `op ${op.op} is not simulated`;
      const parts = String(op.path).split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      let at = o;
      for (const p of parts.slice(0, -1)) {
        if (at[p] === undefined) return `path ${op.path} does not exist`;
        at = at[p];
      }
      if (at[parts[parts.length - 1]] === undefined) return `replace operation does not apply: doc is missing key: ${op.path}`;
      at[parts[parts.length - 1]] = JSON.parse(JSON.stringify(op.value));
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://double');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, contentType: req.headers['content-type'], authorization: req.headers.authorization, body });

    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) return send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    if (errors.count > 0) {
      errors.count -= 1;
      return send(res, errors.status, statusBody(errors.status, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    }

    const rs = url.pathname.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets$/);
    if (rs && req.method === 'GET') {
      const selector = url.searchParams.get('labelSelector');
      const wanted = selector ? selector.split(',').map((kv) => kv.split('=')) : [];
      const items = [...replicaSets.values()].filter(
        (r) => r.metadata.namespace === decodeURIComponent(rs[1]) && wanted.every(([k, v]) => r.metadata.labels[k] === v),
      );
      return send(res, 200, { kind: 'ReplicaSetList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(rvCounter) }, items });
    }

    const m = url.pathname.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/([a-z]+)\/([^/]+)$/);
    const kind = m ? RESOURCES[m[2]] : undefined;
    if (!m || !kind) return send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const ns = decodeURIComponent(m[1]);
    const name = decodeURIComponent(m[3]);
    const w = workloads.get(key(kind, ns, name));
    if (!w) return send(res, 404, statusBody(404, 'NotFound', `${m[2]}.apps "${name}" not found`));

    if (req.method === 'GET') {
      observe(w);
      return send(res, 200, w.obj);
    }
    if (req.method === 'PATCH') {
      const ct = String(req.headers['content-type'] ?? '').split(';')[0];
      // The API server refuses a PATCH with any other type: 415 Unsupported Media Type.
      if (!['application/strategic-merge-patch+json', 'application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'].includes(ct)) {
        return send(res, 415, statusBody(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
      }
      const conflicts = pendingConflicts.get(name) ?? 0;
      if (conflicts > 0) {
        pendingConflicts.set(name, conflicts - 1);
        // Someone else wrote in between: the stored object really changes, as it would.
        w.obj.metadata.resourceVersion = nextRv();
        return send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${m[2]}.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      const before = JSON.stringify(w.obj.spec.template);
      const candidate = JSON.parse(JSON.stringify(w.obj));
      if (ct === 'application/json-patch+json') {
        if (!Array.isArray(body)) return send(res, 400, statusBody(400, 'BadRequest', 'json patch must be an array'));
        const err = jsonPatch(candidate, body);
        if (err) return send(res, 422, statusBody(422, 'Invalid', err));
      } else if (ct === 'application/strategic-merge-patch+json') {
        strategicMerge(candidate, body);
        const rv = (body as Obj)?.metadata?.resourceVersion;
        if (rv !== undefined) candidate.metadata.resourceVersion = rv;
      } else {
        return send(res, 422, statusBody(422, 'Invalid', `patch type ${ct} is not simulated`));
      }
      // Optimistic concurrency: a resourceVersion in the patched object must be the stored one.
      // https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
      if (candidate.metadata.resourceVersion !== w.obj.metadata.resourceVersion) {
        return send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${m[2]}.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      w.obj = candidate;
      w.obj.metadata.resourceVersion = nextRv();
      templateChanged(w, before);
      return send(res, 200, w.obj);
    }
    return send(res, 405, statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err) => send(res, 500, statusBody(500, 'InternalError', String(err))));
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca, requestCert: options.tls.requestCert, rejectUnauthorized: Boolean(options.tls.requestCert) }, listener)
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    addWorkload(spec) {
      const kind = spec.kind ?? 'Deployment';
      const ns = spec.namespace ?? 'default';
      const labels = { app: spec.name };
      const obj: Obj = {
        apiVersion: 'apps/v1',
        kind,
        metadata: { name: spec.name, namespace: ns, uid: `uid-${kind}-${spec.name}`, generation: 1, resourceVersion: nextRv(), labels },
        spec: {
          ...(kind === 'DaemonSet' ? {} : { replicas: spec.replicas ?? 2 }),
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: spec.containers.map((c) => ({ ...c })) } },
          ...(kind === 'StatefulSet' ? { updateStrategy: { type: 'RollingUpdate' } } : {}),
        },
      };
      const w: Workload = { kind, obj, looks: spec.rollingOut ? 0 : LOOKS_TO_DONE, desired: spec.replicas ?? 2 };
      workloads.set(key(kind, ns, spec.name), w);
      recordReplicaSet(w);
      observe(w);
    },
    workload(kind, name, namespace = 'default') {
      return workloads.get(key(kind, namespace, name))?.obj;
    },
    image(kind, name, container, namespace = 'default') {
      const o = workloads.get(key(kind, namespace, name))!.obj;
      const cs = o.spec.template.spec.containers;
      return (container ? cs.find((c: Obj) => c.name === container) : cs[0]).image;
    },
    failNextRollout(name, how) {
      pendingFaults.set(name, how);
    },
    conflicts(name, count) {
      pendingConflicts.set(name, count);
    },
    serverErrors(count, status = 503) {
      errors = { count, status };
    },
    externalChange(kind, name, container, image, namespace = 'default') {
      const w = workloads.get(key(kind, namespace, name))!;
      const before = JSON.stringify(w.obj.spec.template);
      w.obj.spec.template.spec.containers.find((c: Obj) => c.name === container).image = image;
      w.obj.metadata.resourceVersion = nextRv();
      templateChanged(w, before);
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
