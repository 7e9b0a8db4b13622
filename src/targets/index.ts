/** Opens the target an environment names. Each kind lives in its own file. */
import { targetKind } from '../config/types';
import type { Target, TargetContext } from './types';

export async function openTarget(ctx: TargetContext): Promise<Target> {
  const kind = targetKind(ctx.environment.target);
  switch (kind) {
    case 'marathon':
      return (await import('./marathon')).createMarathonTarget(ctx);
    case 'swarm':
      return (await import('./docker/swarm')).createSwarmTarget(ctx);
    case 'docker':
      return (await import('./docker/container')).createDockerTarget(ctx);
    case 'kubernetes':
      return (await import('./kubernetes')).createKubernetesTarget(ctx);
    case 'github':
      return (await import('./gitops/github')).createGithubTarget(ctx);
    case 'gitlab':
      return (await import('./gitops/gitlab')).createGitlabTarget(ctx);
  }
}
