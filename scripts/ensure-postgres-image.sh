#!/usr/bin/env bash
# Build the local stand-in for the official postgres image (deploy/postgres-standin)
# when it is missing. Idempotent. Usage: ensure-postgres-image.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-pitmaster-postgres:15}
if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi
scripts/ensure-base-image.sh pitmaster-base:bookworm
printf 'ensure-postgres-image: building %s (Debian'"'"'s postgresql-15)\n' "$image" >&2
docker build --quiet --tag "$image" deploy/postgres-standin >/dev/null
