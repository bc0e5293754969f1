#!/usr/bin/env bash
# Builds Linux's ring benchmark (tools/virtio/ringtest, target virtio_ring_0_9)
# from Debian's linux-source-6.1 package, under build/bench/, and prints the
# binary's path. Nothing of the Linux source is kept in this repository: the
# package is downloaded with apt-get, only tools/virtio/ringtest is unpacked,
# and its own Makefile builds it. Does nothing when the binary is already built.
# Usage: bench/ringtest.sh [DIR]   (default build/bench/ringtest)
set -euo pipefail

dir=${1:-build/bench/ringtest}
pkg=linux-source-6.1
sub=tools/virtio/ringtest
bin="$dir/$pkg/$sub/virtio_ring_0_9"

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi
for tool in apt-get dpkg-deb tar xz make; do
    command -v "$tool" >/dev/null || { echo "ringtest: $tool is missing" >&2; exit 1; }
done
[ -e /usr/include/linux/virtio_ring.h ] ||
    { echo "ringtest: /usr/include/linux/virtio_ring.h is missing (linux-libc-dev)" >&2; exit 1; }

mkdir -p "$dir"
dl=$(cd "$dir" && pwd)/download
rm -rf "$dl" && mkdir -p "$dl"
echo "ringtest: downloading $pkg (about 140 MB) with apt-get download" >&2
if ! (cd "$dl" && apt-get download "$pkg" >/dev/null 2>&1); then
    # The package lists may be missing or stale on a fresh machine.
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq >/dev/null
    fi
    (cd "$dl" && apt-get download "$pkg" >/dev/null) ||
        { echo "ringtest: apt-get download $pkg failed" >&2; exit 1; }
fi
deb=$(ls "$dl"/"$pkg"_*.deb | head -n1)
echo "ringtest: unpacking $sub from $(basename "$deb")" >&2
rm -rf "${dir:?}/$pkg"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" | tar -xJ -C "$dir" "$pkg/$sub"
basename "$deb" >"$dir/$pkg/VERSION"
rm -rf "$dl"

echo "ringtest: building virtio_ring_0_9 with its own Makefile" >&2
make -s -C "$dir/$pkg/$sub" virtio_ring_0_9 >&2
echo "$bin"
