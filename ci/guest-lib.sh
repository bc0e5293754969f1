# Shell functions the guests' /init scripts share (ci/guest-init.sh for the
# kernel target, vhostuser/guest/init.sh for the guest target): sourced as
# /vsocksim/guest-lib.sh inside the QEMU guest (busybox sh), never on the host.

vs_arg() { # value of vsocksim.NAME= on the kernel command line
    for w in $(cat /proc/cmdline); do
        case "$w" in "vsocksim.$1="*) echo "${w#*=}"; return ;; esac
    done
}
vs_uptime() { cut -d' ' -f1 /proc/uptime; }

# proc, sys, dev, and a tmpfs on /tmp unless the payload put files there (a
# source tree checked out under /tmp: the conformance programs read their
# sources and scripts at the path they were built in); the initramfs is RAM
# already, and a mount would hide them.
vs_mount_basics() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /tmp
    if [ -z "$(ls -A /tmp)" ]; then mount -t tmpfs tmpfs /tmp; fi
}

# The marker every vsock program checks (with vsocksim.guest=1 on the command
# line) before it opens anything: only this initramfs writes it.
vs_marker() {
    echo "vsocksim throwaway QEMU guest: vsock tests may run here" >/vsocksim-guest
}

# Kyua over /vsocksim/Kyuafile with test_suites.vsocksim.target=$1, within $2
# seconds, filters from vsocksim.filter=; extra config variables come from
# /vsocksim/kyua-vars (one NAME=VALUE a line). Results and output go to
# /tmp/out, with the running kernel's release (kernel-release); returns
# kyua's status and prints all but the passes.
vs_kyua() {
    mkdir -p /tmp/out
    uname -r >/tmp/out/kernel-release
    cd /tmp || return 3
    target=$1 limit=$2
    set --
    if [ -f /vsocksim/kyua-vars ]; then
        while read -r v; do
            [ -n "$v" ] && set -- "$@" -v "test_suites.vsocksim.$v"
        done </vsocksim/kyua-vars
    fi
    timeout "$limit" kyua --config=none --logfile=/tmp/out/kyua.log \
        -v test_suites.vsocksim.target="$target" "$@" \
        test --kyuafile=/vsocksim/Kyuafile --build-root=/vsocksim/bin \
        --results-file=/tmp/out/results.db $(vs_arg filter | tr ',' ' ') >/tmp/out/output.txt 2>&1
    rc=$?
    grep -vE -e '->  passed' /tmp/out/output.txt
    return $rc
}

# Sends /tmp/out to the host over the second serial port (ttyS1) as a base64
# tar.gz between BEGIN/END lines (ci/guest-results.sh unpacks it), prints
# VSOCKSIM-GUEST-DONE rc=N and powers off.
vs_finish() {
    mkdir -p /tmp/out
    echo "$1" >/tmp/out/rc
    echo "vsocksim-guest: sending results over ttyS1"
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    tar -C /tmp/out -cf /tmp/results.tar . && gzip -1 /tmp/results.tar
    sum=$(sha256sum /tmp/results.tar.gz | cut -d' ' -f1)
    {
        echo "VSOCKSIM-RESULTS-BEGIN"
        base64 /tmp/results.tar.gz
        echo "VSOCKSIM-RESULTS-END $sum"
    } >/dev/ttyS1
    echo "VSOCKSIM-GUEST-DONE rc=$1 uptime=$(vs_uptime)"
    sync
    poweroff -f
    sleep 10
    echo o >/proc/sysrq-trigger
}
