import { inputError } from '../errors';
import type { Target, TargetContext } from './types';

// Placeholder until the marathon target lands.
export function createMarathonTarget(_ctx: TargetContext): Target {
  throw inputError('The marathon target is not available in this build.');
}
