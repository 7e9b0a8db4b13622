/**
 * A Kubernetes API double, written from the API reference (apps/v1 Deployments, StatefulSets,
 * DaemonSets, ReplicaSets; batch/v1 CronJobs; the Argo Rollouts CRD argoproj.io/v1alpha1 Rollout;
 * GET and PATCH; no watch):
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
 * https://argo-rollouts.readthedocs.io/en/stable/features/specification/
 * It simulates a rollout over a few looks, or over time when `rolloutMs` is given (observedGeneration
 * lags, replicas update, become available), keeps ReplicaSets with revision annotations for
 * Deployments, and plays what the controllers do with the strategies teams use: a paused Deployment
 * observes a change and rolls nothing; an OnDelete StatefulSet or DaemonSet records the new revision
 * and replaces no pod; a partitioned StatefulSet updates only the pods at or above the partition; a
 * Rollout (with its own template or a workloadRef to a Deployment) goes Progressing -> Healthy with
 * stableRS = currentPodHash. It plays another controller too: Argo CD self-heal puts the template it
 * wants back some time after anyone else changes it. Faults: progress deadline exceeded, pods never
 * ready, a degraded Rollout, 409 conflicts, 5xx answers. Every request is recorded.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Rollout';
/** group/version + plural -> kind, as the API paths name them. */
const RESOURCES: Record<string, Kind> = {
  'apps/v1 deployments': 'Deployment', 'apps/v1 statefulsets': 'StatefulSet', 'apps/v1 daemonsets': 'DaemonSet',
  'batch/v1 cronjobs': 'CronJob', 'argoproj.io/v1alpha1 rollouts': 'Rollout',
};
const API_VERSION: Record<Kind, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', CronJob: 'batch/v1', Rollout: 'argoproj.io/v1alpha1' };

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

type Fault = 'deadline' | 'never-ready' | 'degraded';

interface Workload {
  kind: Kind;
  obj: Obj;
  /** Looks (GETs) since the last template change; drives the simulated rollout (per-look mode). */
  looks: number;
  /** When the template last changed (time mode). */
  changedAt: number;
  /** A change not yet rolled out. */
  pending?: boolean;
  fault?: Fault;
  /** Pods wanted: spec.replicas, or the nodes a DaemonSet schedules on. */
  desired: number;
  /** Rollout: the hash of the pod template it rolled out last (its own, or its workloadRef's). */
  podHash?: string;
  /** Argo CD self-heal: the template "Git" wants, put back `delayMs` after anyone changes it. */
  heal?: { template: string; delayMs: number; timer?: NodeJS.Timeout; count: number };
}

