#!/usr/bin/env bash
# `npm run demo`: the whole rollback story on this machine, in one command, on a fresh clone.
# Installs the dependencies when they are missing, builds the worker bundle, then runs
# demo/main.ts (TypeScript, through tsx). Flags pass through: npm run demo -- --help
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then
  echo "Installing the dependencies once (npm ci) ..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
# The bundle Jenkins runs; CI keeps the committed one equal to a fresh build, so building here
# (about a second) changes nothing on a clean clone and keeps a work-in-progress tree honest.
npm run -s build >&2
# exec: the demo is the process Ctrl-C reaches, and it cleans up after itself.
exec node --import tsx demo/main.ts "$@"
