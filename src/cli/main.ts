import { describeError, exitCodeOf } from '../errors';
import { createLogger } from '../log';
import { useNetworkEnvironment } from '../http/client';
import type { Command, CommandContext } from './context';
import { HELP } from './help';
import { CommandName, parseOptions } from './options';

const commands: Record<CommandName, () => Promise<Command>> = {
  get: async () => (await import('./commands/get')).getCommand,
  plan: async () => (await import('./commands/plan')).planCommand,
  run: async () => (await import('./commands/run')).runCommand,
  undo: async () => (await import('./commands/undo')).undoCommand,
  select: async () => (await import('./commands/select')).selectCommand,
  record: async () => (await import('./commands/record')).recordCommand,
};

export interface MainIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  cwd?: string;
  stdin?: CommandContext['stdin'];
  stderrIsTTY?: boolean;
}

/** Runs one command and returns its exit code. Never throws, never calls process.exit. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  let debug = argv.includes('--debug');
  const logger = () => createLogger({ debug, write: stderr });
  // Every connection of this run reads its proxy settings from the environment it was given.
  useNetworkEnvironment(env);
  try {
    const options = parseOptions(argv, env);
    debug = options.debug;
    if (options.version) {
      // The bundle has the version written in at build time (scripts/build.mjs); from source it is 'dev'.
      stdout(`${process.env.ROLLBACK_VERSION ?? 'dev'}\n`);
      return 0;
    }
    if (options.help) {
      stdout(HELP);
      return 0;
    }
    if (!options.command) {
      // Usage asked for by mistake is not an answer: stdout stays empty for scripts that read it.
      stderr(HELP);
      return 2;
    }
    const command = await commands[options.command]();
    return await command({
      options,
      env,
      logger: logger(),
      stdout,
      cwd: io.cwd ?? process.cwd(),
      stdin: io.stdin ?? process.stdin,
      stderrIsTTY: io.stderrIsTTY ?? Boolean(process.stderr.isTTY),
    });
  } catch (err) {
    const log = logger();
    log.info(`rollback: ${describeError(err)}`);
    if (debug && err instanceof Error && err.stack) log.debug(err.stack);
    return exitCodeOf(err);
  }
}
