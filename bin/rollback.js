#!/usr/bin/env node
// `npx rollback` runs the same committed bundle that Jenkins agents run.
require('../resources/rollback.js');
