/**
 * `rollback ...` in this process, the way the suites drive the CLI end to end: the real main()
 * with its output captured (stderr not a terminal, so no progress redraws).
 */
import { main } from '../../src/cli/main';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], o: { env: NodeJS.ProcessEnv; cwd: string }): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, o.env, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd: o.cwd, stderrIsTTY: false });
  return { code, stdout, stderr };
}
