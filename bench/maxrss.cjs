// Preloaded with `node --require` into the bundle the bench runs: at exit, writes the process's
// peak resident set size (kB, process.resourceUsage().maxRSS) to $BENCH_MAXRSS_FILE.
// A preload instead of /usr/bin/time -v, so the figure needs no extra package.
'use strict';
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  if (process.env.BENCH_MAXRSS_FILE) writeFileSync(process.env.BENCH_MAXRSS_FILE, String(process.resourceUsage().maxRSS));
});
