#!/usr/bin/env bash
# Make sure a second, independent Docker engine runs on this machine, for the tests of
# several Docker hosts, and that it holds the demo image. Idempotent; prints its DOCKER_HOST.
#
# The engine is started by the machine's `second-docker-engine` tool (its own network and
# mount namespaces, data root and socket; no bridge network, so its jobs use network
# "none"). Never start a second dockerd beside the first any other way: one started in the
# same namespace deletes the first engine's docker0. The tool is looked for in
# $PITMASTER_SECOND_ENGINE_TOOL, on the PATH, then in a shared/tools folder beside or above
# this checkout. Usage: ensure-second-docker.sh [--restart] [--same-id] | --stop
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'ensure-second-docker: %s\n' "$*" >&2; }

find_tool() {
    if [ -n "${PITMASTER_SECOND_ENGINE_TOOL:-}" ]; then
        echo "$PITMASTER_SECOND_ENGINE_TOOL"; return
    fi
    if command -v second-docker-engine >/dev/null 2>&1; then
        command -v second-docker-engine; return
    fi
    dir=$(pwd)
    while [ "$dir" != / ]; do
        for candidate in "$dir/shared/tools/second-docker-engine" "$dir/../shared/tools/second-docker-engine"; do
            if [ -x "$candidate" ]; then echo "$candidate"; return; fi
        done
        dir=$(dirname "$dir")
    done
    log "the second-docker-engine tool was not found; set PITMASTER_SECOND_ENGINE_TOOL"
    exit 1
}

tool=$(find_tool)
scripts/ensure-docker.sh

restart=false
same_id=()
pidfile=/var/run/docker-h2.pid

stop_engine() {
    # The tool gives up waiting after 20 s; a loaded dockerd can take longer to
    # stop its containers, so wait for the process itself before going on.
    local pid=""
    [ -f "$pidfile" ] && pid=$(cat "$pidfile")
    "$tool" stop >/dev/null
    if [ -n "$pid" ]; then
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.2
        done
        log "the second engine (pid $pid) did not stop within a minute"
        exit 1
    fi
}

for arg in "$@"; do
    case "$arg" in
    --restart) restart=true ;;
    --same-id) same_id=(--same-id) ;;
    --stop) stop_engine; exit 0 ;;
    *) log "unknown argument $arg"; exit 2 ;;
    esac
done

if $restart; then
    stop_engine
fi
# A containerd pid file left by an engine that died with the machine can name a
# pid reused since; dockerd then waits for that "containerd" until it gives up.
containerd_pidfile=/var/run/docker-h2/containerd/containerd.pid
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; } && [ -f "$containerd_pidfile" ]; then
    if ! grep -qs containerd "/proc/$(cat "$containerd_pidfile")/cmdline"; then
        rm -f "$containerd_pidfile"
    fi
fi
host=$("$tool" start "${same_id[@]}" | tail -n 1)
for _ in $(seq 1 150); do
    docker -H "$host" info >/dev/null 2>&1 && break
    sleep 0.2
done

image=pitmaster-demo:latest
if ! docker -H "$host" image inspect "$image" >/dev/null 2>&1; then
    scripts/build-demo-image.sh "$image"
    docker save "$image" | docker -H "$host" load >/dev/null
    log "loaded $image into the second engine"
fi
echo "$host"
