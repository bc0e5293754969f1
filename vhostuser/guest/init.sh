#!/bin/busybox sh
# /init of the vhost-user guest (vhostuser/guest/check-guest.sh appends it to
# the image of ci/guest-image.sh, replacing that image's /init; it only ever
# runs as PID 1 of that QEMU guest).
#
# Loads the virtio-pci vsock guest modules (and virtio_console), then:
#  1. the socat interop test against the host through our vhost-user backend:
#       guest -> host  socat sends vsocksim.bytes random bytes to host port 60500
#       host -> guest  socat listens on port 60501 and takes what the host sends
#     Each side's sha256 goes to the console as G2H-SHA / H2G-SHA lines; the
#     host compares them with its own.
#  2. the conformance cases under Kyua with target=guest: the host side is
#     driven over the control channel, the virtio-serial port named
#     vsocksim.ctl, linked at /dev/vsocksim-ctl.
# The results go back over ttyS1 (vs_finish), then it powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/vsocksim/bin HOME=/tmp TMPDIR=/tmp LANG=C
. /vsocksim/guest-lib.sh
vs_mount_basics
exec </dev/console >/dev/console 2>&1

say() { echo "vu-guest: $*"; }

say "up at $(vs_uptime) s, kernel $(uname -r)"
kver=$(cat /vsocksim/kernel-version)
for m in $(cat /vsocksim/modules-guest.list); do
    insmod "/lib/modules/$kver/$m" || { say "insmod $m failed"; vs_finish 3; }
done
say "modules loaded at $(vs_uptime) s"
[ -e /dev/vsock ] || { say "no /dev/vsock"; vs_finish 3; }
vs_marker

# The control port, by its name (its vportNpM number depends on probing).
for n in /sys/class/virtio-ports/*/name; do
    [ "$(cat "$n" 2>/dev/null)" = vsocksim.ctl ] || continue
    ln -sf "/dev/$(basename "$(dirname "$n")")" /dev/vsocksim-ctl
done
[ -e /dev/vsocksim-ctl ] && say "control channel at $(readlink /dev/vsocksim-ctl)" ||
    say "no control channel (no virtio-serial port named vsocksim.ctl)"

bytes=$(vs_arg bytes)
[ -n "$bytes" ] || bytes=2097152
head -c "$bytes" /dev/urandom >/tmp/g2h.bin
say "G2H-SHA $(sha256sum /tmp/g2h.bin | cut -d' ' -f1) $(wc -c </tmp/g2h.bin)"
t0=$(vs_uptime)
# The device may still be starting: retry the connect for a while.
rc=1
for i in $(seq 1 30); do
    timeout 120 socat -u OPEN:/tmp/g2h.bin VSOCK-CONNECT:2:60500 && { rc=0; break; }
    sleep 1
done
say "G2H-SENT rc=$rc from $t0 to $(vs_uptime) s"

(timeout 180 socat -u VSOCK-LISTEN:60501 CREATE:/tmp/h2g.bin; echo $? >/tmp/h2g.rc) &
sleep 1
say "H2G-LISTENING 60501 at $(vs_uptime) s"
wait
say "H2G-SHA $(sha256sum /tmp/h2g.bin | cut -d' ' -f1) $(wc -c </tmp/h2g.bin) rc=$(cat /tmp/h2g.rc) at $(vs_uptime) s"
rm -f /tmp/g2h.bin /tmp/h2g.bin

timeout=$(vs_arg timeout)
[ -n "$timeout" ] || timeout=480
say "CONFORMANCE-START target=guest at $(vs_uptime) s"
vs_kyua guest "$timeout"
rc=$?
say "CONFORMANCE-END rc=$rc at $(vs_uptime) s"
vs_finish "$rc"
