#!/usr/bin/env bash
# Make the Debian base image the pitmaster image (and Python job images) build on
# when no registry is reachable: debootstrap a minimal bookworm with python3 and
# python3-venv from the mirror apt already uses, and load it with `docker import`.
# Idempotent: does nothing when the image exists.
# Usage: ensure-base-image.sh [IMAGE]  (default pitmaster-base:bookworm)
set -euo pipefail

image=${1:-pitmaster-base:bookworm}

log() { printf 'ensure-base-image: %s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing Debian's debootstrap"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The first deb URI apt reads, from either source format.
mirror=$(
    # Missing files and no matches are fine here: the default below covers them.
    { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
      grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
    } | grep -v -e security -e '^https://packages\.' -e nodesource | head -n 1
) || true
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d)
trap '"${as_root[@]}" rm -rf "$rootfs"' EXIT
log "debootstrapping bookworm from $mirror (about a minute)"
"${as_root[@]}" debootstrap --variant=minbase --include=python3,python3-venv \
    bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; exit 1; }
# Package lists and caches are not needed at run time; they only make the image larger.
"${as_root[@]}" rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
"${as_root[@]}" tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
log "built $image"
