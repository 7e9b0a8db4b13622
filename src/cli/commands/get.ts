import { inputError } from '../../errors';
import type { CommandContext } from '../context';

// Placeholder until the 'get' command lands.
export async function getCommand(_ctx: CommandContext): Promise<number> {
  throw inputError("'rollback get' is not available in this build.");
}