export interface WorkloadSpec {
  kind?: Kind;
  name: string;
  namespace?: string;
  replicas?: number;
  containers?: { name: string; image: string }[];
  initContainers?: { name: string; image: string }[];
  /** Ownership metadata (Argo CD, Flux, Helm write these). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** StatefulSet/DaemonSet spec.updateStrategy (OnDelete, or RollingUpdate with a partition). */
  updateStrategy?: { type: 'OnDelete' | 'RollingUpdate'; rollingUpdate?: { partition?: number } };
  /** Deployment or Rollout spec.paused. */
  paused?: boolean;
  /** Rollout: its pod template lives in this Deployment instead of spec.template. */
  workloadRef?: { kind: 'Deployment'; name: string };
  /** CronJob schedule. */
  schedule?: string;
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
  /** The image of an initContainer. */
  initImage(kind: Kind, name: string, container: string, namespace?: string): string;
  /**
   * Argo CD self-heal on this workload: the template it has now is what "Git" wants; `delayMs`
   * after anyone changes it, the controller puts it back. Returns a counter of the put-backs.
   */
  selfHeal(kind: Kind, name: string, delayMs: number, namespace?: string): { count: () => number };
  /** Faults: the next rollout of `name` fails the given way. */
  failNextRollout(name: string, how: Fault): void;
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

export interface KubernetesDoubleOptions {
  /** Bearer token the API requires; `() => string` answers 401 for any other (a rotated credential). */
  token?: string | (() => string);
  tls?: { key: string; cert: string; ca?: string; requestCert?: boolean };
  /** Rollouts progress over this much time after a change (by `now`), not per look. */
  rolloutMs?: number;
  now?: () => number;
}

export async function startKubernetesDouble(options: KubernetesDoubleOptions = {}): Promise<KubernetesDouble> {
  const workloads = new Map<string, Workload>();
  const replicaSets = new Map<string, Obj>();
  const requests: RecordedRequest[] = [];
  const pendingConflicts = new Map<string, number>();
  const pendingFaults = new Map<string, Fault>();
  const now = options.now ?? Date.now;
  const tokenNow = () => (typeof options.token === 'function' ? options.token() : options.token);
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
        // RFC 3339 in seconds, as the API server writes it; a reused ReplicaSet keeps its first one.
        creationTimestamp: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        labels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash },
        annotations: { 'deployment.kubernetes.io/revision': revision },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true }],
      },
      spec: { replicas: d.spec.replicas, selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } }, template },
    });
  }

  /** Where the kind keeps its pod template (a Rollout with workloadRef: in the Deployment it names). */
  function templateOf(w: Workload): Obj {
    const o = w.obj;
    if (w.kind === 'CronJob') return o.spec.jobTemplate.spec.template;
    if (w.kind === 'Rollout' && o.spec.workloadRef) {
      return workloads.get(key('Deployment', o.metadata.namespace, o.spec.workloadRef.name))?.obj.spec.template ?? { spec: { containers: [] } };
    }
    return o.spec.template;
  }
  function setTemplate(w: Workload, t: Obj): void {
    if (w.kind === 'CronJob') w.obj.spec.jobTemplate.spec.template = t;
    else w.obj.spec.template = t;
  }

  /** Progress since the last change: looks (GETs) by default, time with `rolloutMs`. */
  function progressStep(w: Workload): number {
    if (options.rolloutMs !== undefined) {
      const per = options.rolloutMs / LOOKS_TO_DONE;
      return per <= 0 ? LOOKS_TO_DONE : Math.min(LOOKS_TO_DONE, Math.floor((now() - w.changedAt) / per));
    }
    const step = Math.min(w.looks, LOOKS_TO_DONE);
    w.looks += 1;
    return step;
  }

  /** Advances the simulated controllers and writes status the way each kind reports it. */
  function observe(w: Workload): void {
    const o = w.obj;
    const want = w.desired;
    if (w.kind === 'CronJob') return; // nothing rolls out: the next Job uses the template
    if (o.spec.paused && w.kind === 'Deployment') {
      // A paused Deployment observes a change and rolls nothing until resumed; time does not count.
      if (!w.pending) return;
      w.changedAt = now();
      o.status = {
        ...o.status, observedGeneration: o.metadata.generation, updatedReplicas: 0,
        conditions: [{ type: 'Available', status: 'True' }, { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' }],
      };
      return;
    }
    const step = progressStep(w);
    const observed = step >= 1 ? o.metadata.generation : o.metadata.generation - 1;
    const done = step >= LOOKS_TO_DONE && !w.fault;
    if (done) w.pending = false;
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
      const strategy = o.spec.updateStrategy ?? { type: 'RollingUpdate' };
      const previous = o.status?.currentRevision ?? update;
      if (strategy.type === 'OnDelete') {
        // The controller records the new revision and replaces no pod: each runs the old one until deleted.
        o.status = { observedGeneration: observed, replicas: want, readyReplicas: want, currentReplicas: previous === update ? want : 0, updatedReplicas: previous === update ? want : 0, currentRevision: previous, updateRevision: update };
        return;
      }
      const partition = Math.min(want, strategy.rollingUpdate?.partition ?? 0);
      const toUpdate = want - partition;
      const updated = previous === update ? want : Math.min(partial, toUpdate);
      o.status = {
        observedGeneration: observed,
        replicas: want,
        readyReplicas: done ? want : Math.max(0, partial - 1),
        updatedReplicas: done && previous !== update ? toUpdate : updated,
        // Pods below the partition keep the old revision: current never becomes the update revision.
        currentRevision: done && partition === 0 ? update : previous,
        updateRevision: update,
      };
    } else if (w.kind === 'DaemonSet') {
      const onDelete = o.spec.updateStrategy?.type === 'OnDelete';
      const stale = onDelete && (o.status?.updatedNumberScheduled ?? want) < want;
      o.status = {
        observedGeneration: observed,
        desiredNumberScheduled: want,
        updatedNumberScheduled: onDelete ? (stale ? 0 : want) : step >= 1 ? partial : 0,
        numberAvailable: onDelete ? want : done ? want : Math.max(0, partial - 1),
        numberReady: onDelete ? want : done ? want : Math.max(0, partial - 1),
      };
    } else {
      // Argo Rollouts: https://argo-rollouts.readthedocs.io/en/stable/features/specification/ (status)
      // Until the controller notices a change, the status stays as it was: with a workloadRef the
      // Rollout's own generation did not move, so only workloadObservedGeneration tells.
      if (step === 0 && o.status) {
        if (!o.spec.workloadRef) o.status.observedGeneration = String(o.metadata.generation - 1);
        return;
      }
      const hash = templateHash(templateOf(w));
      const degraded = w.fault === 'degraded' && step >= 2;
      const ref = o.spec.workloadRef ? workloads.get(key('Deployment', o.metadata.namespace, o.spec.workloadRef.name)) : undefined;
      o.status = {
        // Argo Rollouts reports these generations as strings.
        observedGeneration: String(o.spec.workloadRef ? o.metadata.generation : observed),
        ...(ref ? { workloadObservedGeneration: String(step >= 1 ? ref.obj.metadata.generation : ref.obj.metadata.generation - 1) } : {}),
        phase: degraded ? 'Degraded' : o.spec.paused && !done ? 'Paused' : done ? 'Healthy' : 'Progressing',
        ...(degraded ? { message: 'ProgressDeadlineExceeded: ReplicaSet has timed out progressing.' } : {}),
        currentPodHash: hash,
        stableRS: done ? hash : (o.status?.stableRS ?? hash),
        replicas: want,
        updatedReplicas: step >= 1 ? partial : 0,
        readyReplicas: done ? want : Math.max(0, partial - 1),
        availableReplicas: done ? want : Math.max(0, partial - 1),
      };
    }
  }

  /** A new rollout starts: generation, progress and the next fault. */
  function restart(w: Workload): void {
    w.pending = true;
    w.looks = 0;
    w.changedAt = now();
    w.fault = pendingFaults.get(w.obj.metadata.name);
    pendingFaults.delete(w.obj.metadata.name);
  }

  function templateChanged(w: Workload, before: string): void {
    if (JSON.stringify(templateOf(w)) === before) return;
    w.obj.metadata.generation += 1;
    restart(w);
    if (w.kind === 'DaemonSet' && w.obj.spec.updateStrategy?.type === 'OnDelete' && w.obj.status) w.obj.status.updatedNumberScheduled = 0;
    recordReplicaSet(w);
    // Rollouts whose workloadRef names this Deployment start rolling out its new template.
    if (w.kind === 'Deployment') {
      for (const r of workloads.values()) {
        if (r.kind === 'Rollout' && r.obj.spec.workloadRef?.name === w.obj.metadata.name && r.obj.metadata.namespace === w.obj.metadata.namespace) restart(r);
      }
    }
    scheduleHeal(w);
  }

  /** Argo CD self-heal: anyone's change is put back to what "Git" wants after the delay. */
  function scheduleHeal(w: Workload): void {
    const h = w.heal;
    if (!h || h.timer || JSON.stringify(templateOf(w)) === h.template) return;
    h.timer = setTimeout(() => {
      h.timer = undefined;
      const before = JSON.stringify(templateOf(w));
      if (before === h.template) return;
      setTemplate(w, JSON.parse(h.template));
      w.obj.metadata.resourceVersion = nextRv();
      h.count += 1;
      templateChanged(w, before);
    }, h.delayMs);
    h.timer.unref();
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
  /** https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/ */
  function statusBody(code: number, reason: string, message: string): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  /** The pod spec inside a workload or a patch: spec.template.spec, or a CronJob's jobTemplate one. */
  function podSpec(o: Obj): Obj | undefined {
    return o?.spec?.template?.spec ?? o?.spec?.jobTemplate?.spec?.template?.spec;
  }

  function strategicMerge(o: Obj, patch: Obj): void {
    // Only what a strategic merge patch does to the paths this tool touches: containers and
    // initContainers merge by name, annotations and labels merge by key.
    const from = podSpec(patch);
    const into = podSpec(o);
    for (const list of ['containers', 'initContainers']) {
      const items = from?.[list];
      if (!Array.isArray(items) || !into) continue;
      into[list] = into[list] ?? [];
      for (const c of items) {
        const target = into[list].find((x: Obj) => x.name === c.name);
        if (target) Object.assign(target, c);
        else into[list].push(c);
      }
    }
    for (const map of ['annotations', 'labels']) {
      const m = patch?.metadata?.[map];
      if (m && typeof m === 'object') o.metadata[map] = { ...(o.metadata[map] ?? {}), ...m };
    }
  }

  /** RFC 6902 replace, add and test, as the API server applies them. */
  function jsonPatch(o: Obj, ops: Obj[]): string | undefined {
    for (const op of ops) {
      if (!['replace', 'add', 'test'].includes(op.op)) return `op ${op.op} is not simulated`;
      const parts = String(op.path).split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      let at = o;
      for (const p of parts.slice(0, -1)) {
        if (at[p] === undefined) return `${op.op} operation does not apply: doc is missing path: ${op.path}`;
        at = at[p];
      }
      const last = parts[parts.length - 1];
      if (op.op === 'test') {
        if (JSON.stringify(at[last]) !== JSON.stringify(op.value)) return `testing value ${op.path} failed`;
      } else if (op.op === 'replace') {
        if (at[last] === undefined) return `replace operation does not apply: doc is missing key: ${op.path}`;
        at[last] = JSON.parse(JSON.stringify(op.value));
      } else if (Array.isArray(at)) {
        at.splice(last === '-' ? at.length : Number(last), 0, JSON.parse(JSON.stringify(op.value)));
      } else {
        at[last] = JSON.parse(JSON.stringify(op.value));
      }
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

    const token = tokenNow();
    if (token && req.headers.authorization !== `Bearer ${token}`) return send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
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
      ).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)); // the API server lists by key (name), not by age
      return send(res, 200, { kind: 'ReplicaSetList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(rvCounter) }, items });
    }

    const m = url.pathname.match(/^\/apis\/(apps\/v1|batch\/v1|argoproj\.io\/v1alpha1)\/namespaces\/([^/]+)\/([a-z]+)\/([^/]+)$/);
    const kind = m ? RESOURCES[`${m[1]} ${m[3]}`] : undefined;
    if (!m || !kind) return send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const ns = decodeURIComponent(m[2]);
    const name = decodeURIComponent(m[4]);
    const group = m[1].split('/')[0];
    const w = workloads.get(key(kind, ns, name));
    if (!w) return send(res, 404, statusBody(404, 'NotFound', `${m[3]}.${group === 'v1' ? '' : group} "${name}" not found`));

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
        return send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${m[3]}.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      // Custom resources (the Rollout CRD) take no strategic merge patch: 415, as the API server answers.
      if (kind === 'Rollout' && ct === 'application/strategic-merge-patch+json') {
        return send(res, 415, statusBody(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml'));
      }
      const before = JSON.stringify(templateOf(w));
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
        return send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${m[3]}.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
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
      const podSpecOf = () => ({
        containers: (spec.containers ?? []).map((c) => ({ ...c })),
        ...(spec.initContainers ? { initContainers: spec.initContainers.map((c) => ({ ...c })) } : {}),
        ...(kind === 'CronJob' ? { restartPolicy: 'OnFailure' } : {}),
      });
      const template = { metadata: { labels }, spec: podSpecOf() };
      let body: Obj;
      if (kind === 'CronJob') {
        body = { schedule: spec.schedule ?? '0 3 * * *', jobTemplate: { spec: { template } } };
      } else if (kind === 'Rollout') {
        body = {
          replicas: spec.replicas ?? 2,
          selector: { matchLabels: labels },
          ...(spec.workloadRef ? { workloadRef: { apiVersion: 'apps/v1', ...spec.workloadRef } } : { template }),
          strategy: { canary: { steps: [{ setWeight: 50 }, { pause: { duration: '10s' } }] } },
          ...(spec.paused ? { paused: true } : {}),
        };
      } else {
        body = {
          ...(kind === 'DaemonSet' ? {} : { replicas: spec.replicas ?? 2 }),
          selector: { matchLabels: labels },
          template,
          ...(kind === 'StatefulSet' ? { updateStrategy: spec.updateStrategy ?? { type: 'RollingUpdate' } } : {}),
          ...(kind === 'DaemonSet' && spec.updateStrategy ? { updateStrategy: spec.updateStrategy } : {}),
          ...(kind === 'Deployment' && spec.paused ? { paused: true } : {}),
        };
      }
      const obj: Obj = {
        apiVersion: API_VERSION[kind],
        kind,
        metadata: {
          name: spec.name, namespace: ns, uid: `uid-${kind}-${spec.name}`, generation: 1, resourceVersion: nextRv(),
          labels: { ...labels, ...(spec.labels ?? {}) }, ...(spec.annotations ? { annotations: { ...spec.annotations } } : {}),
        },
        spec: body,
      };
      const w: Workload = { kind, obj, looks: spec.rollingOut ? 0 : LOOKS_TO_DONE, changedAt: spec.rollingOut ? now() : -Infinity, pending: Boolean(spec.rollingOut), desired: spec.replicas ?? 2 };
      workloads.set(key(kind, ns, spec.name), w);
      recordReplicaSet(w);
      observe(w);
    },
    workload(kind, name, namespace = 'default') {
      return workloads.get(key(kind, namespace, name))?.obj;
    },
    image(kind, name, container, namespace = 'default') {
      const cs = templateOf(workloads.get(key(kind, namespace, name))!).spec.containers;
      return (container ? cs.find((c: Obj) => c.name === container) : cs[0]).image;
    },
    initImage(kind, name, container, namespace = 'default') {
      return templateOf(workloads.get(key(kind, namespace, name))!).spec.initContainers.find((c: Obj) => c.name === container).image;
    },
    selfHeal(kind, name, delayMs, namespace = 'default') {
      const w = workloads.get(key(kind, namespace, name))!;
      w.heal = { template: JSON.stringify(templateOf(w)), delayMs, count: 0 };
      return { count: () => w.heal?.count ?? 0 };
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
      const before = JSON.stringify(templateOf(w));
      templateOf(w).spec.containers.find((c: Obj) => c.name === container).image = image;
      w.obj.metadata.resourceVersion = nextRv();
      templateChanged(w, before);
    },
    close: () => new Promise<void>((resolve) => {
      for (const w of workloads.values()) if (w.heal?.timer) clearTimeout(w.heal.timer);
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
