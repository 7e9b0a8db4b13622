/**
 * The kubernetes target: a service is the Argo Rollouts Rollout (else Deployment, StatefulSet,
 * DaemonSet, CronJob) named like it in the namespace; every container and initContainer whose image
 * comes from the service's repository (or the one `container:` names) changes together. Deploying
 * patches those images; health is `kubectl rollout status`'s verdict (a Rollout's: Healthy with its
 * stable ReplicaSet at the new pod hash; a CronJob has nothing to wait for). Before anything changes,
 * preflight refuses what a patch cannot change for good: a workload another controller manages
 * (Argo CD, Flux, Helm: src/targets/kubernetes/ownership.ts) unless `managed: patch`, an OnDelete or
 * partitioned strategy, a paused workload. No kubectl: REST through ./client.ts.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { KubernetesTargetConfig, ServiceConfig } from '../../config/types';
import { failure, inputError } from '../../errors';
import type { HttpClientOptions } from '../../http/client';
import { isImageOf, parseImageRef, registryHost, sameImage } from '../../image/reference';
import { createKubeClient, KubeClient } from './client';
import { KubeConnection, loadKubeConnection } from './config';
import { describeOwner, Owner, ownerOf } from './ownership';
import { API, Container, PodTemplate, RESOURCE, rolloutVerdict, Workload, WorkloadKind } from './rollout';
import type { Deployed, Target, TargetContext, TargetHistory } from '../types';

export interface KubernetesDeps {
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Between two looks at a rollout. Default 2 s. */
  pollMs?: number;
  serviceAccountDir?: string;
  readFile?: (path: string) => Buffer;
  http?: Omit<HttpClientOptions, 'dispatcher'>;
}

/** Lookup order without `kind:`: a Rollout first, since one with workloadRef has a Deployment (scaled to 0) of the same name. */
const KINDS: WorkloadKind[] = ['Rollout', 'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'];
/** Optimistic-concurrency retries: someone else changed the workload between our GET and PATCH. */
const CONFLICT_ATTEMPTS = 3;
const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** Annotations a `managed: patch` change leaves on the workload. */
export const ANNOTATION_PREFIX = 'rollback.jenkins.io';

/** A container or initContainer of the pod template the service's image is in. */
interface Slot {
  list: 'containers' | 'initContainers';
  index: number;
  name: string;
  image: string;
}

interface Located {
  kind: WorkloadKind;
  name: string;
  workload: Workload;
  /** Where the pod template lives: the workload itself, or the Deployment a Rollout's workloadRef names. */
  holder: { kind: WorkloadKind; name: string; workload: Workload };
  template: PodTemplate;
  slots: Slot[];
}

