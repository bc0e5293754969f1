#!/usr/bin/env bash
# make check-guest: the real Linux virtio-vsock guest driver (virtio-pci, in
# a QEMU/TCG guest) against our device served by `vsocksim vhost-user`.
#  1. Interop: socat on both ends, both directions checked by sha256.
#  2. The conformance cases with target=guest, under Kyua in the guest; the
#     host side is driven over the backend's control channel (--control: a
#     virtio-serial port named vsocksim.ctl in the guest). The Kyua results
#     come back over ttyS1 and become a report, JUnit and, with the sim run
#     beside them, the referee's sim-vs-guest differential (verdicts and
#     packets).
#
# Usage: vhostuser/guest/check-guest.sh VSOCKSIM IMAGE_DIR OUT_DIR [BYTES]
#            [TIMEOUT] [CONF_OUT BUILD_DIR KYUAFILE]
#   IMAGE_DIR  made by ci/guest-image.sh (vmlinuz, initramfs.cpio) with socat
#              and the conformance programs in its payload; our /init
#              (init.sh beside this script) is appended as a second cpio and
#              replaces the image's.
#   OUT_DIR    gets console.log, backend.log, qemu.out and the data files.
#   CONF_OUT   gets guest-results.db, guest-report.txt (its first line: the
#              kernel package), guest-junit.xml, guest-output.txt,
#              sim-guest-report.txt and differential-guest.md/.tsv (with
#              kernel-report.txt of the last make check-kernel on this
#              kernel as a column, if any); BUILD_DIR and KYUAFILE are for
#              the sim run. Without them, only the interop part is checked.
#   $VSOCKSIM_KYUA_FILTER (comma-separated kyua filters) limits the cases;
#   $VSOCKSIM_LINUX (6.1 or 6.12) is the image's kernel, the Linux profile
#   of our device in the backend and of the sim run; $VSOCKSIM_REFEREE the
#   referee program.
# The backend listens first; QEMU connects with shared memfd memory. The host
# side of the interop test is the Unix-socket convention: a socat listener at
# PREFIX_60500 takes the guest's 60500 connection (ports no case uses: the bridge keeps its
# host listener at 60500); a host socat connects to
# PREFIX, writes "CONNECT 60501", expects "OK <port>" and sends. Every process
# started here is ended by its PID.
# Exit status 0 passed, 1 failed (the logs' tails are printed): a case that
# failed or broke on the guest target fails, every skip is counted and
# printed with its reason.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ci=$(cd "$here/../../ci" && pwd)
usage="usage: check-guest.sh VSOCKSIM IMAGE_DIR OUT_DIR [BYTES] [TIMEOUT] [CONF_OUT BUILD_DIR KYUAFILE]"
vsocksim=$(realpath "${1:?$usage}")
img=$(realpath "${2:?image dir}")
out=${3:?out dir}
bytes=${4:-2097152}
limit=${5:-600}
conf_out=${6:-}
build=${7:-}
kyuafile=${8:-}
filter=${VSOCKSIM_KYUA_FILTER:-}
linux=${VSOCKSIM_LINUX:-6.1}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out"/*.log "$out"/*.bin "$out"/*.sock "$out"/vsock* "$out"/qemu.out "$out"/h2g.reply \
    "$out"/results.txt "$out"/results "$out"/results.tar.gz
. "$ci/guest-results.sh"
. "$ci/conf-reports.sh"

for f in vmlinuz initramfs.cpio; do
    [ -f "$img/$f" ] || { echo "check-guest: $img/$f missing (make vu-guest-image)" >&2; exit 1; }
done
for t in socat qemu-system-x86_64 cpio; do
    command -v $t >/dev/null || { echo "check-guest: $t missing" >&2; exit 1; }
done

