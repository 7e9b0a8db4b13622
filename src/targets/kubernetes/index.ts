/**
 * The kubernetes target: a service is the Deployment (else StatefulSet, else DaemonSet) named
 * like it in the namespace, and the container whose image repository is the service's.
 * Deploying patches that container's image; health is `kubectl rollout status`'s verdict.
 * No kubectl: REST through src/kube/client.ts.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { KubernetesTargetConfig, ServiceConfig } from '../../config/types';
import { failure, inputError } from '../../errors';
import type { HttpClientOptions } from '../../http/client';
import { isImageOf, parseImageRef, registryHost, sameImage } from '../../image/reference';
import { createKubeClient, KubeClient } from './client';
import { KubeConnection, loadKubeConnection } from './config';
import { PodTemplate, RESOURCE, rolloutVerdict, Workload, WorkloadKind } from './rollout';
import type { Deployed, Target, TargetContext } from '../types';

export interface KubernetesDeps {
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Between two looks at a rollout. Default 2 s. */
  pollMs?: number;
  serviceAccountDir?: string;
  readFile?: (path: string) => Buffer;
  http?: Omit<HttpClientOptions, 'dispatcher'>;
}

const KINDS: WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
/** Optimistic-concurrency retries: someone else changed the workload between our GET and PATCH. */
const CONFLICT_ATTEMPTS = 3;
const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

interface Located {
  kind: WorkloadKind;
  name: string;
  workload: Workload;
  container: number;
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
  /** The generation each of our patches produced, so a wait never accepts the previous rollout's "done". */
  const patched = new Map<string, { generation: number; image: string }>();

  const path = (kind: WorkloadKind, name: string) =>
    `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/${RESOURCE[kind]}/${encodeURIComponent(name)}`;
  const label = (l: Located) => `${l.kind} ${ns}/${l.name}`;

  function pickContainer(service: ServiceConfig, kind: WorkloadKind, w: Workload): number {
    const containers = w.spec?.template?.spec?.containers ?? [];
    const wanted = service.kubernetes?.container;
    const index = wanted
      ? containers.findIndex((c) => c.name === wanted)
      : containers.findIndex((c) => isImageOf(c.image, service.repository, host));
    if (index < 0) {
      const have = containers.map((c) => `${c.name} (${c.image})`).join(', ') || 'none';
      throw inputError(
        wanted
          ? `Service ${service.name}: ${kind} ${ns}/${w.metadata.name} has no container named '${wanted}'; it has ${have}.`
          : `Service ${service.name}: no container of ${kind} ${ns}/${w.metadata.name} runs an image of repository ${service.repository}; it has ${have} (name one with kubernetes.container).`,
      );
    }
    return index;
  }

  async function locate(service: ServiceConfig): Promise<Located> {
    const name = service.kubernetes?.name ?? service.name;
    const kinds = service.kubernetes?.kind ? [service.kubernetes.kind] : KINDS;
    for (const kind of kinds) {
      const w = await kube.get<Workload>(path(kind, name));
      if (w) return { kind, name, workload: w, container: pickContainer(service, kind, w) };
    }
    throw inputError(
      `Service ${service.name}: no ${kinds.join(', ').replace(/, (?=[^,]*$)/, ' or ')} named '${name}' in namespace ${ns} at ${conn.server}.`,
    );
  }

