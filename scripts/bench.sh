#!/usr/bin/env bash
# `npm run bench`: `get` and `run` at fleet scale, side by side with a skopeo loop and with our own
# algorithm one request at a time (see docs/bench.md). Installs what it needs when missing
# (docker-registry, skopeo, jq; needs root and apt), builds the bundle it measures, then runs
# bench/main.ts. Prints the report on stdout; figures go to bench/results/latest.{json,md}.
# Bounded: the whole run is killed after BENCH_TIMEOUT seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/apt.sh
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v jq >/dev/null || need+=(jq)
install_missing "The bench" ${need[@]+"${need[@]}"}
[ -d node_modules ] || npm ci --no-audit --no-fund

# The bundle is what users run (start-up and memory are measured on it): build it fresh.
npm run -s build

# The registry's files live in memory when /dev/shm allows: seeding writes ~60k small files and
# deleting them from a disk mounted with `discard` alone took minutes on a busy machine.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  bench_tmp=$(mktemp -d /dev/shm/rollback-bench-XXXXXX)
  trap 'rm -rf "$bench_tmp"' EXIT
  export TMPDIR="$bench_tmp"
fi
timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" npx --no-install tsx bench/main.ts "$@"
