/**
 * Waiting for the cluster through the kubernetes target's own reads, for environments that name a
 * kubeconfig instead of Argo CD: a service is healthy once its workload runs the committed image
 * (the GitOps controller applied the commit) and its rollout is done by `kubectl rollout status`'s
 * rules (src/targets/kubernetes/). Until the image arrives the workload is only read, never changed.
 */
import type { KubernetesTargetConfig, ServiceConfig } from '../../config/types';
import { failure } from '../../errors';
import { sameImage } from '../../image/reference';
import { createKubernetesTarget } from '../kubernetes';
import type { Target, TargetContext } from '../types';

export interface KubeWait {
  wait(service: ServiceConfig, image: string, timeoutMs: number): Promise<void>;
  describe(): string;
  close(): Promise<void>;
}

export function createKubeWait(ctx: TargetContext, cfg: Omit<KubernetesTargetConfig, 'revisions'>): KubeWait {
  const kube: Target = createKubernetesTarget({ ...ctx, environment: { ...ctx.environment, target: { kubernetes: cfg } } });
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = () => (ctx.now ?? (() => new Date()))().getTime();
  const pollMs = ctx.pollMs ?? 2000;

  return {
    describe: () => kube.describe(),
    async wait(service, image, timeoutMs) {
      const start = now();
      for (;;) {
        const running = await kube.current(service);
        if (sameImage(running.image, image)) break;
        if (now() - start >= timeoutMs) {
          throw failure(`${running.id} (service ${service.name}) still runs ${running.image} ${Math.round(timeoutMs / 1000)}s after the commit: the GitOps controller did not apply it`);
        }
        await sleep(pollMs);
      }
      // The image arrived: the rollout's own verdict decides, within what is left of the time.
      await kube.waitHealthy(service, image, Math.max(0, timeoutMs - (now() - start)));
    },
    close: () => kube.close(),
  };
}
