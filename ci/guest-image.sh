#!/usr/bin/env bash
# Builds the vsocksim test guest from Debian packages: a Debian 12 kernel
# (6.1: what linux-image-amd64 depends on; 6.12: the newest
# linux-image-6.12.*+deb12-amd64-unsigned apt knows), the vsock/vhost modules
# from the same package, busybox-static for /init, kyua and the shared
# libraries of every program in the payload, copied from the installed Debian
# packages.
#
# Usage: ci/guest-image.sh [--kernel 6.1|6.12] OUT_DIR PAYLOAD_DIR
#   --kernel     the kernel series (default 6.1)
#   PAYLOAD_DIR  a tree that becomes /vsocksim in the guest (bin/ with the
#                programs, Kyuafiles, ...); its rootfs/ subtree, if any,
#                lands at / instead (files the programs find by absolute
#                path, such as the conformance sources and scripts)
#   OUT_DIR      gets vmlinuz, initramfs.cpio, kernel-version ("PACKAGE
#                VERSION") and stamp.
# The downloaded .deb and what was taken out of it stay in a cache per
# kernel series, shared by every image of that series built beside OUT_DIR
# ($VSOCKSIM_GUEST_CACHE, default OUT_DIR/../guest-cache-SERIES), under a
# lock: images of 6.1 and 6.12 never evict each other's kernel.
# The image is rebuilt only when an input changed: this script, ci/guest-init.sh,
# the kernel package's name and version, busybox's and kyua's versions, and
# the payload's files (names, modes and contents). Nothing here starts QEMU or
# touches vsock: ci/qemu-run.sh boots the image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
series=6.1
if [ "${1:-}" = --kernel ]; then
    series=${2:?--kernel needs 6.1 or 6.12}
    shift 2
fi
case "$series" in
    6.1|6.12) ;;
    *) echo "guest-image: --kernel $series: only 6.1 and 6.12 are known" >&2; exit 2 ;;
