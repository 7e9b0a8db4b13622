import { inputError } from '../../errors';
import type { CommandContext } from '../context';

// Placeholder until the 'select' command lands.
export async function selectCommand(_ctx: CommandContext): Promise<number> {
  throw inputError("'rollback select' is not available in this build.");
}
