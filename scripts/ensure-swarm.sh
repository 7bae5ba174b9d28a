#!/usr/bin/env bash
# Make sure the second Docker engine runs as a single-node Swarm manager holding the demo
# image, for the Swarm executor's tests. Idempotent; prints the manager's DOCKER_HOST.
#
# Swarm mode goes on the second engine only: the first engine stays a plain engine, as the
# Docker executor's tests expect. The second engine has no bridge network, so the Swarm's
# jobs there run with network "none".
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'ensure-swarm: %s\n' "$*" >&2; }

host=$(scripts/ensure-second-docker.sh | tail -n 1)
state=$(docker -H "$host" info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != active ]; then
    # Two runs at once: the second one's init fails because the first one's succeeded.
    if ! docker -H "$host" swarm init --advertise-addr 127.0.0.1 >/dev/null 2>&1; then
        state=$(docker -H "$host" info --format '{{.Swarm.LocalNodeState}}')
        if [ "$state" != active ]; then
            log "swarm init on $host failed (state: $state)"
            exit 1
        fi
    fi
    log "the second engine is now a single-node swarm"
fi
for _ in $(seq 1 150); do
    [ "$(docker -H "$host" node ls --format '{{.Status}}' 2>/dev/null)" = Ready ] && break
    sleep 0.2
done
echo "$host"
