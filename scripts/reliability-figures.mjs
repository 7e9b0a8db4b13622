#!/usr/bin/env node
// Writes docs/reliability.md from the figures the reliability suites (test/reliability/) left in
// .reliability/*.json, so the README's "Reliability" numbers are measured, never typed by hand.
//
//   npx jest test/reliability && node scripts/reliability-figures.mjs
//
// Options: --results DIR (default .reliability, or $ROLLBACK_RELIABILITY_RESULTS), --out FILE
// (default docs/reliability.md), --check (exit 1, without writing, if a suite's figures are
// missing, were measured at another commit than HEAD, or a secret was found).
//
// A suite writes its figures only when every one of its tests passed (test/support/fuzz.ts,
// suiteFigures), stamped with the commit (HEAD when the tests ran) and the time; so a figure on
// the page is one a passing run measured at that commit, and --check refuses any other.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
};
const resultsDir = resolve(opt('--results', process.env.ROLLBACK_RELIABILITY_RESULTS ?? join(root, '.reliability')));
const out = resolve(opt('--out', join(root, 'docs', 'reliability.md')));
const check = argv.includes('--check');

/** The suites and what each proves, in the order the page shows them. */
const SUITES = [
  { suite: 'crash', file: 'test/reliability/crash.test.ts', title: 'Kill at every step' },
  { suite: 'concurrency', file: 'test/reliability/concurrency.test.ts', title: 'Two runs at once (real processes)' },
  { suite: 'chaos', file: 'test/reliability/chaos.test.ts', title: 'Network chaos across get -> run' },
  { suite: 'fuzz-config', file: 'test/reliability/fuzz-config.test.ts', title: 'Fuzzed configuration' },
  { suite: 'fuzz-catalog', file: 'test/reliability/fuzz-catalog.test.ts', title: 'Fuzzed catalog file' },
  { suite: 'fuzz-cli', file: 'test/reliability/fuzz-cli.test.ts', title: 'Fuzzed command line' },
  { suite: 'fuzz-answers', file: 'test/reliability/fuzz-answers.test.ts', title: 'Fuzzed registry and Marathon answers' },
  { suite: 'secrets', file: 'test/reliability/secrets.test.ts', title: 'Secrets' },
];

const results = {};
if (existsSync(resultsDir)) {
  for (const name of readdirSync(resultsDir).filter((f) => f.endsWith('.json'))) {
    try {
      const r = JSON.parse(readFileSync(join(resultsDir, name), 'utf8'));
      if (r && typeof r.suite === 'string' && r.figures && typeof r.figures === 'object') results[r.suite] = r;
    } catch {
      console.error(`reliability-figures: ${join(resultsDir, name)} is not valid JSON; skipped.`);
    }
  }
}

const missing = SUITES.filter((s) => !results[s.suite]).map((s) => s.suite);
const head = (() => {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
})();
/** Suites whose figures were measured at another commit than HEAD (or carry no commit). */
const stale = SUITES.filter((s) => results[s.suite] && (!head || results[s.suite].commit !== head))
  .map((s) => `${s.suite} (${results[s.suite].commit ? `commit ${String(results[s.suite].commit).slice(0, 12)}` : 'no commit'})`);
const short = (c) => (typeof c === 'string' ? c.slice(0, 12) : 'unknown');
const fig = (suite, key) => results[suite]?.figures?.[key];
const fmt = (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : v === undefined ? 'not run' : String(v));
const secretsFound = fig('secrets', 'secrets found');

if (check) {
  const problems = [];
  if (missing.length) problems.push(`no figures from: ${missing.join(', ')} (run their suites first; a suite with a failing test writes none)`);
  if (stale.length) problems.push(`figures measured at another commit than HEAD ${head ? short(head) : '(not a git checkout)'}: ${stale.join(', ')} (run their suites again at this commit)`);
  if (typeof secretsFound === 'number' && secretsFound > 0) problems.push(`${secretsFound} secrets found`);
  if (problems.length) {
    console.error(`reliability-figures: ${problems.join('; ')}.`);
    process.exit(1);
  }
  console.error(`reliability-figures: every suite left its figures, measured at HEAD ${short(head)}.`);
  process.exit(0);
}

const fuzzCases = (suite, keys) => {
  const values = keys.map((k) => fig(suite, k));
  return values.every((v) => typeof v === 'number') ? values.reduce((a, b) => a + b, 0) : undefined;
};

