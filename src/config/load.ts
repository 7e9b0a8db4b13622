/**
 * Loads rollback.yml: YAML (with line numbers kept), ${VAR} from the environment, JSON Schema
 * validation with ajv, defaults. Every error is one sentence naming the file, line and key.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import Ajv, { ErrorObject } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, Document, Node as YamlNode } from 'yaml';
import schema from '../../schema/rollback.schema.json';
import { inputError } from '../errors';
import { addSecret } from '../log';
import type { Config, EnvironmentConfig, ServiceConfig } from './types';

const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: false });
const validate = ajv.compile(schema);

/** Keys whose values are secrets: masked in every log line once the config is read. */
const SECRET_KEYS = new Set(['password', 'token', 'webhook']);

type Path = (string | number)[];

function pathText(path: Path): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

function lineOf(doc: Document, counter: LineCounter, path: Path): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as YamlNode | undefined;
    if (node && (node as { range?: [number, number, number] }).range) {
      return counter.linePos((node as { range: [number, number, number] }).range[0]).line;
    }
  }
  return undefined;
}

function where(file: string, doc: Document, counter: LineCounter, path: Path): string {
  const line = lineOf(doc, counter, path);
  return `${file}${line ? `:${line}` : ''}`;
}

/** Replaces ${VAR} in every string scalar; a missing variable is an error naming it. */
function substitute(doc: Document, counter: LineCounter, file: string, env: NodeJS.ProcessEnv): void {
  const visit = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        // A collection as a key (`? [a, b]`, `{{...}}: x`) is never a config key, and turning deeply
        // nested ones into JS takes exponential time in yaml's toJS: refuse them up front.
        if (!isScalar(pair.key)) {
          throw inputError(`${where(file, doc, counter, path)}: ${pathText(path) || 'the top level'} has a key that is a list or mapping; keys must be plain names.`);
        }
        const key = String(pair.key.value);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
        const v = env[name];
        if (v === undefined || v === '') {
          throw inputError(`${where(file, doc, counter, path)}: ${pathText(path)} needs the environment variable ${name}, which is not set.`);
        }
        return v;
      });
      node.value = value;
      const key = path[path.length - 1];
      if (typeof key === 'string' && SECRET_KEYS.has(key)) addSecret(value);
    }
  };
  visit(doc.contents, []);
}

