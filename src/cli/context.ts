import type { Logger } from '../log';
import type { Options } from './options';

/** What a command gets from the edge: its options, the environment, and where to write. */
export interface CommandContext {
  options: Options;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Answers only (the dates, a plan as JSON); never logs. */
  stdout: (text: string) => void;
  cwd: string;
  /** For interactive commands (select). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stderrIsTTY?: boolean;
}

export type Command = (ctx: CommandContext) => Promise<number>;
