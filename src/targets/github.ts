import { inputError } from '../errors';
import type { Target, TargetContext } from './types';

// Placeholder until the github target lands.
export function createGithubTarget(_ctx: TargetContext): Target {
  throw inputError('The github target is not available in this build.');
}
