/**
 * Workload shapes (apps/v1, batch/v1 CronJob, Argo Rollouts' Rollout) and the rollout verdict,
 * computed the way `kubectl rollout status` does (kubectl/pkg/polymorphichelpers/rollout_status.go)
 * and, for a Rollout, the way `kubectl argo rollouts status` does (Healthy, stable = current pod hash),
 * as pure functions over the object.
 * API reference: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
 * Rollout: https://argo-rollouts.readthedocs.io/en/stable/features/specification/
 */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Rollout';

export const RESOURCE: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  CronJob: 'cronjobs',
  Rollout: 'rollouts',
};

/** The API group/version path of each kind. */
export const API: Record<WorkloadKind, string> = {
  Deployment: '/apis/apps/v1',
  StatefulSet: '/apis/apps/v1',
  DaemonSet: '/apis/apps/v1',
  CronJob: '/apis/batch/v1',
  Rollout: '/apis/argoproj.io/v1alpha1',
};

export interface Container {
  name: string;
  image: string;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[] } & Record<string, unknown>;
}

export interface Workload {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    /** RFC 3339, set by the API server when the object is made. */
    creationTimestamp?: string;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: {
    replicas?: number;
    paused?: boolean;
    selector?: { matchLabels?: Record<string, string> };
    template: PodTemplate;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
    /** CronJob. */
    jobTemplate?: { spec: { template: PodTemplate } };
    /** Rollout: its pod template lives in this Deployment. */
    workloadRef?: { apiVersion?: string; kind: string; name: string };
  };
  status?: {
    /** A string in a Rollout's status. */
    observedGeneration?: number | string;
    /** Rollout with workloadRef: the generation of the referenced Deployment it saw. */
    workloadObservedGeneration?: string;
    phase?: string;
    message?: string;
    stableRS?: string;
    currentPodHash?: string;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    currentReplicas?: number;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export type Verdict =
  | { state: 'done' }
  | { state: 'progressing'; why: string }
  | { state: 'failed'; why: string };

/**
 * Where a workload's rollout stands. `minGeneration`: the generation our own patch produced;
 * `minWorkloadGeneration`: for a Rollout with workloadRef, the generation our patch gave the Deployment.
 */
export function rolloutVerdict(kind: WorkloadKind, w: Workload, minGeneration = 0, minWorkloadGeneration = 0): Verdict {
  const generation = w.metadata.generation ?? 0;
  const observed = Number(w.status?.observedGeneration ?? 0);
  const s = w.status ?? {};
  if (kind === 'CronJob') return { state: 'done' }; // nothing rolls out: the next Job runs the template
  if (observed < Math.max(generation, minGeneration)) return { state: 'progressing', why: 'the controller has not yet seen the change' };
  switch (kind) {
    case 'Rollout': {
      if (w.spec.workloadRef && Number(s.workloadObservedGeneration ?? 0) < minWorkloadGeneration) {
        return { state: 'progressing', why: `the Argo Rollouts controller has not yet seen the change of Deployment ${w.spec.workloadRef.name}` };
      }
      if (s.phase === 'Degraded') return { state: 'failed', why: `is Degraded${s.message ? ` (${s.message.replace(/\.$/, '')})` : ''}` };
      if (s.phase === 'Healthy' && s.stableRS !== undefined && s.stableRS === s.currentPodHash) return { state: 'done' };
      if (s.phase === 'Paused') return { state: 'progressing', why: `paused at a canary step (kubectl argo rollouts promote ${w.metadata.name})` };
      return { state: 'progressing', why: `phase ${s.phase ?? 'unknown'}, ${s.updatedReplicas ?? 0} of ${w.spec.replicas ?? 1} replicas updated` };
    }
    case 'Deployment': {
      const deadline = s.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
      if (deadline) return { state: 'failed', why: `exceeded its progress deadline${deadline.message ? ` (${deadline.message.replace(/\.$/, '')})` : ''}` };
      const want = w.spec.replicas ?? 1;
      const updated = s.updatedReplicas ?? 0;
      if (updated < want) return { state: 'progressing', why: `${updated} of ${want} new replicas updated` };
      if ((s.replicas ?? 0) > updated) return { state: 'progressing', why: `${(s.replicas ?? 0) - updated} old replicas pending termination` };
      const available = s.availableReplicas ?? 0;
      if (available < updated) return { state: 'progressing', why: `${available} of ${updated} updated replicas available` };
      return { state: 'done' };
    }
    case 'StatefulSet': {
      if (!observed) return { state: 'progressing', why: 'the controller has not yet seen the change' };
      const want = w.spec.replicas ?? 1;
      const ready = s.readyReplicas ?? 0;
      if (ready < want) return { state: 'progressing', why: `${ready} of ${want} pods ready` };
      const partition = w.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      // kubectl: "rollout status is only available for RollingUpdate strategy type"; no pod is replaced.
      if (w.spec.updateStrategy?.type === 'OnDelete') return { state: 'failed', why: 'uses updateStrategy OnDelete, which replaces no pod' };
      if (partition > 0) {
        const updated = s.updatedReplicas ?? 0;
        if (updated < want - partition) return { state: 'progressing', why: `${updated} of ${want - partition} pods updated (partition ${partition})` };
        return { state: 'done' };
      }
      if (s.updateRevision !== s.currentRevision) {
        return { state: 'progressing', why: `${s.updatedReplicas ?? 0} of ${want} pods at revision ${s.updateRevision ?? '?'}` };
      }
      return { state: 'done' };
    }
    case 'DaemonSet': {
      if (w.spec.updateStrategy?.type === 'OnDelete') return { state: 'failed', why: 'uses updateStrategy OnDelete, which replaces no pod' };
      const want = s.desiredNumberScheduled ?? 0;
      const updated = s.updatedNumberScheduled ?? 0;
      if (updated < want) return { state: 'progressing', why: `${updated} of ${want} updated pods scheduled` };
      const available = s.numberAvailable ?? 0;
      if (available < want) return { state: 'progressing', why: `${available} of ${want} updated pods available` };
      return { state: 'done' };
    }
  }
}
