#!/usr/bin/env bash
# Installs the Debian packages vsocksim needs, and nothing when they are all present.
# Usage: ci/install-deps.sh [group...]   groups: build (default), kernel, fuzz, bench, views
set -euo pipefail

packages_for() {
    case "$1" in
        build)  echo "make gcc clang libclang-rt-14-dev pkg-config kyua atf-sh libatf-dev" ;;
        kernel) echo "qemu-system-x86 busybox-static cpio kmod xz-utils" ;; # xz: 6.12 ships .ko.xz
        fuzz)   echo "afl++ lld-14 llvm-14" ;; # afl-clang-lto links with lld
        bench)  echo "gnuplot-nox libpcap-dev linux-libc-dev xz-utils" ;;
        views)  echo "libpcap-dev tshark libxml2-utils" ;;
        *) echo "install-deps: unknown group '$1' (known: build kernel fuzz bench views)" >&2; exit 2 ;;
    esac
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build)

missing=()
for g in "${groups[@]}"; do
    for p in $(packages_for "$g"); do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture: no.
if [[ " ${missing[*]} " == *" tshark "* ]]; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
