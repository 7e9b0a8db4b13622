#!/usr/bin/env bash
# The README's test command (`npm test`): brings its real servers, builds the bundle the Jenkins
# harness loads, then runs every suite (TypeScript with jest, Groovy steps on real Groovy 2.4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-test-env.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
if [ -z "${JAVA_HOME:-}" ]; then
  for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/default-java /usr/lib/jvm/java-*-openjdk-*; do
    [ -x "$j/bin/java" ] && export JAVA_HOME="$j" && break
  done
fi
npm run -s build
npx jest "$@"
