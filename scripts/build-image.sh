#!/usr/bin/env bash
# Build the pitmaster image from this checkout, once per content: the tag carries a
# hash of the sources, the lock, the Dockerfile and the base image, and an existing
# image with that tag is reused. Prints the image's name on stdout.
#
# Usage: build-image.sh  (env: PITMASTER_BASE_IMAGE, default the local debootstrap
# base pitmaster-base:bookworm; PITMASTER_IMAGE_REPO, default pitmaster)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'build-image: %s\n' "$*" >&2; }

base=${PITMASTER_BASE_IMAGE:-pitmaster-base:bookworm}
repo=${PITMASTER_IMAGE_REPO:-pitmaster}
python=${PYTHON:-.venv/bin/python}

if [ "$base" = pitmaster-base:bookworm ]; then
    scripts/ensure-base-image.sh "$base"
fi

base_id=$(docker image inspect --format '{{.Id}}' "$base")
content=$(
    find src pyproject.toml requirements.lock Dockerfile README.md -type f \
        ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum
    echo "$base_id"
)
image="$repo:local-$(printf '%s' "$content" | sha256sum | cut -c1-12)"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

started=$(date +%s)
rm -rf dist/image build/lib
mkdir -p dist/image build/wheels
log "building the wheel"
"$python" -m build --wheel --outdir dist/image . >/dev/null
log "fetching the locked dependencies' wheels (cached in build/wheels)"
"$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --no-deps \
    --dest build/wheels -r requirements.lock
cp build/wheels/*.whl requirements.lock dist/image/
log "building $image on $base"
docker build --quiet --build-arg "BASE_IMAGE=$base" --tag "$image" --tag "$repo:local" . >/dev/null
# Older builds of this checkout are only untagged: their layers go when nothing uses them.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -F "$repo:local-" \
    | grep -vxF "$image" | xargs -r docker rmi >/dev/null 2>&1 || true
log "built $image in $(($(date +%s) - started)) s, $(docker image inspect --format '{{.Size}}' "$image" | numfmt --to=iec)"
echo "$image"
