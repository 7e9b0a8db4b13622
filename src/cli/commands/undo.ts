import { inputError } from '../../errors';
import type { CommandContext } from '../context';

// Placeholder until the 'undo' command lands.
export async function undoCommand(_ctx: CommandContext): Promise<number> {
  throw inputError("'rollback undo' is not available in this build.");
}
