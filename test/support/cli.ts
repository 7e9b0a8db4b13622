/**
 * `rollback ...` in this process, the way the suites drive the CLI end to end: the real main()
 * with its output captured (stderr not a terminal, so no progress redraws).
 */
import { main } from '../../src/cli/main';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function runCli(args: string[], o: { env: NodeJS.ProcessEnv; cwd: string }): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, o.env, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), cwd: o.cwd, stderrIsTTY: false });
  return { code, out: out.join(''), err: err.join('') };
}