esac
usage="usage: guest-image.sh [--kernel 6.1|6.12] OUT_DIR PAYLOAD_DIR"
out=${1:?$usage}
payload=${2:?$usage}
[ -d "$payload" ] || { echo "guest-image: no payload directory $payload" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
payload=$(cd "$payload" && pwd)
cache=${VSOCKSIM_GUEST_CACHE:-$(dirname "$out")/guest-cache-$series}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Modules, by name: each list is loaded in the order of modules.dep (what
# they need first), and a module the kernel has built in is left out
# (modules.builtin; 6.12 builds virtio_pci and virtio_console in, 6.1 does
# not). The vhost side is what the kernel target needs; the virtio-pci guest
# side is for the guest target, with virtio_console for its control channel
# (a virtio-serial port). Only MODULE_DIRS are taken out of the package: a
# dependency outside them fails the build with its name.
VHOST_MODULES="vhost_vsock"
GUEST_MODULES="virtio_pci vmw_vsock_virtio_transport virtio_console"
EXTRA_MODULES="vsockmon"
MODULE_DIRS="drivers/vhost net/vmw_vsock drivers/virtio drivers/char/virtio_console drivers/net/vsockmon"

# ---- which kernel ------------------------------------------------------------
kernel_pkg() {
    case "$series" in
    6.1) apt-cache depends linux-image-amd64 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.[0-9]/ { print $2; exit }' ;;
    6.12) apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' 2>/dev/null |
            cut -d' ' -f1 | sort -V | tail -n1 ;;
    esac
}
pkg_version() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }'
}
# linux-image-6.1.0-57-amd64 -> 6.1.0-57-amd64, linux-image-6.12.118+deb12-amd64-unsigned
# -> 6.12.118+deb12-amd64: the name under /boot and /lib/modules.
kernel_release() { local r=${1#linux-image-}; echo "${r%-unsigned}"; }

pkg=$(kernel_pkg || true)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    echo "guest-image: apt lists know no Linux $series image; running apt-get update" >&2
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(kernel_pkg || true)
fi
ver=
[ -n "$pkg" ] && ver=$(pkg_version "$pkg")
if [ -z "$pkg" ] || [ -z "$ver" ]; then
    # No package lists: fall back on the newest kernel already in the cache.
    deb=$(ls -1 "$cache"/linux-image-*.deb 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$deb" ] || { echo "guest-image: cannot resolve a Linux $series image and no cached kernel" >&2; exit 1; }
    pkg=$(basename "$deb" | cut -d_ -f1)
    ver=$(dpkg-deb -f "$deb" Version)
    echo "guest-image: using cached $pkg $ver" >&2
fi
case "$ver" in
    "$series".*) ;;
    *) echo "guest-image: $pkg $ver is not a Linux $series kernel" >&2; exit 1 ;;
esac
kver=$(kernel_release "$pkg")

for tool in busybox cpio modinfo depmod xz kyua; do
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
    echo "kernel $series $pkg $ver busybox $bb_ver kyua $kyua_ver"
    echo "modules $VHOST_MODULES / $GUEST_MODULES / $EXTRA_MODULES from $MODULE_DIRS"
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
        pkg=$(kernel_pkg || echo "$pkg"); ver=$(pkg_version "$pkg"); kver=$(kernel_release "$pkg")
        deb="$cache/${pkg}_${ver//:/%3a}_amd64.deb"
        fetch
        found=$(ls -1 "$cache"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    fi
    [ -n "$found" ] || { echo "guest-image: apt-get download $pkg=$ver failed" >&2; exit 1; }
    [ "$found" = "$deb" ] || mv "$found" "$deb"
fi
kdir="$cache/kernel-$ver"
mdir="$kdir/lib/modules/$kver"
want="$MODULE_DIRS" # what the cache was extracted for (the lists grow)
if [ ! -f "$kdir/.done" ] || [ "$(cat "$kdir/.done")" != "$want" ]; then
    rm -rf "$cache"/kernel-*
    mkdir -p "$kdir"
    # Only what the guest needs out of ~400 MB: vmlinuz, the module lists
    # and the module directories the vsock modules live in.
    pats=("./boot/vmlinuz-$kver" "./lib/modules/$kver/modules.builtin" "./lib/modules/$kver/modules.builtin.modinfo"
        "./lib/modules/$kver/modules.order")
    for d in $MODULE_DIRS; do
        pats+=("./lib/modules/$kver/kernel/$d*")
    done
    # A pattern that matches nothing (a module this kernel builds in) is
    # no error; anything else tar says is.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards "${pats[@]}" 2>"$kdir.err" || true
    if grep -vE 'Not found in archive|Exiting with failure status due to previous errors' "$kdir.err" >&2 ||
        [ ! -f "$kdir/boot/vmlinuz-$kver" ] || [ ! -f "$mdir/modules.builtin" ]; then
        echo "guest-image: could not take vmlinuz and modules out of $deb" >&2
        exit 1
    fi
    rm -f "$kdir.err"
    # busybox insmod takes plain ELF: 6.12 ships .ko.xz.
    find "$mdir/kernel" -name '*.ko.xz' -exec xz -d {} +
    # The package has no modules.dep (its postinst runs depmod): make one
    # for the modules taken out.
    depmod -b "$kdir" "$kver"
    [ -s "$mdir/modules.dep" ] || { echo "guest-image: depmod wrote no modules.dep for $kver" >&2; exit 1; }
    echo "$want" >"$kdir/.done"
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

# Modules: each list in load order out of modules.dep (a module after every
# one it needs), built-in ones left out, then checked against modinfo's
# depends: each one's must be built in or loaded before it.
modname() { local n; n=$(basename "$1" .ko); echo "${n//-/_}"; } # path or name -> name
builtin() {
    local m; m=$(modname "$1")
    awk -v m="$m" '{ n = $0; sub(/^.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n) }
        n == m { found = 1; exit } END { exit !found }' "$mdir/modules.builtin"
}
dep_path() { # modules.dep path (kernel/....ko) of module $1, or nothing
    awk -F: -v m="$1" '{ n = $1; sub(/^.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n) }
        n == m { print $1; exit }' "$mdir/modules.dep"
}
dep_needs() { # what modules.dep says the module at path $1 needs
    awk -F: -v p="$1" '$1 == p { print $2; exit }' "$mdir/modules.dep"
}
order=() # paths in load order, for the list being written
loaded=" "
visit() { # path
    local p=$1 d
    case " ${order[*]} $loaded " in *" $p "*) return ;; esac
    for d in $(dep_needs "$p"); do visit "$d"; done
    order+=("$p")
}
write_list() { # list-name keep-loaded(0|1) modules... (extra: loaded after the vhost list)
    local list=$1 keep=$2 m p dep name; shift 2
    [ "$keep" = 1 ] || loaded=" "
    order=()
    for m in "$@"; do
        if builtin "$m"; then echo "guest-image: $m is built into $kver" >&2; continue; fi
        p=$(dep_path "$(modname "$m")")
        [ -n "$p" ] || { echo "guest-image: module $m is not in $pkg's $MODULE_DIRS (nor built in)" >&2; exit 1; }
        visit "$p"
    done
    : >"$root/vsocksim/$list"
    for p in "${order[@]}"; do
        [ -f "$mdir/$p" ] || { echo "guest-image: $p (modules.dep) is not in $pkg" >&2; exit 1; }
        for dep in $(modinfo -F depends "$mdir/$p" | tr ',' ' '); do
            dep=$(modname "$dep")
            builtin "$dep" && continue
            case "$loaded" in
                *" $dep "*) ;;
                *) echo "guest-image: $p needs $dep, which is neither built in nor loaded before it" >&2; exit 1 ;;
            esac
        done
        loaded="$loaded$(modname "$p") $p "
        mkdir -p "$root/lib/modules/$kver/$(dirname "$p")"
        cp "$mdir/$p" "$root/lib/modules/$kver/$p"
        echo "$p" >>"$root/vsocksim/$list"
    done
}
# shellcheck disable=SC2086
write_list modules-guest.list 0 $GUEST_MODULES
# shellcheck disable=SC2086
write_list modules-vhost.list 0 $VHOST_MODULES
# shellcheck disable=SC2086
write_list modules-extra.list 1 $EXTRA_MODULES
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
