import { inputError } from '../../errors';
import type { CommandContext } from '../context';

// Placeholder until the 'plan' command lands.
export async function planCommand(_ctx: CommandContext): Promise<number> {
  throw inputError("'rollback plan' is not available in this build.");
}
