#!/usr/bin/env bash
# make check-kernel: the conformance programs run with target=kernel inside
# the QEMU guest (ci/qemu-run.sh --run kernel); their Kyua results database
# comes back over the second serial port and becomes, on the host, a Kyua
# report and a JUnit file. The same programs then run here with target=sim
# (the Linux profile of the guest's kernel), and the referee
# (vsocksim-referee) lines the two up, verdicts and packets.
#
# Usage: ci/kernel-check.sh GUEST_DIR OUT_DIR BUILD_DIR KYUAFILE TIMEOUT
#   $VSOCKSIM_KYUA_FILTER (comma-separated kyua filters) limits both runs;
#   $VSOCKSIM_LINUX (6.1 or 6.12) is the image's kernel and the sim's
#   profile; $VSOCKSIM_REFEREE the referee program.
#   OUT_DIR gets kernel-results.db, kernel-report.txt (its first line: the
#   kernel package), kernel-junit.xml, kernel-output.txt, kernel-kernel.txt,
#   sim-kernel-results.db, sim-kernel-report.txt, differential-kernel.md/.tsv
# Fails when the guest did not finish, when a case failed or broke on the
# kernel target, or when a sim-vs-kernel difference (verdict or packet) is
# unexplained.
set -uo pipefail
VSOCKSIM_KYUA_FILTER=${VSOCKSIM_KYUA_FILTER:-}
guest=${1:?usage: kernel-check.sh GUEST_DIR OUT_DIR BUILD_DIR KYUAFILE TIMEOUT}
out=${2:?}
build=${3:?}
kyuafile=${4:?}
timeout_s=${5:-600}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=$(cd "$build" && pwd)
. "$here/conf-reports.sh"
CONF_OUT=$out
pkg=$(cat "$guest/kernel-version" 2>/dev/null || echo "unknown kernel")
echo "check-kernel: Linux ${VSOCKSIM_LINUX:-6.1}: $pkg"

t0=$(date +%s%N)
"$here/qemu-run.sh" --timeout "$timeout_s" --run kernel "$guest"
qrc=$?
t1=$(date +%s%N)
if [ $qrc -eq 1 ]; then
    echo "check-kernel: FAILED: the guest did not finish (see $guest/console.log)" >&2
    exit 1
fi
conf_target_report kernel "$out" "$guest/results" "$pkg" || { echo "check-kernel: FAILED" >&2; exit 1; }

# The same programs on the sim target, for the referee; the guest target's
# column comes from the last make check-guest on this kernel, if any.
conf_sim_report sim-kernel "$build" "$kyuafile" || { echo "check-kernel: FAILED" >&2; exit 1; }
# Every difference is explained (known-differences.txt, or a case that
# does not apply to the target) or it fails the run.
conf_referee kernel "$pkg"
erc=$?

passed=$CONF_PASSED skipped=$CONF_SKIPPED failed=$CONF_FAILED
secs=$(( (t1 - t0) / 1000000 ))
printf 'check-kernel: kernel target (%s): %d passed, %d failed, %d skipped (guest run %d.%03d s); report %s, JUnit %s\n' \
    "$pkg" "$passed" "$failed" "$skipped" $((secs / 1000)) $((secs % 1000)) "$out/kernel-report.txt" "$out/kernel-junit.xml"
if [ "$failed" -ne 0 ] || [ $qrc -ne 0 ] || [ $erc -ne 0 ]; then
    [ $erc -ne 1 ] || echo "check-kernel: unexplained differences between sim and kernel (see $out/differential-kernel.md)"
    [ $erc -ne 2 ] || echo "check-kernel: the referee could not judge (see above)"
    conf_print_failures kernel
    echo "(each case's packets: vsocksim-pkt lines in $out/kernel-report.txt; sim vs kernel: $out/differential-kernel.md)"
    echo "check-kernel: FAILED"
    exit 1
fi
echo "check-kernel: passed"
