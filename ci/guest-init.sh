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
. /vsocksim/guest-lib.sh
vs_mount_basics
exec </dev/console >/dev/console 2>&1

say() { echo "vsocksim-guest: $*"; }
arg() { vs_arg "$@"; }
uptime_s() { vs_uptime; }
finish() { vs_finish "$1"; }

mkdir -p /tmp/out
say "up at $(uptime_s) s, kernel $(uname -r)"
kver=$(cat /vsocksim/kernel-version)
for list in $(arg modules | tr ',' ' '); do
    for m in $(cat "/vsocksim/modules-$list.list"); do
        insmod "/lib/modules/$kver/$m" || { say "insmod $m failed"; finish 3; }
    done
done
say "modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
vs_marker

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
    vs_kyua kernel "$timeout"
    rc=$?
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
