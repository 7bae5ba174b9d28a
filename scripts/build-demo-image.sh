#!/usr/bin/env bash
# Build the small local image the demo and the tests run jobs in: a static
# busybox in an otherwise empty root file system, loaded with `docker import`
# (no registry needed). Usage: build-demo-image.sh [IMAGE]  (default pitmaster-demo:latest)
set -euo pipefail

image=${1:-pitmaster-demo:latest}

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi

if ! dpkg -s busybox-static >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then run=(); else run=(sudo); fi
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
for tool in $("$rootfs/bin/busybox" --list); do
    [ "$tool" = busybox ] || ln -s busybox "$rootfs/bin/$tool"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$rootfs/etc/passwd"
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$image" >/dev/null
echo "built $image" >&2