export function createKubernetesTarget(ctx: TargetContext, deps: KubernetesDeps = {}): Target {
  const cfg = (ctx.environment.target as { kubernetes: KubernetesTargetConfig }).kubernetes;
  const conn: KubeConnection = loadKubeConnection({
    // Like every path in rollback.yml, a relative kubeconfig is read beside that file.
    kubeconfig: cfg.kubeconfig && !isAbsolute(cfg.kubeconfig) ? resolve(dirname(ctx.config.source), cfg.kubeconfig) : cfg.kubeconfig,
    context: cfg.context,
    namespace: cfg.namespace,
    env: ctx.env,
    serviceAccountDir: deps.serviceAccountDir,
    readFile: deps.readFile,
  });
  const kube: KubeClient = createKubeClient(conn, {
    sleep: ctx.sleep,
    ...deps.http,
    onRetry: (reason, ms) => ctx.logger.debug(`kubernetes: ${reason}; retrying in ${ms} ms`),
  });
  const sleep = deps.sleep ?? ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const ctxNow = ctx.now;
  const now = deps.now ?? (ctxNow ? () => ctxNow().getTime() : Date.now);
  const pollMs = deps.pollMs ?? ctx.pollMs ?? 2000;
  const ns = conn.namespace;
  const host = registryHost(ctx.config.registry.url);
  const patchManaged = cfg.managed === 'patch';
  /** What each of our patches produced, so a wait never accepts the previous rollout's "done". */
  const patched = new Map<string, { generation: number; holderGeneration: number; image: string }>();
  /** The kind each service was found as: later looks ask for that one only. */
  const kindOf = new Map<string, WorkloadKind>();
  const warned = new Set<string>();

  const path = (kind: WorkloadKind, name: string) =>
    `${API[kind]}/namespaces/${encodeURIComponent(ns)}/${RESOURCE[kind]}/${encodeURIComponent(name)}`;
  const label = (l: { kind: WorkloadKind; name: string }) => `${l.kind} ${ns}/${l.name}`;

  function templateOf(kind: WorkloadKind, w: Workload): PodTemplate | undefined {
    return kind === 'CronJob' ? w.spec?.jobTemplate?.spec?.template : w.spec?.template;
  }

  function pickSlots(service: ServiceConfig, l: { kind: WorkloadKind; name: string }, template: PodTemplate | undefined): Slot[] {
    const all: Slot[] = [];
    for (const list of ['containers', 'initContainers'] as const) {
      ((template?.spec?.[list] ?? []) as Container[]).forEach((c, index) => all.push({ list, index, name: c.name, image: c.image }));
    }
    const wanted = service.kubernetes?.container;
    const slots = wanted ? all.filter((c) => c.name === wanted) : all.filter((c) => isImageOf(c.image, service.repository, host));
    if (slots.length === 0) {
      const have = all.map((c) => `${c.name} (${c.image})`).join(', ') || 'none';
      throw inputError(
        wanted
          ? `Service ${service.name}: ${label(l)} has no container named '${wanted}'; it has ${have}.`
          : `Service ${service.name}: no container of ${label(l)} runs an image of repository ${service.repository}; it has ${have} (name one with kubernetes.container).`,
      );
    }
    return slots;
  }

  async function locate(service: ServiceConfig): Promise<Located> {
    const name = service.kubernetes?.name ?? service.name;
    const kinds = service.kubernetes?.kind ? [service.kubernetes.kind] : kindOf.has(service.name) ? [kindOf.get(service.name)!] : KINDS;
    for (const kind of kinds) {
      const w = await kube.get<Workload>(path(kind, name));
      if (!w) continue;
      kindOf.set(service.name, kind);
      let holder = { kind, name, workload: w };
      const ref = kind === 'Rollout' ? w.spec?.workloadRef : undefined;
      if (ref) {
        if (ref.kind !== 'Deployment') throw inputError(`Service ${service.name}: ${label({ kind, name })} takes its pod template from a ${ref.kind}, which this target does not change; only a workloadRef to a Deployment is supported.`);
        const d = await kube.get<Workload>(path('Deployment', ref.name));
        if (!d) throw inputError(`Service ${service.name}: ${label({ kind, name })} takes its pod template from Deployment ${ns}/${ref.name}, which does not exist.`);
        holder = { kind: 'Deployment', name: ref.name, workload: d };
      }
      const template = templateOf(holder.kind, holder.workload);
      return { kind, name, workload: w, holder, template: template as PodTemplate, slots: pickSlots(service, holder, template) };
    }
    const named = (service.kubernetes?.kind ? [service.kubernetes.kind] : ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Rollout']).join(', ').replace(/, (?=[^,]*$)/, ' or ');
    throw inputError(`Service ${service.name}: no ${named} named '${name}' in namespace ${ns} at ${conn.server}.`);
  }

  /** Other controllers that manage the workload (or the Deployment its workloadRef names). */
  function ownerOfLocated(l: Located): Owner | undefined {
    return ownerOf(l.workload.metadata) ?? (l.holder.workload !== l.workload ? ownerOf(l.holder.workload.metadata) : undefined);
  }

  /**
   * `revisions: true`: the newest ReplicaSet owned by the Deployment whose pod template ran the
   * image (matching by digest when both pin one), as `kubectl rollout undo --to-revision` picks it.
   * https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment
   */
  /** The ReplicaSets the Deployment `d` owns (listed by its selector, kept by owner uid). */
  async function ownedReplicaSets(d: Workload): Promise<Workload[]> {
    const selector = Object.entries(d.spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const list = await kube.get<{ items?: Workload[] }>(
      `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/replicasets${selector ? `?labelSelector=${encodeURIComponent(selector)}` : ''}`,
    );
    return (list?.items ?? []).filter((rs) =>
      (rs.metadata.ownerReferences ?? []).some((o) => o.kind === 'Deployment' && o.uid === d.metadata.uid),
    );
  }

  async function revisionTemplate(l: Located, image: string): Promise<{ template: PodTemplate; revision: string } | undefined> {
    const owned = await ownedReplicaSets(l.workload);
    const matching = owned
      .filter((rs) => l.slots.every((slot) => {
        const c = (rs.spec.template?.spec?.[slot.list] as Container[] | undefined)?.find((x) => x.name === slot.name);
        return c !== undefined && sameImage(c.image, image);
      }))
      .sort((a, b) => Number(b.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) - Number(a.metadata.annotations?.[REVISION_ANNOTATION] ?? 0));
    const best = matching[0];
    if (!best) return undefined;
    const template = JSON.parse(JSON.stringify(best.spec.template)) as PodTemplate;
    // The controller adds pod-template-hash to each ReplicaSet's template; the Deployment's must not carry it.
    if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash'];
    return { template, revision: best.metadata.annotations?.[REVISION_ANNOTATION] ?? '?' };
  }

  /** The annotations a `managed: patch` change leaves: who, when, from and to which image. */
  function stamp(l: Located, image: string): Record<string, string> | undefined {
    if (!patchManaged) return undefined;
    return {
      [`${ANNOTATION_PREFIX}/by`]: ctx.approver ?? 'unknown',
      [`${ANNOTATION_PREFIX}/at`]: new Date(now()).toISOString(),
      [`${ANNOTATION_PREFIX}/from`]: l.slots[0].image,
      [`${ANNOTATION_PREFIX}/to`]: image,
    };
  }

  async function patchOnce(service: ServiceConfig, image: string): Promise<boolean> {
    const l = await locate(service);
    const h = l.holder;
    const rv = h.workload.metadata.resourceVersion;
    const annotations = stamp(l, image);
    const base = h.kind === 'CronJob' ? '/spec/jobTemplate/spec/template' : '/spec/template';
    let result;
    const revision = cfg.revisions && l.kind === 'Deployment' ? await revisionTemplate(l, image) : undefined;
    if (revision || h.kind === 'Rollout') {
      if (revision) ctx.logger.info(`${service.name}: going back to revision ${revision.revision} of ${label(l)}, whose pod template ran ${image}.`);
      // JSON patch: a custom resource (Rollout) takes no strategic merge patch; a revision replaces the
      // whole template, as `kubectl rollout undo` does. Pinning resourceVersion makes a concurrent change
      // a 409 instead of a silent overwrite.
      // https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
      const ops: unknown[] = [...(rv ? [{ op: 'replace', path: '/metadata/resourceVersion', value: rv }] : [])];
      if (revision) ops.push({ op: 'replace', path: base, value: revision.template });
      else for (const slot of l.slots) ops.push({ op: 'replace', path: `${base}/spec/${slot.list}/${slot.index}/image`, value: image });
      if (annotations) {
        if (!h.workload.metadata.annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
        for (const [k, v] of Object.entries(annotations)) ops.push({ op: 'add', path: `/metadata/annotations/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v });
      }
      result = await kube.patch<Workload>(path(h.kind, h.name), ops, 'json');
    } else {
      if (cfg.revisions && l.kind === 'Deployment') ctx.logger.info(`${service.name}: no ReplicaSet of ${label(l)} ran ${image}; changing the image only.`);
      // Strategic merge patch merges containers and initContainers by name, so only those images change.
      // https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-strategic-merge-patch-to-update-a-deployment
      const podSpec: Record<string, { name: string; image: string }[]> = {};
      for (const slot of l.slots) (podSpec[slot.list] ??= []).push({ name: slot.name, image });
      const template = { spec: podSpec };
      result = await kube.patch<Workload>(path(h.kind, h.name), {
        metadata: { ...(rv ? { resourceVersion: rv } : {}), ...(annotations ? { annotations } : {}) },
        spec: h.kind === 'CronJob' ? { jobTemplate: { spec: { template } } } : { template },
      }, 'strategic');
    }
    if (result.conflict) {
      ctx.logger.info(`${service.name}: ${label(h)} changed while we patched it (409 Conflict); reading it again.`);
      return false;
    }
    const after = result.object;
    const applied = (templateOf(h.kind, after)?.spec?.[l.slots[0].list] as Container[] | undefined)?.find((x) => x.name === l.slots[0].name)?.image ?? image;
    const generation = after.metadata.generation ?? 0;
    patched.set(service.name, {
      generation: h === l.holder && l.holder.workload === l.workload ? generation : (l.workload.metadata.generation ?? 0),
      holderGeneration: generation, image: applied,
    });
    if (annotations) ctx.logger.info(`${service.name}: annotated ${label(h)} with ${ANNOTATION_PREFIX}/by, at, from and to.`);
    return true;
  }

  return {
    describe: () => `Kubernetes at ${conn.server}, namespace ${ns} (${conn.source})`,

    async current(service: ServiceConfig): Promise<Deployed> {
      const l = await locate(service);
      const first = l.slots[0];
      const others = l.slots.slice(1).filter((s) => !sameImage(s.image, first.image));
      if (others.length) ctx.logger.warn(`${service.name}: ${label(l.holder)} runs ${others.map((s) => `${s.name} on ${s.image}`).join(', ')} beside ${first.name} on ${first.image}; a change sets all of them to one image.`);
      const names = l.slots.map((s) => (s.list === 'initContainers' ? `initContainer ${s.name}` : `container ${s.name}`)).join(', ');
      return { image: first.image, id: `${label(l)} ${names}` };
    },

    async busy(service: ServiceConfig): Promise<string | undefined> {
      const l = await locate(service);
      if (l.kind === 'CronJob') return undefined;
      const v = rolloutVerdict(l.kind, l.workload);
      if (v.state === 'progressing') return `${label(l)} is still rolling out (${v.why}).`;
      // A rollout that failed (progress deadline) is over: rolling back is the remedy, not a reason to wait.
      if (v.state === 'failed') ctx.logger.info(`${label(l)}: its last rollout failed (${v.why}); the rollback replaces it.`);
      return undefined;
    },

    async refuse(service: ServiceConfig): Promise<string | undefined> {
      const l = await locate(service);
      const w = l.workload;
      const strategy = w.spec?.updateStrategy;
      if ((l.kind === 'StatefulSet' || l.kind === 'DaemonSet') && strategy?.type === 'OnDelete') {
        return `Service ${service.name}: ${label(l)} uses updateStrategy OnDelete, so a new image reaches no pod until each pod is deleted (kubectl rollout status refuses it too); switch it to RollingUpdate for the rollback`;
      }
      const partition = strategy?.rollingUpdate?.partition ?? 0;
      if (l.kind === 'StatefulSet' && partition > 0) {
        return `Service ${service.name}: ${label(l)} has rollingUpdate.partition ${partition}, so its pods below ordinal ${partition} would keep their image; set the partition to 0 for the rollback`;
      }
      if ((l.kind === 'Deployment' || l.kind === 'Rollout') && w.spec?.paused) {
        return `Service ${service.name}: ${label(l)} is paused, so a new image would not roll out; resume it first (${l.kind === 'Rollout' ? `kubectl argo rollouts resume ${l.name}` : `kubectl rollout resume deployment/${l.name} -n ${ns}`})`;
      }
      const owner = ownerOfLocated(l);
      if (!owner) return undefined;
      if (!patchManaged) {
        return `Service ${service.name}: ${label(l)} is managed by ${describeOwner(owner)}, which would put its image back after a patch; ${owner.way}, or set kubernetes.managed: patch to patch it anyway`;
      }
      if (!warned.has(service.name)) {
        warned.add(service.name);
        ctx.logger.warn(`${service.name}: ${label(l)} is managed by ${describeOwner(owner)}; patching it anyway (kubernetes.managed: patch), and annotating it with ${ANNOTATION_PREFIX}/by, at, from and to. That controller may put its image back: the settle check will tell.`);
      }
      return undefined;
    },

    async controllerOf(service: ServiceConfig): Promise<string | undefined> {
      const owner = ownerOfLocated(await locate(service));
      return owner ? describeOwner(owner) : undefined;
    },

    async deploy(service: ServiceConfig, image: string): Promise<void> {
      for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
        if (await patchOnce(service, image)) return;
      }
      throw failure(`The workload of service ${service.name} in namespace ${ns} kept changing while we patched it (409 Conflict ${CONFLICT_ATTEMPTS} times); someone else is deploying it.`);
    },

    async waitHealthy(service: ServiceConfig, image: string, timeoutMs: number): Promise<void> {
      const start = now();
      const mine = patched.get(service.name);
      let why = 'not looked at yet';
      for (let look = 0; ; look++) {
        const l = await locate(service);
        const expected = mine?.image ?? image;
        const moved = l.slots.find((s) => !sameImage(s.image, expected) && !sameImage(s.image, image));
        if (moved) {
          throw failure(`${label(l.holder)} (service ${service.name}) was changed to ${moved.image} by someone else while we waited for ${image}.`);
        }
        if (l.kind === 'CronJob') {
          ctx.logger.info(`${service.name}: ${label(l)} runs ${shortImage(image)} from its next Job on; a CronJob has no rollout, so there is nothing to wait for.`);
          return;
        }
        const v = rolloutVerdict(l.kind, l.workload, mine?.generation ?? 0, l.holder.workload !== l.workload ? (mine?.holderGeneration ?? 0) : 0);
        if (v.state === 'done') return;
        if (v.state === 'failed') throw failure(`The rollout of ${label(l)} (service ${service.name}) to ${shortImage(image)} failed: it ${v.why}.`);
        why = v.why;
        if (now() - start >= timeoutMs) {
          throw failure(`${label(l)} (service ${service.name}) did not finish rolling out to ${shortImage(image)} within ${Math.round(timeoutMs / 1000)}s (${why}).`);
        }
        // Look again soon at first (a small rollout takes seconds), then every pollMs.
        await sleep(Math.min(pollMs, 100 * 2 ** look, Math.max(0, timeoutMs - (now() - start))));
      }
    },

    /**
     * A Deployment's ReplicaSets, oldest revision first: each revision whose image of the service's
     * (first) container differs from the one before is a change at the ReplicaSet's creationTimestamp.
     * Best effort: the cluster keeps only revisionHistoryLimit ReplicaSets, and going back to an old
     * revision reuses its ReplicaSet (new revision number, old creationTimestamp). Other kinds keep
     * no such history and tell nothing.
     */
    async history(services: ServiceConfig[]): Promise<TargetHistory> {
      const changes: TargetHistory['changes'] = [];
      for (const service of services) {
        const l = await locate(service);
        if (l.kind !== 'Deployment') {
          ctx.logger.debug(`${service.name}: ${label(l)} keeps no revisions this target reads; no history from the cluster.`);
          continue;
        }
        const slot = l.slots[0];
        const revisions = (await ownedReplicaSets(l.workload))
          .map((rs) => ({ rs, revision: Number(rs.metadata.annotations?.[REVISION_ANNOTATION]) }))
          .filter((r) => Number.isFinite(r.revision) && !Number.isNaN(Date.parse(r.rs.metadata.creationTimestamp ?? '')))
          .sort((a, b) => a.revision - b.revision);
        ctx.logger.debug(`${service.name}: ${revisions.length} ReplicaSet revision(s) of ${label(l)} (best effort: Kubernetes keeps only revisionHistoryLimit of them, and a rollback to an old revision reuses its ReplicaSet, dated when it was first made).`);
        let previous: string | undefined;
        for (const { rs } of revisions) {
          const image = (rs.spec.template?.spec?.[slot.list] as Container[] | undefined)?.find((c) => c.name === slot.name)?.image;
          if (!image || image === previous) continue;
          changes.push({ service: service.name, time: new Date(Date.parse(rs.metadata.creationTimestamp!)).toISOString(), image });
          previous = image;
        }
      }
      return { source: 'Kubernetes ReplicaSet revisions', changes };
    },

    close: () => kube.close(),
  };
}

/** repo:tag, without the digest, for sentences. */
function shortImage(image: string): string {
  const r = parseImageRef(image);
  return `${r.host ? `${r.host}/` : ''}${r.path}${r.tag ? `:${r.tag}` : ''}`;
}
