import { inputError } from '../errors';
import type { Target, TargetContext } from './types';

// Placeholder until the docker target lands.
export function createDockerTarget(_ctx: TargetContext): Target {
  throw inputError('The docker target is not available in this build.');
}
