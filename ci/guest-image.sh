#!/usr/bin/env bash
# Builds the vsocksim test guest from Debian packages: the current Debian 12
# kernel (through linux-image-amd64), the vsock/vhost modules from the same
# package, busybox-static for /init, kyua and the shared libraries of every
# program in the payload, copied from the installed Debian packages.
#
# Usage: ci/guest-image.sh OUT_DIR PAYLOAD_DIR
#   PAYLOAD_DIR  a tree that becomes /vsocksim in the guest (bin/ with the
#                programs, Kyuafiles, ...); its rootfs/ subtree, if any,
#                lands at / instead (files the programs find by absolute
#                path, such as the conformance sources and scripts)
#   OUT_DIR      gets vmlinuz, initramfs.cpio, kernel-version and stamp.
# The downloaded .deb and what was taken out of it stay in a cache shared by
# every image built beside OUT_DIR ($VSOCKSIM_GUEST_CACHE, default
# OUT_DIR/../guest-cache), under a lock.
# The image is rebuilt only when an input changed: this script, ci/guest-init.sh,
# the kernel package's name and version, busybox's and kyua's versions, and
# the payload's files (names, modes and contents). Nothing here starts QEMU or
# touches vsock: ci/qemu-run.sh boots the image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: guest-image.sh OUT_DIR PAYLOAD_DIR}
payload=${2:?usage: guest-image.sh OUT_DIR PAYLOAD_DIR}
[ -d "$payload" ] || { echo "guest-image: no payload directory $payload" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
payload=$(cd "$payload" && pwd)
cache=${VSOCKSIM_GUEST_CACHE:-$(dirname "$out")/guest-cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Modules, in load order (DESIGN: "Facts measured"). The vhost side is what
# the kernel target needs; the virtio-pci guest side is for the guest target,
# with virtio_console for its control channel (a virtio-serial port).
VHOST_MODULES="net/vmw_vsock/vsock drivers/vhost/vhost_iotlb drivers/vhost/vhost
net/vmw_vsock/vmw_vsock_virtio_transport_common drivers/vhost/vhost_vsock"
GUEST_MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/vmw_vsock/vsock
net/vmw_vsock/vmw_vsock_virtio_transport_common net/vmw_vsock/vmw_vsock_virtio_transport
drivers/char/virtio_console"
EXTRA_MODULES="drivers/net/vsockmon"

# ---- which kernel ------------------------------------------------------------
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg_version() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }'
}

