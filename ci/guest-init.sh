#!/bin/busybox sh
# /init of the vsocksim test guest (ci/guest-image.sh puts it in the
# initramfs; it only ever runs as PID 1 of that QEMU guest).
#
# Mounts proc/sys/dev/tmp, loads the vhost-vsock modules in DESIGN's order,
# writes the marker the vsock programs check for, runs what the kernel
# command line asks (vsocksim.run=smoke|kernel|shell), sends the results to
# the host over the second serial port (ttyS1) as a base64 tar.gz between
# BEGIN/END lines, prints VSOCKSIM-GUEST-DONE rc=N and powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp TMPDIR=/tmp LANG=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# A tmpfs on /tmp, unless the payload put files there (a source tree checked
# out under /tmp): the initramfs is RAM already, and a mount would hide them.
mkdir -p /tmp
[ -z "$(ls -A /tmp)" ] && mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

say() { echo "vsocksim-guest: $*"; }
arg() { # value of vsocksim.NAME= on the kernel command line
    for w in $(cat /proc/cmdline); do
        case "$w" in "vsocksim.$1="*) echo "${w#*=}"; return ;; esac
    done
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

finish() {
    rc=$1
    echo "$rc" >/tmp/out/rc
    say "sending results over ttyS1"
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    tar -C /tmp/out -cf /tmp/results.tar . && gzip -1 /tmp/results.tar
    sum=$(sha256sum /tmp/results.tar.gz | cut -d' ' -f1)
    {
        echo "VSOCKSIM-RESULTS-BEGIN"
        base64 /tmp/results.tar.gz
        echo "VSOCKSIM-RESULTS-END $sum"
    } >/dev/ttyS1
    echo "VSOCKSIM-GUEST-DONE rc=$rc uptime=$(uptime_s)"
    sync
    poweroff -f
    sleep 10
    echo o >/proc/sysrq-trigger
}

mkdir -p /tmp/out
say "up at $(uptime_s) s, kernel $(uname -r)"
kver=$(cat /vsocksim/kernel-version)
for list in $(arg modules | tr ',' ' '); do
    for m in $(cat "/vsocksim/modules-$list.list"); do
        insmod "/lib/modules/$kver/$m" || { say "insmod $m failed"; finish 3; }
    done
done
say "modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
# The marker: only this initramfs has it; every vsock program checks it
# (and vsocksim.guest=1 on the command line) before opening anything.
echo "vsocksim throwaway QEMU guest: vsock tests may run here" >/vsocksim-guest

run=$(arg run)
timeout=$(arg timeout)
[ -n "$timeout" ] || timeout=480
say "running '$run' at $(uptime_s) s"
case "$run" in
smoke)
    timeout "$timeout" /vsocksim/bin/vsocksim-kernel-smoke -v >/tmp/out/output.txt 2>&1
    rc=$?
    cat /tmp/out/output.txt
    ;;
kernel)
    cd /tmp || finish 3
    # Extra ATF config variables, one NAME=VALUE a line.
    set --
    if [ -f /vsocksim/kyua-vars ]; then
        while read -r v; do
            [ -n "$v" ] && set -- "$@" -v "test_suites.vsocksim.$v"
        done </vsocksim/kyua-vars
    fi
    timeout "$timeout" kyua --config=none --logfile=/tmp/out/kyua.log \
        -v test_suites.vsocksim.target=kernel "$@" \
        test --kyuafile=/vsocksim/Kyuafile --build-root=/vsocksim/bin \
        --results-file=/tmp/out/results.db $(arg filter | tr ',' ' ') >/tmp/out/output.txt 2>&1
    rc=$?
    grep -vE -e '->  passed' /tmp/out/output.txt
    ;;
shell)
    setsid cttyhack sh
    rc=0
    ;;
*)
    say "unknown vsocksim.run='$run'"
    rc=3
    ;;
esac
say "'$run' ended with status $rc at $(uptime_s) s"
finish "$rc"
