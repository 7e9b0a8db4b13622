import { inputError } from '../errors';
import type { Target, TargetContext } from './types';

// Placeholder until the swarm target lands.
export function createSwarmTarget(_ctx: TargetContext): Target {
  throw inputError('The swarm target is not available in this build.');
}