  /**
   * `revisions: true`: the newest ReplicaSet owned by the Deployment whose pod template ran the
   * image (matching by digest when both pin one), as `kubectl rollout undo --to-revision` picks it.
   * https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment
   */
  async function revisionTemplate(l: Located, image: string): Promise<{ template: PodTemplate; revision: string } | undefined> {
    const selector = Object.entries(l.workload.spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const list = await kube.get<{ items?: Workload[] }>(
      `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/replicasets${selector ? `?labelSelector=${encodeURIComponent(selector)}` : ''}`,
    );
    const containerName = l.workload.spec.template.spec.containers[l.container].name;
    const owned = (list?.items ?? []).filter((rs) =>
      (rs.metadata.ownerReferences ?? []).some((o) => o.kind === 'Deployment' && o.uid === l.workload.metadata.uid),
    );
    const matching = owned
      .filter((rs) => {
        const c = rs.spec.template?.spec?.containers?.find((x) => x.name === containerName);
        return c !== undefined && sameImage(c.image, image);
      })
      .sort((a, b) => Number(b.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) - Number(a.metadata.annotations?.[REVISION_ANNOTATION] ?? 0));
    const best = matching[0];
    if (!best) return undefined;
    const template = JSON.parse(JSON.stringify(best.spec.template)) as PodTemplate;
    // The controller adds pod-template-hash to each ReplicaSet's template; the Deployment's must not carry it.
    if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash'];
    return { template, revision: best.metadata.annotations?.[REVISION_ANNOTATION] ?? '?' };
  }

  async function patchOnce(service: ServiceConfig, image: string): Promise<boolean> {
    const l = await locate(service);
    const w = l.workload;
    const c = w.spec.template.spec.containers[l.container];
    const rv = w.metadata.resourceVersion;
    let result;
    const revision = cfg.revisions && l.kind === 'Deployment' ? await revisionTemplate(l, image) : undefined;
    if (revision) {
      ctx.logger.info(`${service.name}: going back to revision ${revision.revision} of ${label(l)}, whose pod template ran ${image}.`);
      // JSON patch replaces the whole template, as `kubectl rollout undo` does; pinning resourceVersion
      // makes a concurrent change a 409 instead of a silent overwrite.
      // https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
      result = await kube.patch<Workload>(path(l.kind, l.name), [
        ...(rv ? [{ op: 'replace', path: '/metadata/resourceVersion', value: rv }] : []),
        { op: 'replace', path: '/spec/template', value: revision.template },
      ], 'json');
    } else {
      if (cfg.revisions && l.kind === 'Deployment') ctx.logger.info(`${service.name}: no ReplicaSet of ${label(l)} ran ${image}; changing the image only.`);
      // Strategic merge patch merges containers by name, so only this container's image changes.
      // https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-strategic-merge-patch-to-update-a-deployment
      result = await kube.patch<Workload>(path(l.kind, l.name), {
        metadata: rv ? { resourceVersion: rv } : {},
        spec: { template: { spec: { containers: [{ name: c.name, image }] } } },
      }, 'strategic');
    }
    if (result.conflict) {
      ctx.logger.info(`${service.name}: ${label(l)} changed while we patched it (409 Conflict); reading it again.`);
      return false;
    }
    const after = result.object;
    const applied = after.spec?.template?.spec?.containers?.find((x) => x.name === c.name)?.image ?? image;
    patched.set(service.name, { generation: after.metadata.generation ?? 0, image: applied });
    return true;
  }

  return {
    describe: () => `Kubernetes at ${conn.server}, namespace ${ns} (${conn.source})`,

    async current(service: ServiceConfig): Promise<Deployed> {
      const l = await locate(service);
      const c = l.workload.spec.template.spec.containers[l.container];
      return { image: c.image, id: `${label(l)} container ${c.name}` };
    },

    async busy(service: ServiceConfig): Promise<string | undefined> {
      const l = await locate(service);
      if (l.workload.spec.paused) return `${label(l)} is paused (kubectl rollout resume it first).`;
      const v = rolloutVerdict(l.kind, l.workload);
      if (v.state === 'progressing') return `${label(l)} is still rolling out (${v.why}).`;
      // A rollout that failed (progress deadline) is over: rolling back is the remedy, not a reason to wait.
      if (v.state === 'failed') ctx.logger.info(`${label(l)}: its last rollout failed (${v.why}); the rollback replaces it.`);
      return undefined;
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
        const running = l.workload.spec.template.spec.containers[l.container].image;
        const expected = mine?.image ?? image;
        if (!sameImage(running, expected) && !sameImage(running, image)) {
          throw failure(`${label(l)} (service ${service.name}) was changed to ${running} by someone else while we waited for ${image}.`);
        }
        const v = rolloutVerdict(l.kind, l.workload, mine?.generation ?? 0);
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

    close: () => kube.close(),
  };
}

/** repo:tag, without the digest, for sentences. */
function shortImage(image: string): string {
  const r = parseImageRef(image);
  return `${r.host ? `${r.host}/` : ''}${r.path}${r.tag ? `:${r.tag}` : ''}`;
}
