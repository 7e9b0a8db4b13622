import { inputError } from '../errors';
import type { Target, TargetContext } from './types';

// Placeholder until the kubernetes target lands.
export function createKubernetesTarget(_ctx: TargetContext): Target {
  throw inputError('The kubernetes target is not available in this build.');
}
