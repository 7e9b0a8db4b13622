/**
 * Hostile configuration: random YAML text, YAML of random objects near the schema, and edits of a
 * valid file. Every case either loads (and then holds what the schema promises) or is refused as
 * bad input (exit 2) in one sentence naming the file; never a stack trace or a JavaScript error.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig, parseConfig } from '../../src/config/load';
import { RollbackError, describeError } from '../../src/errors';
import { configObject, configText, expectOneClearSentence, fuzzParams, FUZZ_RUNS, suiteFigures, VALID_CONFIG_YAML } from '../support/fuzz';
import { stringify } from 'yaml';

const ENV = { REG_USER: 'robot', REG_PASSWORD: 'fuzz-registry-password', SLACK_WEBHOOK: 'https://hooks.slack.test/services/T/B/fuzz' };
const FILE = 'conf/rollback.yml';

type Outcome = 'loaded' | 'refused';

/** Loads one text and checks the answer; returns which way it went. */
function check(text: string): Outcome {
  let config;
  try {
    config = parseConfig(text, FILE, ENV);
  } catch (err) {
    if (!(err instanceof RollbackError)) throw new Error(`unclassified exception for ${JSON.stringify(text.slice(0, 300))}: ${describeError(err)}`);
    expect(err.kind).toBe('input');
    expectOneClearSentence(describeError(err), JSON.stringify(text.slice(0, 300)));
    // The sentence names the file (and a line, when there is one).
    expect(err.message.startsWith(FILE) || err.message.includes(` ${FILE}`)).toBe(true);
    return 'refused';
  }
  // Loaded: what the rest of the worker relies on must hold.
  expect(config.services.length).toBeGreaterThan(0);
  expect(new Set(config.services.map((s) => s.name)).size).toBe(config.services.length);
  expect(Object.keys(config.environments).length).toBeGreaterThan(0);
  for (const e of Object.values(config.environments)) {
    expect(() => new RegExp(e.tags)).not.toThrow();
    expect(Object.keys(e.target)).toHaveLength(1);
  }
  expect(Number.isInteger(config.limit) && config.limit >= 1).toBe(true);
  expect(config.registry.url).toMatch(/^https?:\/\//);
  return 'loaded';
}

describe('fuzzed configuration', () => {
  // Figures only from a run whose every test passed (suiteFigures), stamped with the commit.
  const { it, record } = suiteFigures('fuzz-config');
  const counts = { text: 0, objects: 0, loaded: 0, refused: 0 };
  // yaml reports some oddities with process.emitWarning: a second voice on stderr, unmasked.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  beforeAll(() => process.on('warning', onWarning));
  afterAll(() => process.off('warning', onWarning));

  it('random and mutated YAML text loads or is refused in one sentence naming the file', () => {
    fc.assert(
      fc.property(configText, (text) => {
        counts.text++;
        counts[check(text)]++;
      }),
      fuzzParams(),
    );
  });

  it('random objects against the schema load or are refused in one sentence naming the file', () => {
    fc.assert(
      fc.property(configObject, (object) => {
        counts.objects++;
        counts[check(stringify(object))]++;
      }),
      fuzzParams(),
    );
  });

  it('the fuzzers reach both outcomes (a fuzzer that only ever refuses proves little)', () => {
    expect(counts.loaded).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
    expect(check(VALID_CONFIG_YAML)).toBe('loaded');
    expect(warnings).toEqual([]);
  });

  it('an alias bomb is refused as bad input, not an unexpected error', () => {
    const bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nregistry: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    expect(check(bomb)).toBe('refused');
  });

  it('keys that are collections are refused at once (yaml would take exponential time on nested ones)', () => {
    for (const text of ['a: ' + '{'.repeat(500) + '}'.repeat(500), 'registry:\n  ? [a, b]\n  : c\n', '{a: 1}: 2\n']) {
      expect(check(text)).toBe('refused');
    }
  });

  it('nesting deep enough to overflow the parser is refused in words, not as a stack overflow', () => {
    expect(check('- '.repeat(3000) + 'x')).toBe('refused');
    expect(check('['.repeat(2000))).toBe('refused');
  });

  it('a missing, unreadable or directory path is one sentence naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollback-fuzz-config-'));
    try {
      mkdirSync(join(dir, 'a-dir'));
      for (const file of [join(dir, 'missing.yml'), join(dir, 'a-dir'), join(dir, 'missing', 'deeper.yml')]) {
        let message = '';
        try {
          loadConfig(file, ENV);
        } catch (err) {
          expect(err).toBeInstanceOf(RollbackError);
          message = (err as Error).message;
        }
        expectOneClearSentence(message, file);
        expect(message).toContain(file);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  afterAll(() => {
    if (counts.text >= FUZZ_RUNS && counts.objects >= FUZZ_RUNS) {
      record({
        figures: { 'config texts': counts.text, 'config objects': counts.objects, loaded: counts.loaded, refused: counts.refused },
        summary: 'rollback.yml: random YAML text, YAML of random objects near the schema, and edits of a valid file',
      });
    }
  });
});
