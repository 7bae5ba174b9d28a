#!/usr/bin/env bash
# Print the compose command this machine has: `docker compose` (the plugin) or Debian's
# `docker-compose`, installing the latter when neither is there. Idempotent.
set -euo pipefail

if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
    exit 0
fi
if ! command -v docker-compose >/dev/null 2>&1; then
    printf 'ensure-compose: installing Debian'"'"'s docker-compose\n' >&2
    if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
echo "docker-compose"
