#!/usr/bin/env node
// A stand-in for the worker bundle, for the step tests: it follows the worker's contract (dates on
// stdout, logs on stderr, 'rollback: <sentence>' before a non-zero exit, the catalog file between
// get and run) and writes what it was given to $STUB_RECORD, so tests see the exact invocation.
// Its answers come from $STUB_DATES, $STUB_SERVICES, $STUB_PLAN_SAYS, $STUB_RUN_EXIT, $STUB_RUN_SAYS, $STUB_RECORD_SAYS, $STUB_GET_EXIT and $STUB_UNDO_EXIT. The end-to-end test uses the real bundle.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const command = process.argv[2];
const params = JSON.parse(process.env.ROLLBACK_PARAMS || '{}');
const secrets = ['REGISTRY_USER', 'REGISTRY_PASSWORD', 'TARGET_USER', 'TARGET_PASSWORD', 'SLACK_WEBHOOK', 'GITHUB_TOKEN',
  ...(process.env.STUB_SECRET_VARS || '').split(',').filter(Boolean)];
// Secret files (file credentials): the variable holds a path; the stub records the length of what it read there.
const secretFiles = ['KUBECONFIG', ...(process.env.STUB_FILE_VARS || '').split(',').filter(Boolean)];
// The worker's state directory: snapshots under runs/, with <env>-latest.json naming the newest (src/run/snapshot.ts).
const runs = path.join(process.cwd(), '.rollback', 'runs');
const pointer = path.join(runs, `${params.env}-latest.json`);
const readPointer = () => (fs.existsSync(pointer) ? JSON.parse(fs.readFileSync(pointer, 'utf8')).snapshot : null);
const writeSnapshot = (action) => {
  const name = `${params.env}-${Date.now()}-${action}-${process.pid}.json`;
  fs.mkdirSync(runs, { recursive: true });
  fs.writeFileSync(path.join(runs, name), JSON.stringify({ action, environment: params.env, date: params.date }));
  fs.writeFileSync(pointer, JSON.stringify({ snapshot: name }) + '\n');
};
fs.appendFileSync(
  process.env.STUB_RECORD,
  JSON.stringify({
    argv: process.argv.slice(2),
    params,
    cwd: process.cwd(),
    // Names only: a test must be able to check the values arrived without the stub echoing them.
    secrets: Object.fromEntries(secrets.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k].length])),
    files: Object.fromEntries(secretFiles.filter((k) => process.env[k] !== undefined).map((k) => [k, fs.readFileSync(process.env[k], 'utf8').length])),
    paths: Object.fromEntries(secretFiles.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
    // The snapshot a run or undo found in the workspace when it started.
    latest: readPointer(),
  }) + '\n',
);
const dates = (process.env.STUB_DATES || '').split(',').filter(Boolean);
const catalog = path.join(process.cwd(), '.rollback', 'catalog.json');
const planTable = (date) => `SERVICE  NOW       AFTER\napi      api:1.3   api:1.2 (${date})\n`;
const fail = (code, sentence) => {
  process.stderr.write(`rollback: ${sentence}\n`);
  process.exitCode = code;
};

if (command === 'get' && process.env.STUB_GET_EXIT) {
  fail(Number(process.env.STUB_GET_EXIT), 'the registry at http://127.0.0.1:1 answered 500.');
} else if (command === 'undo' && process.env.STUB_UNDO_EXIT) {
  fail(Number(process.env.STUB_UNDO_EXIT), 'api did not become healthy; every service was put back.');
} else if (command === 'undo') {
  const snapshot = params.snapshot ? path.resolve(params.snapshot) : readPointer() && path.join(runs, readPointer());
  if (!snapshot || !fs.existsSync(snapshot)) fail(2, `There is no snapshot of ${params.env} under .rollback; nothing to undo.`);
  else if (params.dryRun) process.stderr.write(`Dry run of undo of ${params.env}: nothing was changed.\n`);
  else {
    writeSnapshot('undo');
    process.stderr.write(`Undo of ${params.env} (snapshot ${path.basename(snapshot)}): done.\n`);
  }
} else if (command === 'record') {
  // As the worker: the record's time on stdout, said on stderr; $STUB_RECORD_SAYS makes it fail.
  if (process.env.STUB_RECORD_SAYS) fail(1, process.env.STUB_RECORD_SAYS);
  else {
    process.stderr.write(`Recorded the fleet of ${params.env} at 2026-11-25T14:02:11Z.\n`);
    process.stdout.write('2026-11-25T14:02:11Z\n');
  }
} else if (command === 'get') {
  process.stderr.write(`get: ${dates.length} rollback points for ${params.env}\n`);
  fs.mkdirSync(path.dirname(catalog), { recursive: true });
  fs.writeFileSync(catalog, JSON.stringify({ environment: params.env, choices: dates }));
  // --previews N, as src/cli/previews.ts: one plan table (or why there is none) per newest date.
  const previews = path.join(path.dirname(catalog), 'previews');
  fs.rmSync(previews, { recursive: true, force: true });
  for (const d of dates.slice(0, params.previews || 0)) {
    fs.mkdirSync(previews, { recursive: true });
    fs.writeFileSync(path.join(previews, `${d}.txt`), process.env.STUB_PLAN_SAYS ? `(no preview: ${process.env.STUB_PLAN_SAYS})\n` : planTable(d));
  }
  // --points released, as src/cli/commands/points.ts: each point's label beside the catalog ("<time>  <what ran> (<origin>)").
  const labels = path.join(path.dirname(catalog), 'points.txt');
  fs.rmSync(labels, { force: true });
  if (params.points === 'released') {
    fs.writeFileSync(labels, dates.map((d, i) => `${d}  api 1.${dates.length - i}, web 40${dates.length - i} (Jenkins #41${dates.length - i})\n`).join(''));
  }
  // The question's checkboxes, as src/cli/previews.ts writes them: $STUB_SERVICES is "api,web,payments:hold".
  const services = path.join(path.dirname(catalog), 'services.txt');
  fs.rmSync(services, { force: true });
  if (process.env.STUB_SERVICES) {
    fs.writeFileSync(services, process.env.STUB_SERVICES.split(',').map((s) => `${s.replace(/:hold$/, ' hold')}\n`).join(''));
  }
  process.stdout.write(dates.map((d) => `${d}\n`).join(''));
} else if (!fs.existsSync(catalog)) {
  fail(2, `no catalog at ${catalog}; run 'rollback get' first.`);
} else if (!dates.includes(params.date ?? params.at)) {
  fail(2, `there is no rollback point '${params.date}' for ${params.env}; valid dates: ${dates.join(', ')}.`);
} else if (command === 'plan' && process.env.STUB_PLAN_SAYS) {
  fail(1, process.env.STUB_PLAN_SAYS);
} else if (command === 'plan') {
  process.stdout.write(planTable(params.date));
} else if (command === 'run') {
  const code = Number(process.env.STUB_RUN_EXIT || 0);
  // Like the worker: the snapshot is written before the first change, so a failed run leaves one too.
  if (!params.dryRun) writeSnapshot('run');
  if (code !== 0) fail(code, process.env.STUB_RUN_SAYS || 'the stub was told to fail.');
  else process.stderr.write(params.dryRun ? 'dry run: nothing was changed.\n' : `rolled back ${params.env} to ${params.date}.\n`);
} else {
  fail(2, `unknown command '${command}'.`);
}
