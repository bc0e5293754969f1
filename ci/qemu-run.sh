#!/usr/bin/env bash
# Boots the vsocksim test guest (ci/guest-image.sh) under QEMU/TCG and brings
# its results back.
#
# Usage: ci/qemu-run.sh [--timeout SECONDS] [--run smoke|kernel] [--modules LIST] GUEST_DIR
#   --timeout  hard limit for the whole boot (default 600, or $VSOCKSIM_QEMU_TIMEOUT)
#   --run      what the guest's /init runs (default smoke)
#   --modules  module lists to load, comma-separated (default vhost)
#   --filter   kyua test filters for --run kernel, comma-separated
#              (program or program:case; default $VSOCKSIM_KYUA_FILTER, or all)
# Writes GUEST_DIR/console.log (the guest's console), GUEST_DIR/results.txt
# (the second serial port) and unpacks the results into GUEST_DIR/results/.
# Exit status: 0 the guest ran and its run passed; 3 the guest ran and its
# run failed (results are there); 1 the boot failed, hung, timed out or its
# results did not come back whole (the console's tail is printed). A hang is
# never a pass.
#
# QEMU: -accel tcg (KVM hangs on these machines), no display, no network, no
# reboot, under timeout(1); the guest powers itself off when done.
set -uo pipefail

timeout_s=${VSOCKSIM_QEMU_TIMEOUT:-600}
run=smoke
modules=vhost
filter=${VSOCKSIM_KYUA_FILTER:-}
while [ $# -gt 1 ]; do
    case "$1" in
        --timeout) timeout_s=$2; shift 2 ;;
        --run) run=$2; shift 2 ;;
        --modules) modules=$2; shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        *) echo "qemu-run: unknown option $1" >&2; exit 2 ;;
    esac
done
dir=${1:?usage: qemu-run.sh [--timeout S] [--run smoke|kernel] GUEST_DIR}
for f in vmlinuz initramfs.cpio; do
    [ -f "$dir/$f" ] || { echo "qemu-run: $dir/$f missing (ci/guest-image.sh builds it)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-run: qemu-system-x86_64 missing (ci/install-deps.sh kernel)" >&2; exit 1; }

log=$dir/console.log
res=$dir/results.txt
rm -rf "$log" "$res" "$dir/results"
# The guest's own limit for its run, below ours so that it can still report.
inner=$(( timeout_s > 60 ? timeout_s - 30 : timeout_s * 3 / 4 ))

tail_log() {
    echo "---- last lines of $log ----" >&2
    tail -n "${1:-40}" "$log" 2>/dev/null | tr -d '\r' >&2
    echo "----" >&2
}

t0=$(date +%s%N)
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg -m 512 -smp ${VSOCKSIM_QEMU_SMP:-2} \
    -nodefaults -display none -no-reboot \
    -kernel "$dir/vmlinuz" -initrd "$dir/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=4 vsocksim.guest=1 vsocksim.run=$run vsocksim.modules=$modules vsocksim.timeout=$inner${filter:+ vsocksim.filter=$filter}" \
    -serial "file:$log" -serial "file:$res" </dev/null >"$dir/qemu.out" 2>&1
qrc=$?
secs=$(( ($(date +%s%N) - t0) / 1000000 ))
wall=$(printf '%d.%03d' $((secs / 1000)) $((secs % 1000)))

if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
    echo "qemu-run: TIMEOUT: the guest did not power off within $timeout_s s" >&2
    tail_log
    exit 1
fi
if [ $qrc -ne 0 ]; then
    echo "qemu-run: qemu-system-x86_64 exited with status $qrc after $wall s:" >&2
    cat "$dir/qemu.out" >&2
    tail_log
    exit 1
fi
done_line=$(tr -d '\r' <"$log" | grep -a '^VSOCKSIM-GUEST-DONE rc=' | tail -n1)
if [ -z "$done_line" ]; then
    echo "qemu-run: the guest stopped without finishing its run (boot failure or crash), $wall s" >&2
    tail_log 60
    exit 1
fi
grc=$(sed -E 's/^VSOCKSIM-GUEST-DONE rc=([0-9]+).*/\1/' <<<"$done_line")
guest_up=$(sed -nE 's/.*uptime=([0-9.]+).*/\1/p' <<<"$done_line")

# The results: base64 of a tar.gz between BEGIN and END <sha256>.
. "$(dirname "$0")/guest-results.sh"
if ! guest_results_unpack "$res" "$dir/results" 2>"$dir/results.err"; then
    echo "qemu-run: $(cat "$dir/results.err"), $wall s" >&2
    tail_log
    exit 1
fi
echo "qemu-run: guest '$run' finished with status $grc: wall $wall s, guest uptime ${guest_up:-?} s (console: $log)"
[ "$grc" = 0 ] && exit 0
exit 3
