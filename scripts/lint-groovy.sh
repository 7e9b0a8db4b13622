#!/usr/bin/env bash
# npm-groovy-lint (CodeNarc) over the Jenkins side: every vars/ script and Jenkinsfile.example, with
# CodeNarc's Jenkins (CPS) rules as errors (scripts/groovylint.json). Fails on any error.
# It runs offline; it needs Java (CodeNarc is a Java program), which Groovy needs anyway.
# The rules: npm-groovy-lint's recommended-jenkinsfile (which allows `@Library('rollback') _`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${JAVA_HOME:-}" ]; then
  for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/default-java; do
    [ -x "$j/bin/java" ] && export JAVA_HOME="$j" && break
  done
fi
# --noserver: no CodeNarc server left running on a shared machine after the lint.
exec npx --no-install npm-groovy-lint --noserver --failon error --loglevel error \
  --config scripts/groovylint.json vars/*.groovy Jenkinsfile.example