pids=()  # started here and not yet reaped
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
reap() { # waits for one of ours and forgets it; its status in $?
    local p=$1 rc keep=()
    wait "$p"; rc=$?
    for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    pids=("${keep[@]}")
    return $rc
}
trap cleanup EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t_start=$(ms)
since() { local d=$(( $(ms) - t_start )); printf '%d.%03d' $((d / 1000)) $((d % 1000)); }
fail() {
    echo "check-guest: FAILED: $*" >&2
    for f in backend.log console.log qemu.out; do
        echo "---- tail of $out/$f ----" >&2
        tail -n 25 "$out/$f" 2>/dev/null | tr -d '\r' >&2
    done
    exit 1
}
wait_for() { # file-exists or console pattern, with a deadline in seconds
    local what=$1 secs=$2 end=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        case "$what" in
            /*) [ -S "$what" ] && return 0 ;;
            *) [ -f "$out/console.log" ] && tr -d '\r' <"$out/console.log" | grep -aq "$what" && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}

# Our /init over the image's.
ov=$(mktemp -d)
mkdir -p "$ov"
cp "$here/init.sh" "$ov/init"
chmod 755 "$ov/init"
(cd "$ov" && echo init | cpio -o -H newc --quiet -R 0:0) >"$out/overlay.cpio"
rm -rf "$ov"
cat "$img/initramfs.cpio" "$out/overlay.cpio" >"$out/initrd.cpio"

# 1. The backend listens first.
"$vsocksim" vhost-user --socket "$out/vhost.sock" --cid 3 --uds-path "$out/vsock" \
    --control "$out/ctl.sock" --max-connections 1 --linux "$linux" 2>"$out/backend.log" &
pids+=($!)
bpid=$!
wait_for "$out/vhost.sock" 10 || fail "the backend did not listen"

# 2. The host listener for the guest's connection to port 60500.
timeout "$limit" socat -u UNIX-LISTEN:"$out/vsock_60500" CREATE:"$out/g2h.bin" &
pids+=($!)
lpid=$!
wait_for "$out/vsock_60500" 10 || fail "socat did not listen at vsock_60500"

# 3. QEMU, with the guest's memory shared with the backend, the control
# channel as a virtio-serial port and the results on ttyS1. The guest's own
# limit for the cases is below ours, so that it can still report.
inner=$(( limit > 120 ? limit - 90 : limit / 2 ))
timeout --kill-after=5 "$limit" qemu-system-x86_64 \
    -accel tcg -m 512 -smp 2 -nodefaults -display none -no-reboot \
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
    -chardev socket,id=c0,path="$out/vhost.sock" -device vhost-user-vsock-pci,chardev=c0 \
    -device virtio-serial-pci,id=vser0 -chardev socket,id=ctl,path="$out/ctl.sock" \
    -device virtserialport,bus=vser0.0,chardev=ctl,name=vsocksim.ctl \
    -kernel "$img/vmlinuz" -initrd "$out/initrd.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=4 vsocksim.guest=1 vsocksim.bytes=$bytes vsocksim.timeout=$inner${filter:+ vsocksim.filter=$filter}" \
    -serial "file:$out/console.log" -serial "file:$out/results.txt" </dev/null >"$out/qemu.out" 2>&1 &
pids+=($!)
qpid=$!
pkg=$(cat "$img/kernel-version" 2>/dev/null || echo "unknown kernel")
echo "check-guest: Linux $linux: $pkg; backend (profile $linux), host listener and QEMU started ($(since) s)"

# 4. Guest -> host.
wait_for "G2H-SENT" "$limit" || fail "the guest never finished sending"
echo "check-guest: guest -> host sent ($(since) s): $(tr -d '\r' <"$out/console.log" | grep -a G2H-SENT)"
reap "$lpid"
lrc=$?

# 5. Host -> guest, through PREFIX and CONNECT.
wait_for "H2G-LISTENING" 60 || fail "the guest did not listen on 60501"
head -c "$bytes" /dev/urandom >"$out/h2g.bin"
t_h2g=$(ms)
ok=
for i in 1 2 3 4 5; do
    (printf 'CONNECT 60501\n'; cat "$out/h2g.bin") |
        timeout 120 socat -t 30 - UNIX-CONNECT:"$out/vsock" >"$out/h2g.reply" 2>>"$out/socat.log"
    if head -n1 "$out/h2g.reply" | grep -q '^OK [0-9]*$'; then ok=1; break; fi
    sleep 1
done
[ -n "$ok" ] || fail "CONNECT 60501 was never answered with OK"
h2g_ms=$(( $(ms) - t_h2g ))

wait_for "H2G-SHA" 60 || fail "the guest did not report what it received"

# 6. Checksums.
con=$(tr -d '\r' <"$out/console.log")
g_sha=$(grep -a 'G2H-SHA' <<<"$con" | awk '{print $3}')
h_sha=$(sha256sum "$out/g2h.bin" 2>/dev/null | cut -d' ' -f1)
g2h_n=$(stat -c %s "$out/g2h.bin" 2>/dev/null || echo 0)
gh_sha=$(grep -a 'H2G-SHA' <<<"$con" | awk '{print $3}')
hh_sha=$(sha256sum "$out/h2g.bin" | cut -d' ' -f1)
echo "check-guest: guest -> host $g2h_n bytes: guest sha256 $g_sha, host $h_sha (listener rc $lrc)"
echo "check-guest: host -> guest $bytes bytes in $h2g_ms ms: host sha256 $hh_sha, guest $gh_sha ($(head -n1 "$out/h2g.reply"))"
grep -aE 'device started|front end' "$out/backend.log" | head -n 4 | sed 's/^/check-guest:   backend /'
[ "$g_sha" = "$h_sha" ] && [ "$g2h_n" = "$bytes" ] || fail "guest -> host data differs"
[ "$gh_sha" = "$hh_sha" ] || fail "host -> guest data differs"
echo "check-guest: interop passed ($(since) s); the conformance cases run in the guest"

# 7. The guest runs the cases, sends the results and powers off.
reap "$qpid"
qrc=$?
[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && fail "QEMU timed out after $limit s"
wait_for "VSOCKSIM-GUEST-DONE" 5 || fail "the guest did not finish"
con=$(tr -d '\r' <"$out/console.log")
for i in $(seq 1 50); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
kill "$bpid" 2>/dev/null # it exits by itself once QEMU has gone (--max-connections 1)
reap "$bpid"
grep -a 'CONFORMANCE-' <<<"$con" | sed 's/^/check-guest:   /'

# 8. The conformance cases' results.
conformance() {
    [ -n "$conf_out" ] || { echo "check-guest: (no CONF_OUT: the conformance results are not looked at)"; return 0; }
    mkdir -p "$conf_out"
    conf_out=$(cd "$conf_out" && pwd)
    guest_results_unpack "$out/results.txt" "$out/results" 2>"$out/results.err" ||
        fail "$(cat "$out/results.err")"
    conf_target_report guest "$conf_out" "$out/results" "$pkg" || fail "no conformance results"
    conf_sim_report sim-guest "$(cd "$build" && pwd)" "$kyuafile" || fail "the sim run for the referee failed"
    local erc=0
    conf_referee guest "$pkg" || erc=$?
    echo "check-guest: guest target ($pkg): $CONF_PASSED passed, $CONF_FAILED failed, $CONF_SKIPPED skipped; report $conf_out/guest-report.txt, JUnit $conf_out/guest-junit.xml"
    echo "check-guest: skipped, by reason:"
    conf_print_skips guest "check-guest:   "
    local bad=0
    if [ "$CONF_FAILED" -ne 0 ]; then
        conf_print_failures guest
        bad=1
    fi
    if [ "$erc" -eq 1 ]; then
        echo "check-guest: unexplained differences between sim and guest (see $conf_out/differential-guest.md)" >&2
        bad=1
    elif [ "$erc" -ne 0 ]; then
        echo "check-guest: the referee could not judge (see above)" >&2
        bad=1
    fi
    # A target that was not there skips everything: that is no pass.
    if [ "$CONF_PASSED" -eq 0 ] || grep -q -e '->  skipped: target guest is not available' "$conf_out/guest-output.txt"; then
        echo "check-guest: the guest target did not run (see the skip reasons above)" >&2
        bad=1
    fi
    [ "$bad" = 0 ] || fail "cases failed, did not run or differ unexplained on the guest target (sim vs guest: $conf_out/differential-guest.md)"
}
conformance
echo "check-guest: passed ($(since) s wall; guest $(grep -a VSOCKSIM-GUEST-DONE <<<"$con" | sed 's/.*uptime=//') s uptime)"
