/**
 * Command-line options. Every flag may also come from ROLLBACK_PARAMS, a JSON object the Jenkins
 * steps set (nulls pruned), so nothing a user typed is ever spliced into a shell string.
 * Flags given on the command line win over ROLLBACK_PARAMS.
 */
import { parseArgs } from 'node:util';
import { inputError } from '../errors';

export const COMMANDS = ['get', 'plan', 'run', 'undo', 'select', 'record'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Options {
  command?: CommandName;
  config?: string;
  env?: string;
  catalog: string;
  date?: string;
  /** A moment (`--at`): the release point at or before it (docs/points.md). */
  at?: string;
  /** What get lists: built (days) or released (release points). */
  points?: 'built' | 'released';
  json: boolean;
  dryRun: boolean;
  approver?: string;
  snapshot?: string;
  registry?: string;
  repos?: string;
  /** get: also write the plans of the newest N dates (previews.json beside the catalog). */
  previews: number;
  /** plan, run: only these services go back ("web,api"). */
  only?: string;
  /** plan, run: every service but these goes back. */
  except?: string;
  debug: boolean;
  help: boolean;
  version: boolean;
}

const FLAGS = {
  config: { type: 'string', short: 'c' },
  env: { type: 'string', short: 'e' },
  catalog: { type: 'string' },
  date: { type: 'string', short: 'd' },
  at: { type: 'string' },
  points: { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  approver: { type: 'string' },
  snapshot: { type: 'string' },
  registry: { type: 'string' },
  repos: { type: 'string' },
  previews: { type: 'string' },
  only: { type: 'string' },
  except: { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Keys ROLLBACK_PARAMS may carry, in camelCase as the Groovy steps write them. */
const PARAM_KEYS: Record<string, 'string' | 'boolean' | 'number'> = {
  config: 'string', env: 'string', catalog: 'string', date: 'string', at: 'string', points: 'string', json: 'boolean', dryRun: 'boolean',
  approver: 'string', snapshot: 'string', registry: 'string', repos: 'string', debug: 'boolean', previews: 'number',
  only: 'string', except: 'string',
};

/** --previews N: a whole number from 0 to 20 (each preview is one plan table in the question). */
function previewCount(value: unknown): number {
  if (value === undefined) return 0;
  const n = typeof value === 'number' ? value : /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 20) throw inputError(`--previews must be a whole number from 0 to 20, not '${String(value)}'.`);
  return n;
}

function fromParams(raw: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw inputError('ROLLBACK_PARAMS is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw inputError('ROLLBACK_PARAMS must be a JSON object such as {"env":"prod"}.');
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (v === null || v === undefined) continue;
    const type = PARAM_KEYS[k];
    if (!type) throw inputError(`ROLLBACK_PARAMS has an unknown key '${k}'; known keys: ${Object.keys(PARAM_KEYS).join(', ')}.`);
    if (typeof v !== type) throw inputError(`ROLLBACK_PARAMS.${k} must be a ${type}.`);
    out[k] = v;
  }
  return out;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages are clear already ("Unknown option '--x'"); keep them to one sentence. Some
    // span lines ("... is ambiguous.\nDid you forget to specify the option argument for '--env'?\nTo
    // specify ..."): keep the first line, and the "Did you forget" hint in parentheses.
    const lines = (err as Error).message.split('\n');
    const first = lines[0].replace(/\. To specify.*$/s, '').replace(/\.$/, '');
    const hint = lines.find((l) => /^Did you forget/.test(l))?.replace(/^Did/, 'did').replace(/\?$/, '');
    throw inputError(`${first}${hint ? ` (${hint}?)` : ''}; see 'rollback --help'.`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw inputError(`Unexpected argument '${positionals[1]}'; see 'rollback --help'.`);
  const command = positionals[0];
  if (command !== undefined && !(COMMANDS as readonly string[]).includes(command)) {
    throw inputError(`Unknown command '${command}'; commands are ${COMMANDS.join(', ')}.`);
  }
  const p = fromParams(env.ROLLBACK_PARAMS);
  const pick = <T>(flag: T | undefined, key: string): T | undefined => (flag !== undefined ? flag : (p[key] as T | undefined));
  const points = pick(values.points, 'points');
  if (points !== undefined && points !== 'built' && points !== 'released') throw inputError(`--points must be 'built' (build days) or 'released' (release points), not '${points}'.`);
  const at = pick(values.at, 'at');
  if (at !== undefined && !/^\d{4}-\d{2}-\d{2}T[^\s]+$/.test(at)) throw inputError(`--at '${at}' is not a time of the form YYYY-MM-DDTHH:MM:SSZ (as 'rollback get --points released' prints them).`);
  if (at !== undefined && pick(values.date, 'date') !== undefined) throw inputError("Give either --date (a build day) or --at (a release point), not both; see 'rollback --help'.");
  for (const key of ['only', 'except'] as const) {
    // Ignoring a choice of services would roll back more (or less) than was asked: refuse it where it has no meaning.
    if (command && command !== 'plan' && command !== 'run' && pick(values[key], key) !== undefined) {
      throw inputError(`--${key} chooses who goes back in 'rollback plan' and 'rollback run', not in 'rollback ${command}'${command === 'undo' ? ' (undo puts back exactly what that run changed)' : ''}.`);
    }
  }
  return {
    command: command as CommandName | undefined,
    config: pick(values.config, 'config'),
    env: pick(values.env, 'env'),
    catalog: pick(values.catalog, 'catalog') ?? '.rollback/catalog.json',
    date: pick(values.date, 'date'),
    at,
    points,
    json: pick(values.json, 'json') ?? false,
    dryRun: pick(values['dry-run'], 'dryRun') ?? false,
    approver: pick(values.approver, 'approver'),
    snapshot: pick(values.snapshot, 'snapshot'),
    registry: pick(values.registry, 'registry'),
    repos: pick(values.repos, 'repos'),
    previews: previewCount(pick<unknown>(values.previews, 'previews')),
    only: pick(values.only, 'only'),
    except: pick(values.except, 'except'),
    debug: pick(values.debug, 'debug') ?? false,
    help: values.help ?? false,
    version: values.version ?? false,
  };
}

export function requireOption<K extends keyof Options>(options: Options, key: K, flag: string): NonNullable<Options[K]> {
  const v = options[key];
  if (v === undefined || v === null || v === '') {
    throw inputError(`'rollback ${options.command}' needs ${flag}; see 'rollback --help'.`);
  }
  return v as NonNullable<Options[K]>;
}