pkg=$(kernel_pkg || true)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    echo "guest-image: apt lists know no linux-image-amd64; running apt-get update" >&2
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(kernel_pkg || true)
fi
ver=
[ -n "$pkg" ] && ver=$(pkg_version "$pkg")
if [ -z "$pkg" ] || [ -z "$ver" ]; then
    # No package lists: fall back on the newest kernel already in the cache.
    deb=$(ls -1 "$cache"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$deb" ] || { echo "guest-image: cannot resolve linux-image-amd64 and no cached kernel" >&2; exit 1; }
    pkg=$(basename "$deb" | cut -d_ -f1)
    ver=$(dpkg-deb -f "$deb" Version)
    echo "guest-image: using cached $pkg $ver" >&2
fi
kver=${pkg#linux-image-}

for tool in busybox cpio modinfo kyua; do
    command -v "$tool" >/dev/null || { echo "guest-image: $tool missing (ci/install-deps.sh build kernel)" >&2; exit 1; }
done
busybox_bin=/bin/busybox
bb_ver=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)
[ -n "$bb_ver" ] && ! ldd "$busybox_bin" >/dev/null 2>&1 ||
    { echo "guest-image: $busybox_bin is not busybox-static's (ci/install-deps.sh kernel)" >&2; exit 1; }
kyua_ver=$(dpkg-query -W -f='${Version}' kyua 2>/dev/null || echo unknown)

# ---- the stamp: every input ---------------------------------------------------
stamp=$( {
    sha256sum "$0" "$here/guest-init.sh" "$here/guest-lib.sh"
    echo "kernel $pkg $ver busybox $bb_ver kyua $kyua_ver"
    (cd "$payload" && find . -print0 | LC_ALL=C sort -z |
        xargs -0 stat -c '%n %a %F' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
} | sha256sum | cut -d' ' -f1 )
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
    [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio" ]; then
    echo "guest-image: up to date ($pkg $ver)"
    exit 0
fi
t0=$(date +%s%N)

# ---- the kernel package ----------------------------------------------------------
exec 9>"$cache/.lock"
flock 9 # another image build may be filling the cache
deb="$cache/${pkg}_${ver//:/%3a}_amd64.deb"
if [ ! -f "$deb" ]; then
    echo "guest-image: downloading $pkg $ver" >&2
    rm -f "$cache"/linux-image-*.deb
    fetch() { (cd "$cache" && apt-get download -q "$pkg=$ver" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true); }
    fetch
    found=$(ls -1 "$cache"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$found" ] && [ "$(id -u)" -eq 0 ]; then
        # Stale package lists name a version the mirror no longer has.
        echo "guest-image: download failed; apt-get update and again" >&2
        apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(kernel_pkg || echo "$pkg"); ver=$(pkg_version "$pkg"); kver=${pkg#linux-image-}
        deb="$cache/${pkg}_${ver//:/%3a}_amd64.deb"
        fetch
        found=$(ls -1 "$cache"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    fi
    [ -n "$found" ] || { echo "guest-image: apt-get download $pkg=$ver failed" >&2; exit 1; }
    [ "$found" = "$deb" ] || mv "$found" "$deb"
fi
kdir="$cache/kernel-$ver"
all_modules() { printf '%s\n' $VHOST_MODULES $GUEST_MODULES $EXTRA_MODULES | sort -u; }
extracted() { # every module of the lists is in the cache (the lists grow)
    [ -f "$kdir/.done" ] || return 1
    for m in $(all_modules); do
        [ -f "$kdir/lib/modules/$kver/kernel/$m.ko" ] || return 1
    done
}
if ! extracted; then
    rm -rf "$cache"/kernel-*
    mkdir -p "$kdir"
    # Only what the guest needs out of ~400 MB: vmlinuz and the modules.
    pats=("./boot/vmlinuz-$kver")
    for m in $(all_modules); do
        pats+=("./lib/modules/$kver/kernel/$m.ko")
    done
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" "${pats[@]}"
    touch "$kdir/.done"
fi
cp "$kdir/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"

# ---- the root -------------------------------------------------------------------
root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/share,etc,proc,sys,dev,tmp,lib64,vsocksim,"lib/modules/$kver"}
cp "$busybox_bin" "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$here/guest-lib.sh" "$root/vsocksim/guest-lib.sh"
for f in "$payload"/* "$payload"/.[!.]*; do
    [ -e "$f" ] || continue
    if [ "$(basename "$f")" = rootfs ]; then
        cp -a "$f"/. "$root/"
    else
        cp -a "$f" "$root/vsocksim/"
    fi
done

# Modules, with a dependency check: each one's depends must be loaded before it.
loaded=" "
write_list() { # name modules... (extra: loaded after the vhost list)
    local list=$1; shift
    : >"$root/vsocksim/$list"
    [ "$list" = modules-extra.list ] || loaded=" "
    for m in "$@"; do
        local ko="$kdir/lib/modules/$kver/kernel/$m.ko"
        [ -f "$ko" ] || { echo "guest-image: $m.ko is not in $pkg" >&2; exit 1; }
        for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
            case "$loaded" in
                *" $dep "*) ;;
                *) echo "guest-image: $m needs $dep loaded first" >&2; exit 1 ;;
            esac
        done
        loaded="$loaded$(basename "$m") "
        mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$m")"
        cp "$ko" "$root/lib/modules/$kver/kernel/$m.ko"
        echo "kernel/$m.ko" >>"$root/vsocksim/$list"
    done
}
# shellcheck disable=SC2086
write_list modules-guest.list $GUEST_MODULES
# shellcheck disable=SC2086
write_list modules-vhost.list $VHOST_MODULES
# shellcheck disable=SC2086
write_list modules-extra.list $EXTRA_MODULES
echo "$kver" >"$root/vsocksim/kernel-version"

# kyua and its store schema, then the shared libraries of every ELF program.
cp "$(command -v kyua)" "$root/usr/bin/kyua"
mkdir -p "$root/usr/share/kyua"
cp -a /usr/share/kyua/store "$root/usr/share/kyua/"
copy_libs() {
    ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' |
        while read -r lib; do
            [ -e "$root$lib" ] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
}
while IFS= read -r -d '' f; do
    if head -c4 "$f" | grep -q 'ELF'; then
        copy_libs "$f"
    fi
done < <(find "$root/usr/bin" "$root/vsocksim" -type f -perm -u+x -print0)
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

# ---- the archive ----------------------------------------------------------------------
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc --quiet -R 0:0) >"$out/initramfs.cpio.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$pkg $ver" >"$out/kernel-version"
echo "$stamp" >"$out/stamp"
rm -rf "$root"
size=$(du -k "$out/initramfs.cpio" | cut -f1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "guest-image: built $out ($pkg $ver, initramfs $size KiB) in $ms ms"
