import { inputError } from '../../errors';
import type { CommandContext } from '../context';

// Placeholder until the 'run' command lands.
export async function runCommand(_ctx: CommandContext): Promise<number> {
  throw inputError("'rollback run' is not available in this build.");
}