const headline = [
  ['Crash points tried (worker SIGKILLed after each request of a run)', fig('crash', 'crash points (requests of one run, both fleets)'), `each followed by \`undo\` (${fmt(fig('crash', 'kills then undo'))} kills) and by a re-run (${fmt(fig('crash', 'kills then re-run'))} kills); ${fmt(fig('crash', 'crash points with a stuck deployment and a lost answer'))} of the points on a fleet whose deployment is stuck on failing health checks with its PUT answer lost (${fmt(fig('crash', 'stuck deployments met (fired)'))} stuck deployments and ${fmt(fig('crash', 'PUT answers lost (fired)'))} lost answers fired)`],
  ['Races of two real runs on one environment', fig('concurrency', 'races of two real runs'), `never interleaved; ${fmt(fig('concurrency', 'second run waited, then ran'))} waited for the lock, ${fmt(fig('concurrency', 'second run refused after its bound'))} refused after its bound naming the holder, ${fmt(fig('concurrency', 'stale locks taken over'))} stale lock taken over`],
  ['Chaos rounds that reached a run (get -> run under network faults)', fig('chaos', 'rounds that reached a run'), `${fmt(fig('chaos', 'faults that fired'))} faults fired (of ${fmt(fig('chaos', 'faults drawn'))} drawn), among them ${fmt(fig('chaos', 'stuck deployments (fired)'))} stuck deployments and ${fmt(fig('chaos', 'PUT answers lost (fired)'))} lost PUT answers; ${fmt(fig('chaos', 'ended at the plan (exit 0)'))} ended at the plan, ${fmt(fig('chaos', 'ended as before (exit 1)'))} as before, ${fmt(fig('chaos', 'ended partly done, every state named (exit 3)'))} partly (every state named); ${fmt(fig('chaos', 'rounds where get failed (no run)'))} more rounds stopped at \`get\` (nothing changed, not counted above)`],
  ['Fuzz cases: configuration', fuzzCases('fuzz-config', ['config texts', 'config objects']), 'random YAML text and random objects against the schema'],
  ['Fuzz cases: catalog file', fig('fuzz-catalog', 'catalog files'), 'truncated, edited, wrong schemaVersion, random values'],
  ['Fuzz cases: command line', fig('fuzz-cli', 'command lines'), 'random argv and ROLLBACK_PARAMS through the real CLI entry'],
  ['Fuzz cases: registry and Marathon answers', fuzzCases('fuzz-answers', ['registry answers (cases)', 'Marathon answers (cases)']), 'random statuses, headers and bodies'],
  ['Places searched for planted secrets (streams, files, messages)', fig('secrets', 'streams, files and messages searched'), `${fmt(fig('secrets', 'secrets planted'))} secrets planted, searched plain, URL-encoded and base64 in ${fmt(fig('secrets', 'worker runs searched'))} worker runs; the doubles echoed them back in error bodies and URLs and ${fmt(fig('secrets', 'streams showing a masked echo (***)'))} streams showed them as \`***\`; any secret found fails the suite, so the page never shows one`],
];

/** Which commit(s) and when the figures were measured: every suite writes its own stamp. */
function stamp() {
  const commits = [...new Set(Object.values(results).map((r) => short(r.commit)))];
  const times = Object.values(results).map((r) => r.at).filter((t) => typeof t === 'string').sort();
  if (!times.length) return '_No figures yet._';
  return `_Measured by passing runs at commit ${commits.join(', ')}, between ${times[0]} and ${times[times.length - 1]}._`;
}

