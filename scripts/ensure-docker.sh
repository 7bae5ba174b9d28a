#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io
# and start dockerd when none is reachable. Idempotent; safe to run repeatedly.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

engine_answers() {
    command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

if engine_answers; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "installing Debian's docker.io"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if [ ! -S /var/run/docker.sock ] || ! engine_answers; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
        as_root systemctl start docker || true
    fi
fi

if ! engine_answers; then
    log "starting dockerd (log: /var/log/pitmaster-dockerd.log)"
    # setsid: the daemon must outlive this script and the shell that ran it.
    as_root setsid dockerd >/var/log/pitmaster-dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
    if engine_answers; then
        log "Docker engine is up"
        exit 0
    fi
    sleep 0.5
done
log "Docker engine did not answer within 30 s; see /var/log/pitmaster-dockerd.log"
exit 1