function schemaMessage(e: ErrorObject): { path: Path; text: string } {
  const path: Path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const at = pathText(path) || 'the top level';
  switch (e.keyword) {
    case 'required':
      return { path, text: `${at} is missing the required key '${(e.params as { missingProperty: string }).missingProperty}'` };
    case 'additionalProperties': {
      // The line of the unknown key itself, not of the mapping holding it.
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      return { path: [...path, key], text: `${at} has an unknown key '${key}'` };
    }
    case 'enum':
      return { path, text: `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
    case 'maxProperties':
    case 'minProperties':
      if (path[path.length - 1] === 'target') return { path, text: `${at} must name exactly one target (marathon, swarm, docker, kubernetes, github or gitlab)` };
      return { path, text: `${at} ${e.message}` };
    default:
      return { path, text: `${at} ${e.message}` };
  }
}

/** Parses and validates configuration text. `file` is used in messages only. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const counter = new LineCounter();
  // logLevel 'error': yaml's own warnings (e.g. on collection keys) would go to stderr as a second, unmasked voice.
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const line = err.linePos?.[0]?.line ?? counter.linePos(err.pos[0]).line;
    // The yaml parser reports runaway nesting as its own stack overflow; say what it means instead.
    const why = /call stack/i.test(err.message) ? 'it is nested too deeply' : err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw inputError(`${file}:${line}: this is not valid YAML (${why}).`);
  }
  substitute(doc, counter, file, env);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    // yaml throws a ReferenceError for alias bombs ("billion laughs") and overflows on deep nesting.
    if (err instanceof ReferenceError || err instanceof RangeError) {
      throw inputError(`${file}: this YAML expands too far (aliases repeated too often or nesting too deep) to be a configuration.`);
    }
    throw err;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw inputError(`${file}: the configuration must be a mapping with registry, services and environments.`);
  }
  if (!validate(raw)) {
    const { path, text: message } = schemaMessage(validate.errors![0]);
    throw inputError(`${where(file, doc, counter, path)}: ${message}.`);
  }
  return normalize(raw as unknown as RawConfig, file, (path) => where(file, doc, counter, path));
}

interface RawConfig {
  registry: Config['registry'] & { concurrency?: number };
  services: (Omit<ServiceConfig, 'repository'> & { repository?: string })[];
  environments: Record<string, Omit<EnvironmentConfig, 'name' | 'tags'> & { tags?: string }>;
  limit?: number;
  timezone?: string;
  parallel?: number;
  deployTimeout?: number;
  settle?: number;
  notify?: Config['notify'];
  github?: Config['github'];
  ledger?: Config['ledger'];
  points?: Config['points'];
  releaseWindow?: number;
}

function normalize(raw: RawConfig, source: string, at: (path: Path) => string): Config {
  const services = raw.services.map((s) => ({ ...s, repository: s.repository ?? s.name }));
  const seen = new Map<string, number>();
  services.forEach((s, i) => {
    if (seen.has(s.name)) throw inputError(`${at(['services', i, 'name'])}: service '${s.name}' is listed twice (also at services[${seen.get(s.name)}]).`);
    seen.set(s.name, i);
  });
  const environments: Record<string, EnvironmentConfig> = {};
  for (const [name, e] of Object.entries(raw.environments)) {
    const tags = e.tags ?? `-${escapeRegExp(name)}$`;
    try {
      new RegExp(tags);
    } catch (err) {
      throw inputError(`${at(['environments', name, 'tags'])}: environments.${name}.tags is not a valid regular expression (${(err as Error).message}).`);
    }
    environments[name] = { name, tags, target: e.target };
  }
  const timezone = raw.timezone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: timezone });
  } catch {
    throw inputError(`${at(['timezone'])}: timezone '${timezone}' is not a known IANA time zone (for example UTC or Europe/Berlin).`);
  }
  return {
    source,
    registry: { ...raw.registry, url: raw.registry.url.replace(/\/+$/, ''), concurrency: raw.registry.concurrency ?? 8, concurrencySet: raw.registry.concurrency !== undefined },
    services,
    environments,
    limit: raw.limit ?? 10,
    timezone,
    parallel: raw.parallel ?? 4,
    deployTimeout: raw.deployTimeout ?? 600,
    settle: raw.settle ?? 30,
    notify: raw.notify ?? {},
    github: raw.github,
    ...releasePointsConfig(raw, source),
  };
}

/** points, releaseWindow and ledger (docs/points.md); a relative ledger path is read beside the configuration file. */
function releasePointsConfig(raw: RawConfig, source: string): Pick<Config, 'points' | 'releaseWindow' | 'ledger'> {
  const out: Pick<Config, 'points' | 'releaseWindow' | 'ledger'> = {};
  if (raw.points) out.points = raw.points;
  if (raw.releaseWindow !== undefined) out.releaseWindow = raw.releaseWindow;
  if (raw.ledger?.path) out.ledger = { path: isAbsolute(raw.ledger.path) ? raw.ledger.path : resolve(dirname(source), raw.ledger.path) };
  if (raw.ledger?.repository) out.ledger = { repository: raw.ledger.repository };
  return out;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw inputError(`Configuration file ${file} ${why}.`);
  }
  return parseConfig(text, file, env);
}

/** Picks an environment, or says which ones exist. */
export function environmentOf(config: Config, name: string): EnvironmentConfig {
  const e = config.environments[name];
  if (!e) {
    throw inputError(`Environment '${name}' is not in ${config.source}; it defines: ${Object.keys(config.environments).join(', ')}.`);
  }
  return e;
}
