/**
 * Workload shapes (apps/v1) and the rollout verdict, computed the way `kubectl rollout status`
 * does (kubectl/pkg/polymorphichelpers/rollout_status.go), as pure functions over the object.
 * API reference: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
 */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export const RESOURCE: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
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
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: {
    replicas?: number;
    paused?: boolean;
    selector?: { matchLabels?: Record<string, string> };
    template: PodTemplate;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  status?: {
    observedGeneration?: number;
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

/** Where a workload's rollout stands. `minGeneration`: the generation our own patch produced. */
export function rolloutVerdict(kind: WorkloadKind, w: Workload, minGeneration = 0): Verdict {
  const generation = w.metadata.generation ?? 0;
  const observed = w.status?.observedGeneration ?? 0;
  const s = w.status ?? {};
  if (observed < Math.max(generation, minGeneration)) return { state: 'progressing', why: 'the controller has not yet seen the change' };
  switch (kind) {
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
      if (w.spec.updateStrategy?.type === 'OnDelete') return { state: 'done' };
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
      const want = s.desiredNumberScheduled ?? 0;
      const updated = s.updatedNumberScheduled ?? 0;
      if (updated < want) return { state: 'progressing', why: `${updated} of ${want} updated pods scheduled` };
      const available = s.numberAvailable ?? 0;
      if (available < want) return { state: 'progressing', why: `${available} of ${want} updated pods available` };
      return { state: 'done' };
    }
  }
}
