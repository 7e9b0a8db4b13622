// Preloaded with `node --require` into the bundle the bench runs: at exit, writes the process's
// peak resident set size (kB) and CPU time (µs) from process.resourceUsage() to
// $BENCH_MAXRSS_FILE as JSON. A preload instead of /usr/bin/time -v: no extra package needed.
'use strict';
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  const file = process.env.BENCH_MAXRSS_FILE;
  if (!file) return;
  const u = process.resourceUsage();
  writeFileSync(file, JSON.stringify({ maxRssKb: u.maxRSS, cpuMicros: u.userCPUTime + u.systemCPUTime }));
});