const lines = [];
lines.push('# Reliability');
lines.push('');
lines.push('<!-- Generated by scripts/reliability-figures.mjs from the figures the suites in test/reliability/ measured. Do not edit by hand: run the suites, then the script. -->');
lines.push('');
lines.push('A rollback runs when things are already broken: the agent may die, the network may flap, a');
lines.push('second person may press the button, a file may be damaged. These suites prove that none of');
lines.push('that leaves the fleet in a state nobody can name or undo. They run in `npm test`; the figures');
lines.push('below are what they measured on the last run.');
lines.push('');
lines.push('| What | Figure | Detail |');
lines.push('| --- | ---: | --- |');
for (const [what, value, detail] of headline) lines.push(`| ${what} | ${fmt(value)} | ${detail} |`);
lines.push('');
lines.push(stamp());
lines.push('');
lines.push('Every fuzz case must end with exit 0, 1, 2 or 3 and one clear sentence: no stack trace');
lines.push('(unless `--debug`), no JavaScript error such as "Cannot read properties of undefined", no');
lines.push('"Unexpected error:", no hang, and no change to the fleet that the plan did not show.');
lines.push('');
lines.push('## What each suite does');
lines.push('');
for (const s of SUITES) {
  const r = results[s.suite];
  lines.push(`### ${s.title}`);
  lines.push('');
  lines.push(`\`${s.file}\`${r ? `: ${r.summary}.` : ': no figures yet (the suite has not run, or a test of it failed).'}`);
  if (r) lines.push('', `Measured at commit ${short(r.commit)}, ${r.at ?? 'at an unknown time'}.`);
  if (r) {
    lines.push('');
    for (const [k, v] of Object.entries(r.figures)) lines.push(`- ${k}: ${fmt(v)}`);
  }
  lines.push('');
}
lines.push('## What a crash leaves, and how to get out');
lines.push('');
lines.push('Before the first change, `rollback run` writes a snapshot of what every service ran, atomically');
lines.push('(temp file, fsync, rename), under `.rollback/runs/` beside the catalog, and records each');
lines.push("service's progress there as it happens. If the worker is killed at any point (SIGKILL, the");
lines.push('agent disappears), either way out works, and the crash suite tries both after every request:');
lines.push('');
lines.push('- `rollback undo --config rollback.yml --env prod` puts every changed service back to the image');
lines.push('  it ran before the run;');
lines.push('- running the same `rollback run ... --date D` again finishes the job: services already at');
lines.push('  their target are skipped, and the dead run\'s lock is taken over.');
lines.push('');
lines.push('## Two runs at once');
lines.push('');
lines.push('On one machine a lock file (`.rollback/locks/<env>.lock`, created exclusively) keeps two runs of');
lines.push('the same environment from interleaving: the second waits a bounded time, then refuses with a');
lines.push('sentence naming who holds the lock and since when. A lock left by a killed run (its process is');
lines.push('gone) is taken over. Runs on different Jenkins agents do not share that file, so wrap the step in');
lines.push("Jenkins' `lock` step (Lockable Resources plugin), one resource per environment:");
lines.push('');
lines.push('```groovy');
lines.push("lock(resource: \"rollback-${params.ENV}\") {");
lines.push('  rollback.run(env: params.ENV, date: date)');
lines.push('}');
lines.push('```');
lines.push('');
lines.push('## Running the suites');
lines.push('');
lines.push('```sh');
lines.push('npx jest test/reliability                  # all of them (part of npm test)');
lines.push('node scripts/reliability-figures.mjs       # rewrite this page from their figures');
lines.push('node scripts/reliability-figures.mjs --check   # exit 1 if figures are missing, from another commit, or a secret was found');
lines.push('```');
lines.push('');
lines.push('| Variable | Default | Meaning |');
lines.push('| --- | --- | --- |');
lines.push('| `ROLLBACK_FUZZ_RUNS` | 10000 | fuzz cases per surface (lower for a quick loop, higher for a soak) |');
lines.push('| `ROLLBACK_FUZZ_SEED` | 20261121 | fast-check seed; a failure prints the seed and path that replay it |');
lines.push('| `ROLLBACK_CHAOS_ROUNDS` | 30 | get -> run rounds under faults |');
lines.push('| `ROLLBACK_CHAOS_SEED` | 9 | seed of the fault draw; a failure names its round and faults |');
lines.push('| `ROLLBACK_RELIABILITY_RESULTS` | `.reliability/` | where the suites write their figures |');
lines.push('| `ROLLBACK_TEST_SKIP` | (none) | suites to skip on purpose, comma-separated (e.g. `crash,secrets`); without it a suite whose real server is missing fails, saying how to install it. CI never sets it |');
lines.push('');
if (missing.length) {
  lines.push(`_Not in this page yet (their suites have not run): ${missing.join(', ')}._`);
  lines.push('');
}

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, lines.join('\n'));

// The README shows the headline table too, between markers, so it is never copied by hand.
const readme = join(root, 'README.md');
const begin = '<!-- reliability:begin -->';
const end = '<!-- reliability:end -->';
if (!argv.includes('--out') && existsSync(readme)) {
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    const table = ['| What | Figure | Detail |', '| --- | ---: | --- |', ...headline.map(([what, value, detail]) => `| ${what} | ${fmt(value)} | ${detail} |`), '', stamp()];
    writeFileSync(readme, `${text.slice(0, from + begin.length)}\n${table.join('\n')}\n${text.slice(to)}`);
  }
}
console.error(`reliability-figures: wrote ${out.startsWith(root) ? out.slice(root.length + 1) : out} from ${Object.keys(results).length} suites${missing.length ? ` (missing: ${missing.join(', ')})` : ''}.`);
