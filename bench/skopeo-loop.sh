#!/usr/bin/env bash
# The script a user would write instead of `rollback get`: list the tags of each repository,
# keep the environment's, ask skopeo for each image's creation date, sort, keep the newest.
# Usage: skopeo-loop.sh REGISTRY_HOST TAG_SUFFIX LIMIT REPOSITORY...
# Prints "created repository:tag" lines, newest `LIMIT` per repository.
# --tls-verify=false because the bench registry speaks plain http (or, for the TLS rows, has a test CA
# skopeo is not given; TLS is still spoken, only the certificate goes unchecked); --no-tags because skopeo
# inspect otherwise lists every tag again for each image (a stronger baseline, not a weaker one).
# SKOPEO_DEBUG=1 adds --debug: skopeo then logs each HTTP request it sends on stderr, which the bench
# counts where its proxy cannot (over TLS it sees only ciphertext).
set -euo pipefail
host=$1 suffix=$2 limit=$3
shift 3
sk=(skopeo ${SKOPEO_DEBUG:+--debug})
for repo in "$@"; do
  for tag in $("${sk[@]}" list-tags --tls-verify=false "docker://$host/$repo" | jq -r '.Tags[]' | grep -- "-$suffix\$"); do
    echo "$("${sk[@]}" inspect --tls-verify=false --no-tags --format '{{.Created}}' "docker://$host/$repo:$tag") $repo:$tag"
  done | sort -r | head -n "$limit"
done
